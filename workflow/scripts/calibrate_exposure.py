"""Calibrate one science frame: electrons, variance and mask planes, provenance, QA; or, for a
frame reduced already by an observatory pipeline, import it into the same product.

Inputs: the raw frame, the night's master bias, dark and flat of its band (none for a
reduced frame). Output: results/calibrated/<night>/<exposure>.fits (SCI, VAR, MASK).
Settings: calibration.* (overscan, dark, cosmic rays), reduced.* (reduced frames),
astrometry.* (blind solving), processing_timeout_minutes; products.* (tile compression).
"""

from astropy.io import fits

from astrid.astrometry.blind import (
    AstrometryError,
    needs_solving,
    solution_cards,
    solve_frame,
    solve_settings,
)
from astrid.calibrate.raw import CalibrationSettings
from astrid.calibrate.reduced import ReducedSettings, import_reduced, reduced_header
from astrid.calibrate.science import calibrate_science, science_header
from astrid.io.fitsio import Compression, read_image_product, write_image_product
from astrid.io.provenance import stamp
from astrid.pipeline.runtime import logged, time_limit

with logged(snakemake.log[0]) as log:
    row, inputs, params = snakemake.params.row, snakemake.input, snakemake.params
    with time_limit(params.timeout_minutes, f"calibration of {row['exposure']}"):
        if params.reduced is not None:
            product, wcs_header, facts = import_reduced(row["path"], ReducedSettings(**params.reduced))
            product.header = reduced_header(row, facts)
            stamp(product.header, params.code, params.reduced, [("RAWFILE", "RAWSHA", inputs.raw)])
            log.info(
                "%s imported as reduced: gain %g, variance %s",
                row["exposure"],
                facts["gain"],
                facts["variance"],
            )
        else:
            settings = CalibrationSettings(**params.settings)
            masters = [("MBIAS", "MBIASSHA", inputs.bias), ("MFLAT", "MFLATSHA", inputs.flat)]
            dark = None
            if "dark" in inputs.keys():
                dark = read_image_product(inputs.dark)
                masters.append(("MDARK", "MDARKSHA", inputs.dark))
            bias, flat = read_image_product(inputs.bias), read_image_product(inputs.flat)
            product, wcs_header, stats = calibrate_science(
                row, bias, dark, flat, settings, threads=snakemake.threads
            )
            product.header = science_header(row, stats)
            stamp(product.header, params.code, params.settings, [("RAWFILE", "RAWSHA", inputs.raw)] + masters)
            log.info("%s calibrated: %s", row["exposure"], stats)
        if needs_solving(params.astrometry["solve"], wcs_header):
            try:
                solution = solve_frame(
                    product.data,
                    product.mask,
                    fits.getheader(inputs.raw),
                    solve_settings(params.astrometry),
                )
            except AstrometryError as error:
                log.warning("%s has no astrometry: %s", row["exposure"], error)
                product.header["ASTROK"] = (False, "astrometry: no blind solution")
                product.header["ASTRNOTE"] = str(error)
            else:
                wcs_header = solution.wcs.to_header(relax=True)
                for key, value, comment in solution_cards(solution):
                    product.header[key] = (value, comment)
                log.info("%s solved blind: %s", row["exposure"], solution_cards(solution))
        write_image_product(
            snakemake.output[0], product, wcs_header, compression=Compression(**params.products)
        )
