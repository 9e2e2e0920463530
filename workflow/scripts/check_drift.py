"""Drift of one night against the champion's training set, and the champion's recall on
the night's injected fakes.

Inputs: the night's training samples and scored tables, the exported champion. Output:
results/drift/<night>.json. No settings of its own (the thresholds apply in decide_retraining).
"""

import json

from astrid.pipeline.runtime import logged
from astrid.realbogus.lifecycle import night_drift_report, write_decision

with logged(snakemake.log[0]) as log:
    inputs = snakemake.input
    report = night_drift_report(
        inputs.model or None,  # a path, or nothing when no model exists yet
        inputs.samples,
        inputs.scored,
        snakemake.wildcards.night,
        threads=snakemake.threads,
    )
    write_decision(report, snakemake.output[0])
    log.info("night %s: %s", report["night"], json.dumps(report["figures"]))
