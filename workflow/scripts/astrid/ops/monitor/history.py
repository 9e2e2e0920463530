"""The health history: one JSON line per monitoring run, and the transitions between runs."""

import calendar
import json
import os
import time
from dataclasses import asdict
from pathlib import Path

from astrid.ops.monitor.status import OK, TIME_FORMAT


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
