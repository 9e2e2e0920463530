"""Running a rule's work: logging to the rule's log file and a hard time limit."""

import logging
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path


class ProcessingTimeout(Exception):
    """A frame's processing ran past ``processing_timeout_minutes``."""


def log_to_file(path: "Path | str") -> None:
    """Send this process's log records (and warnings) to the rule's log file.

    Parameters
    ----------
    path : pathlib.Path or str
        The log file (appended to); replaces any handler the root logger had.
    """
    logging.basicConfig(
        filename=path,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    logging.captureWarnings(True)


@contextmanager
def time_limit(minutes: float, what: str) -> Iterator[None]:
    """Raise :class:`ProcessingTimeout` if the block runs longer than ``minutes``.

    Uses ``SIGALRM``, so it must run in the main thread (as a rule script does). The night
    goes on: Snakemake (with ``keep-going``) fails this job only and records the reason.

    Parameters
    ----------
    minutes : float
        The limit in minutes (rounded to whole seconds, at least 1 s).
    what : str
        What the block does, for the message (e.g. the exposure id).

    Yields
    ------
    None
        The block runs under the limit; the previous ``SIGALRM`` handler is restored after.

    Raises
    ------
    ProcessingTimeout
        When the block is still running after ``minutes``.
    """
    seconds = max(1, int(round(minutes * 60)))

    def expire(signum, frame):
        raise ProcessingTimeout(f"{what} took longer than processing_timeout_minutes = {minutes:g}; stopped")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def where_running() -> str:
    """Host, and the SLURM job, step and partition when run by SLURM: the first line of
    every rule's log, so that a job's log says where it ran.

    Returns
    -------
    str
        ``"host <name>"``, followed by ``", SLURM job <id> step <step> partition <name>"``
        under SLURM.
    """
    import os
    import socket

    place = f"host {socket.gethostname()}"
    job = os.environ.get("SLURM_JOB_ID")
    if job:
        step = os.environ.get("SLURM_STEP_ID", "batch")
        partition = os.environ.get("SLURM_JOB_PARTITION", "?")
        place += f", SLURM job {job} step {step} partition {partition}"
    return place


@contextmanager
def logged(log_path: "Path | str") -> Iterator[logging.Logger]:
    """Log to ``log_path``; an exception is written there (with traceback) and re-raised.

    Parameters
    ----------
    log_path : pathlib.Path or str
        The rule's log file.

    Yields
    ------
    logging.Logger
        The ``astrid.rule`` logger, after a first line saying where the job runs.
    """
    log_to_file(log_path)
    log = logging.getLogger("astrid.rule")
    log.info("running on %s", where_running())
    try:
        yield log
    except BaseException:
        logging.getLogger("astrid.rule").exception("rule failed")
        sys.stderr.flush()
        raise


def benchmark_jobs(benchmark_dir: "Path | str") -> list[dict]:
    """Every job's Snakemake benchmark ``<dir>/<rule>/…/*.tsv`` (or ``<dir>/<rule>.tsv``)
    as {rule, mtime, s, max_rss}, oldest first; the file's last row is the job's last run.
    Unreadable files are left out.

    Parameters
    ----------
    benchmark_dir : pathlib.Path or str
        The benchmarks folder.

    Returns
    -------
    list of dict
        ``rule`` (str), ``mtime`` (file modification time, seconds since the epoch), ``s``
        (wall-clock seconds) and ``max_rss`` (MB, as Snakemake writes it), sorted by
        ``mtime``.
    """
    import csv
    from pathlib import Path

    jobs = []
    for path in Path(benchmark_dir).rglob("*.tsv"):
        rule = path.relative_to(benchmark_dir).parts[0].removesuffix(".tsv")
        try:
            with open(path, newline="") as handle:
                last = list(csv.DictReader(handle, delimiter="\t"))[-1]
            jobs.append(
                {
                    "rule": rule,
                    "mtime": path.stat().st_mtime,
                    "s": float(last["s"]),
                    "max_rss": float(last["max_rss"]),
                }
            )
        except (OSError, KeyError, IndexError, ValueError):
            continue
    return sorted(jobs, key=lambda job: job["mtime"])
