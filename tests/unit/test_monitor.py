"""Monitoring on a healthy and a deliberately broken set-up: full disk (simulated by its
threshold), unreachable tracking store, stale backlog, growing folders, an unreachable SLURM
controller, a slow rule, late alerts and a bad night. People are told once per transition,
checked against a real HTTP server (the webhook channel) and a real SMTP server (aiosmtpd,
the e-mail channel) on 127.0.0.1. Every check reads
real files built in a temporary folder; nothing it measures is mocked."""

import copy
import json
import math
import os
import shutil
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml
from workflow_runs import REPO

from astrid.alerts import delivery, objects
from astrid.ops.monitor.cli import monitor
from astrid.ops.monitor.history import record_before
from astrid.ops.monitor.latency import frame_latencies
from astrid.ops.monitor.status import TIME_FORMAT

DEFAULTS = yaml.safe_load((REPO / "config" / "config.yaml").read_text())["monitoring"]
# The shipped thresholds, but a free-disk check that passes on any machine.
HEALTHY = {
    **copy.deepcopy(DEFAULTS),
    "free_disk_fraction": {"warning": 0.0, "critical": 0.0},
    "prometheus": True,
}


def settings(**changes):
    """HEALTHY with some sections replaced (``quality={...}`` is merged into its section)."""
    result = copy.deepcopy(HEALTHY)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = {**result[key], **value}
        else:
            result[key] = value
    return result


class Hook(BaseHTTPRequestHandler):
    received = []

    def do_POST(self):  # noqa: N802 (http.server's naming)
        Hook.received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


class Mail:
    received = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's naming)
        Mail.received.append(envelope.content.decode())
        return "250 OK"


@pytest.fixture
def site(tmp_path, monkeypatch):
    from aiosmtpd.controller import Controller

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    Hook.received = []
    Mail.received = []
    smtp = Controller(Mail(), hostname="127.0.0.1", port=closed_port())
    smtp.start()
    monkeypatch.setenv("MONITOR_SMTP_PORT", str(smtp.port))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("MONITOR_HOOK", f"http://127.0.0.1:{server.server_address[1]}/hook")
    monkeypatch.delenv("ASTRID_DATABASE_URL", raising=False)
    results, raw = tmp_path / "results", tmp_path / "raw"
    (results / "mlflow").mkdir(parents=True)
    import sqlite3

    sqlite3.connect(results / "mlflow" / "mlflow.db").execute("CREATE TABLE t (x)")
    objects.migrate(objects.connect(results=results))
    raw.mkdir()
    (tmp_path / "benchmarks").mkdir()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{results / 'mlflow' / 'mlflow.db'}")
    yield results, raw, tmp_path / "logs"
    server.shutdown()
    smtp.stop()


def run(site, settings):
    results, raw, logs = site
    email = delivery.Email(
        "127.0.0.1", int(os.environ["MONITOR_SMTP_PORT"]), "astrid@localhost", ("ops@example.org",)
    )
    channels = [delivery.Webhook("MONITOR_HOOK"), email]
    return monitor(
        settings,
        channels,
        delivery.Retry(attempts=1),
        results,
        logs,
        raw,
        benchmarks=results.parent / "benchmarks",
        sleep=lambda s: None,
    )


def check_of(entry, name):
    return next(c for c in entry["checks"] if c["name"] == name)


def closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_tsv(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = list(rows[0]) if rows else ["exposure"]
    lines = ["\t".join(columns)] + ["\t".join(str(row[c]) for c in columns) for row in rows]
    path.write_text("\n".join(lines) + "\n")


def test_a_broken_site_is_reported_once_per_transition_and_its_recovery_too(site, monkeypatch):
    results, raw, _ = site
    entry, changed = run(site, HEALTHY)
    assert all(c["status"] == "ok" for c in entry["checks"] if c["name"] != "model_drift")
    assert changed == [] and Hook.received == [] and Mail.received == []

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
    assert len(Hook.received) == 1 and len(Mail.received) == 1 and entry["notified"] == ["webhook", "email"]
    for text in (Hook.received[0]["text"], Mail.received[0]):
        assert "[CRITICAL] MLflow store" in text and "unreachable" in text and "backlog_age_hours 48" in text
    assert "To: ops@example.org" in Mail.received[0]

    # Still broken 15 minutes later: recorded, nobody told again.
    entry, changed = run(site, broken)
    assert changed == [] and len(Hook.received) == 1 and len(Mail.received) == 1
    assert entry["statuses"]["tracking_store"] == "critical"

    # Repaired: one recovery message.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{results / 'mlflow' / 'mlflow.db'}")
    (results / "manifest").mkdir()
    (results / "manifest" / "20261120.tsv").write_text("exposure\n")
    entry, changed = run(site, HEALTHY)
    assert {c.name for c in changed} == {"free_disk_fraction", "tracking_store", "backlog_age_hours"}
    assert len(Hook.received) == 2 and Hook.received[1]["text"].count("[RECOVERED]") == 3
    assert len(Mail.received) == 2 and Mail.received[1].count("[RECOVERED]") == 3
    records = (results / "monitoring" / "health.jsonl").read_text().splitlines()
    assert len(records) == 4 and [json.loads(r)["notified"] for r in records] == [
        [],
        ["webhook", "email"],
        [],
        ["webhook", "email"],
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


# --- Storage growth ---------------------------------------------------------------------


def age_last_record(health, hours):
    """Move the last health record ``hours`` into the past, as if written then."""
    lines = health.read_text().splitlines()
    entry = json.loads(lines[-1])
    entry["time"] = time.strftime(TIME_FORMAT, time.gmtime(time.time() - hours * 3600))
    health.write_text("\n".join(lines[:-1] + [json.dumps(entry)]) + "\n")


def test_folder_growth_per_day_is_measured_against_the_record_a_day_old(site):
    results, raw, _ = site
    health = results / "monitoring" / "health.jsonl"
    limits = settings(
        raw_growth_gb_per_day={"warning": 0.002, "critical": 0.02},
        results_growth_gb_per_day={"warning": 0.002, "critical": 0.02},
    )
    entry, _ = run(site, limits)
    first = entry["folder_bytes"]
    assert check_of(entry, "raw_growth_gb_per_day")["status"] == "ok"
    assert "no health record 24 h old" in check_of(entry, "raw_growth_gb_per_day")["message"]

    # That record was written 25 h ago; since then 3 MB of raw frames arrived:
    # 3 MB / 25 h = 2.88 MB per day, above the 2 MB warning.
    age_last_record(health, 25)
    (raw / "20261201").mkdir()
    (raw / "20261201" / "a.fits").write_bytes(bytes(3_000_000))
    entry, changed = run(site, limits)
    growth = check_of(entry, "raw_growth_gb_per_day")
    assert growth["status"] == "warning" and growth["value"] == pytest.approx(0.003 * 24 / 25, rel=0.01)
    assert entry["folder_bytes"]["raw"] - first["raw"] == 3_000_000
    assert check_of(entry, "results_growth_gb_per_day")["status"] == "ok"  # a few kB of records
    assert [c.name for c in changed] == ["raw_growth_gb_per_day"]
    assert "[WARNING] raw_growth_gb_per_day 0.00288 GB/day" in Hook.received[-1]["text"]

    # 30 MB more (33 MB in 25 h): critical. The newer record is not a day old and is not used.
    (raw / "20261201" / "b.fits").write_bytes(bytes(30_000_000))
    entry, _ = run(site, limits)
    assert check_of(entry, "raw_growth_gb_per_day")["status"] == "critical"
    prom = (results / "monitoring" / "metrics.prom").read_text()
    assert 'astrid_check_status{check="raw_growth_gb_per_day"} 2' in prom
    assert 'astrid_check_value{check="raw_growth_gb_per_day"} 0.031' in prom


def test_the_record_a_day_old_is_found_reading_the_file_from_its_end(tmp_path):
    health = tmp_path / "health.jsonl"
    now = time.time()
    entries = [
        {"time": time.strftime(TIME_FORMAT, time.gmtime(now - h * 3600)), "n": h} for h in range(48, -1, -1)
    ]
    lines = [json.dumps(e) + "\n" for e in entries]
    lines.insert(30, '{"time": "2026-')  # a record cut short by a crash, then a blank line
    lines.insert(31, "\n\n")
    health.write_text("".join(lines))
    for chunk in (16, 100, 1 << 16):  # lines split across many reads, and one read
        assert record_before(health, now - 24 * 3600, chunk=chunk)["n"] == 24
        assert record_before(health, now - 47.5 * 3600, chunk=chunk)["n"] == 48
        assert record_before(health, now - 49 * 3600, chunk=chunk) is None


# --- SLURM ------------------------------------------------------------------------------


def test_slurm_not_configured_is_ok_and_says_so(site):
    results, _, _ = site
    entry, _ = run(site, HEALTHY)
    for name in ("slurm_controller", "slurm_pending_jobs"):
        check = check_of(entry, name)
        assert check["status"] == "ok" and check["value"] is None and "not configured" in check["message"]
    prom = (results / "monitoring" / "metrics.prom").read_text()
    assert 'astrid_check_status{check="slurm_controller"} 0' in prom


@pytest.mark.skipif(not shutil.which("scontrol"), reason="scontrol is not installed (no SLURM client)")
def test_an_unreachable_slurm_controller_is_critical(site, tmp_path, monkeypatch):
    # A real slurm.conf naming a controller on 127.0.0.1 at a port nobody listens on.
    conf = tmp_path / "slurm.conf"
    conf.write_text(
        f"ClusterName=monitortest\nSlurmctldHost=localhost(127.0.0.1)\nSlurmctldPort={closed_port()}\n"
    )
    monkeypatch.setenv("SLURM_CONF", str(conf))
    entry, changed = run(site, settings(slurm={"enabled": True, "timeout_seconds": 20.0}))
    controller, queue = check_of(entry, "slurm_controller"), check_of(entry, "slurm_pending_jobs")
    assert controller["status"] == "critical" and "SLURM controller unreachable" in controller["message"]
    assert queue["status"] == "warning" and "controller unreachable" in queue["message"]
    assert "[CRITICAL] SLURM controller unreachable" in Hook.received[-1]["text"]


def slurm_answers():
    if not shutil.which("scontrol") or not shutil.which("sbatch"):
        return False
    try:
        ping = subprocess.run(["scontrol", "ping"], capture_output=True, text=True, timeout=20)
    except subprocess.TimeoutExpired:
        return False
    return " is UP" in ping.stdout


@pytest.mark.skipif(
    not slurm_answers(),
    reason="no SLURM controller answers here (tools/local-slurm/start "
    "starts one; point SLURM_CONF at its slurm.conf)",
)
def test_a_reachable_controller_and_a_pending_job(site):
    # A held job stays pending without using the cluster; it is cancelled afterwards.
    submitted = subprocess.run(
        ["sbatch", "--hold", "--parsable", "-J", "astrid-monitor-test", "-t", "1", "--wrap", "true"],
        capture_output=True,
        text=True,
        check=True,
    )
    job = submitted.stdout.strip().split(";")[0]
    try:
        limits = {"enabled": True, "pending_jobs": {"warning": 1, "critical": 100000}}
        entry, _ = run(site, settings(slurm=limits))
    finally:
        subprocess.run(["scancel", job], check=False)
    assert check_of(entry, "slurm_controller")["status"] == "ok"
    queue = check_of(entry, "slurm_pending_jobs")
    assert queue["status"] == "warning" and queue["value"] >= 1


# --- Rule runtimes ----------------------------------------------------------------------


def benchmark(benchmarks, rule, name, seconds, age_hours):
    path = benchmarks / rule / "20261201" / f"{name}.tsv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"s\th:m:s\tmax_rss\n{seconds}\t0:00:00\t100.0\n")
    written = time.time() - age_hours * 3600
    os.utime(path, (written, written))


def test_a_rule_slower_than_its_history_is_flagged(site):
    results, _, _ = site
    benchmarks = results.parent / "benchmarks"
    for k in range(6):  # six earlier jobs of 40 s (median 40 s)
        benchmark(benchmarks, "calibrate_exposure", f"e{k}", 40.0, age_hours=30 - k)
    benchmark(benchmarks, "calibrate_exposure", "newest", 60.0, age_hours=1)
    for k in range(3):  # too little history to judge, however slow its newest job
        benchmark(benchmarks, "train_realbogus", f"t{k}", 40.0, age_hours=30 - k)
    benchmark(benchmarks, "train_realbogus", "newest", 4000.0, age_hours=1)
    for k in range(6):  # ten times slower, but a 5 s job: below min_seconds
        benchmark(benchmarks, "ingest_night", f"i{k}", 0.5, age_hours=30 - k)
    benchmark(benchmarks, "ingest_night", "newest", 5.0, age_hours=1)
    entry, _ = run(site, HEALTHY)
    check = check_of(entry, "rule_runtime_ratio")
    assert check["status"] == "ok" and check["value"] == pytest.approx(1.5)

    benchmark(benchmarks, "calibrate_exposure", "newest", 100.0, age_hours=0.5)  # 2.5 times
    entry, _ = run(site, HEALTHY)
    check = check_of(entry, "rule_runtime_ratio")
    assert check["status"] == "warning" and check["value"] == pytest.approx(2.5)
    assert "calibrate_exposure: newest job 100 s, median 40 s of 6 earlier jobs" in check["message"]

    benchmark(benchmarks, "calibrate_exposure", "newest", 250.0, age_hours=0.1)  # 6.25 times
    entry, _ = run(site, HEALTHY)
    assert check_of(entry, "rule_runtime_ratio")["status"] == "critical"


# --- Exposure-to-alert latency ------------------------------------------------------------


def mjd_ago(minutes):
    return time.time() / 86400 + 40587.0 - minutes / 1440


def science(exposure, ended_minutes_ago, exptime=60.0):
    return {
        "exposure": exposure,
        "night": "20261201",
        "frame_type": "science",
        "exptime": exptime,
        "mjd": mjd_ago(ended_minutes_ago + exptime / 60),
    }


def test_alert_latency_from_exposure_end_to_its_first_alert(site):
    results, _, _ = site
    night = "20261201"
    limits = settings(alert_latency_minutes={"warning": 5.0, "critical": 30.0})
    scored_dir = results / "scored" / night
    scored_dir.mkdir(parents=True)

    # The demo's case: simulated times far from now.
    write_tsv(results / "manifest" / f"{night}.tsv", [science("F0", 3 * 24 * 60), science("F9", -600)])
    entry, _ = run(site, limits)
    assert "no recent frames" in check_of(entry, "alert_latency_minutes")["message"]
    assert entry["statuses"]["alert_latency_minutes"] == "ok"

    # F1 ended 9 minutes ago and is scored; its alerts are not out yet: 9 minutes so far.
    # F2 is not scored yet (counted, not timed); F0 (three days old) is outside the window.
    frames = [science("F0", 3 * 24 * 60), science("F1", 9), science("F2", 8)]
    write_tsv(results / "manifest" / f"{night}.tsv", frames)
    (scored_dir / "F1.ecsv").write_text("# scored\n")
    entry, _ = run(site, limits)
    check = check_of(entry, "alert_latency_minutes")
    assert check["status"] == "warning" and check["value"] == pytest.approx(9.0, abs=0.1)
    assert "1 still waiting" in check["message"] and "1 not scored yet" in check["message"]

    # F1's first alert was written 2 minutes after it ended (alert database); the night's
    # alerts.tsv, rewritten just now by a rerun, does not change that.
    db = objects.connect(results=results)
    db.execute("INSERT INTO objects VALUES ('OBJ1', 150.0, 2.0, 0, 'F01', 1.0, 1.0, 1)")
    db.execute(
        "INSERT INTO detections (candidate_id, object_id, exposure, night, band, mjd, ra, dec, snr,"
        " rb_score, rb_model_version) VALUES ('F1-0000', 'OBJ1', 'F1', ?, 'g', 1.0, 150.0, 2.0, 9.0,"
        " 0.9, 1)",
        (night,),
    )
    db.execute("INSERT INTO alerts VALUES (1, 'F1-0000', 'OBJ1', ?, 'p.avro', ?)", (night, mjd_ago(7)))
    db.close()
    (results / "alerts" / night).mkdir(parents=True)
    (results / "alerts" / night / "alerts.tsv").write_text("alert_id\n1\n")
    entry, changed = run(site, limits)
    check = check_of(entry, "alert_latency_minutes")
    assert check["status"] == "ok" and check["value"] == pytest.approx(2.0, abs=0.1)
    assert [c.name for c in changed] == ["alert_latency_minutes"]
    # The report's table: the scored frames, F1 timed from the database, none other.
    (row,) = frame_latencies(results, night)
    assert row["exposure"] == "F1" and float(row["latency_minutes"]) == pytest.approx(2.0, abs=0.1)
    assert row["exposure_end_utc"] < row["first_alert_utc"]

    # F3 ended an hour ago, was scored, and gave no alert: out when alerts.tsv was written
    # (just now), 60 minutes. Median of 2 and 60 minutes: 31, critical.
    write_tsv(results / "manifest" / f"{night}.tsv", frames + [science("F3", 60)])
    scored = scored_dir / "F3.ecsv"
    scored.write_text("# scored\n")
    before = time.time() - 30
    os.utime(scored, (before, before))
    entry, _ = run(site, limits)
    check = check_of(entry, "alert_latency_minutes")
    assert check["status"] == "critical" and check["value"] == pytest.approx(31.0, abs=0.2)
    assert "max 60" in check["message"]
    assert (
        'astrid_check_status{check="alert_latency_minutes"} 2'
        in (results / "monitoring" / "metrics.prom").read_text()
    )


# --- Data-quality trends ------------------------------------------------------------------


def qa_night(
    results,
    night,
    fwhm=3.0,
    limiting_mag=22.5,
    flux_ratio=1.0,
    sky_level=600.0,
    exptime=60.0,
    usable=10,
    quarantined=0,
):
    """The QA tables, manifest and quarantine of a night of frames in g and r of field F01."""
    exposures = [f"{night}-{k:04d}" for k in range(4)]
    bands = ["g", "r", "g", "r"]
    write_tsv(
        results / "qa" / night / "difference.tsv",
        [
            {
                "exposure": e,
                "field": "F01",
                "band": b,
                "status": "ok",
                "reason": "",
                "score_noise": 1.0,
                "limiting_mag": limiting_mag,
                "n_candidates": 3,
                "flux_ratio": flux_ratio,
                "fwhm": fwhm,
            }
            for e, b in zip(exposures, bands, strict=True)
        ],
    )
    write_tsv(
        results / "qa" / night / "calibration.tsv",
        [
            {"exposure": e, "field": "F01", "band": b, "mjd": 61000.0, "sky_level": sky_level}
            for e, b in zip(exposures, bands, strict=True)
        ],
    )
    frames = [
        {"exposure": e, "frame_type": "science", "band": b, "exptime": exptime, "mjd": 61000.0}
        for e, b in zip(exposures, bands, strict=True)
    ]
    frames += [
        {"exposure": f"{night}-b{k}", "frame_type": "bias", "band": "", "exptime": 0.0, "mjd": 61000.0}
        for k in range(usable - len(frames))
    ]
    write_tsv(results / "manifest" / f"{night}.tsv", frames)
    write_tsv(
        results / "quarantine" / f"{night}.tsv",
        [{"exposure": f"{night}-q{k}", "reason_code": "UNREADABLE"} for k in range(quarantined)],
    )


QUALITY = ("seeing_ratio", "sky_ratio", "limiting_mag_loss", "zero_point_offset", "quarantined_fraction")


def test_the_newest_night_is_compared_with_the_median_of_earlier_nights(site):
    results, _, _ = site
    for night, fwhm in (("20261201", 2.8), ("20261202", 3.0), ("20261203", 3.4)):
        qa_night(results, night, fwhm=fwhm)
    # Twice the exposure time and twice the flux ratio: the same zero point per second.
    qa_night(results, "20261204", fwhm=3.3, exptime=120.0, flux_ratio=2.0, sky_level=1200.0)
    entry, _ = run(site, HEALTHY)
    assert {name: entry["statuses"][name] for name in QUALITY} == dict.fromkeys(QUALITY, "ok")
    assert check_of(entry, "seeing_ratio")["value"] == pytest.approx(1.1)  # 3.3 / median(2.8, 3.0, 3.4)
    assert check_of(entry, "zero_point_offset")["value"] == pytest.approx(0.0, abs=1e-9)

    # A bad night: seeing 1.6 times the usual, sky 3.5 times brighter, 0.7 mag shallower,
    # a zero point 1 mag off (40% of the flux), and 3 of 10 frames quarantined.
    qa_night(
        results,
        "20261205",
        fwhm=3.0 * 1.6,
        sky_level=600.0 * 3.5,
        limiting_mag=21.8,
        flux_ratio=0.4,
        usable=7,
        quarantined=3,
    )
    entry, changed = run(site, HEALTHY)
    statuses = {name: entry["statuses"][name] for name in QUALITY}
    assert statuses == {
        "seeing_ratio": "warning",
        "sky_ratio": "warning",
        "limiting_mag_loss": "warning",
        "zero_point_offset": "critical",
        "quarantined_fraction": "critical",
    }
    assert check_of(entry, "zero_point_offset")["value"] == pytest.approx(-2.5 * math.log10(0.4))
    assert check_of(entry, "limiting_mag_loss")["value"] == pytest.approx(0.7)
    assert {c.name for c in changed} == set(QUALITY)
    assert "night 20261205 g: PSF FWHM (px) 4.8 against 3" in check_of(entry, "seeing_ratio")["message"]
    assert "3 of 10 frames quarantined" in Hook.received[-1]["text"]

    # Worse still: seeing doubled is critical. With min_nights above the history, no band
    # can be compared and the trends are ok, saying why.
    qa_night(results, "20261205", fwhm=6.5)
    entry, _ = run(site, HEALTHY)
    assert entry["statuses"]["seeing_ratio"] == "critical"
    entry, _ = run(site, settings(quality={"min_nights": 5}))
    check = check_of(entry, "seeing_ratio")
    assert check["status"] == "ok" and "no band with 5 earlier nights" in check["message"]


def test_the_report_draws_the_latency_distribution_of_the_frames_with_alerts(tmp_path):
    from astrid.report.latency import plot_latency

    rows = [
        {"exposure": f"F{i}", "exposure_end_utc": f"2026-12-01T03:{i:02d}:00Z", "latency_minutes": f"{m:.1f}"}
        for i, m in enumerate([0.5, 0.6, 0.7, 0.8, 5.0])
    ] + [{"exposure": "F9", "exposure_end_utc": "2026-12-01T04:00:00Z", "latency_minutes": ""}]
    figures = plot_latency(rows, tmp_path / "latency.png", "20261201")
    assert figures["frames"] == 5 and figures["median"] == pytest.approx(0.7)
    assert figures["p95"] == pytest.approx(0.8 + 0.8 * 4.2) and figures["max"] == 5.0
    assert (tmp_path / "latency.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # A night without alerts still gets its figure, saying so.
    assert plot_latency(rows[-1:], tmp_path / "none.png", "20261201")["frames"] == 0
    assert (tmp_path / "none.png").stat().st_size > 0
