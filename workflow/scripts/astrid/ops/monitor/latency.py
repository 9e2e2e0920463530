"""Exposure-to-alert latency per frame."""

import os
import time
from pathlib import Path
from statistics import median

from astrid.ops.monitor.status import OK, Check, graded, read_tsv, to_number, unix_time


def first_alert_times(results: Path | str, night: str) -> dict[str, float]:
    """Per exposure of ``night``: when its first alert was written (unix time), from the
    alert database's ``alerts.written_mjd`` (kept as first written when a night is rerun).
    Empty when there is no database or it cannot be read.

    Parameters
    ----------
    results : pathlib.Path or str
        The results folder, holding the embedded alert database unless the database's
        environment variable names another.
    night : str
        The night, ``YYYYMMDD``.

    Returns
    -------
    dict of str to float
        Exposure → unix time (s) of its first alert; exposures without alerts are absent.
    """
    import sqlite3

    import psycopg

    from astrid.alerts.objects import DATABASE_ENV, DatabaseError, connect, default_path

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


def frame_latencies(results: Path | str, night: str) -> list[dict[str, str]]:
    """Per science frame of ``night`` that was scored: the end of its exposure (manifest
    ``mjd`` + ``exptime``), when its first alert was written (alert database; empty for a
    frame without alerts) and the minutes between, for the night's report.

    Parameters
    ----------
    results : pathlib.Path or str
        The results folder (manifests, scored tables, the embedded alert database).
    night : str
        The night, ``YYYYMMDD``.

    Returns
    -------
    list of dict of str to str
        One row per frame, in manifest order, as text: ``exposure``, ``exposure_end_utc``
        and ``first_alert_utc`` (ISO 8601, UTC) and ``latency_minutes`` (one decimal).
    """
    from datetime import UTC, datetime

    def utc(seconds):
        return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    first = first_alert_times(results, night)
    rows = []
    for row in read_tsv(Path(results) / "manifest" / f"{night}.tsv"):
        mjd, exptime = to_number(row.get("mjd")), to_number(row.get("exptime")) or 0.0
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


def check_latency(results: Path | str, settings: dict, now: float | None = None) -> Check:
    """Minutes from the end of each exposure (manifest ``mjd`` + ``exptime``) of the newest
    night to its alerts: the median over the science frames taken within ``window_hours``
    of now, the maximum in the message.

    A frame's alerts are out when its first alert was written (alert database), or, for a
    frame that gave no alert, when the night's ``alerts.tsv`` was written after the
    frame's scored table. A scored frame whose alerts are not out yet counts with the time
    it has waited so far. Frames not scored yet are counted but not timed (not every
    science frame is differenced: reference nights are not); frames whose alerts predate
    the exposure (simulated times) are left out.

    Parameters
    ----------
    results : pathlib.Path or str
        The results folder (manifests, scored tables, alert tables, the embedded alert
        database).
    settings : dict
        ``window_hours`` (hours), and the ``warning`` and ``critical`` latencies (minutes).
    now : float or None
        Unix time (s) of this run; the current time when None.

    Returns
    -------
    Check
        ``alert_latency_minutes``; ok with no value when there is no manifest, no recent
        frame or no timed frame, the message saying which.
    """
    now = now or time.time()
    name = "alert_latency_minutes"
    manifests = sorted(Path(results).glob("manifest/[0-9]*.tsv"))
    if not manifests:
        return Check(name, OK, None, f"{name}: no manifest yet")
    night = manifests[-1].stem
    recent = []
    for row in read_tsv(manifests[-1]):
        mjd, exptime = to_number(row.get("mjd")), to_number(row.get("exptime")) or 0.0
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
