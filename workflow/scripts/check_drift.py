"""Drift of one night against the champion's training set, and the champion's recall on
the night's injected fakes."""

import json

import numpy as np
from astropy.table import Table, vstack

from astrid.drift import DRIFT_FEATURES, night_drift
from astrid.lifecycle import load_bundle, score_cutouts, write_decision
from astrid.runtime import logged
from astrid.training_set import read_samples

with logged(snakemake.log[0]) as log:
    inputs = snakemake.input
    net, bundle = load_bundle(inputs.model)
    # One frame's samples at a time: a night's cutouts need not fit in memory together.
    tables, scores = [], [np.zeros(0, np.float32)]
    for path in inputs.samples:
        table, cube = read_samples(path)
        table["label"] = np.asarray(table["label"]).astype(np.int8)
        tables.append(table[[*DRIFT_FEATURES, "label"]])
        scores.append(
            score_cutouts(net, cube, threads=snakemake.threads) if len(table) else np.zeros(0, np.float32)
        )
    samples = vstack(tables) if tables else Table({name: [] for name in (*DRIFT_FEATURES, "label")})
    scores = np.concatenate(scores)
    labels = np.asarray(samples["label"]).astype(bool)
    figures = night_drift(
        bundle["reference"],
        scores,
        {name: np.asarray(samples[name], float) for name in DRIFT_FEATURES},
        scores[labels],
        bundle["threshold"],
    )
    scored = [Table.read(path, format="ascii.ecsv") for path in inputs.scored]
    candidates = int(sum(len(t) for t in scored))
    called_real = int(sum(int(np.sum(t["rb_real"])) for t in scored))
    report = {
        "night": snakemake.wildcards.night,
        "model_name": bundle["model_name"],
        "model_version": bundle["model_version"],
        "dataset_version": bundle["dataset_version"],
        "threshold": bundle["threshold"],
        "figures": figures,
        "candidates": candidates,
        "candidates_called_real": called_real,
        "frames": len(scored),
    }
    write_decision(report, snakemake.output[0])
    log.info("night %s: %s", report["night"], json.dumps(figures))
