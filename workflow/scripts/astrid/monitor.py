"""Health checks of an AstrID installation, cheap enough to run every 15 minutes.

Nothing here writes the night's products: the checks read folders, stores and QA tables,
append one JSON line per run to ``results/monitoring/health.jsonl`` and notify people
(through the alert channels) only when a check *changes* state — into warning, into
critical, or back to ok — never again while it stays there.

    python -m astrid.monitor [--configfile site.yaml]      # (make monitor)
"""

import argparse
import glob
import json
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

OK, WARNING, CRITICAL = "ok", "warning", "critical"
SEVERITY = {OK: 0, WARNING: 1, CRITICAL: 2}


@dataclass
class Check:
    name: str
    status: str
    value: float | None
    message: str


def graded(name, value, warning, critical, unit, higher_is_worse=True):
    """A check of ``value`` against its warning and critical thresholds."""
    if value is None:
        return Check(name, CRITICAL, None, f"{name}: could not be measured")
    worse = (lambda a, b: a >= b) if higher_is_worse else (lambda a, b: a <= b)
    status = CRITICAL if worse(value, critical) else WARNING if worse(value, warning) else OK
    bound = {CRITICAL: critical, WARNING: warning, OK: warning}[status]
    relation = (">=" if higher_is_worse else "<=") if status != OK else ("<" if higher_is_worse else ">")
    return Check(name, status, float(value), f"{name} {value:.3g}{unit} ({relation} {bound:g}{unit})")


def free_fraction(path):
    usage = shutil.disk_usage(path)
    return usage.free / usage.total


def check_storage(results, thresholds):
    Path(results).mkdir(parents=True, exist_ok=True)
    fraction = free_fraction(results)
    return graded("free_disk_fraction", fraction, thresholds["warning"], thresholds["critical"], "",
                  higher_is_worse=False)  # fmt: skip


def check_tracking_store(uri):
    """The MLflow store answers: the sqlite file opens, or the server's /health says OK."""
    import sqlite3
    import urllib.request

    from astrid.registry import redacted

    try:
        if uri.startswith("sqlite:///"):
            path = Path(uri.removeprefix("sqlite:///"))
            if not path.exists():
                return Check("tracking_store", WARNING, None, f"MLflow store {path} does not exist yet")
            sqlite3.connect(f"file:{path}?mode=ro", uri=True).execute("SELECT 1").fetchone()
        else:
            with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=5) as response:
                if response.status != 200:
                    raise OSError(f"HTTP {response.status}")
    except (OSError, sqlite3.Error) as error:
        return Check("tracking_store", CRITICAL, None, f"MLflow store {redacted(uri)} unreachable: {error}")
    return Check("tracking_store", OK, None, f"MLflow store {redacted(uri)} reachable")


def check_alert_database(results):
    import sqlite3

    import psycopg

    from astrid.objects import DATABASE_ENV, DatabaseError, connect, default_path

    failures = (DatabaseError, OSError, sqlite3.Error, psycopg.Error)
    if not os.environ.get(DATABASE_ENV) and not default_path(results).exists():
        return Check("alert_database", WARNING, None, "alert database does not exist yet")
    try:
        db = connect(results=results)
        db.execute("SELECT 1").fetchone()
        where = db.where
        db.close()
    except failures as error:
        return Check("alert_database", CRITICAL, None, f"alert database unreachable: {error}")
    return Check("alert_database", OK, None, f"alert database {where} reachable")


def check_backlog(raw_dir, results, thresholds, now=None):
    """Raw night folders without a manifest yet, and the age (hours) of the oldest of them."""
    now = now or time.time()
    waiting = []
    for night in sorted(Path(raw_dir).glob("[0-9]" * 8)):
        if not (Path(results) / "manifest" / f"{night.name}.tsv").exists():
            frames = list(night.glob("*.fits*"))
            if frames:
                waiting.append(min(f.stat().st_mtime for f in frames))
    age = (now - min(waiting)) / 3600 if waiting else 0.0
    check = graded("backlog_age_hours", age, thresholds["warning"], thresholds["critical"], " h")
    check.message += f"; {len(waiting)} night folder(s) not processed"
    return check


def check_failures(logs, since_hours=24.0, now=None):
    """Rule logs with a failure written in the last ``since_hours``."""
    now = now or time.time()
    failed = []
    for path in glob.glob(f"{logs}/**/*.log", recursive=True):
        if now - os.path.getmtime(path) > since_hours * 3600:
            continue
        with open(path, errors="replace") as handle:
            if "rule failed" in handle.read():
                failed.append(path)
    status = OK if not failed else WARNING
    names = ", ".join(sorted(Path(p).parent.name + "/" + Path(p).stem for p in failed)[:5])
    return Check(
        "failed_jobs",
        status,
        float(len(failed)),
        f"{len(failed)} failed job(s) in {since_hours:g} h{': ' + names if names else ''}",
    )


def check_drift(results):
    path = Path(results) / "models" / "realbogus" / "retraining.json"
    if not path.exists():
        return Check("model_drift", OK, None, "no drift check yet")
    decision = json.loads(path.read_text())
    if decision["retrain"]:
        return Check(
            "model_drift",
            WARNING,
            None,
            "drift check asked for retraining: " + "; ".join(decision["reasons"]),
        )
    return Check("model_drift", OK, None, f"champion v{decision['champion']}: no drift")


def run_checks(settings, results="results", logs="logs", raw_dir="results/demo/raw", tracking_uri=None):
    from astrid.registry import tracking_uri as default_uri

    return [
        check_storage(results, settings["free_disk_fraction"]),
        check_tracking_store(tracking_uri or default_uri(results)),
        check_alert_database(results),
        check_backlog(raw_dir, results, settings["backlog_age_hours"]),
        check_failures(logs),
        check_drift(results),
    ]


def transitions(previous, checks):
    """Checks whose status differs from the last record's (a first record: those not ok)."""
    before = previous or {}
    return [c for c in checks if before.get(c.name, OK) != c.status]


def last_record(path):
    path = Path(path)
    if not path.exists():
        return None
    lines = path.read_text().strip().splitlines()
    return json.loads(lines[-1]) if lines else None


def record(path, checks, notified):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    entry = {"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "statuses": {c.name: c.status for c in checks},
             "checks": [asdict(c) for c in checks], "notified": notified}  # fmt: skip
    with open(path, "a") as handle:
        handle.write(json.dumps(entry) + "\n")
    return entry


def prometheus(checks):
    """The checks in Prometheus' text exposition format."""
    lines = ["# HELP astrid_check_status 0 ok, 1 warning, 2 critical", "# TYPE astrid_check_status gauge"]
    lines += [f'astrid_check_status{{check="{c.name}"}} {SEVERITY[c.status]}' for c in checks]
    lines += ["# HELP astrid_check_value measured value of a check", "# TYPE astrid_check_value gauge"]
    lines += [f'astrid_check_value{{check="{c.name}"}} {c.value}' for c in checks if c.value is not None]
    return "\n".join(lines) + "\n"


def notify(channels, changed, retry, sleep=time.sleep):
    """Tell people about the transitions, once; returns the channels that took the message."""
    from astrid.delivery import send_with_retries

    if not changed:
        return []
    lines = [f"[{c.status.upper() if c.status != OK else 'RECOVERED'}] {c.message}" for c in changed]
    text = "\n".join(lines)
    subject = f"AstrID health: {max((c.status for c in changed), key=SEVERITY.get)}"
    done = []
    for channel in channels:
        ok, _, _ = send_with_retries(
            channel, text, retry, sleep, send=lambda t, c=channel: c.send_text(subject, t)
        )
        if ok:
            done.append(channel.name)
    return done


def monitor(
    settings, channels, retry, results="results", logs="logs", raw_dir="results/demo/raw", sleep=time.sleep
):
    """One monitoring run: checks, a health record, notifications of transitions."""
    health = Path(results) / "monitoring" / "health.jsonl"
    previous = last_record(health)
    checks = run_checks(settings, results, logs, raw_dir)
    changed = transitions(previous["statuses"] if previous else None, checks)
    notified = notify(channels, changed, retry, sleep)
    entry = record(health, checks, notified)
    if settings.get("prometheus"):
        target = Path(results) / "monitoring" / "metrics.prom"
        target.write_text(prometheus(checks))
    return entry, changed


def main(argv=None):
    import yaml

    from astrid.delivery import Retry, channels_from_config

    parser = argparse.ArgumentParser(prog="python -m astrid.monitor", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--configfile", action="append", default=[], help="site config merged over config/config.yaml"
    )
    args = parser.parse_args(argv)
    repo = Path(__file__).resolve().parents[3]
    config = yaml.safe_load((repo / "config" / "config.yaml").read_text())
    for extra in args.configfile:
        _merge(config, yaml.safe_load(Path(extra).read_text()) or {})
    entry, changed = monitor(config["monitoring"], channels_from_config(config["alerts"]),
                             Retry(**config["alerts"]["retry"]), raw_dir=config["raw_dir"])  # fmt: skip
    for check in entry["checks"]:
        print(f"{check['status']:>8}  {check['message']}")
    print(f"{len(changed)} transition(s); notified: {', '.join(entry['notified']) or 'nobody'}")
    return 2 if any(c["status"] == CRITICAL for c in entry["checks"]) else 0


def _merge(base, extra):
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value


if __name__ == "__main__":
    raise SystemExit(main())
