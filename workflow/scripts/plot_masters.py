"""Plot the night's master bias, dark and flats for the report.

Inputs: the night's masters. Output: results/qa/<night>[/<detector>]/masters.png. No settings.
"""

from astrid.pipeline.runtime import logged
from astrid.report.calibration import plot_masters

with logged(snakemake.log[0]):
    inputs = snakemake.input
    dark = inputs.dark if "dark" in inputs.keys() else None
    plot_masters(
        inputs.bias,
        dark,
        list(inputs.flats),
        snakemake.output[0],
        snakemake.wildcards.night + snakemake.wildcards.detector_dir,
    )
