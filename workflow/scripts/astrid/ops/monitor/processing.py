"""The night's processing: frames waiting, failed jobs, drift and per-rule runtimes."""

import glob
import json
import os
import time
from pathlib import Path
from statistics import median

from astrid.ops.monitor.status import OK, WARNING, Check, graded
from astrid.pipeline.runtime import benchmark_jobs


def check_backlog(
    raw_dir: Path | str, results: Path | str, thresholds: dict, now: float | None = None
) -> Check:
    """Raw night folders without a manifest yet, and the age (hours) of the oldest of them.

    Parameters
    ----------
    raw_dir : pathlib.Path or str
        The folder of the raw ``YYYYMMDD`` night folders.
    results : pathlib.Path or str
        The results folder, whose ``manifest/<night>.tsv`` marks a night as ingested.
    thresholds : dict
        ``warning`` and ``critical`` ages (hours).
    now : float or None
        Unix time (s) of this run; the current time when None.

    Returns
    -------
    Check
        ``backlog_age_hours``: the age of the oldest frame of the waiting nights (0 when
        none waits), with the number of waiting nights in the message.
    """
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


def check_failures(logs: Path | str, since_hours: float = 24.0, now: float | None = None) -> Check:
    """Rule logs with a failure written in the last ``since_hours``.

    Parameters
    ----------
    logs : pathlib.Path or str
        The logs folder, searched recursively for ``*.log`` files that say "rule failed".
    since_hours : float
        How far back to look (hours), by the files' modification times.
    now : float or None
        Unix time (s) of this run; the current time when None.

    Returns
    -------
    Check
        ``failed_jobs``: warning when any log failed, naming up to five of them.
    """
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


def check_drift(results: Path | str) -> Check:
    """The latest drift check of the real/bogus model: a warning when it asked for retraining.

    Parameters
    ----------
    results : pathlib.Path or str
        The results folder, holding ``models/realbogus/retraining.json``.

    Returns
    -------
    Check
        ``model_drift``, with the drift check's reasons when it asked for retraining; ok
        with no value while there is no drift check yet.
    """
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
    if decision["champion"] is None:
        return Check("model_drift", OK, None, "; ".join(decision["reasons"]))
    return Check("model_drift", OK, None, f"champion v{decision['champion']}: no drift")


def check_runtimes(benchmark_dir: Path | str, settings: dict) -> Check:
    """Each rule's newest job against the median wall time of its earlier jobs: the worst
    ratio over the rules with ``min_history`` earlier jobs and a newest job of at least
    ``min_seconds`` (shorter jobs are not an operations problem, and their timing is noise).

    Parameters
    ----------
    benchmark_dir : pathlib.Path or str
        Snakemake's benchmark files, ``<dir>/<rule>/…/*.tsv``.
    settings : dict
        ``min_history`` (jobs), ``min_seconds`` (s), and the ``warning`` and ``critical``
        ratios.

    Returns
    -------
    Check
        ``rule_runtime_ratio``, naming the slowest rule and, when several are over the
        warning ratio, up to five of them; ok with no value when no rule qualifies.
    """
    by_rule = {}
    for job in benchmark_jobs(benchmark_dir):
        by_rule.setdefault(job["rule"], []).append(job["s"])
    ratios = []
    for rule, seconds in by_rule.items():
        latest, history = seconds[-1], seconds[:-1]
        if (
            len(history) >= settings["min_history"]
            and latest >= settings["min_seconds"]
            and median(history) > 0
        ):
            ratios.append((latest / median(history), rule, latest, median(history), len(history)))
    name = "rule_runtime_ratio"
    if not ratios:
        return Check(
            name,
            OK,
            None,
            f"{name}: no rule has a newest job of >= {settings['min_seconds']:g} s "
            f"and {settings['min_history']} earlier jobs",
        )
    ratios.sort(reverse=True)
    ratio, rule, latest, typical, n = ratios[0]
    check = graded(name, ratio, settings["warning"], settings["critical"], "x")
    slow = [f"{r} {x:.3g}x" for x, r, *_ in ratios if x >= settings["warning"]]
    check.message += f"; {rule}: newest job {latest:.3g} s, median {typical:.3g} s of {n} earlier jobs"
    if len(slow) > 1:
        check.message += f"; slow: {', '.join(slow[:5])}"
    return check
