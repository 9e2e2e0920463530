"""Train, evaluate, log, gate and register a real/bogus model, and check it for drift.

A *bundle* is what the workflow scores with: the network's weights and everything needed
to use and watch it (threshold, normalisation, dataset version, the test split's score and
feature distributions for the drift check). It is logged as a run artifact beside the
MLflow model and exported per registered version by the workflow; loading one and scoring
with it is :mod:`astrid.realbogus.scoring`.
"""

import logging
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from astropy.table import Table, vstack

from astrid.io.fitsio import atomic_output
from astrid.realbogus import classifier, registry
from astrid.realbogus.drift import DRIFT_FEATURES, night_drift
from astrid.realbogus.scoring import ARCHITECTURE, NORMALISATION, load_bundle, score_cutouts
from astrid.realbogus.training_set import SPLITS, load_split, read_samples

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LifecycleSettings:
    """Choices of the model's lifecycle; each has a ``realbogus.*`` config key."""

    model_name: str = "astrid-realbogus"
    experiment: str = "astrid-realbogus"
    threshold: float | None = None  # None: chosen on the validation split for target_fpr
    target_fpr: float = 0.0075
    min_f1_score: float = 0.85


def _features(table, limit=5000, seed=0):
    index = np.random.default_rng(seed).permutation(len(table))[:limit]
    return {name: np.asarray(table[name], float)[index] for name in DRIFT_FEATURES}


def make_bundle(
    net: "torch.nn.Module",
    train_settings: classifier.TrainSettings,
    threshold: float,
    manifest: dict,
    test_table: Table,
    test_scores: np.ndarray,
) -> dict:
    """The bundle of a trained network: what scoring and the drift check need.

    Parameters
    ----------
    net : torch.nn.Module
        The trained network; its weights are copied to the CPU.
    train_settings : TrainSettings
        Its training settings (the dropout rebuilds the network).
    threshold : float
        Operating threshold.
    manifest : dict
        The dataset it was trained on (:func:`astrid.realbogus.training_set.build_manifest`).
    test_table : astropy.table.Table
        The test split's samples; the features of up to 5000 of them are kept.
    test_scores : numpy.ndarray
        The network's scores of the test split.

    Returns
    -------
    dict
        ``architecture``, ``normalisation``, ``dropout``, ``state_dict``, ``threshold``,
        ``dataset_version``, ``nights`` and ``reference`` (``scores`` and ``features`` for
        :func:`astrid.realbogus.drift.night_drift`).
    """
    return {
        "architecture": ARCHITECTURE,
        "normalisation": NORMALISATION,
        "dropout": train_settings.dropout,
        "state_dict": {k: v.detach().cpu() for k, v in net.state_dict().items()},
        "threshold": threshold,
        "dataset_version": manifest["version"],
        "nights": manifest["nights"],
        "reference": {"scores": np.asarray(test_scores), "features": _features(test_table)},
    }


def _plots(labels, scores, metrics, threshold, out_dir):
    """ROC and precision–recall curves and the confusion matrix as PNG files."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fpr, tpr = classifier.roc_curve(labels, scores)
    order = np.argsort(-scores, kind="stable")
    hits = np.cumsum(np.asarray(labels)[order])
    precision = hits / np.arange(1, len(hits) + 1)
    recall = hits / max(1, hits[-1])
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    axes[0].plot(fpr, tpr)
    axes[0].set(
        xscale="log",
        xlim=(1e-3, 1),
        xlabel="false-positive rate",
        ylabel="true-positive rate",
        title=f"ROC (AUC {metrics['roc_auc']:.4f})",
    )
    axes[1].plot(recall, precision)
    axes[1].set(xlabel="recall", ylabel="precision", title="precision–recall")
    cells = np.array(
        [
            [metrics["confusion_tn"], metrics["confusion_fp"]],
            [metrics["confusion_fn"], metrics["confusion_tp"]],
        ]
    )
    axes[2].imshow(cells, cmap="Blues")
    for (i, j), value in np.ndenumerate(cells):
        axes[2].text(j, i, str(value), ha="center", va="center")
    axes[2].set(
        xticks=[0, 1],
        xticklabels=["bogus", "real"],
        yticks=[0, 1],
        yticklabels=["bogus", "real"],
        xlabel="called",
        ylabel="true",
        title=f"confusion at threshold {threshold}",
    )
    fig.tight_layout()
    fig.savefig(Path(out_dir) / "evaluation.png", dpi=90)
    plt.close(fig)


def per_kind(table: Table, scores: np.ndarray, threshold: float) -> dict[str, float]:
    """Fraction called real of each sample kind (fakes: recall; artefacts: false positives).

    Parameters
    ----------
    table : astropy.table.Table
        The samples, with their ``kind``.
    scores : numpy.ndarray
        Score of each sample.
    threshold : float
        Operating threshold: a score ≥ it is called real.

    Returns
    -------
    dict
        ``called_real_<kind>`` → fraction, for each kind present.
    """
    kinds = np.asarray(table["kind"]).astype(str)
    return {f"called_real_{k}": float(np.mean(scores[kinds == k] >= threshold)) for k in sorted(set(kinds))}


def starting_network(start_from: Path | str | None) -> "tuple[Callable[[float], torch.nn.Module], str]":
    """How a training's network starts: from random weights, or from a model's weights.

    Fine-tuning the starter model (trained on randomised cameras) on a site's injections
    keeps what it learnt of the physics of real and bogus sources: on the demo's split the
    validation loss halves against a network learnt from random weights, and the site's
    model still ranks other cameras' alerts (see the README's real/bogus section). A file
    of another network cannot be fine-tuned, and the training starts from random weights.

    Parameters
    ----------
    start_from : pathlib.Path or str or None
        The model file (a bundle, :func:`astrid.realbogus.scoring.load_bundle`), or None.

    Returns
    -------
    (callable, str)
        ``build(dropout)`` for :func:`astrid.realbogus.classifier.train`, and what it starts
        from in words ('random' or the file's name), for the run's parameters.
    """
    if not start_from:
        return classifier.build_network, "random"
    try:
        _, bundle = load_bundle(start_from)
    except ValueError as error:
        log.warning("%s; the training starts from random weights", error)
        return classifier.build_network, "random"

    def build(dropout: float) -> "torch.nn.Module":
        net = classifier.build_network(dropout)
        net.load_state_dict(bundle["state_dict"])
        return net

    log.info("the training fine-tunes %s", start_from)
    return build, Path(start_from).name


def train_and_gate(
    manifest: dict,
    train_settings: classifier.TrainSettings,
    settings: LifecycleSettings,
    code_version: str,
    results: Path | str = "results",
    threads: int = 1,
    trigger: str = "initial",
    device: "torch.device | None" = None,
    start_from: Path | str | None = None,
) -> dict:
    """Train on ``manifest``'s splits, log everything to MLflow, gate, register.

    Returns the decision: run id, registered version, promoted or not and why, the test
    metrics of the new model and of the champion it was compared with. ``device``: where
    the network trains and scores (default the CPU); what is logged is a CPU model.
    ``start_from`` (the starter model) fine-tunes its weights on the site's samples instead
    of learning from random ones (:func:`starting_network`).

    Parameters
    ----------
    manifest : dict
        The dataset (:func:`astrid.realbogus.training_set.build_manifest`).
    train_settings : TrainSettings
        Choices of the training.
    settings : LifecycleSettings
        Model and experiment names, threshold and the gate's least F1.
    code_version : str
        Version of the code (the library digest), a tag of the run and of the registered
        version.
    results : pathlib.Path or str
        Results folder: the embedded MLflow store lives under it when
        ``MLFLOW_TRACKING_URI`` is not set.
    threads : int
        Torch CPU threads.
    trigger : str
        Why it trains: ``initial``, or the drift reasons.
    device : torch.device, optional
        Where the network trains and scores; by default the CPU.
    start_from : pathlib.Path or str, optional
        A model file whose weights the training starts from; None starts from random ones.

    Returns
    -------
    dict
        ``run_id``, ``version``, ``promoted``, ``reason``, ``dataset_version``,
        ``champion_before``, ``champion_after`` (versions, None without a champion),
        ``champion_run_id`` (the run of ``champion_after``), ``metrics``, ``champion_metrics`` (None when no comparable champion) and
        ``tracking_uri`` (without credentials).

    Raises
    ------
    astrid.realbogus.training_set.DatasetError
        A split's file is missing or has changed since the dataset was built, or a split has
        no frames or lacks a class.
    astrid.realbogus.registry.RegistryError
        The tracking store cannot be reached or read.
    """
    import mlflow
    import mlflow.pytorch
    import torch

    data = {split: load_split(manifest, split) for split in SPLITS}
    x = {split: classifier.normalise(cube) for split, (_, cube) in data.items()}
    y = {split: np.asarray(table["label"]).astype(np.float32) for split, (table, _) in data.items()}
    uri = registry.tracking_uri(results)
    client = registry.client(uri)
    experiment_id = registry.experiment(client, settings.experiment, results)
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"train-{manifest['version']}") as run:
        mlflow.set_tags(
            {"dataset_version": manifest["version"], "code_version": code_version, "trigger": trigger}
        )
        build, started_from = starting_network(start_from)
        mlflow.log_params(
            {
                **asdict(train_settings),
                "threshold_setting": settings.threshold,
                "target_fpr": settings.target_fpr,
                "min_f1_score": settings.min_f1_score,
                "dataset_version": manifest["version"],
                "code_version": code_version,
                "architecture": ARCHITECTURE,
                "device": str(device or "cpu"),
                "start_from": started_from,
                "nights": ",".join(manifest["nights"]),
                **{f"n_{split}": len(y[split]) for split in SPLITS},
                **{f"n_real_{split}": int(y[split].sum()) for split in SPLITS},
            }
        )

        def progress(epoch, metrics):
            mlflow.log_metrics(metrics, step=epoch)
            log.info(
                "epoch %d/%d: %s",
                epoch,
                train_settings.epochs,
                ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()),
            )

        weights = classifier.class_weights(y["train"], np.asarray(data["train"][0]["kind"]))
        net, _ = classifier.train(
            x["train"],
            y["train"],
            x["validation"],
            y["validation"],
            train_settings,
            on_epoch=progress,
            threads=threads,
            weights=weights,
            device=device,
            build=build,
        )
        threshold = settings.threshold
        if threshold is None:
            val_scores = classifier.predict(net, x["validation"], device=device, threads=threads)
            threshold = classifier.operating_threshold(y["validation"], val_scores, settings.target_fpr)
        mlflow.log_param("threshold", threshold)
        log.info("operating threshold %.4f", threshold)
        test_table = data["test"][0]
        scores = classifier.predict(net, x["test"], device=device, threads=threads)
        net = net.cpu()
        metrics = classifier.evaluate(y["test"], scores, np.asarray(test_table["snr"]), threshold)
        metrics.update(per_kind(test_table, scores, threshold))
        metrics["threshold"] = threshold
        mlflow.log_metrics({f"test_{k}": v for k, v in metrics.items() if np.isfinite(v)})
        with tempfile.TemporaryDirectory() as tmp:
            _plots(y["test"], scores, metrics, threshold, tmp)
            mlflow.log_dict(metrics, "evaluation/test_metrics.json")
            mlflow.log_artifacts(tmp, "evaluation")
            bundle_path = Path(tmp) / "realbogus.pt"
            torch.save(make_bundle(net, train_settings, threshold, manifest, test_table, scores), bundle_path)
            mlflow.log_artifact(str(bundle_path), "export")
        example = x["test"][:2]
        info = mlflow.pytorch.log_model(
            net,
            name="model",
            input_example=example,
            pip_requirements=[f"torch=={torch.__version__.split('+')[0]}", f"numpy=={np.__version__}"],
        )
        run_id = run.info.run_id
    champion_before, champion_run = registry.champion(uri, settings.model_name)
    comparable, _ = registry.champion(uri, settings.model_name, ARCHITECTURE)
    champion_metrics = None
    if comparable is not None:
        with tempfile.TemporaryDirectory() as tmp:
            registry.export_version(uri, settings.model_name, champion_before, Path(tmp) / "champion.pt")
            champion_net, champion_bundle = load_bundle(Path(tmp) / "champion.pt")
        champion_scores = classifier.predict(champion_net, x["test"], threads=threads)
        champion_metrics = classifier.evaluate(
            y["test"], champion_scores, np.asarray(test_table["snr"]), champion_bundle["threshold"]
        )
    promote, reason = registry.gate(metrics, champion_metrics, settings.min_f1_score)
    if champion_before is not None and comparable is None:
        reason += f" (champion v{champion_before} is another network; {ARCHITECTURE} replaces it)"
    version = registry.register(
        client,
        info.model_uri,
        settings.model_name,
        promote,
        reason,
        {
            "test_f1": f"{metrics['f1']:.4f}",
            "architecture": ARCHITECTURE,
            "dataset_version": manifest["version"],
            "code_version": code_version,
            "trigger": trigger,
        },
    )
    log.info(
        "model version %d %s: %s", version, "promoted to champion" if promote else "not promoted", reason
    )
    return {
        "run_id": run_id,
        "version": version,
        "promoted": promote,
        "reason": reason,
        "dataset_version": manifest["version"],
        "champion_before": champion_before,
        "champion_after": version if promote else champion_before,
        "champion_run_id": run_id if promote else champion_run,
        "metrics": metrics,
        "champion_metrics": champion_metrics,
        "tracking_uri": registry.redacted(uri),
    }


def untrained_decision(
    manifest: dict, reason: str, champion: int | None = None, champion_run: str | None = None
) -> dict:
    """The decision of a training that could not run (a training set without both classes:
    every frame failed before its difference, say), in the form :func:`train_and_gate`
    returns: nothing registered, the champion unchanged.

    Parameters
    ----------
    manifest : dict
        The training set's manifest.
    reason : str
        Why no model was trained.
    champion : int, optional
        The champion's version, if there is one.
    champion_run : str, optional
        The id of the run that made it.

    Returns
    -------
    dict
    """
    return {
        "run_id": None,
        "version": None,
        "promoted": False,
        "reason": f"no model trained: {reason}",
        "dataset_version": manifest["version"],
        "champion_before": champion,
        "champion_after": champion,
        "champion_run_id": champion_run,
        "metrics": None,
        "champion_metrics": None,
    }


def _plain(value):
    """JSON-ready: numpy scalars to Python, non-finite floats to None."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def write_decision(decision: dict, path: Path | str) -> None:
    """Write a decision or report as JSON, atomically.

    Parameters
    ----------
    decision : dict
        The decision or report; NumPy scalars become numbers and non-finite floats null.
    path : pathlib.Path or str
        The JSON file.
    """
    import json

    with atomic_output(path) as partial:
        partial.write_text(json.dumps(_plain(decision), indent=2, sort_keys=True))


def log_decision(decision: dict, settings: LifecycleSettings, results: Path | str = "results") -> None:
    """Log a retraining decision to MLflow as a run of its own, with each night's figures.

    Parameters
    ----------
    decision : dict
        The decision: ``retrain``, ``champion``, ``reasons`` and ``nights`` (night →
        figures of :func:`astrid.realbogus.drift.night_drift`).
    settings : LifecycleSettings
        Its ``experiment`` is the one logged to.
    results : pathlib.Path or str
        Results folder of the embedded MLflow store.
    """
    import mlflow

    client = registry.client(registry.tracking_uri(results))
    experiment_id = registry.experiment(client, settings.experiment, results)
    with mlflow.start_run(experiment_id=experiment_id, run_name="drift-check"):
        mlflow.set_tags(
            {
                "kind": "drift-check",
                "retrain": str(decision["retrain"]),
                "champion": str(decision["champion"]),
                "reasons": "; ".join(decision["reasons"]) or "none",
            }
        )
        for night, figures in decision["nights"].items():
            mlflow.log_metrics(
                {
                    f"{name}_{night}": value
                    for name, value in figures.items()
                    if value is not None and np.isfinite(value)
                }
            )
        mlflow.log_dict(_plain(decision), "decision.json")


def night_drift_report(
    model_path: Path | str,
    sample_paths: list[Path | str],
    scored_paths: list[Path | str],
    night: str,
    threads: int | None = None,
) -> dict:
    """The daily drift check of one night against the champion (``model_path``): drift of
    its samples' scores and features against the champion's training set, its recall on
    the night's injected fakes, and how many of the night's candidates it called real.

    Parameters
    ----------
    model_path : pathlib.Path or str or None
        The exported champion; None when no model exists yet (the report then says so).
    sample_paths : list of pathlib.Path or str
        The night's training samples (one file per frame, scored one at a time so that a
        night's cutouts need not fit in memory together).
    scored_paths : list of pathlib.Path or str
        The night's scored candidate tables.
    night : str
        The night, as the report names it.
    threads : int, optional
        Torch threads.

    Returns
    -------
    dict
        The report ``check_drift`` writes.
    """
    scored = [Table.read(path, format="ascii.ecsv") for path in scored_paths]
    if model_path is None:
        return {
            "night": night,
            "model_name": None,
            "model_version": None,
            "dataset_version": None,
            "threshold": None,
            "figures": {},
            "candidates": int(sum(len(t) for t in scored)),
            "candidates_called_real": 0,
            "frames": len(scored),
            "reason": "no real/bogus model exists yet",
        }
    net, bundle = load_bundle(model_path)
    tables, scores = [], [np.zeros(0, np.float32)]
    for path in sample_paths:
        table, cube = read_samples(path)
        table["label"] = np.asarray(table["label"]).astype(np.int8)
        tables.append(table[[*DRIFT_FEATURES, "label"]])
        scores.append(score_cutouts(net, cube, threads=threads) if len(table) else np.zeros(0, np.float32))
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
    return {
        "night": night,
        "model_name": bundle["model_name"],
        "model_version": bundle["model_version"],
        "dataset_version": bundle["dataset_version"],
        "threshold": bundle["threshold"],
        "figures": figures,
        "candidates": int(sum(len(t) for t in scored)),
        "candidates_called_real": int(sum(int(np.sum(t["rb_real"])) for t in scored)),
        "frames": len(scored),
    }
