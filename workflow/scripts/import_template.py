"""Import a supplied template (a plain image with WCS, optional weight and mask) as a field's
reference.

Inputs: the template and its weight/mask files, the field's catalog (if any). Output:
results/templates/<field>/<band>.fits in the layout of a built reference, or a
missing-reference product naming the file and the problem. Settings: align.detect_sigma,
reference.catalog_* and colour_terms; products.* (tile compression).
"""

from astropy.io import fits

from astrid.imaging.psf import PSFError
from astrid.imaging.reference import ReferenceSettings, write_missing_reference, write_reference
from astrid.imaging.template_import import import_template
from astrid.imaging.templates import TemplateError
from astrid.io.fitsio import Compression
from astrid.io.provenance import stamp
from astrid.pipeline.runtime import logged
from astrid.skycal.catalogs import read_field_catalog

with logged(snakemake.log[0]) as log:
    field, band = snakemake.wildcards.field, snakemake.wildcards.band
    header = fits.Header({"FIELD": field, "FILTER": band})
    stamp(header, snakemake.params.code, {"template": snakemake.input.image})
    reading = dict(snakemake.params.catalog)
    colour_term = reading.pop("colour_term")
    catalog, note = read_field_catalog(snakemake.input.catalog, reading)
    settings = ReferenceSettings(detect_sigma=snakemake.params.detect_sigma)
    try:
        reference = import_template(snakemake.input.image, settings, catalog, band, colour_term)
    except (TemplateError, PSFError, OSError, ValueError) as error:
        # The field's frames are quarantined NO_REFERENCE with this reason; the night goes on.
        log.error("template %s not imported: %s", snakemake.input.image, error)
        write_missing_reference(
            snakemake.output[0], header, f"template {snakemake.input.image} for {field} {band}: {error}"
        )
    else:
        if note:
            reference.header["PHOTNOTE"] = (note, "why magnitudes are instrumental")
        reference.header.update(header)
        write_reference(snakemake.output[0], reference, Compression(**snakemake.params.products))
