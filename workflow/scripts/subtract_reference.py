"""ZOGY subtraction of an aligned frame and its reference.

Inputs: the aligned frame, its reference. Output: results/difference/<night>/<exposure>.fits
(DIFF, SCORE, VAR, MASK, PSF), or the alignment's failure passed on. Settings:
difference.flux_error, difference.renormalise, difference.psf_spread_limit,
processing_timeout_minutes; products.* (tile compression).
"""

from astropy.io import fits

from astrid.imaging.align import alignment_failure, read_aligned_stars, write_alignment_failure
from astrid.imaging.difference import subtract_aligned, write_difference
from astrid.imaging.reference import read_reference
from astrid.io.fitsio import Compression, read_image_product
from astrid.io.provenance import exposure_header, stamp
from astrid.pipeline.runtime import logged, time_limit

with logged(snakemake.log[0]) as log:
    inputs, output = snakemake.input, snakemake.output[0]
    compression = Compression(**snakemake.params.products)
    aligned_header = fits.getheader(inputs.aligned, 0)
    header = exposure_header(aligned_header)
    stamp(
        header,
        snakemake.params.code,
        {"flux_error": snakemake.params.flux_error},
        [("ALNFILE", "ALNSHA", inputs.aligned), ("REFFILE", "REFSHA", inputs.reference)],
    )
    failure = alignment_failure(aligned_header)
    if failure:
        write_alignment_failure(output, header, *failure)
    else:
        with time_limit(snakemake.params.timeout_minutes, f"subtraction of {header['EXPOSURE']}"):
            reference = read_reference(inputs.reference)
            result = subtract_aligned(
                read_image_product(inputs.aligned),
                reference,
                aligned_header,
                flux_error=snakemake.params.flux_error,
                workers=snakemake.threads,
                renormalise=snakemake.params.renormalise,
                stars=read_aligned_stars(inputs.aligned),
                psf_spread_limit=snakemake.params.psf_spread_limit,
            )
            header["SCORNORM"] = (
                result.score_noise if snakemake.params.renormalise else 1.0,
                "S_corr divided by this (difference.renormalise)",
            )
            header["FLXRATIO"] = aligned_header["FLXRATIO"]
            header["FWHM"] = aligned_header["FWHM"]
            write_difference(output, result, reference.wcs.to_header(relax=True), header, compression)
            log.info(
                "S_corr noise %.3f, D noise %.3f, PSF in %d × %d regions",
                result.score_noise,
                result.difference_noise,
                result.psf_regions,
                result.psf_regions,
            )
