"""Running every check once: ``python -m astrid.ops.monitor`` (``make monitor``)."""

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from astrid.ops.monitor.history import last_record, record, record_before, transitions
from astrid.ops.monitor.latency import check_latency
from astrid.ops.monitor.notify import notify
from astrid.ops.monitor.processing import check_backlog, check_drift, check_failures, check_runtimes
from astrid.ops.monitor.prometheus import prometheus
from astrid.ops.monitor.quality import check_quality
from astrid.ops.monitor.services import check_alert_database, check_slurm, check_tracking_store
from astrid.ops.monitor.status import CRITICAL, Check
from astrid.ops.monitor.storage import check_growth, check_storage, folder_bytes

if TYPE_CHECKING:
    from astrid.alerts.delivery import Email, Retry, Webhook


def run_checks(
    settings: dict,
    results: Path | str = "results",
    logs: Path | str = "logs",
    raw_dir: Path | str = "results/demo/raw",
    tracking_uri: str | None = None,
    benchmarks: Path | str = "benchmarks/rules",
    sizes: dict[str, int] | None = None,
    before: dict | None = None,
) -> list[Check]:
    """Every check, in a fixed order. ``sizes`` are the folders' sizes now ({"raw": bytes,
    "results": bytes}, measured if not given) and ``before`` the health record to measure
    their growth against.

    Parameters
    ----------
    settings : dict
        The ``monitoring`` config section: each check's thresholds and settings.
    results, logs, raw_dir : pathlib.Path or str
        The results, rule logs and raw night folders.
    tracking_uri : str or None
        The MLflow tracking URI; ``$MLFLOW_TRACKING_URI``, else the store under ``results``,
        when None.
    benchmarks : pathlib.Path or str
        Snakemake's per-rule benchmark files.
    sizes : dict of str to int or None
        Bytes in the raw and results folders now, under "raw" and "results".
    before : dict or None
        The newest health record at least ``growth_window_hours`` old; None when there is none.

    Returns
    -------
    list of Check
        Storage, growth, services, processing, SLURM, runtimes, latency and data quality.
    """
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
    settings: dict,
    channels: "list[Webhook | Email]",
    retry: "Retry",
    results: Path | str = "results",
    logs: Path | str = "logs",
    raw_dir: Path | str = "results/demo/raw",
    benchmarks: Path | str = "benchmarks/rules",
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[dict, list[Check]]:
    """One monitoring run: checks, a health record, notifications of transitions.

    The record is appended to ``<results>/monitoring/health.jsonl``; with
    ``settings["prometheus"]`` the checks are also written to
    ``<results>/monitoring/metrics.prom``.

    Parameters
    ----------
    settings : dict
        The ``monitoring`` config section.
    channels : list of Webhook or Email
        The alert channels people are notified through.
    retry : Retry
        Attempts and back-off per channel.
    results, logs, raw_dir : pathlib.Path or str
        The results, rule logs and raw night folders.
    benchmarks : pathlib.Path or str
        Snakemake's per-rule benchmark files.
    sleep : callable
        Waits the given seconds between delivery attempts (replaced in tests).

    Returns
    -------
    entry : dict
        The health record written (:func:`~astrid.ops.monitor.history.record`).
    changed : list of Check
        The checks that changed state since the previous record.
    """
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


def argument_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m astrid.ops.monitor``.

    Returns
    -------
    argparse.ArgumentParser
        Its one option, ``--configfile`` (repeatable), names site configs merged over
        ``config/config.yaml``, in order.
    """
    parser = argparse.ArgumentParser(prog="python -m astrid.ops.monitor", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--configfile", action="append", default=[], help="config merged over config/config.yaml, in order"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run every check once with the configured thresholds and channels, and print each
    check's status and message.

    Parameters
    ----------
    argv : list of str or None
        The command-line arguments; those of the process when None.

    Returns
    -------
    int
        The exit status: 2 when any check is critical, else 0.

    Raises
    ------
    SystemExit
        When the merged configuration does not match the schema, naming every problem.
    """
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
