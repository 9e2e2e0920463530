"""Running a rule's work: logging to the rule's log file and a hard time limit."""

import logging
import signal
import sys
from contextlib import contextmanager


class ProcessingTimeout(Exception):
    """A frame's processing ran past ``processing_timeout_minutes``."""


def log_to_file(path):
    """Send this process's log records (and warnings) to the rule's log file."""
    logging.basicConfig(
        filename=path,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    logging.captureWarnings(True)


@contextmanager
def time_limit(minutes, what):
    """Raise :class:`ProcessingTimeout` if the block runs longer than ``minutes``.

    Uses ``SIGALRM``, so it must run in the main thread (as a rule script does). The night
    goes on: Snakemake (with ``keep-going``) fails this job only and records the reason.
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


def where_running():
    """Host, and the SLURM job, step and partition when run by SLURM: the first line of
    every rule's log, so that a job's log says where it ran."""
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
def logged(log_path):
    """Log to ``log_path``; an exception is written there (with traceback) and re-raised."""
    log_to_file(log_path)
    log = logging.getLogger("astrid.rule")
    log.info("running on %s", where_running())
    try:
        yield log
    except BaseException:
        logging.getLogger("astrid.rule").exception("rule failed")
        sys.stderr.flush()
        raise


def benchmark_jobs(benchmark_dir):
    """Every job's Snakemake benchmark ``<dir>/<rule>/…/*.tsv`` (or ``<dir>/<rule>.tsv``)
    as {rule, mtime, s, max_rss}, oldest first; the file's last row is the job's last run.
    Unreadable files are left out."""
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
