"""Monitoring on a healthy and a deliberately broken set-up: full disk (simulated by its
threshold), unreachable tracking store, stale backlog. People are told once per transition,
checked against a real HTTP server on 127.0.0.1 (the webhook channel)."""

import json
import os
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from astrid import delivery, monitor

HEALTHY = {
    "free_disk_fraction": {"warning": 0.0, "critical": 0.0},
    "backlog_age_hours": {"warning": 12.0, "critical": 36.0},
    "prometheus": True,
}


class Hook(BaseHTTPRequestHandler):
    received = []

    def do_POST(self):  # noqa: N802 (http.server's naming)
        Hook.received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def site(tmp_path, monkeypatch):
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    Hook.received = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("MONITOR_HOOK", f"http://127.0.0.1:{server.server_address[1]}/hook")
    monkeypatch.delenv("ASTRID_DATABASE_URL", raising=False)
    results, raw = tmp_path / "results", tmp_path / "raw"
    (results / "mlflow").mkdir(parents=True)
    import sqlite3

    sqlite3.connect(results / "mlflow" / "mlflow.db").execute("CREATE TABLE t (x)")
    from astrid import objects

    objects.migrate(objects.connect(results=results))
    raw.mkdir()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{results / 'mlflow' / 'mlflow.db'}")
    yield results, raw, tmp_path / "logs"
    server.shutdown()


def run(site, settings):
    results, raw, logs = site
    channels = [delivery.Webhook("MONITOR_HOOK")]
    return monitor.monitor(
        settings, channels, delivery.Retry(attempts=1), results, logs, raw, sleep=lambda s: None
    )


def closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_broken_site_is_reported_once_per_transition_and_its_recovery_too(site, monkeypatch):
    results, raw, _ = site
    entry, changed = run(site, HEALTHY)
    assert all(c["status"] == "ok" for c in entry["checks"] if c["name"] != "model_drift")
    assert changed == [] and Hook.received == []

    # Break it: the disk "full" (its threshold above the free fraction), the tracking
    # server gone, a night of raw frames waiting for two days.
    broken = {**HEALTHY, "free_disk_fraction": {"warning": 1.0, "critical": 1.0}}
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{closed_port()}")
    night = raw / "20261120"
    night.mkdir()
    frame = night / "frame.fits"
    frame.write_bytes(b"SIMPLE")
    old = time.time() - 48 * 3600
    os.utime(frame, (old, old))
    entry, changed = run(site, broken)
    assert {c.name for c in changed} == {"free_disk_fraction", "tracking_store", "backlog_age_hours"}
    assert all(c.status == "critical" for c in changed)
    assert len(Hook.received) == 1 and entry["notified"] == ["webhook"]
    text = Hook.received[0]["text"]
    assert "[CRITICAL] MLflow store" in text and "unreachable" in text and "backlog_age_hours 48" in text

    # Still broken 15 minutes later: recorded, nobody told again.
    entry, changed = run(site, broken)
    assert changed == [] and len(Hook.received) == 1
    assert entry["statuses"]["tracking_store"] == "critical"

    # Repaired: one recovery message.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{results / 'mlflow' / 'mlflow.db'}")
    (results / "manifest").mkdir()
    (results / "manifest" / "20261120.tsv").write_text("exposure\n")
    entry, changed = run(site, HEALTHY)
    assert {c.name for c in changed} == {"free_disk_fraction", "tracking_store", "backlog_age_hours"}
    assert len(Hook.received) == 2 and Hook.received[1]["text"].count("[RECOVERED]") == 3
    records = (results / "monitoring" / "health.jsonl").read_text().splitlines()
    assert len(records) == 4 and [json.loads(r)["notified"] for r in records] == [
        [],
        ["webhook"],
        [],
        ["webhook"],
    ]


def test_failed_jobs_and_drift_are_warnings(site):
    results, _, logs = site
    (logs / "score_candidates").mkdir(parents=True)
    (logs / "score_candidates" / "x.log").write_text("2026 ERROR astrid.rule: rule failed\n")
    (results / "models" / "realbogus").mkdir(parents=True)
    (results / "models" / "realbogus" / "retraining.json").write_text(
        json.dumps({"retrain": True, "reasons": ["20261128: score PSI 0.4 > 0.25"], "champion": 3})
    )
    entry, _ = run(site, HEALTHY)
    statuses = entry["statuses"]
    assert statuses["failed_jobs"] == "warning" and statuses["model_drift"] == "warning"
    prom = (results / "monitoring" / "metrics.prom").read_text()
    assert 'astrid_check_status{check="failed_jobs"} 1' in prom and "# TYPE astrid_check_status gauge" in prom
