"""Running a rule's work: logging to the rule's log file and a hard time limit."""

import logging
import shutil
import signal
import sys
from base64 import urlsafe_b64decode
from contextlib import contextmanager
from pathlib import Path


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


def unfinished_outputs(metadata=".snakemake"):
    """Outputs of jobs that Snakemake saw start and never finish (a run killed meanwhile):
    its markers in ``<metadata>/incomplete``, each the URL-safe base64 of the output's path
    (split into '@'-prefixed folders when longer than a file name may be)."""
    folder = Path(metadata) / "incomplete"
    found = []
    for marker in sorted(folder.rglob("*")) if folder.is_dir() else []:
        if not marker.is_file() or marker.name == "migration_underway":
            continue
        encoded = "".join(part.removeprefix("@") for part in marker.relative_to(folder).parts)
        try:
            found.append(Path(urlsafe_b64decode(encoded).decode()))
        except ValueError:
            continue
    return found


def remove_unfinished_outputs(metadata=".snakemake", log=None):
    """Delete the outputs of jobs a killed run left unfinished, so that they are made again.

    Snakemake (9.27) checks its incomplete markers only for the jobs it plans before the
    first checkpoint; the per-frame jobs after the ingest checkpoint join the plan later and
    an output they left would be kept as if it were finished. Called when a run starts
    (the Snakefile's onstart), while this run's lock keeps others out; if another run's
    locks are there too, nothing is touched. Returns the paths removed.
    """
    log = log or logging.getLogger("astrid.workflow")
    locks = {p.name.split(".")[0] for p in (Path(metadata) / "locks").glob("*.lock")}
    if len(locks) > 1:
        log.warning("another Snakemake holds locks in %s: unfinished outputs left as they are", metadata)
        return []
    removed = []
    for path in unfinished_outputs(metadata):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()
        else:
            continue
        removed.append(path)
        log.warning("removed %s: its job was interrupted before it finished; it will be made again", path)
    return removed
