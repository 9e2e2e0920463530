"""Operations of the run: wall time and memory per rule, and the monitor's transitions.

Inputs: every night's products (so it runs last), the rule benchmark files and the health
history. Outputs: results/qa/operations.tsv and .png. No settings.
"""

from astrid.io.fitsio import atomic_output
from astrid.pipeline.runtime import logged
from astrid.report.operations import health_events, plot_operations, rule_runtimes

with logged(snakemake.log[0]):
    runtimes = rule_runtimes(snakemake.params.benchmarks)
    with atomic_output(snakemake.output.table) as tmp:
        runtimes.to_csv(tmp, sep="\t", index=False, float_format="%.2f")
    plot_operations(runtimes, health_events(snakemake.params.health), snakemake.output.plot)
