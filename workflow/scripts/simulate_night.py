"""Simulate one raw demo night and its truth file.

Inputs: the demo's field catalogs. Outputs: results/demo/raw/<night>/ and
results/demo/truth/<night>.fits. Settings: demo.* (the night's plan, size, camera, seed).
"""

from astropy.table import Table

from astrid.pipeline.runtime import logged
from astrid.sim.camera import demo_camera
from astrid.sim.night import NightPlan, simulate_night

with logged(snakemake.log[0]) as log:
    plan = dict(snakemake.params.plan)
    plan["fields"] = tuple(tuple(f) for f in plan["fields"])
    plan["bands"] = tuple(plan["bands"])
    camera = demo_camera(snakemake.params.size, snakemake.params.camera)
    catalogs = {}
    for path in snakemake.input.catalogs:
        catalog = Table.read(path)
        catalogs[catalog.meta["FIELD"]] = catalog
    n = simulate_night(
        NightPlan(**plan),
        camera,
        catalogs,
        snakemake.output.raw,
        snakemake.output.truth,
        snakemake.params.seed,
    )
    log.info("wrote %d raw frames of night %s", n, plan["night"])
