"""Coadd the best-seeing calibrated frames of a field and band into its reference.

Inputs: the field's calibrated frames of the reference nights, its catalog (if any). Output:
results/references/<field>/<band>.fits, or a missing-reference product saying why. Settings:
reference.max_frames, reference.max_fwhm_ratio, align.detect_sigma, reference.catalog_*
and colour_terms; products.* (tile compression).
"""

from astropy.io import fits

from astrid.astrometry.registration import AlignmentError
from astrid.imaging.psf import PSFError
from astrid.imaging.reference import (
    ReferenceError,
    ReferenceSettings,
    build_reference,
    write_missing_reference,
    write_reference,
)
from astrid.io.fitsio import Compression, read_image_product
from astrid.io.provenance import stamp
from astrid.pipeline.runtime import logged
from astrid.skycal.catalogs import read_field_catalog

with logged(snakemake.log[0]) as log:
    field, band = snakemake.wildcards.field, snakemake.wildcards.band
    header = fits.Header({"FIELD": field, "FILTER": band})
    stamp(header, snakemake.params.code, dict(snakemake.params.settings))
    if not snakemake.input.frames:
        write_missing_reference(
            snakemake.output[0],
            header,
            f"no calibrated frames of field {field} in band {band} on the reference nights",
        )
    else:
        frames = [(read_image_product(p), fits.getheader(p, "SCI")) for p in snakemake.input.frames]
        reading = dict(snakemake.params.catalog)
        colour_term = reading.pop("colour_term")
        catalog, note = read_field_catalog(snakemake.input.catalog, reading)
        settings = ReferenceSettings(**snakemake.params.settings, detect_sigma=snakemake.params.detect_sigma)
        try:
            reference = build_reference(frames, settings, catalog, band, colour_term)
            if note:
                reference.header["PHOTNOTE"] = (note, "why magnitudes are instrumental")
        except (ReferenceError, AlignmentError, PSFError) as error:
            log.error("no reference for %s %s: %s", field, band, error)
            write_missing_reference(
                snakemake.output[0], header, f"reference for field {field} band {band} failed: {error}"
            )
        else:
            reference.header.update(header)
            write_reference(snakemake.output[0], reference, Compression(**snakemake.params.products))
