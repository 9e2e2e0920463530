"""The versioned training set: a manifest of the per-frame sample files and their splits.

Inputs: the training nights' sample files. Output: results/training/dataset.json (and its
copy under datasets/<version>.json). Settings: realbogus.validation_split, test_split, seed.
"""

from astrid.pipeline.runtime import logged
from astrid.realbogus.training_set import build_manifest, write_manifest

with logged(snakemake.log[0]) as log:
    params = snakemake.params
    manifest = build_manifest(snakemake.input, params.validation_split, params.test_split, params.seed)
    write_manifest(manifest, snakemake.output[0], params.archive)
    for split, counts in manifest["counts"].items():
        log.info(
            "%s: %d frames, %d samples, %d real", split, counts["frames"], counts["samples"], counts["real"]
        )
    log.info(
        "dataset version %s (kept as %s/%s.json)", manifest["version"], params.archive, manifest["version"]
    )
