"""Fetch a field's reference catalog from VizieR, once (reference.fetch.archive).

Inputs: the field's calibrated frames of the reference nights and its supplied templates
(their footprints place the cone). Output: results/catalogs/fetched/<field>.ecsv in AstrID's
catalog layout, or, where the fetch fails (offline …), a catalog without rows that says why:
the field then keeps instrumental magnitudes with that reason, and the night goes on.
Settings: reference.fetch.*, reference.catalog_margin_arcmin.
"""

from astrid.imaging.templates import image_footprint
from astrid.pipeline.runtime import logged
from astrid.skycal.catalogs import write_catalog
from astrid.skycal.fetch import FetchError, cone_of, fetch_catalog, write_fetch_failure

with logged(snakemake.log[0]) as log:
    field, fetch = snakemake.wildcards.field, snakemake.params.fetch
    images = [*snakemake.input.frames, *snakemake.input.templates]
    try:
        centre, radius = cone_of([image_footprint(p) for p in images], snakemake.params.margin_arcmin)
        catalog = fetch_catalog(fetch["archive"], centre, radius, fetch["timeout_seconds"])
    except FetchError as error:
        log.warning("field %s: %s; its magnitudes stay instrumental", field, error)
        write_fetch_failure(snakemake.output[0], f"field {field}: {error}")
    else:
        catalog.meta["SOURCE"] = f"{fetch['archive']} fetched for field {field}"
        write_catalog(catalog, snakemake.output[0])
        log.info("field %s: %d rows of %s within %.1f′", field, len(catalog), fetch["archive"], radius)
