"""Export one registered version of the real/bogus model to the file scoring reads.

Inputs: none (the version is read from the model registry). Outputs:
results/models/realbogus/v<N>-<run>.pt and .json. Settings: realbogus.model_name.
"""

import json

from astrid.io.fitsio import atomic_output
from astrid.pipeline.runtime import logged
from astrid.realbogus.registry import export_version, tracking_uri

with logged(snakemake.log[0]) as log:
    version, run = int(snakemake.wildcards.version), snakemake.wildcards.run
    bundle = export_version(tracking_uri(), snakemake.params.model_name, version, snakemake.output.model)
    if not bundle["run_id"].startswith(run):
        raise ValueError(
            f"version {version} of {snakemake.params.model_name} is run {bundle['run_id']} in this model "
            f"store, not run {run}…: was MLFLOW_TRACKING_URI changed during the run?"
        )
    info = {
        key: bundle[key] for key in ("model_name", "model_version", "run_id", "dataset_version", "threshold")
    }
    with atomic_output(snakemake.output.info) as tmp, open(tmp, "w") as handle:
        json.dump(info, handle, indent=2)
    log.info("exported %s version %d (run %s)", info["model_name"], version, info["run_id"])
