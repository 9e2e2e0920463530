"""Collect the QA figures of a night's calibrated frames into a table and a plot."""

from astrid.fitsio import atomic_output
from astrid.qa import calibration_table, plot_calibration
from astrid.runtime import logged

with logged(snakemake.log[0]) as log:
    table = calibration_table(snakemake.input)
    with atomic_output(snakemake.output.table) as tmp:
        table.to_csv(tmp, sep="\t", index=False)
    plot_calibration(table, snakemake.output.plot, snakemake.wildcards.night)
    log.info("%d calibrated frames summarised", len(table))
