"""Register a calibrated frame onto its reference and resample it onto the reference grid.

Inputs: the calibrated frame, its field's reference. Output: results/aligned/<night>/<exposure>.fits
(SCI, VAR, MASK and PSF on the reference grid, registration keys), or a failure product with
its reason code (NO_REFERENCE, TOO_FEW_STARS, NO_MATCH, RESIDUAL_TOO_LARGE, NO_ASTROMETRY). A frame
whose header WCS does not register is solved blind first (astrometry.*). Settings: align.*,
astrometry.*, processing_timeout_minutes; products.* (tile compression).
"""

from astropy.io import fits

from astrid.astrometry.blind import solve_settings
from astrid.astrometry.registration import AlignmentError
from astrid.imaging.align import AlignSettings, align_or_solve, write_aligned, write_alignment_failure
from astrid.imaging.reference import missing_reference, read_reference
from astrid.io.fitsio import Compression, read_image_product
from astrid.io.provenance import exposure_header, stamp
from astrid.pipeline.runtime import logged, time_limit

with logged(snakemake.log[0]) as log:
    inputs, output = snakemake.input, snakemake.output[0]
    compression = Compression(**snakemake.params.products)
    product = read_image_product(inputs.calibrated)
    header = exposure_header(product.header)
    stamp(
        header,
        snakemake.params.code,
        dict(snakemake.params.settings),
        [("CALFILE", "CALSHA", inputs.calibrated), ("REFFILE", "REFSHA", inputs.reference)],
    )
    with time_limit(snakemake.params.timeout_minutes, f"alignment of {header['EXPOSURE']}"):
        failure = missing_reference(inputs.reference)
        if failure:
            write_alignment_failure(output, header, *failure)
        else:
            reference = read_reference(inputs.reference)
            astrometry = snakemake.params.astrometry
            try:
                aligned, solved = align_or_solve(
                    product,
                    fits.getheader(inputs.calibrated, "SCI"),
                    reference,
                    AlignSettings(**snakemake.params.settings),
                    solve_settings(astrometry) if astrometry["solve"] != "never" else None,
                    workers=snakemake.threads,
                )
            except AlignmentError as error:
                log.warning("%s quarantined: %s", header["EXPOSURE"], error)
                write_alignment_failure(output, header, error.code, error.reason)
            else:
                for key, value, comment in solved:
                    header[key] = (value, comment)
                write_aligned(output, aligned, reference.wcs.to_header(relax=True), header, compression)
