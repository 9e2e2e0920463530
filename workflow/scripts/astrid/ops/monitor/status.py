"""The states of a check (ok, warning, critical), a check's record and grading against
thresholds, and small readers the checks share.
"""

import csv
import math
from dataclasses import dataclass
from pathlib import Path

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


def graded(
    name: str,
    value: float | None,
    warning: float,
    critical: float,
    unit: str,
    higher_is_worse: bool = True,
) -> Check:
    """A check of ``value`` against its warning and critical thresholds.

    Parameters
    ----------
    name : str
        The check's name, also the first word of its message.
    value : float or None
        The measured value, in the unit of ``unit``; None when it could not be measured,
        which is critical.
    warning, critical : float
        The thresholds, in the unit of ``value``: reaching one gives that status.
    unit : str
        Written after the value and the bound in the message (" GB/day", "x", "" …).
    higher_is_worse : bool
        True when values at or above the thresholds are bad, False when values at or
        below them are (free disk space).

    Returns
    -------
    Check
        Ok, warning or critical, with the value and a message naming the bound it was
        compared with.
    """
    if value is None:
        return Check(name, CRITICAL, None, f"{name}: could not be measured")
    worse = (lambda a, b: a >= b) if higher_is_worse else (lambda a, b: a <= b)
    status = CRITICAL if worse(value, critical) else WARNING if worse(value, warning) else OK
    bound = {CRITICAL: critical, WARNING: warning, OK: warning}[status]
    relation = (">=" if higher_is_worse else "<=") if status != OK else ("<" if higher_is_worse else ">")
    return Check(name, status, float(value), f"{name} {value:.3g}{unit} ({relation} {bound:g}{unit})")


def read_tsv(path: Path | str) -> list[dict[str, str]]:
    """The rows of a tab-separated table with a header line.

    Parameters
    ----------
    path : pathlib.Path or str
        The table.

    Returns
    -------
    list of dict
        One dict per row, column → text; empty when the file is missing or unreadable
        (a check then has nothing to measure, which is not an error).
    """
    try:
        with open(path, newline="") as handle:
            return list(csv.DictReader(handle, delimiter="\t"))
    except OSError:
        return []


def to_number(text: str | float | None) -> float | None:
    """A table cell as a finite number.

    Parameters
    ----------
    text : str, float or None
        The cell.

    Returns
    -------
    float or None
        The number; None for an empty, missing or non-numeric cell, and for NaN or infinity.
    """
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def unix_time(mjd: float) -> float:
    """Unix time of a Modified Julian Date (UTC), leap seconds ignored as unix time does.

    Parameters
    ----------
    mjd : float
        Modified Julian Date (days).

    Returns
    -------
    float
        Seconds since 1970-01-01T00:00:00 UTC.
    """
    return (mjd - MJD_UNIX_EPOCH) * 86400.0
