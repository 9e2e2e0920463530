"""Health checks of an AstrID installation, cheap enough to run every 15 minutes.

Nothing here writes the night's products: the checks read folders, stores and QA tables,
append one JSON line per run to ``results/monitoring/health.jsonl`` and notify people
(through the alert channels) only when a check *changes* state — into warning, into
critical, or back to ok — never again while it stays there.

    python -m astrid.monitor [--configfile site.yaml]      # (make monitor)

A check that has nothing to measure yet (no history, SLURM not configured, no recent
frames) is recorded as ok with no value and a message that says why.
"""

import argparse
import calendar
import csv
import glob
import json
import math
import os
import shutil
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from statistics import median

from astrid.runtime import benchmark_jobs

OK, WARNING, CRITICAL = "ok", "warning", "critical"
SEVERITY = {OK: 0, WARNING: 1, CRITICAL: 2}
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
MJD_UNIX_EPOCH = 40587.0  # MJD of 1970-01-01T00:00:00 UTC


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


def folder_bytes(path):
    """Summed size (bytes) of the files under ``path``, symbolic links not followed; files
    that vanish while the folder is walked are skipped."""
    total, pending = 0, [str(path)]
    while pending:
        try:
            with os.scandir(pending.pop()) as entries:
                for entry in entries:
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            pending.append(entry.path)
                        elif entry.is_file(follow_symlinks=False):
                            total += entry.stat(follow_symlinks=False).st_size
                    except OSError:
                        continue
        except OSError:
            continue
    return total


def check_growth(folder, size, before, thresholds, window_hours, now=None):
    """Growth (GB per day) of one folder since ``before``, the newest health record at least
    ``window_hours`` old; ok with no value while there is no such record."""
    now = now or time.time()
    name = f"{folder}_growth_gb_per_day"
    then = (before or {}).get("folder_bytes", {}).get(folder)
    if then is None:
        return Check(
            name,
            OK,
            None,
            f"{name}: {folder} holds {size / 1e9:.3g} GB; no health record "
            f"{window_hours:g} h old to compare with yet",
        )
    days = (now - record_time(before)) / 86400
    growth = (size - then) / 1e9 / days
    check = graded(name, growth, thresholds["warning"], thresholds["critical"], " GB/day")
    check.message += (
        f"; {folder} holds {size / 1e9:.3g} GB, {(size - then) / 1e9:+.3g} GB in {days * 24:.3g} h"
    )
    return check


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


def check_slurm(settings):
    """The SLURM controller answers ``scontrol ping``, and this user's pending jobs
    (``squeue -u $USER -t PENDING``) against their thresholds.

    Without ``settings["enabled"]`` both checks are ok with the message "not configured".
    The queue is not asked while the controller is down (a warning that says so), so one
    outage is one critical.
    """
    import getpass

    names = ("slurm_controller", "slurm_pending_jobs")
    if not settings["enabled"]:
        why = "not configured (monitoring.slurm.enabled is false)"
        return [Check(name, OK, None, f"{name}: {why}") for name in names]
    timeout = settings["timeout_seconds"]
    scontrol, squeue = shutil.which("scontrol"), shutil.which("squeue")
    if not scontrol or not squeue:
        missing = " and ".join(n for n, p in (("scontrol", scontrol), ("squeue", squeue)) if not p)
        return [
            Check(names[0], CRITICAL, None, f"SLURM is enabled but {missing} is not on PATH"),
            Check(names[1], WARNING, None, "SLURM queue not measured: no SLURM commands"),
        ]
    try:
        ping = subprocess.run([scontrol, "ping"], capture_output=True, text=True, timeout=timeout)
        answers = [line.strip() for line in ping.stdout.splitlines() if line.startswith("Slurmctld(")]
    except subprocess.TimeoutExpired:
        ping, answers = None, []
    up = [a for a in answers if a.endswith(" is UP")]
    if ping is None:
        controller = Check(
            names[0], CRITICAL, None, f"SLURM controller: scontrol ping gave no answer in {timeout:g} s"
        )
    elif not up:
        said = "; ".join(answers) or (ping.stderr.strip().splitlines() or ["no output"])[-1]
        controller = Check(names[0], CRITICAL, None, f"SLURM controller unreachable: {said}")
    elif len(up) < len(answers):
        controller = Check(names[0], WARNING, None, "SLURM controller partly down: " + "; ".join(answers))
    else:
        controller = Check(names[0], OK, None, "SLURM controller up: " + "; ".join(answers))
    if controller.status == CRITICAL:
        return [
            controller,
            Check(names[1], WARNING, None, "SLURM queue not measured: controller unreachable"),
        ]
    user = getpass.getuser()
    try:
        queue = subprocess.run(
            [squeue, "-h", "-u", user, "-t", "PENDING", "-o", "%i"],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        failed = queue.returncode != 0 and (queue.stderr.strip().splitlines() or ["no output"])[-1]
    except subprocess.TimeoutExpired:
        queue, failed = None, f"no answer in {timeout:g} s"
    if failed:
        return [controller, Check(names[1], CRITICAL, None, f"SLURM queue of {user} not read: {failed}")]
    pending = len([line for line in queue.stdout.splitlines() if line.strip()])
    check = graded(
        names[1], pending, settings["pending_jobs"]["warning"], settings["pending_jobs"]["critical"], ""
    )
    check.message += f"; pending jobs of {user}"
    return [controller, check]


def check_runtimes(benchmark_dir, settings):
    """Each rule's newest job against the median wall time of its earlier jobs: the worst
    ratio over the rules with ``min_history`` earlier jobs and a newest job of at least
    ``min_seconds`` (shorter jobs are not an operations problem, and their timing is noise)."""
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


def _read_tsv(path):
    try:
        with open(path, newline="") as handle:
            return list(csv.DictReader(handle, delimiter="\t"))
    except OSError:
        return []


def _number(text):
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def unix_time(mjd):
    return (mjd - MJD_UNIX_EPOCH) * 86400.0


def first_alert_times(results, night):
    """Per exposure of ``night``: when its first alert was written (unix time), from the
    alert database's ``alerts.written_mjd`` (kept as first written when a night is rerun).
    Empty when there is no database or it cannot be read."""
    import sqlite3

    import psycopg

    from astrid.objects import DATABASE_ENV, DatabaseError, connect, default_path

    if not os.environ.get(DATABASE_ENV) and not default_path(results).exists():
        return {}
    try:
        db = connect(results=results)
        try:
            rows = db.execute(
                "SELECT d.exposure, MIN(a.written_mjd) FROM alerts a JOIN detections d"
                " ON d.candidate_id = a.candidate_id WHERE a.night = ? GROUP BY d.exposure",
                (night,),
            ).fetchall()
        finally:
            db.close()
    except (DatabaseError, OSError, sqlite3.Error, psycopg.Error):
        return {}
    return {exposure: unix_time(mjd) for exposure, mjd in rows}


def frame_latencies(results, night):
    """Per science frame of ``night`` that was scored: the end of its exposure (manifest
    ``mjd`` + ``exptime``), when its first alert was written (alert database; empty for a
    frame without alerts) and the minutes between, for the night's report."""
    from datetime import UTC, datetime

    def utc(seconds):
        return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    first = first_alert_times(results, night)
    rows = []
    for row in _read_tsv(Path(results) / "manifest" / f"{night}.tsv"):
        mjd, exptime = _number(row.get("mjd")), _number(row.get("exptime")) or 0.0
        scored = Path(results) / "scored" / night / f"{row['exposure']}.ecsv"
        if row.get("frame_type") != "science" or mjd is None or not scored.exists():
            continue
        end = unix_time(mjd) + exptime
        out = first.get(row["exposure"])
        rows.append(
            {
                "exposure": row["exposure"],
                "exposure_end_utc": utc(end),
                "first_alert_utc": utc(out) if out is not None else "",
                "latency_minutes": f"{(out - end) / 60:.1f}" if out is not None else "",
            }
        )
    return rows


def check_latency(results, settings, now=None):
    """Minutes from the end of each exposure (manifest ``mjd`` + ``exptime``) of the newest
    night to its alerts: the median over the science frames taken within ``window_hours``
    of now, the maximum in the message.

    A frame's alerts are out when its first alert was written (alert database), or, for a
    frame that gave no alert, when the night's ``alerts.tsv`` was written after the
    frame's scored table. A scored frame whose alerts are not out yet counts with the time
    it has waited so far. Frames not scored yet are counted but not timed (not every
    science frame is differenced: reference nights are not); frames whose alerts predate
    the exposure (simulated times) are left out.
    """
    now = now or time.time()
    name = "alert_latency_minutes"
    manifests = sorted(Path(results).glob("manifest/[0-9]*.tsv"))
    if not manifests:
        return Check(name, OK, None, f"{name}: no manifest yet")
    night = manifests[-1].stem
    recent = []
    for row in _read_tsv(manifests[-1]):
        mjd, exptime = _number(row.get("mjd")), _number(row.get("exptime")) or 0.0
        if row.get("frame_type") == "science" and mjd is not None:
            end = unix_time(mjd) + exptime
            if now - settings["window_hours"] * 3600 <= end <= now:
                recent.append((row["exposure"], end))
    if not recent:
        return Check(
            name,
            OK,
            None,
            f"{name}: no recent frames (night {night} has no science frame "
            f"that ended within {settings['window_hours']:g} h before now)",
        )
    alerts_tsv = Path(results) / "alerts" / night / "alerts.tsv"
    written = alerts_tsv.stat().st_mtime if alerts_tsv.exists() else None
    first = first_alert_times(results, night)
    minutes, waiting, unscored, unphysical = [], 0, 0, 0
    for exposure, end in recent:
        scored = Path(results) / "scored" / night / f"{exposure}.ecsv"
        if not scored.exists():
            unscored += 1
            continue
        if exposure in first:
            out = first[exposure]
        elif written is not None and written >= scored.stat().st_mtime:
            out = written
        else:
            out, waiting = now, waiting + 1
        if out < end:
            unphysical += 1
            continue
        minutes.append((out - end) / 60)
    notes = [
        f"{n} {what}"
        for n, what in (
            (waiting, "still waiting"),
            (unscored, "not scored yet"),
            (unphysical, "with alerts before the exposure ended (simulated times?)"),
        )
        if n
    ]
    if not minutes:
        return Check(name, OK, None, f"{name}: no timed frame of night {night} ({'; '.join(notes)})")
    check = graded(name, median(minutes), settings["warning"], settings["critical"], " min")
    check.message += f"; night {night}: median of {len(minutes)} frame(s), max {max(minutes):.3g} min"
    if notes:
        check.message += f"; {', '.join(notes)}"
    return check


def _night_values(results, nights, table, value, key):
    """``{night: {key: [values]}}`` from ``results/qa/<night>/<table>`` of ``nights``; rows
    whose ``value(row)`` is None are skipped."""
    values = {}
    for night in nights:
        for row in _read_tsv(Path(results) / "qa" / night / table):
            measured = value(row)
            if measured is not None:
                values.setdefault(night, {}).setdefault(key(row), []).append(measured)
    return values


def trend(name, nights, thresholds, settings, deviation, what, unit, per="band"):
    """The newest night's median of a QA figure against the median of the previous nights'
    medians, per group (band, or field and band); the worst group's deviation is graded."""
    if not nights:
        return Check(name, OK, None, f"{name}: no QA table with {what} yet")
    latest = max(nights)
    previous = sorted(n for n in nights if n < latest)[-settings["history_nights"] :]
    worst = None
    for group, values in nights[latest].items():
        history = [median(nights[n][group]) for n in previous if nights[n].get(group)]
        if len(history) < settings["min_nights"]:
            continue
        now_value, reference = median(values), median(history)
        measured = deviation(now_value, reference)
        if measured is not None and (worst is None or measured > worst[0]):
            worst = (measured, group, now_value, reference, len(history))
    if worst is None:
        return Check(
            name,
            OK,
            None,
            f"{name}: night {latest} has no {per} with {settings['min_nights']} "
            f"earlier nights of {what} to compare with",
        )
    measured, group, now_value, reference, n = worst
    check = graded(name, measured, thresholds["warning"], thresholds["critical"], unit)
    label = "/".join(group) if isinstance(group, tuple) else group
    check.message += (
        f"; night {latest} {label}: {what} {now_value:.4g} against {reference:.4g}, "
        f"the median of {n} earlier night(s)"
    )
    return check


def _ratio(now_value, reference):
    return now_value / reference if reference > 0 else None


def _shallower(now_value, reference):
    return reference - now_value


def _offset(now_value, reference):
    return abs(now_value - reference)


def check_quality(results, settings):
    """Data-quality trends of the newest night against the previous ones, from the QA
    tables (``results/qa/<night>/difference.tsv`` and ``calibration.tsv``) and the
    manifests, and the newest night's quarantined fraction. Only the newest
    ``history_nights`` + 1 nights with QA tables are read."""
    nights = sorted(p.name for p in Path(results).glob("qa/[0-9]*") if p.is_dir())
    nights = nights[-(settings["history_nights"] + 1) :]
    exptimes = {}
    for night in nights:
        for row in _read_tsv(Path(results) / "manifest" / f"{night}.tsv"):
            if (_number(row.get("exptime")) or 0) > 0:
                exptimes[row["exposure"]] = float(row["exptime"])

    def differenced(column):
        return lambda row: _number(row.get(column)) if row.get("status") == "ok" else None

    def zero_point(row):
        # Frame zero point minus its reference's, per second: REFZP + 2.5 log10(FLXRATIO)
        # is the frame's magnitude of 1 e-; the reference's term is constant per field/band.
        ratio, exptime = _number(row.get("flux_ratio")), exptimes.get(row.get("exposure"))
        ok = row.get("status") == "ok" and ratio and ratio > 0 and exptime
        return 2.5 * math.log10(ratio / exptime) if ok else None

    def sky_rate(row):
        level, exptime = _number(row.get("sky_level")), exptimes.get(row.get("exposure"))
        return level / exptime if level is not None and exptime else None

    def band(row):
        return row.get("band") or "-"

    def field_band(row):
        return (row.get("field") or "-", band(row))

    seeing = _night_values(results, nights, "difference.tsv", differenced("fwhm"), band)
    sky = _night_values(results, nights, "calibration.tsv", sky_rate, band)
    depth = _night_values(results, nights, "difference.tsv", differenced("limiting_mag"), band)
    zero_points = _night_values(results, nights, "difference.tsv", zero_point, field_band)
    return [
        trend("seeing_ratio", seeing, settings["seeing_ratio"], settings, _ratio, "PSF FWHM (px)", "x"),
        trend("sky_ratio", sky, settings["sky_ratio"], settings, _ratio, "sky (e-/s)", "x"),
        trend(
            "limiting_mag_loss",
            depth,
            settings["limiting_mag_loss"],
            settings,
            _shallower,
            "5-sigma limit (mag)",
            " mag",
        ),
        trend(
            "zero_point_offset",
            zero_points,
            settings["zero_point_offset"],
            settings,
            _offset,
            "zero point per second relative to the reference (mag)",
            " mag",
            per="field/band",
        ),
        check_quarantine(results, settings["quarantined_fraction"]),
    ]


def check_quarantine(results, thresholds):
    """Fraction of the newest night's raw frames that ingest quarantined."""
    name = "quarantined_fraction"
    nights = sorted(
        {p.stem for p in Path(results).glob("manifest/[0-9]*.tsv")}
        | {p.stem for p in Path(results).glob("quarantine/[0-9]*.tsv")}
    )
    if not nights:
        return Check(name, OK, None, f"{name}: no night ingested yet")
    night = nights[-1]
    usable = len(_read_tsv(Path(results) / "manifest" / f"{night}.tsv"))
    quarantined = len(_read_tsv(Path(results) / "quarantine" / f"{night}.tsv"))
    if usable + quarantined == 0:
        return Check(name, OK, None, f"{name}: night {night} has no frames")
    check = graded(
        name, quarantined / (usable + quarantined), thresholds["warning"], thresholds["critical"], ""
    )
    check.message += f"; night {night}: {quarantined} of {usable + quarantined} frames quarantined"
    return check


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
    from astrid.registry import tracking_uri as default_uri

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


def record_time(entry):
    return calendar.timegm(time.strptime(entry["time"], TIME_FORMAT))


def record_before(path, cutoff, chunk=1 << 16):
    """The newest record of ``path`` written at or before ``cutoff`` (unix time), reading
    the file from its end so that a year of records is not read every 15 minutes."""
    path = Path(path)
    if not path.exists():
        return None
    with open(path, "rb") as handle:
        position = handle.seek(0, os.SEEK_END)
        rest = b""
        while position > 0:
            step = min(chunk, position)
            position -= step
            handle.seek(position)
            lines = (handle.read(step) + rest).split(b"\n")
            rest = lines.pop(0) if position > 0 else b""
            for line in reversed(lines):
                try:
                    entry = json.loads(line)
                    if record_time(entry) <= cutoff:
                        return entry
                except (ValueError, KeyError, TypeError):  # blank, or cut short by a crash
                    continue
    return None


def record(path, checks, notified, sizes=None):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    entry = {"time": time.strftime(TIME_FORMAT, time.gmtime()), "statuses": {c.name: c.status for c in checks},
             "checks": [asdict(c) for c in checks], "notified": notified}  # fmt: skip
    if sizes is not None:
        entry["folder_bytes"] = sizes
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
    parser = argparse.ArgumentParser(prog="python -m astrid.monitor", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--configfile", action="append", default=[], help="config merged over config/config.yaml, in order"
    )
    return parser


def main(argv=None):
    from astrid.config import ConfigError, load_config
    from astrid.delivery import Retry, channels_from_config

    args = argument_parser().parse_args(argv)
    try:  # a mistyped site key would otherwise switch a check off silently
        config = load_config(args.configfile)
    except ConfigError as error:
        raise SystemExit(f"astrid.monitor: {error}") from None
    entry, changed = monitor(config["monitoring"], channels_from_config(config["alerts"]),
                             Retry(**config["alerts"]["retry"]), raw_dir=config["raw_dir"])  # fmt: skip
    for check in entry["checks"]:
        print(f"{check['status']:>8}  {check['message']}")
    print(f"{len(changed)} transition(s); notified: {', '.join(entry['notified']) or 'nobody'}")
    return 2 if any(c["status"] == CRITICAL for c in entry["checks"]) else 0


if __name__ == "__main__":
    raise SystemExit(main())
