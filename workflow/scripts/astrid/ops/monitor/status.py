"""The states of a check (ok, warning, critical), a check's record and grading against
thresholds, and small readers the checks share.
"""

import csv
import math
from dataclasses import dataclass

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


def read_tsv(path):
    try:
        with open(path, newline="") as handle:
            return list(csv.DictReader(handle, delimiter="\t"))
    except OSError:
        return []


def to_number(text):
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def unix_time(mjd):
    return (mjd - MJD_UNIX_EPOCH) * 86400.0
