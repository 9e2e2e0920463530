"""Calibrate one science frame: electrons, variance and mask planes, provenance, QA.

Inputs: the raw frame, the night's master bias, dark and flat of its band. Output:
results/calibrated/<night>/<exposure>.fits (SCI, VAR, MASK). Settings: calibration.* (overscan,
dark, cosmic rays), processing_timeout_minutes.
"""

from astrid.calibrate.raw import CalibrationSettings
from astrid.calibrate.science import calibrate_science, science_header
from astrid.io.fitsio import read_image_product, write_image_product
from astrid.io.provenance import stamp
from astrid.pipeline.runtime import logged, time_limit

with logged(snakemake.log[0]) as log:
    row, inputs = snakemake.params.row, snakemake.input
    with time_limit(snakemake.params.timeout_minutes, f"calibration of {row['exposure']}"):
        settings = CalibrationSettings(**snakemake.params.settings)
        masters = [("MBIAS", "MBIASSHA", inputs.bias), ("MFLAT", "MFLATSHA", inputs.flat)]
        dark = None
        if "dark" in inputs.keys():
            dark = read_image_product(inputs.dark)
            masters.append(("MDARK", "MDARKSHA", inputs.dark))
        bias, flat = read_image_product(inputs.bias), read_image_product(inputs.flat)
        product, wcs_header, stats = calibrate_science(row, bias, dark, flat, settings)
        product.header = science_header(row, stats)
        stamp(
            product.header,
            snakemake.params.code,
            snakemake.params.settings,
            [("RAWFILE", "RAWSHA", inputs.raw)] + masters,
        )
        write_image_product(snakemake.output[0], product, wcs_header)
    log.info("%s calibrated: %s", row["exposure"], stats)
