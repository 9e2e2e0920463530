"""The real/bogus model's life in MLflow: tracking store, registration, the champion alias.

Tracking goes to ``MLFLOW_TRACKING_URI`` when it is set (a real ``mlflow server``), else to
an embedded sqlite store ``results/mlflow/mlflow.db`` with artifacts beside it. Scoring
never reads the registry: the champion is resolved once, when the workflow starts, and
exported to ``results/models/realbogus/v<N>-<run>.pt`` (see :func:`export_version`).

Command line (``make rollback VERSION=N`` wraps the second)::

    python -m astrid.realbogus.registry status
    python -m astrid.realbogus.registry rollback N
"""

import argparse
import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from astrid.io.fitsio import atomic_output
from astrid.pipeline.services import ServiceUnavailable, check_reachable, masked, redacted, timeout_seconds

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion

CHAMPION = "champion"
TRACKING_SERVER = "the MLflow tracking server (MLFLOW_TRACKING_URI)"
BUNDLE = "export/realbogus.pt"  # the run artifact the workflow scores with


class RegistryError(Exception):
    """The model registry cannot give what was asked."""


def store_dir(results: Path | str = "results") -> Path:
    """Folder of the embedded tracking store: ``<results>/mlflow``.

    Parameters
    ----------
    results : pathlib.Path or str
        The results folder.

    Returns
    -------
    pathlib.Path
        The folder (not created here).
    """
    return Path(results) / "mlflow"


def tracking_uri(results: Path | str = "results") -> str:
    """``MLFLOW_TRACKING_URI`` if set, else the embedded sqlite store under ``results``.

    Parameters
    ----------
    results : pathlib.Path or str
        The results folder.

    Returns
    -------
    str
        The tracking (and registry) URI.
    """
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        return uri
    return f"sqlite:///{(store_dir(results) / 'mlflow.db').resolve()}"


def is_embedded(uri: str) -> bool:
    """Whether ``uri`` is an sqlite store in a local file rather than a tracking server.

    Parameters
    ----------
    uri : str
        A tracking URI.

    Returns
    -------
    bool
        True for ``sqlite:///…``.
    """
    return uri.startswith("sqlite:///")


def client(uri: str) -> "MlflowClient":
    """An ``MlflowClient`` for ``uri`` (the sqlite folder is created when needed).

    A tracking server is first reached within the services timeout
    (:func:`astrid.services.timeout_seconds`), and MLflow's own requests then wait that long
    without retrying, instead of MLflow's default of seven retries over four minutes: a
    server that is down gives a :class:`RegistryError` naming it within seconds.

    Parameters
    ----------
    uri : str
        Tracking and registry URI (:func:`tracking_uri`); it also becomes MLflow's
        process-wide tracking and registry URI (the environment is left as it was).

    Returns
    -------
    mlflow.MlflowClient
        A client of that store.

    Raises
    ------
    RegistryError
        The tracking server cannot be reached.
    """
    if is_embedded(uri):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    elif uri.startswith(("http://", "https://")):
        timeout = timeout_seconds()
        try:
            port = 443 if uri.startswith("https") else 80
            check_reachable(TRACKING_SERVER, uri, port, timeout)
        except ServiceUnavailable as error:
            raise RegistryError(str(error)) from None
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", str(max(1, int(timeout))))
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    import mlflow
    from mlflow import MlflowClient

    exported = {name: os.environ.get(name) for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    # MLflow also writes the URIs into the environment: put it back as it was, so a process
    # that reads one store (a test, a report) does not point every process it starts there.
    for name, value in exported.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def experiment(mlflow_client: "MlflowClient", name: str, results: Path | str = "results") -> str:
    """Id of experiment ``name``, created with its artifacts under ``results/mlflow`` when the
    store is the embedded one (a server keeps its own artifact root).

    Parameters
    ----------
    mlflow_client : mlflow.MlflowClient
        A client of the store (:func:`client`).
    name : str
        The experiment's name.
    results : pathlib.Path or str
        The results folder of the embedded store.

    Returns
    -------
    str
        The experiment's id.
    """
    found = mlflow_client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    location = None
    if is_embedded(mlflow_client.tracking_uri):
        location = (store_dir(results) / "artifacts").resolve().as_uri()
    return mlflow_client.create_experiment(name, artifact_location=location)


def champion(
    uri: str, model_name: str, architecture: str | None = None
) -> tuple[int, str] | tuple[None, None]:
    """(version, run id) of the champion, or (None, None): no store yet, no model, no alias,
    or (given ``architecture``) a champion of another network that this code cannot run.

    Parameters
    ----------
    uri : str
        Tracking and registry URI (:func:`tracking_uri`).
    model_name : str
        Registered model name.
    architecture : str, optional
        The network this code runs (``lifecycle.ARCHITECTURE``); None accepts any.

    Returns
    -------
    (int, str) or (None, None)
        The champion's version and the id of the run that trained it.

    Raises
    ------
    RegistryError
        The store cannot be reached or read.
    """
    if is_embedded(uri) and not Path(uri.removeprefix("sqlite:///")).exists():
        return None, None
    from mlflow.exceptions import MlflowException

    c = client(uri)
    try:
        found = c.get_model_version_by_alias(model_name, CHAMPION)
    except MlflowException as error:
        if "RESOURCE_DOES_NOT_EXIST" in str(error.error_code) or "not found" in str(error).lower():
            return None, None
        where = f"{TRACKING_SERVER} at {redacted(uri)}" if not is_embedded(uri) else redacted(uri)
        raise RegistryError(
            masked(f"cannot read the champion of {model_name!r} from {where}: {error}", uri)
        ) from None
    if architecture is not None:
        # The version's tag, else the training run's parameter (older versions).
        theirs = found.tags.get("architecture") or c.get_run(found.run_id).data.params.get("architecture")
        if theirs != architecture:
            return None, None
    return int(found.version), found.run_id


def champion_version(uri: str, model_name: str) -> int | None:
    """Version number of the champion, or None.

    Parameters
    ----------
    uri : str
        Tracking and registry URI (:func:`tracking_uri`).
    model_name : str
        Registered model name.

    Returns
    -------
    int or None
        The version, None when there is no champion.
    """
    return champion(uri, model_name)[0]


def gate(
    metrics: dict, champion_metrics: dict | None, min_f1: float, min_per_class: int = 10
) -> tuple[bool, str]:
    """Whether a newly trained model replaces the champion, and why.

    ``metrics`` and ``champion_metrics`` were measured on the same held-out test split
    (``champion_metrics`` is None when there is no champion). A split with fewer than
    ``min_per_class`` samples of either class cannot tell two models apart (on 23 real and
    3 bogus samples, calling everything real scores F1 0.94): the champion stays.

    Parameters
    ----------
    metrics : dict
        Test metrics of the new model (:func:`astrid.realbogus.classifier.evaluate`).
    champion_metrics : dict or None
        Test metrics of the champion.
    min_f1 : float
        Least F1 score a model must reach on the test split.
    min_per_class : int
        Least number of real and of bogus test samples to replace a champion.

    Returns
    -------
    (bool, str)
        Whether to promote the new model, and the reason.
    """
    f1 = metrics["f1"]
    if not f1 >= min_f1:
        return False, f"F1 {f1:.4f} on the test split is below min_f1_score {min_f1:.4f}"
    fewest = min(metrics["n_real"], metrics["n_bogus"])
    if champion_metrics is not None and fewest < min_per_class:
        return False, (
            f"the test split has {metrics['n_real']} real and {metrics['n_bogus']} bogus samples, "
            f"fewer than {min_per_class} of one class to compare with the champion"
        )
    if champion_metrics is not None and f1 < champion_metrics["f1"]:
        return False, (
            f"F1 {f1:.4f} is worse than the champion's {champion_metrics['f1']:.4f} on the same test split"
        )
    if champion_metrics is None:
        return True, f"F1 {f1:.4f} ≥ {min_f1:.4f} and there was no champion"
    return True, f"F1 {f1:.4f} ≥ {min_f1:.4f} and not worse than the champion's {champion_metrics['f1']:.4f}"


def register(
    mlflow_client: "MlflowClient", model_uri: str, model_name: str, promote: bool, reason: str, tags: dict
) -> int:
    """Register the logged model ``model_uri`` as a new version; alias it champion when
    ``promote``. The gate's decision and reason stay as tags of the version, so a model
    that was not promoted says why.

    Parameters
    ----------
    mlflow_client : mlflow.MlflowClient
        A client of the store (:func:`client`).
    model_uri : str
        URI of the logged model.
    model_name : str
        Registered model name.
    promote : bool
        Whether the new version becomes the champion.
    reason : str
        The gate's reason (:func:`gate`).
    tags : dict
        More tags of the version (values written as strings).

    Returns
    -------
    int
        The new version number.
    """
    import mlflow

    version = mlflow.register_model(model_uri, model_name).version
    for key, value in {"gate": "promoted" if promote else "rejected", "gate_reason": reason, **tags}.items():
        mlflow_client.set_model_version_tag(model_name, version, key, str(value))
    if promote:
        mlflow_client.set_registered_model_alias(model_name, CHAMPION, version)
    return int(version)


def version_run(mlflow_client: "MlflowClient", model_name: str, version: int | str) -> "ModelVersion":
    """Registered version ``version`` of ``model_name`` (its ``run_id`` names the run that
    trained it).

    Parameters
    ----------
    mlflow_client : mlflow.MlflowClient
        A client of the store (:func:`client`).
    model_name : str
        Registered model name.
    version : int or str
        The version number.

    Returns
    -------
    mlflow.entities.model_registry.ModelVersion
        The registered version.

    Raises
    ------
    RegistryError
        There is no such version.
    """
    from mlflow.exceptions import MlflowException

    try:
        return mlflow_client.get_model_version(model_name, str(version))
    except MlflowException as error:
        raise RegistryError(
            f"model {model_name!r} has no version {version} in {redacted(mlflow_client.tracking_uri)}"
        ) from error


def export_version(uri: str, model_name: str, version: int, path: Path | str) -> dict:
    """Write version ``version``'s bundle to ``path`` with its version number inside.

    Parameters
    ----------
    uri : str
        Tracking and registry URI (:func:`tracking_uri`).
    model_name : str
        Registered model name.
    version : int
        The version to export.
    path : pathlib.Path or str
        The model file to write (atomically).

    Returns
    -------
    dict
        The bundle written, with ``model_name``, ``model_version`` and ``run_id`` added.

    Raises
    ------
    RegistryError
        The store cannot be reached, or has no such version.
    """
    import torch

    c = client(uri)
    model_version = version_run(c, model_name, version)
    with tempfile.TemporaryDirectory() as tmp:
        local = c.download_artifacts(model_version.run_id, BUNDLE, tmp)
        bundle = torch.load(local, weights_only=False)
    bundle.update({"model_name": model_name, "model_version": int(version), "run_id": model_version.run_id})
    with atomic_output(path) as partial:
        torch.save(bundle, partial)
    return bundle


def rollback(uri: str, model_name: str, version: int) -> int | None:
    """Point the champion alias at an earlier registered ``version`` (recorded as a tag).

    Parameters
    ----------
    uri : str
        Tracking and registry URI (:func:`tracking_uri`).
    model_name : str
        Registered model name.
    version : int
        The version that becomes the champion.

    Returns
    -------
    int or None
        The champion before, None if there was none.

    Raises
    ------
    RegistryError
        The store cannot be reached, or has no such version.
    """
    c = client(uri)
    version_run(c, model_name, version)
    previous = champion_version(uri, model_name)
    c.set_registered_model_alias(model_name, CHAMPION, str(version))
    c.set_model_version_tag(model_name, str(version), "rollback_from", str(previous))
    return previous


def status(uri: str, model_name: str) -> list[dict]:
    """Every registered version with its gate decision, and which is champion.

    Parameters
    ----------
    uri : str
        Tracking and registry URI (:func:`tracking_uri`).
    model_name : str
        Registered model name.

    Returns
    -------
    list of dict
        One per version, oldest first: ``version``, ``champion`` (bool), ``gate``,
        ``reason``, ``f1`` (the test F1 as text) and ``dataset`` (training set version).
    """
    c = client(uri)
    champion = champion_version(uri, model_name)
    rows = []
    for v in sorted(c.search_model_versions(f"name='{model_name}'"), key=lambda v: int(v.version)):
        rows.append(
            {
                "version": int(v.version),
                "champion": int(v.version) == champion,
                "gate": v.tags.get("gate"),
                "reason": v.tags.get("gate_reason"),
                "f1": v.tags.get("test_f1"),
                "dataset": v.tags.get("dataset_version"),
            }
        )
    return rows


def _every(search, **kwargs):
    """Every result of a paged MLflow search, page after page."""
    token = None
    while True:
        page = search(page_token=token, **kwargs)
        yield from page
        token = page.token
        if not token:
            return


def _utc(milliseconds):
    from datetime import UTC, datetime

    return None if milliseconds is None else datetime.fromtimestamp(milliseconds / 1000, UTC)


def to_number(text: str | None) -> float | None:
    """``text`` as a float, or None when it is None or cannot be read as a number.

    Parameters
    ----------
    text : str or None
        A tag's value.

    Returns
    -------
    float or None
        The number.
    """
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def history(uri: str, model_name: str, experiment_name: str) -> dict:
    """The model's history in the tracking store: its registered versions and the daily
    retraining decisions (runs tagged ``kind=drift-check``, see ``lifecycle.log_decision``).

    Parameters
    ----------
    uri : str
        Tracking and registry URI (:func:`tracking_uri`).
    model_name : str
        Registered model name.
    experiment_name : str
        Experiment the drift checks are logged to.

    Returns
    -------
    dict
        ``versions``: one dict per registered version, oldest first, with ``version``,
        ``created`` (UTC datetime), ``dataset`` (training set version), ``test_f1`` (float,
        None if not recorded), ``gate`` ("promoted" or "rejected"), ``gate_reason``,
        ``trigger`` ("initial", or the drift reasons that retrained) and ``champion``
        (whether it holds the champion alias now).
        ``decisions``: one dict per drift check, oldest first, with ``time`` (UTC datetime),
        ``champion`` (version checked), ``retrain`` (bool), ``reasons`` (list of str) and
        ``run_id``. Both lists are empty while the store, model or experiment does not exist.
    """
    found = {"versions": [], "decisions": []}
    if is_embedded(uri) and not Path(uri.removeprefix("sqlite:///")).exists():
        return found
    c = client(uri)
    current = champion_version(uri, model_name)
    for v in sorted(
        _every(c.search_model_versions, filter_string=f"name='{model_name}'"), key=lambda v: int(v.version)
    ):
        found["versions"].append(
            {
                "version": int(v.version),
                "created": _utc(v.creation_timestamp),
                "dataset": v.tags.get("dataset_version"),
                "test_f1": to_number(v.tags.get("test_f1")),
                "gate": v.tags.get("gate"),
                "gate_reason": v.tags.get("gate_reason"),
                "trigger": v.tags.get("trigger"),
                "champion": int(v.version) == current,
            }
        )
    experiment = c.get_experiment_by_name(experiment_name)
    if experiment is None:
        return found
    runs = _every(
        c.search_runs,
        experiment_ids=[experiment.experiment_id],
        filter_string="tags.kind = 'drift-check'",
        order_by=["attributes.start_time ASC"],
    )
    for run in runs:
        tags = run.data.tags
        reasons = tags.get("reasons", "none")
        found["decisions"].append(
            {
                "time": _utc(run.info.start_time),
                "champion": int(tags["champion"]) if tags.get("champion", "").isdigit() else None,
                "retrain": tags.get("retrain") == "True",
                "reasons": [] if reasons == "none" else reasons.split("; "),
                "run_id": run.info.run_id,
            }
        )
    return found


def main(argv: list[str] | None = None) -> None:
    """The command line: ``status`` prints the registered versions as JSON, ``rollback N``
    makes version N the champion.

    Parameters
    ----------
    argv : list of str, optional
        The arguments; by default the process's own.
    """
    parser = argparse.ArgumentParser(
        prog="python -m astrid.realbogus.registry", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--model", default="astrid-realbogus", help="registered model name")
    parser.add_argument("--results", default="results", help="results folder of the embedded store")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("status", help="list the registered versions and the champion")
    back = sub.add_parser("rollback", help="make an earlier version the champion")
    back.add_argument("version", type=int)
    args = parser.parse_args(argv)
    uri = tracking_uri(args.results)
    if args.command == "status":
        print(json.dumps(status(uri, args.model), indent=2))
    else:
        previous = rollback(uri, args.model, args.version)
        print(
            f"{args.model}: champion is now version {args.version} (was {previous}); "
            "the next run exports it and re-scores every frame with it"
        )


if __name__ == "__main__":
    main()
