"""Train a real/bogus model on the training set, log it to MLflow, gate and register it.

Inputs: the training set's manifest, and the starter model (registered as the champion
first when the store has none, so the site's model must beat it through the gate; with
realbogus.training.from_starter the site's model is the starter fine-tuned).
Output: results/models/realbogus/training.json (the gate's decision). Settings: realbogus
lifecycle (names, threshold, gate) and training.
"""

import json

from astrid.pipeline.runtime import logged
from astrid.realbogus.classifier import TrainSettings, requested_gpus, resolve_device
from astrid.realbogus.lifecycle import LifecycleSettings, train_and_gate, untrained_decision, write_decision
from astrid.realbogus.registry import champion, tracking_uri
from astrid.realbogus.starter import register_starter
from astrid.realbogus.training_set import DatasetError

with logged(snakemake.log[0]) as log:
    with open(snakemake.input.dataset) as handle:
        manifest = json.load(handle)
    lifecycle = LifecycleSettings(**snakemake.params.lifecycle)
    starter = str(snakemake.input.starter) if snakemake.input.starter else None  # or an empty list
    if starter:
        register_starter(starter, lifecycle.model_name, lifecycle.experiment)
    try:
        decision = train_and_gate(
            manifest,
            TrainSettings(**snakemake.params.training),
            lifecycle,
            snakemake.params.code,
            threads=snakemake.threads,
            device=resolve_device(requested_gpus(snakemake.resources)),
            start_from=starter if snakemake.params.from_starter else None,
        )
    except DatasetError as error:
        # Nothing to learn from (every frame failed before its difference): the night goes
        # on with the champion (the starter model, if any), or without scores; a frame with
        # candidates then says it has no model.
        decision = untrained_decision(manifest, str(error), *champion(tracking_uri(), lifecycle.model_name))
        log.warning("%s", decision["reason"])
    write_decision(decision, snakemake.output[0])
