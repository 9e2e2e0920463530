"""The model's life in a real MLflow store: train, gate, register, promote, roll back, export,
and the drift check that decides to retrain.

Training data here are small synthetic triplets (a point source on the difference plane is
real; a hot pixel or a dipole is bogus) so that each training takes seconds; the gate's
logic is the workflow's own. Tracking goes to a temporary sqlite store, and one test runs a
real ``mlflow server`` on 127.0.0.1.
"""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest
from synthetic_samples import synthetic_triplets, write_frame
from workflow_runs import REPO

from astrid.realbogus import drift, lifecycle, registry, scoring
from astrid.realbogus.classifier import TrainSettings
from astrid.realbogus.training_set import DatasetError, build_manifest, load_split

pytest.importorskip("mlflow")
NAME = "test-realbogus"


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("samples")
    rng = np.random.default_rng(11)
    paths = [write_frame(root / f"f{i}.fits", f"20261127-{i:04d}", rng) for i in range(5)]
    return build_manifest(paths, 0.2, 0.2, seed=3)


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.chdir(tmp_path)
    return registry.tracking_uri()


FAST = TrainSettings(epochs=3, batch_size=32, learning_rate=3e-3)
SETTINGS = lifecycle.LifecycleSettings(model_name=NAME, experiment="test", min_f1_score=0.85)


def test_a_good_model_becomes_champion_and_a_model_below_the_gate_does_not(dataset, store):
    first = lifecycle.train_and_gate(dataset, FAST, SETTINGS, "test")
    assert first["promoted"] and first["version"] == 1, first["reason"]
    assert first["metrics"]["f1"] >= 0.85
    assert registry.champion_version(store, NAME) == 1

    strict = lifecycle.LifecycleSettings(model_name=NAME, experiment="test", min_f1_score=1.01)
    second = lifecycle.train_and_gate(dataset, FAST, strict, "test")
    assert not second["promoted"] and second["version"] == 2
    assert "below min_f1_score" in second["reason"]
    assert registry.champion_version(store, NAME) == 1
    rows = {row["version"]: row for row in registry.status(store, NAME)}
    assert rows[2]["gate"] == "rejected" and "below min_f1_score" in rows[2]["reason"]
    assert rows[1]["champion"] and not rows[2]["champion"]


def test_a_worse_model_does_not_replace_the_champion(dataset, store):
    good = lifecycle.train_and_gate(dataset, FAST, SETTINGS, "test")
    assert good["promoted"]
    # One step at a tiny learning rate leaves a network close to its random start.
    untrained = TrainSettings(epochs=1, batch_size=512, learning_rate=1e-7)
    lenient = lifecycle.LifecycleSettings(model_name=NAME, experiment="test", min_f1_score=0.0)
    worse = lifecycle.train_and_gate(dataset, untrained, lenient, "test")
    assert worse["champion_metrics"]["f1"] == pytest.approx(good["metrics"]["f1"])
    assert worse["metrics"]["f1"] < good["metrics"]["f1"]
    assert not worse["promoted"] and "worse than the champion" in worse["reason"]
    assert registry.champion_version(store, NAME) == good["version"]


def test_a_site_model_starts_from_the_starter_weights_when_asked(dataset, store, tmp_path, caplog):
    good = lifecycle.train_and_gate(dataset, FAST, SETTINGS, "test")
    starter = tmp_path / "starter.pt"
    registry.export_version(store, NAME, good["version"], starter)
    starter_net, _ = scoring.load_bundle(starter)
    probe = synthetic_triplets(np.random.default_rng(5), 40, True)
    # One step at a tiny learning rate: a fine-tuned network is still the starter, and a
    # network from random weights is not.
    still = TrainSettings(epochs=1, batch_size=512, learning_rate=1e-7)
    lenient = lifecycle.LifecycleSettings(model_name=NAME, experiment="test", min_f1_score=0.0)
    tuned = lifecycle.train_and_gate(dataset, still, lenient, "test", start_from=starter)
    assert tuned["metrics"]["f1"] == pytest.approx(good["metrics"]["f1"], abs=0.01)
    client = registry.client(store)
    assert client.get_run(tuned["run_id"]).data.params["start_from"] == "starter.pt"
    path = tmp_path / f"v{tuned['version']}.pt"
    registry.export_version(store, NAME, tuned["version"], path)
    tuned_net, _ = scoring.load_bundle(path)
    difference = scoring.score_cutouts(tuned_net, probe) - scoring.score_cutouts(starter_net, probe)
    assert np.abs(difference).max() < 0.01
    scratch = lifecycle.train_and_gate(dataset, still, lenient, "test")
    assert scratch["metrics"]["f1"] < good["metrics"]["f1"] - 0.1
    assert client.get_run(scratch["run_id"]).data.params["start_from"] == "random"

    # A file of another network cannot be fine-tuned: random weights, and the log says why.
    import torch

    other = tmp_path / "other.pt"
    torch.save({**torch.load(starter, weights_only=False), "architecture": "someone-else-1"}, other)
    with caplog.at_level("WARNING", logger="astrid.realbogus.lifecycle"):
        build, started = lifecycle.starting_network(other)
    assert started == "random" and "someone-else-1" in caplog.text


def test_a_test_split_with_too_few_of_one_class_keeps_the_champion():
    # On 23 real and 3 bogus samples, a model that calls everything real has F1 0.94.
    lopsided = {"f1": 0.94, "n_real": 23, "n_bogus": 3}
    promote, reason = registry.gate(lopsided, {"f1": 0.93}, 0.0)
    assert not promote and "23 real and 3 bogus samples" in reason
    assert registry.gate({**lopsided, "n_bogus": 10}, {"f1": 0.93}, 0.0)[0]
    # A store without a champion still gets one: something has to score the night.
    assert registry.gate(lopsided, None, 0.0)[0]


def test_rollback_is_one_command_and_export_carries_the_version(dataset, store, tmp_path):
    lifecycle.train_and_gate(dataset, FAST, SETTINGS, "test")
    lifecycle.train_and_gate(
        dataset, FAST, lifecycle.LifecycleSettings(model_name=NAME, experiment="test", min_f1_score=0), "test"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO / "workflow" / "scripts")}
    command = [sys.executable, "-m", "astrid.realbogus.registry", "--model", NAME]
    done = subprocess.run([*command, "rollback", "1"], env=env, capture_output=True, text=True, check=True)
    assert "champion is now version 1" in done.stdout
    assert registry.champion_version(store, NAME) == 1
    with pytest.raises(subprocess.CalledProcessError):
        subprocess.run([*command, "rollback", "9"], env=env, capture_output=True, check=True)
    bundle = registry.export_version(store, NAME, 1, tmp_path / "v1.pt")
    net, loaded = scoring.load_bundle(tmp_path / "v1.pt")
    assert loaded["model_version"] == bundle["model_version"] == 1
    assert loaded["dataset_version"] == dataset["version"]
    rng = np.random.default_rng(4)
    real = scoring.score_cutouts(net, synthetic_triplets(rng, 50, True))
    bogus = scoring.score_cutouts(net, synthetic_triplets(rng, 50, False))
    assert np.mean(real >= 0.5) > 0.9 and np.mean(bogus < 0.5) > 0.9


def test_drift_check_retrains_a_drifted_night_and_not_an_undrifted_one(dataset, store, tmp_path):
    lifecycle.train_and_gate(dataset, FAST, SETTINGS, "test")
    registry.export_version(store, NAME, 1, tmp_path / "v1.pt")
    net, bundle = scoring.load_bundle(tmp_path / "v1.pt")
    rng = np.random.default_rng(8)

    def night_figures(blur):
        path = write_frame(tmp_path / f"night{blur}.fits", "20261128-0001", rng, blur=blur)
        from astrid.realbogus.training_set import read_samples

        table, cube = read_samples(path)
        scores = scoring.score_cutouts(net, cube)
        features = {name: np.asarray(table[name], float) for name in drift.DRIFT_FEATURES}
        return drift.night_drift(bundle["reference"], scores, features, scores[table["label"] == 1], 0.5)

    settings = drift.DriftSettings(min_samples=100)  # these synthetic nights have 120 samples
    same = night_figures(1.2)
    retrain, reasons = drift.retraining_decision({"20261128": same}, [], settings)
    assert not retrain, reasons
    # Sources twice as wide (bad focus, a new camera): real ones stop looking real.
    blurred = night_figures(4.0)
    retrain, reasons = drift.retraining_decision({"20261128": blurred}, [], settings)
    assert retrain and any("recall" in r or "PSI" in r for r in reasons), reasons
    # A night too small to judge is not judged, however odd it looks.
    tiny = {**blurred, "samples": 40}
    assert not drift.retraining_decision({"20261128": tiny}, [], settings)[0]
    # Enough new nights retrain even without drift.
    many = [f"202612{d:02d}" for d in range(1, 8)]
    assert drift.retraining_decision({"20261128": same}, many, settings)[0]


def test_psi_is_zero_for_the_same_distribution_and_large_for_a_shifted_one():
    rng = np.random.default_rng(2)
    reference = rng.normal(0, 1, 5000)
    assert drift.psi(reference, rng.normal(0, 1, 5000)) < 0.02
    assert drift.psi(reference, rng.normal(1, 1, 5000)) > 0.25


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def mlflow_server(tmp_path, monkeypatch):
    port = free_port()
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    env.pop("MLFLOW_TRACKING_URI", None)
    log = open(tmp_path / "server.log", "w")
    server = subprocess.Popen(
        [
            os.path.join(os.path.dirname(sys.executable), "mlflow"),
            "server",
            "--backend-store-uri",
            f"sqlite:///{tmp_path / 'server.db'}",
            "--artifacts-destination",
            str(tmp_path / "artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=tmp_path,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while True:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    break
        except OSError:
            pass
        if server.poll() is not None or time.time() > deadline:
            server.kill()
            pytest.fail(f"mlflow server did not start: {(tmp_path / 'server.log').read_text()[-2000:]}")
        time.sleep(0.5)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
    monkeypatch.chdir(tmp_path)
    yield url
    server.terminate()
    server.wait(timeout=30)
    log.close()


def test_training_against_a_real_mlflow_server(dataset, mlflow_server, tmp_path):
    decision = lifecycle.train_and_gate(dataset, FAST, SETTINGS, "test")
    assert decision["promoted"] and decision["tracking_uri"] == mlflow_server
    assert registry.champion_version(mlflow_server, NAME) == decision["version"]
    assert not (tmp_path / "results").exists()  # nothing went to the embedded store
    bundle = registry.export_version(mlflow_server, NAME, decision["version"], tmp_path / "v.pt")
    assert bundle["run_id"] == decision["run_id"]
    lifecycle.write_decision(decision, tmp_path / "decision.json")
    assert json.loads((tmp_path / "decision.json").read_text())["version"] == decision["version"]


def test_credentials_never_reach_the_decision_files():
    uri = "https://alice:s3cret@mlflow.example.org:5000/path"
    assert "s3cret" not in registry.redacted(uri) and "alice" not in registry.redacted(uri)
    assert registry.redacted("sqlite:////tmp/x.db") == "sqlite:////tmp/x.db"


def test_a_split_without_both_classes_is_refused_naming_its_frames(tmp_path):
    rng = np.random.default_rng(5)
    paths = [write_frame(tmp_path / f"f{i}.fits", f"20261127-{i:04d}", rng) for i in range(2)]
    paths.append(write_frame(tmp_path / "bogus.fits", "20261127-0009", rng, n_real=0, n_bogus=20))
    manifest = build_manifest(paths, 0.34, 0.34, seed=3)
    bogus_split = next(row["split"] for row in manifest["frames"] if row["path"].endswith("bogus.fits"))
    with pytest.raises(
        DatasetError, match=rf"{bogus_split} split \(.*bogus\.fits\) holds 20 samples, 0 of them real"
    ):
        load_split(manifest, bogus_split)


def test_frames_without_samples_are_not_dealt_into_a_split(tmp_path):
    """A frame that failed to align gives no samples: were it dealt a split of its own, that
    split would be empty and no model could be trained."""
    rng = np.random.default_rng(5)
    paths = [write_frame(tmp_path / f"f{i}.fits", f"20261127-{i:04d}", rng) for i in range(3)]
    paths.append(write_frame(tmp_path / "empty.fits", "20261127-0009", rng, n_real=0, n_bogus=0))
    manifest = build_manifest(paths, 0.34, 0.34, seed=3)
    splits = {row["exposure"]: row["split"] for row in manifest["frames"]}
    assert splits["20261127-0009"] == "train"
    assert sorted(split for exposure, split in splits.items() if exposure != "20261127-0009") == [
        "test",
        "train",
        "validation",
    ]
    for split in ("train", "validation", "test"):
        load_split(manifest, split)  # each holds both classes
