"""Operations of the run: wall time and memory per rule, and the monitor's transitions."""

from astrid.qa import health_events, plot_operations, rule_runtimes
from astrid.runtime import logged

with logged(snakemake.log[0]):
    runtimes = rule_runtimes(snakemake.params.benchmarks)
    runtimes.to_csv(snakemake.output.table, sep="\t", index=False, float_format="%.2f")
    plot_operations(runtimes, health_events(snakemake.params.health), snakemake.output.plot)
