"""Cut one field's catalog from the site-wide catalog, onto the field's frames.

Inputs: the site-wide catalog (reference.catalog), the field's calibrated frames of the
reference nights and its supplied templates. Output: results/catalogs/<field>.ecsv in
AstrID's catalog layout (positions at the catalog's epoch, with proper motions). Settings:
reference.catalog_format, catalog_columns, catalog_epoch, catalog_margin_arcmin.
"""

from astrid.imaging.templates import image_footprint
from astrid.pipeline.runtime import logged
from astrid.skycal.catalogs import cut_to_frames, read_catalog, write_catalog

with logged(snakemake.log[0]) as log:
    site = read_catalog(snakemake.input.catalog, **snakemake.params.reading)
    images = [*snakemake.input.frames, *snakemake.input.templates]
    cut = cut_to_frames(site, [image_footprint(p) for p in images], snakemake.params.margin_arcmin)
    cut.meta["SOURCE"] = f"{snakemake.input.catalog} (cut for field {snakemake.wildcards.field})"
    write_catalog(cut, snakemake.output[0])
    log.info(
        "field %s: %d of %d catalog stars on its %d frames and templates",
        snakemake.wildcards.field,
        len(cut),
        len(site),
        len(images),
    )
    if len(cut) < 5:
        log.warning(
            "field %s: only %d catalog stars from %s: its magnitudes will stay instrumental",
            snakemake.wildcards.field,
            len(cut),
            snakemake.input.catalog,
        )
