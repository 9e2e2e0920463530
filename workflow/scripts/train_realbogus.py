"""Train a real/bogus model on the training set, log it to MLflow, gate and register it.

Inputs: the training set's manifest. Output: results/models/realbogus/training.json (the
gate's decision). Settings: realbogus lifecycle (names, threshold, gate) and training.
"""

import json

from astrid.pipeline.runtime import logged
from astrid.realbogus.classifier import TrainSettings, requested_gpus, resolve_device
from astrid.realbogus.lifecycle import LifecycleSettings, train_and_gate, write_decision

with logged(snakemake.log[0]) as log:
    with open(snakemake.input.dataset) as handle:
        manifest = json.load(handle)
    decision = train_and_gate(
        manifest,
        TrainSettings(**snakemake.params.training),
        LifecycleSettings(**snakemake.params.lifecycle),
        snakemake.params.code,
        threads=snakemake.threads,
        device=resolve_device(requested_gpus(snakemake.resources)),
    )
    write_decision(decision, snakemake.output[0])
