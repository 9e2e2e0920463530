"""The health history: one JSON line per monitoring run, and the transitions between runs."""

import calendar
import json
import os
import time
from dataclasses import asdict
from pathlib import Path

from astrid.ops.monitor.status import OK, TIME_FORMAT, Check


def transitions(previous: dict[str, str] | None, checks: list[Check]) -> list[Check]:
    """Checks whose status differs from the last record's (a first record: those not ok).

    Parameters
    ----------
    previous : dict or None
        Check name → status of the last health record (its ``statuses``); None when there
        is no record yet.
    checks : list of Check
        This run's checks.

    Returns
    -------
    list of Check
        The checks that changed state, in the order of ``checks``; a check the last record
        does not name counts as having been ok.
    """
    before = previous or {}
    return [c for c in checks if before.get(c.name, OK) != c.status]


def last_record(path: Path | str) -> dict | None:
    """The newest record of the health history.

    Parameters
    ----------
    path : pathlib.Path or str
        The history, one JSON object per line (``results/monitoring/health.jsonl``).

    Returns
    -------
    dict or None
        Its last line, parsed; None when the file is missing or empty.
    """
    path = Path(path)
    if not path.exists():
        return None
    lines = path.read_text().strip().splitlines()
    return json.loads(lines[-1]) if lines else None


def record_time(entry: dict) -> int:
    """When a health record was written.

    Parameters
    ----------
    entry : dict
        A health record; its ``time`` is UTC in :data:`TIME_FORMAT`.

    Returns
    -------
    int
        Unix time (s).
    """
    return calendar.timegm(time.strptime(entry["time"], TIME_FORMAT))


def record_before(path: Path | str, cutoff: float, chunk: int = 1 << 16) -> dict | None:
    """The newest record of ``path`` written at or before ``cutoff`` (unix time), reading
    the file from its end so that a year of records is not read every 15 minutes.

    Parameters
    ----------
    path : pathlib.Path or str
        The health history, one JSON object per line.
    cutoff : float
        Unix time (s).
    chunk : int
        Bytes read at a time, from the end backwards.

    Returns
    -------
    dict or None
        The record; None when the file is missing or has none that old. Lines that are
        blank or not a whole record (cut short by a crash) are skipped.
    """
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


def record(
    path: Path | str, checks: list[Check], notified: list[str], sizes: dict[str, int] | None = None
) -> dict:
    """Append this run's record to the health history.

    Parameters
    ----------
    path : pathlib.Path or str
        The health history, one JSON object per line; created with its folder if missing.
    checks : list of Check
        This run's checks.
    notified : list of str
        Names of the channels that took this run's notification.
    sizes : dict or None
        Folder → size (bytes) now, kept as ``folder_bytes`` for later growth checks.

    Returns
    -------
    dict
        The record written: ``time`` (UTC), ``statuses`` (check → status), ``checks``,
        ``notified`` and, with ``sizes``, ``folder_bytes``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    entry = {
        "time": time.strftime(TIME_FORMAT, time.gmtime()),
        "statuses": {c.name: c.status for c in checks},
        "checks": [asdict(c) for c in checks],
        "notified": notified,
    }
    if sizes is not None:
        entry["folder_bytes"] = sizes
    with open(path, "a") as handle:
        handle.write(json.dumps(entry) + "\n")
    return entry
