"""The model's history as the report shows it: every registered version with its gate
decision, trigger and champion flag, and every daily retraining decision with its reasons,
read back from a real MLflow sqlite store where the workflow's own code wrote them."""

from datetime import UTC, datetime, timedelta

import pytest

from astrid.realbogus import lifecycle, registry
from astrid.report.model import model_history_table, plot_model

pytest.importorskip("mlflow")
# The tiny synthetic training set and fast settings of the lifecycle tests.
import test_lifecycle  # noqa: E402
from test_lifecycle import FAST, NAME, SETTINGS  # noqa: E402

dataset = test_lifecycle.dataset  # its fixture, used here too

REASON = "20261128: recall on injected fakes 0.412 < 0.8"
NIGHT = {"samples": 500, "score_psi": 0.31, "fake_recall": 0.412}


def decide(champion, reasons):
    """Log one daily decision as decide_retraining does."""
    decision = {
        "champion": champion,
        "nights": {"20261128": NIGHT},
        "retrain": bool(reasons),
        "reasons": reasons,
    }
    lifecycle.log_decision(decision, SETTINGS)


@pytest.fixture(scope="module")
def store(dataset, tmp_path_factory):
    """A sqlite store where v1 was trained first and promoted; then a day without drift; then
    a drifted day that retrained v2, which the gate rejected (min_f1_score above 1)."""
    root = tmp_path_factory.mktemp("store")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlflow.db'}")
        patch.chdir(root)
        first = lifecycle.train_and_gate(dataset, FAST, SETTINGS, "test")
        assert first["promoted"], first["reason"]
        decide(1, [])
        decide(1, [REASON])
        strict = lifecycle.LifecycleSettings(
            model_name=NAME, experiment=SETTINGS.experiment, min_f1_score=1.01
        )
        second = lifecycle.train_and_gate(dataset, FAST, strict, "test", trigger=REASON)
        assert not second["promoted"]
        yield registry.tracking_uri()


@pytest.fixture
def history(store):
    return registry.history(store, NAME, SETTINGS.experiment)


def test_history_lists_versions_with_gate_trigger_and_champion(history, dataset):
    versions = history["versions"]
    assert [v["version"] for v in versions] == [1, 2]
    first, second = versions
    assert first["gate"] == "promoted" and first["champion"] and first["trigger"] == "initial"
    assert first["test_f1"] >= SETTINGS.min_f1_score
    assert second["gate"] == "rejected" and not second["champion"]
    assert "below min_f1_score" in second["gate_reason"]
    assert second["trigger"] == REASON
    assert first["dataset"] == second["dataset"] == dataset["version"]
    now = datetime.now(UTC)
    assert now - timedelta(minutes=10) < first["created"] <= second["created"] <= now


def test_history_lists_each_drift_check_with_its_decision_and_reasons(history):
    decisions = history["decisions"]
    assert [(d["champion"], d["retrain"], d["reasons"]) for d in decisions] == [
        (1, False, []),
        (1, True, [REASON]),
    ]
    assert decisions[0]["time"] <= decisions[1]["time"] <= history["versions"][1]["created"]


def test_champion_flag_follows_the_alias(store):
    registry.rollback(store, NAME, 2)
    try:
        versions = registry.history(store, NAME, SETTINGS.experiment)["versions"]
    finally:
        registry.rollback(store, NAME, 1)  # the store is shared by this module's tests
    assert {v["version"]: v["champion"] for v in versions} == {1: False, 2: True}


def test_an_absent_store_has_an_empty_history_and_is_not_created(tmp_path):
    uri = f"sqlite:///{tmp_path / 'none' / 'mlflow.db'}"
    assert registry.history(uri, NAME, "test") == {"versions": [], "decisions": []}
    assert not (tmp_path / "none").exists()


def test_table_is_in_time_order_and_the_plot_is_written(history, tmp_path):
    table = model_history_table(history)
    assert list(table["event"]) == ["registered", "drift-check", "drift-check", "registered"]
    assert list(table["version"]) == [1, 1, 1, 2]
    assert list(table["champion_now"].iloc[[0, 3]]) == [True, False]
    assert list(table["retrain"].iloc[[1, 2]]) == [False, True]
    assert table["reasons"].iloc[2] == REASON and "below min_f1_score" in table["reasons"].iloc[3]
    path = tmp_path / "model.png"
    plot_model(history, SETTINGS.min_f1_score, path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 20_000


def test_the_plot_of_an_empty_history_says_so(tmp_path):
    path = tmp_path / "empty.png"
    plot_model({"versions": [], "decisions": []}, 0.85, path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert model_history_table({"versions": [], "decisions": []}).empty
