"""Combine a night's bias frames into the master bias.

Inputs: the night's raw bias frames. Output: results/masters/<night>[/<detector>]/bias.fits (a
mosaic's detectors have their own). Settings: calibration.min_frames, clip_sigma,
overscan_smoothing_rows; products.* (tile compression).
"""

from astrid.calibrate.masters import make_master_bias
from astrid.calibrate.raw import CalibrationSettings
from astrid.io.fitsio import Compression, write_image_product
from astrid.io.provenance import stamp
from astrid.pipeline.runtime import logged

with logged(snakemake.log[0]) as log:
    settings = CalibrationSettings(**snakemake.params.settings)
    master = make_master_bias(snakemake.params.rows, settings)
    stamp(master.header, snakemake.params.code, snakemake.params.settings)
    write_image_product(snakemake.output[0], master, compression=Compression(**snakemake.params.products))
    log.info("master bias from %d frames: mean %.2f e-", len(snakemake.params.rows), master.data.mean())
