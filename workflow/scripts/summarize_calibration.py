"""Collect the QA figures of a night's calibrated frames into a table and a plot.

Inputs: the night's calibrated frames. Outputs: results/qa/<night>/calibration.tsv and .png.
No settings.
"""

from astrid.io.fitsio import atomic_output
from astrid.pipeline.runtime import logged
from astrid.report.calibration import calibration_table, plot_calibration

with logged(snakemake.log[0]) as log:
    table = calibration_table(snakemake.input)
    with atomic_output(snakemake.output.table) as tmp:
        table.to_csv(tmp, sep="\t", index=False)
    plot_calibration(table, snakemake.output.plot, snakemake.wildcards.night)
    log.info("%d calibrated frames summarised", len(table))
