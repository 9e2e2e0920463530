"""Disk space and the growth of the raw and results folders."""

import os
import shutil
import time
from pathlib import Path

from astrid.ops.monitor.history import record_time
from astrid.ops.monitor.status import OK, Check, graded


def free_fraction(path: Path | str) -> float:
    """The free fraction of the disk that holds ``path``.

    Parameters
    ----------
    path : pathlib.Path or str
        An existing file or folder on the disk.

    Returns
    -------
    float
        Free bytes over the disk's total bytes, 0 to 1.
    """
    usage = shutil.disk_usage(path)
    return usage.free / usage.total


def check_storage(results: Path | str, thresholds: dict) -> Check:
    """Free disk space where the results are written, graded low-is-worse.

    Parameters
    ----------
    results : pathlib.Path or str
        The results folder; created if missing, so that its disk can be measured.
    thresholds : dict
        ``warning`` and ``critical`` free fractions (0 to 1).

    Returns
    -------
    Check
        ``free_disk_fraction``.
    """
    Path(results).mkdir(parents=True, exist_ok=True)
    fraction = free_fraction(results)
    return graded(
        "free_disk_fraction",
        fraction,
        thresholds["warning"],
        thresholds["critical"],
        "",
        higher_is_worse=False,
    )


def folder_bytes(path: Path | str) -> int:
    """Summed size (bytes) of the files under ``path``, symbolic links not followed; files
    that vanish while the folder is walked are skipped.

    Parameters
    ----------
    path : pathlib.Path or str
        The folder; a missing one holds 0 bytes.

    Returns
    -------
    int
        Bytes.
    """
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


def check_growth(
    folder: str,
    size: int,
    before: dict | None,
    thresholds: dict,
    window_hours: float,
    now: float | None = None,
) -> Check:
    """Growth (GB per day) of one folder since ``before``, the newest health record at least
    ``window_hours`` old; ok with no value while there is no such record.

    Parameters
    ----------
    folder : str
        The folder's key in the records' ``folder_bytes`` ("raw" or "results").
    size : int
        The folder's size now (bytes).
    before : dict or None
        The health record to compare with; None when there is none yet.
    thresholds : dict
        ``warning`` and ``critical`` growth (GB per day).
    window_hours : float
        How old ``before`` must be (hours); only written in the message here.
    now : float or None
        Unix time (s) of this run; the current time when None.

    Returns
    -------
    Check
        ``<folder>_growth_gb_per_day``.
    """
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
