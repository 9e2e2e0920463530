"""Combine a night's flats of one band into the normalised master flat.

Inputs: the night's raw flats in the band, its master bias (and dark). Output:
results/masters/<night>[/<detector>]/flat_<band>.fits. Settings: calibration.min_frames, clip_sigma,
overscan_smoothing_rows, flat_low, flat_high; products.* (tile compression).
"""

from astrid.calibrate.masters import make_master_flat
from astrid.calibrate.raw import CalibrationSettings
from astrid.io.fitsio import Compression, read_image_product, write_image_product
from astrid.io.provenance import stamp
from astrid.pipeline.runtime import logged

with logged(snakemake.log[0]) as log:
    settings = CalibrationSettings(**snakemake.params.settings)
    masters = [("MBIAS", "MBIASSHA", snakemake.input.bias)]
    bias = read_image_product(snakemake.input.bias)
    dark = None
    if "dark" in snakemake.input.keys():
        dark = read_image_product(snakemake.input.dark)
        masters.append(("MDARK", "MDARKSHA", snakemake.input.dark))
    master = make_master_flat(snakemake.params.rows, bias, dark, settings)
    stamp(master.header, snakemake.params.code, snakemake.params.settings, masters)
    write_image_product(snakemake.output[0], master, compression=Compression(**snakemake.params.products))
    log.info("master flat %s from %d frames", snakemake.wildcards.band, len(snakemake.params.rows))
