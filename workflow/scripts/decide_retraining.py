"""The daily decision: retrain the real/bogus model or not, with every figure behind it.

A retraining builds a new training set from the champion's nights and the new ones and
runs the same gate as the first training; the decision is logged to MLflow either way.

Inputs: every differenced night's drift report and samples, the exported champion, the
starter model (fine-tuned with realbogus.training.from_starter). Output:
results/models/realbogus/retraining.json. Settings: realbogus.drift, the lifecycle and training
settings, the splits and seed.
"""

import json
from pathlib import Path

from astrid.pipeline.runtime import logged
from astrid.realbogus.classifier import TrainSettings, requested_gpus, resolve_device
from astrid.realbogus.drift import DriftSettings, retraining_decision
from astrid.realbogus.lifecycle import (
    LifecycleSettings,
    load_bundle,
    log_decision,
    train_and_gate,
    write_decision,
)
from astrid.realbogus.training_set import build_manifest, write_manifest

with logged(snakemake.log[0]) as log:
    inputs, params = snakemake.input, snakemake.params
    if not inputs.model:  # no model could be trained yet: nothing to check
        decision = {
            "champion": None,
            "champion_dataset": None,
            "nights": {},
            "new_nights": [],
            "retrain": False,
            "reasons": ["no champion: no real/bogus model could be trained yet (see training.json)"],
            "training": None,
        }
        log.warning("%s", decision["reasons"][0])
        write_decision(decision, snakemake.output[0])
    else:
        _, bundle = load_bundle(inputs.model)
        nights = {}
        for path in inputs.drift:
            with open(path) as handle:
                report = json.load(handle)
            nights[report["night"]] = report["figures"]
        new_nights = sorted(set(nights) - set(bundle["nights"]))
        retrain, reasons = retraining_decision(nights, new_nights, DriftSettings(**params.drift))
        lifecycle = LifecycleSettings(**params.lifecycle)
        decision = {
            "champion": bundle["model_version"],
            "champion_dataset": bundle["dataset_version"],
            "nights": nights,
            "new_nights": new_nights,
            "retrain": retrain,
            "reasons": reasons,
            "training": None,
        }
        log.info("retrain: %s%s", retrain, "".join(f"\n  - {r}" for r in reasons))
        if retrain:
            manifest = build_manifest(inputs.samples, params.validation_split, params.test_split, params.seed)
            write_manifest(manifest, Path(params.archive) / f"{manifest['version']}.json", params.archive)
            decision["training"] = train_and_gate(
                manifest,
                TrainSettings(**params.training),
                lifecycle,
                params.code,
                threads=snakemake.threads,
                device=resolve_device(requested_gpus(snakemake.resources)),
                trigger="; ".join(reasons),
                start_from=str(inputs.starter) if params.from_starter and inputs.starter else None,
            )
        log_decision(decision, lifecycle)
        write_decision(decision, snakemake.output[0])
