"""Export one registered version of the real/bogus model to the file scoring reads."""

import json

from astrid.fitsio import atomic_output
from astrid.registry import export_version, tracking_uri
from astrid.runtime import logged

with logged(snakemake.log[0]) as log:
    version = int(snakemake.wildcards.version)
    bundle = export_version(tracking_uri(), snakemake.params.model_name, version, snakemake.output.model)
    info = {
        key: bundle[key] for key in ("model_name", "model_version", "run_id", "dataset_version", "threshold")
    }
    with atomic_output(snakemake.output.info) as tmp, open(tmp, "w") as handle:
        json.dump(info, handle, indent=2)
    log.info("exported %s version %d (run %s)", info["model_name"], version, info["run_id"])
