"""Write the seeded field catalog of one demo field.

Inputs: none. Output: <reference.catalog_dir>/<field>.ecsv (resources/catalogs by default). Settings: demo.fields, demo.size,
demo.camera (a mosaic's catalog covers both detectors), demo.seed.
"""

from astrid.pipeline.runtime import logged
from astrid.sim.camera import demo_camera
from astrid.sim.catalogs import catalog_width, make_field_catalog

with logged(snakemake.log[0]) as log:
    field = snakemake.params.field
    camera = demo_camera(snakemake.params.size, snakemake.params.camera)
    catalog = make_field_catalog(
        field["name"], field["ra"], field["dec"], catalog_width(camera), snakemake.params.seed
    )
    catalog.write(snakemake.output[0], overwrite=True)
    log.info("field %s: %d sources", field["name"], len(catalog))
