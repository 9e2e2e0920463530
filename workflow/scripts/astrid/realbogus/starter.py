"""The starter real/bogus model: trained on domain-randomised triplets alone, shipped in
``resources/models/``, registered as the champion of a store that has none.

A site's first night then scores with it; the site's own model, trained on injections into
its frames, replaces it only through the usual gate (F1 ≥ ``min_f1_score`` and not worse
than the champion on the site's own test split).

    .venv/bin/python -m astrid.realbogus.starter resources/models/realbogus-starter.pt

(``make starter-model``) simulates the triplets (:mod:`astrid.realbogus.randomised`),
trains, picks the threshold of best F1 on the simulated validation split, measures the
simulated test split and — when the real survey alerts are at hand — scores them for the
model card. The survey alerts are never trained on.
"""

import argparse
import hashlib
import logging
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from astrid.io.fitsio import atomic_output
from astrid.realbogus import classifier, randomised, registry
from astrid.realbogus.drift import DRIFT_FEATURES
from astrid.realbogus.survey_cutouts import agreement_with_surveys

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)
STARTER_TAG = "starter"


@dataclass(frozen=True)
class StarterSettings:
    """How much is simulated and how long the starter trains."""

    n_train: int = 60000
    n_validation: int = 12000
    n_test: int = 12000
    epochs: int = 10
    seed: int = 20261205


def simulated_splits(settings: StarterSettings) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Train, validation and test triplets (normalised), labels and kinds, each split drawn
    from its own seed.

    Parameters
    ----------
    settings : StarterSettings
        Sizes and seed.

    Returns
    -------
    dict
        split → (normalised triplets, labels, kinds).
    """
    sizes = {"train": settings.n_train, "validation": settings.n_validation, "test": settings.n_test}
    splits = {}
    for offset, (split, n) in enumerate(sizes.items()):
        cubes, labels, kinds = randomised.simulate(n, settings.seed + offset)
        splits[split] = (classifier.normalise(cubes), labels, kinds)
    return splits


def dataset_version(settings: StarterSettings, code_version: str) -> str:
    """Name of the simulated dataset: its sizes, seed and the simulation's code.

    Parameters
    ----------
    settings : StarterSettings
        Sizes and seed.
    code_version : str
        Version of the code that simulates.

    Returns
    -------
    str
        ``randomised-<12 hex digits>``.
    """
    text = f"{asdict(settings)}|{code_version}"
    return "randomised-" + hashlib.sha256(text.encode()).hexdigest()[:12]


def per_kind_called_real(kinds: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, float]:
    """Fraction of each kind's samples called real at ``threshold``.

    Parameters
    ----------
    kinds : numpy.ndarray
        Kind of each sample.
    scores : numpy.ndarray
        Score of each sample.
    threshold : float
        A score ≥ it is called real.

    Returns
    -------
    dict
        kind → fraction called real.
    """
    return {str(k): float(np.mean(scores[kinds == k] >= threshold)) for k in np.unique(kinds)}


def train_starter(
    settings: StarterSettings,
    code_version: str,
    threads: int = 2,
    build: "Callable[[float], torch.nn.Module]" = classifier.build_network,
) -> "tuple[torch.nn.Module, dict]":
    """Train a network on randomised triplets; return it and its bundle.

    Parameters
    ----------
    settings : StarterSettings
        Sizes, seed and epochs.
    code_version : str
        Version of the code (goes into the dataset version and the card).
    threads : int
        Torch CPU threads.
    build : callable
        Builds the untrained network (the benchmark trains a braai-sized peer with it).

    Returns
    -------
    (torch.nn.Module, dict)
        The trained network and its bundle (:func:`astrid.realbogus.lifecycle.make_bundle`'s
        keys; ``reference`` holds the simulated test scores and no candidate features),
        with ``starter`` metrics of the simulated test split.
    """
    from astrid.realbogus.scoring import ARCHITECTURE, NORMALISATION

    train_settings = classifier.TrainSettings(epochs=settings.epochs, seed=settings.seed)
    splits = simulated_splits(settings)
    (xt, yt, kt), (xv, yv, _), (xs, ys, ks) = (splits[s] for s in ("train", "validation", "test"))

    def progress(epoch, metrics):
        log.info(
            "epoch %d/%d: %s", epoch, settings.epochs, ", ".join(f"{k} {v:.4f}" for k, v in metrics.items())
        )

    net, history = classifier.train(
        xt,
        yt,
        xv,
        yv,
        train_settings,
        on_epoch=progress,
        threads=threads,
        weights=classifier.class_weights(yt, kt),
        build=build,
    )
    threshold = classifier.best_f1_threshold(yv, classifier.predict(net, xv, threads=threads))
    scores = classifier.predict(net, xs, threads=threads)
    metrics = classifier.evaluate(ys, scores, np.full(len(ys), np.nan), threshold)
    metrics = {k: v for k, v in metrics.items() if "snr6" not in k}
    bundle = {
        "architecture": ARCHITECTURE,
        "normalisation": NORMALISATION,
        "dropout": train_settings.dropout,
        "state_dict": {k: v.detach().cpu() for k, v in net.state_dict().items()},
        "threshold": threshold,
        "dataset_version": dataset_version(settings, code_version),
        "nights": [],
        # Simulated stamps have no pipeline features: the drift check compares scores only.
        "reference": {"scores": scores, "features": {name: np.zeros(0) for name in DRIFT_FEATURES}},
        "starter": {
            "settings": asdict(settings),
            "code_version": code_version,
            "simulated_test": metrics,
            "called_real_by_kind": per_kind_called_real(ks, scores, threshold),
            "epochs_run": len(history),
        },
    }
    return net, bundle


def register_starter(
    path: Path | str, model_name: str, experiment: str, results: Path | str = "results"
) -> int | None:
    """Register the starter model at ``path`` as version N and champion when the store has
    no champion; do nothing when it has one.

    Parameters
    ----------
    path : pathlib.Path or str
        The starter's bundle (``resources/models/realbogus-starter.pt``).
    model_name, experiment : str
        Registered model and MLflow experiment names.
    results : pathlib.Path or str
        Results folder of the embedded store.

    Returns
    -------
    int or None
        The version registered, None when a champion was already there.

    Raises
    ------
    ValueError
        The file is not a bundle of the network this code runs.
    astrid.realbogus.registry.RegistryError
        The store cannot be reached or read.
    """
    import mlflow
    import mlflow.pytorch
    import torch

    from astrid.realbogus.scoring import ARCHITECTURE, CUTOUT_SIZE, load_bundle

    uri = registry.tracking_uri(results)
    if registry.champion(uri, model_name)[0] is not None:
        return None
    net, bundle = load_bundle(path)
    client = registry.client(uri)
    experiment_id = registry.experiment(client, experiment, results)
    with mlflow.start_run(experiment_id=experiment_id, run_name="starter-model") as run:
        mlflow.set_tags({"kind": STARTER_TAG, "dataset_version": bundle["dataset_version"]})
        mlflow.log_params(
            {"architecture": ARCHITECTURE, "threshold": bundle["threshold"], "source": str(path)}
        )
        mlflow.log_metrics(
            {f"simulated_{k}": float(v) for k, v in bundle["starter"]["simulated_test"].items()}
        )
        with tempfile.TemporaryDirectory() as tmp:
            local = Path(tmp) / "realbogus.pt"
            torch.save(bundle, local)
            mlflow.log_artifact(str(local), Path(registry.BUNDLE).parent.as_posix())
        info = mlflow.pytorch.log_model(
            net,
            name="model",
            input_example=np.zeros((2, 3, CUTOUT_SIZE, CUTOUT_SIZE), np.float32),
            pip_requirements=[f"torch=={torch.__version__.split('+')[0]}", f"numpy=={np.__version__}"],
        )
    version = registry.register(
        client,
        info.model_uri,
        model_name,
        True,
        "starter model: the store had no champion",
        {
            "architecture": ARCHITECTURE,
            "dataset_version": bundle["dataset_version"],
            "code_version": bundle["starter"]["code_version"],
            "trigger": STARTER_TAG,
        },
    )
    log.info(
        "starter model %s registered as %s v%d, the champion (run %s)",
        path,
        model_name,
        version,
        run.info.run_id,
    )
    return version


def model_card(bundle: dict, real_alerts: dict | None) -> str:
    """The model card (Markdown): data, code, parameters and figures of merit.

    Parameters
    ----------
    bundle : dict
        The starter's bundle (:func:`train_starter`).
    real_alerts : dict or None
        Its agreement with the surveys
        (:func:`astrid.realbogus.survey_cutouts.agreement_with_surveys`), None when the
        alerts were not at hand.

    Returns
    -------
    str
        The card.
    """
    starter = bundle["starter"]
    test = starter["simulated_test"]
    lines = [
        "# AstrID starter real/bogus model",
        "",
        "Trained by `make starter-model` on domain-randomised triplets alone "
        "(`astrid.realbogus.randomised`): no survey's alerts and no site's frames.",
        "",
        "## Data and code",
        f"- dataset version `{bundle['dataset_version']}`; code version `{starter['code_version']}`",
        f"- simulated samples: {starter['settings']['n_train']} train, {starter['settings']['n_validation']} "
        f"validation, {starter['settings']['n_test']} test (seed {starter['settings']['seed']}), half real",
        f"- network `{bundle['architecture']}` (dropout {bundle['dropout']}), normalisation "
        f"`{bundle['normalisation']}`, {starter['epochs_run']} epochs",
        f"- threshold {bundle['threshold']:.4f} (best F1 on the simulated validation split)",
        "",
        "## Simulated test split",
        f"- ROC AUC {test['roc_auc']:.4f}, F1 {test['f1']:.4f}, FPR {test['fpr']:.4f}, FNR {test['fnr']:.4f}",
        "- called real by kind: "
        + ", ".join(f"{k} {v:.3f}" for k, v in sorted(starter["called_real_by_kind"].items())),
    ]
    if real_alerts:
        lines += ["", "## Real survey alerts (evaluation only, never trained on)"]
        lines += [f"- {line}" for line in real_alerts["lines"]]
    lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """``python -m astrid.realbogus.starter OUT.pt``: train, then write the bundle and its
    model card (OUT.md) beside it.

    Parameters
    ----------
    argv : list of str, optional
        The arguments (default: the command line's).
    """
    import os

    import torch

    from astrid.io.provenance import library_digest
    from astrid.realbogus.scoring import score_cutouts

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path, help="bundle to write (resources/models/realbogus-starter.pt)")
    parser.add_argument("--samples", type=int, default=StarterSettings.n_train, help="training triplets")
    parser.add_argument("--epochs", type=int, default=StarterSettings.epochs)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--alerts",
        type=Path,
        default=Path(os.environ.get("ASTRID_SHARED", "../shared")) / "data" / "real" / "alerts",
        help="real survey alerts scored for the card (evaluation only; skipped when absent)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    n_held = max(1000, args.samples // 5)
    settings = StarterSettings(n_train=args.samples, n_validation=n_held, n_test=n_held, epochs=args.epochs)
    net, bundle = train_starter(settings, library_digest("realbogus.starter"), args.threads)
    real = None
    if args.alerts.is_dir():
        real = agreement_with_surveys(
            lambda cubes: score_cutouts(net, cubes), bundle["threshold"], args.alerts
        )
        bundle["starter"]["real_alerts"] = {k: v for k, v in real.items() if k != "lines"}
        log.info("%s", "\n".join(real["lines"]))
    else:
        log.warning("%s is absent: the model card has no real-alert figures", args.alerts)
    with atomic_output(args.out) as partial:
        torch.save(bundle, partial)
    with atomic_output(args.out.with_suffix(".md")) as partial:
        partial.write_text(model_card(bundle, real))
    log.info("wrote %s and its model card %s", args.out, args.out.with_suffix(".md"))


if __name__ == "__main__":
    main()
