"""Combine a night's dark frames into the master dark current (e-/s).

Inputs: the night's raw darks, its master bias. Output:
results/masters/<night>[/<detector>]/dark.fits.
Settings: calibration.min_frames, clip_sigma, overscan_smoothing_rows, hot_pixel_rate;
products.* (tile compression).
"""

from astrid.calibrate.masters import make_master_dark
from astrid.calibrate.raw import CalibrationSettings
from astrid.io.fitsio import Compression, read_image_product, write_image_product
from astrid.io.provenance import stamp
from astrid.pipeline.runtime import logged

with logged(snakemake.log[0]) as log:
    settings = CalibrationSettings(**snakemake.params.settings)
    bias = read_image_product(snakemake.input.bias)
    master = make_master_dark(snakemake.params.rows, bias, settings)
    stamp(
        master.header,
        snakemake.params.code,
        snakemake.params.settings,
        [("MBIAS", "MBIASSHA", snakemake.input.bias)],
    )
    write_image_product(snakemake.output[0], master, compression=Compression(**snakemake.params.products))
    log.info("master dark from %d frames", len(snakemake.params.rows))
