"""Write the seeded field catalog of one demo field."""

from astrid import simulate
from astrid.runtime import logged

with logged(snakemake.log[0]) as log:
    field = snakemake.params.field
    camera = simulate.Camera(ny=snakemake.params.size, nx=snakemake.params.size)
    catalog = simulate.make_field_catalog(
        field["name"], field["ra"], field["dec"], simulate.catalog_width(camera), snakemake.params.seed
    )
    catalog.write(snakemake.output[0], overwrite=True)
    log.info("field %s: %d sources", field["name"], len(catalog))
