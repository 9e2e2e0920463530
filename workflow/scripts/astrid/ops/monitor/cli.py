"""Running every check once: ``python -m astrid.ops.monitor`` (``make monitor``)."""

import argparse
import time
from pathlib import Path

from astrid.ops.monitor.history import last_record, record, record_before, transitions
from astrid.ops.monitor.latency import check_latency
from astrid.ops.monitor.notify import notify
from astrid.ops.monitor.processing import check_backlog, check_drift, check_failures, check_runtimes
from astrid.ops.monitor.prometheus import prometheus
from astrid.ops.monitor.quality import check_quality
from astrid.ops.monitor.services import check_alert_database, check_slurm, check_tracking_store
from astrid.ops.monitor.status import CRITICAL
from astrid.ops.monitor.storage import check_growth, check_storage, folder_bytes


def run_checks(
    settings,
    results="results",
    logs="logs",
    raw_dir="results/demo/raw",
    tracking_uri=None,
    benchmarks="benchmarks/rules",
    sizes=None,
    before=None,
):
    """Every check, in a fixed order. ``sizes`` are the folders' sizes now ({"raw": bytes,
    "results": bytes}, measured if not given) and ``before`` the health record to measure
    their growth against."""
    from astrid.realbogus.registry import tracking_uri as default_uri

    sizes = sizes or {"raw": folder_bytes(raw_dir), "results": folder_bytes(results)}
    window = settings["growth_window_hours"]
    return [
        check_storage(results, settings["free_disk_fraction"]),
        check_growth("raw", sizes["raw"], before, settings["raw_growth_gb_per_day"], window),
        check_growth("results", sizes["results"], before, settings["results_growth_gb_per_day"], window),
        check_tracking_store(tracking_uri or default_uri(results)),
        check_alert_database(results),
        check_backlog(raw_dir, results, settings["backlog_age_hours"]),
        check_failures(logs),
        check_drift(results),
        *check_slurm(settings["slurm"]),
        check_runtimes(benchmarks, settings["rule_runtime_ratio"]),
        check_latency(results, settings["alert_latency_minutes"]),
        *check_quality(results, settings["quality"]),
    ]


def monitor(
    settings,
    channels,
    retry,
    results="results",
    logs="logs",
    raw_dir="results/demo/raw",
    benchmarks="benchmarks/rules",
    sleep=time.sleep,
):
    """One monitoring run: checks, a health record, notifications of transitions."""
    health = Path(results) / "monitoring" / "health.jsonl"
    previous = last_record(health)
    sizes = {"raw": folder_bytes(raw_dir), "results": folder_bytes(results)}
    before = record_before(health, time.time() - settings["growth_window_hours"] * 3600)
    checks = run_checks(settings, results, logs, raw_dir, benchmarks=benchmarks, sizes=sizes, before=before)
    changed = transitions(previous["statuses"] if previous else None, checks)
    notified = notify(channels, changed, retry, sleep)
    entry = record(health, checks, notified, sizes)
    if settings.get("prometheus"):
        target = Path(results) / "monitoring" / "metrics.prom"
        target.write_text(prometheus(checks))
    return entry, changed


def argument_parser():
    parser = argparse.ArgumentParser(prog="python -m astrid.ops.monitor", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--configfile", action="append", default=[], help="config merged over config/config.yaml, in order"
    )
    return parser


def main(argv=None):
    from astrid.alerts.delivery import Retry, channels_from_config
    from astrid.pipeline.config import ConfigError, load_config

    args = argument_parser().parse_args(argv)
    try:  # a mistyped site key would otherwise switch a check off silently
        config = load_config(args.configfile)
    except ConfigError as error:
        raise SystemExit(f"astrid.ops.monitor: {error}") from None
    entry, changed = monitor(
        config["monitoring"],
        channels_from_config(config["alerts"]),
        Retry(**config["alerts"]["retry"]),
        raw_dir=config["raw_dir"],
    )
    for check in entry["checks"]:
        print(f"{check['status']:>8}  {check['message']}")
    print(f"{len(changed)} transition(s); notified: {', '.join(entry['notified']) or 'nobody'}")
    return 2 if any(c["status"] == CRITICAL for c in entry["checks"]) else 0


if __name__ == "__main__":
    raise SystemExit(main())
