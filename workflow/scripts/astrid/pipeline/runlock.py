"""One AstrID run at a time in a working folder, and a live run told from a stale lock.

Snakemake's own lock (``.snakemake/locks``) outlives a killed run, so after a power cut it
must be removed with ``--unlock``; but ``--unlock`` removes it just as well while a run is
alive, and a second run then goes ahead beside the first. AstrID therefore holds a lock of
its own for as long as a run's Snakemake process lives: an exclusive ``flock`` on
``.snakemake/astrid-run.lock`` taken when the run starts (the Snakefile's ``onstart``).
The kernel releases it when that process ends, however it ends, so

* a second run in the same folder stops at once, saying which run holds the folder;
* ``python -m astrid.pipeline.runlock status`` (``make unlock`` runs it first) tells whether a live run
  holds the folder, i.e. whether Snakemake's lock is stale and safe to remove.

The scheduled runs and the follower's runs (astrid.ops.schedule, astrid.ops.follow) also
queue on ``.snakemake/astrid-queue.lock`` for their whole life, planning included: the
02:00 batch waits for the follower's run in progress instead of failing on the folder's
lock, and the follower waits for the batch.
"""

import argparse
import fcntl
import json
import os
import socket
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

LOCK_FILE = Path(".snakemake") / "astrid-run.lock"
QUEUE_FILE = Path(".snakemake") / "astrid-queue.lock"

_held = []  # the open lock file of this process's run: kept open for the run's lifetime


class RunActive(Exception):
    """Another live run holds the working folder."""


def _describe(info: dict) -> str:
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(info.get("started", 0)))
    return f"pid {info.get('pid')} on {info.get('host')}, started {started}: {info.get('command', '?')}"


def _read(handle) -> dict:
    handle.seek(0)
    try:
        return json.loads(handle.read() or "{}")
    except ValueError:
        return {}


def holder(workdir: str | os.PathLike = ".") -> dict | None:
    """The run that holds ``workdir`` ({pid, host, started, command}), or None when no live
    run does (Snakemake's lock, if any, is then stale). Takes nothing and writes nothing.

    Parameters
    ----------
    workdir : str or os.PathLike
        The run's working folder.

    Returns
    -------
    dict or None
        What the holding run wrote into the lock file (``pid``, ``host``, ``started`` in
        seconds since the epoch, ``command``); ``{"pid": "?", "host": "?"}`` when that cannot
        be read.
    """
    path = Path(workdir) / LOCK_FILE
    try:
        handle = open(path)  # noqa: SIM115 - closed below, after the lock test
    except FileNotFoundError:
        return None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read(handle) or {"pid": "?", "host": "?"}
        fcntl.flock(handle, fcntl.LOCK_UN)
        return None


def hold(workdir: str | os.PathLike = ".") -> None:
    """Take the folder's run lock for the life of this process.

    Parameters
    ----------
    workdir : str or os.PathLike
        The run's working folder; the lock is ``.snakemake/astrid-run.lock`` in it.

    Raises
    ------
    RunActive
        When a live run holds it, naming that run.
    """
    path = Path(workdir) / LOCK_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+")  # noqa: SIM115 - held open until the process ends
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        info = _read(handle)
        handle.close()
        raise RunActive(
            f"another AstrID run is active in {Path(workdir).resolve()} ({_describe(info)}); it holds "
            "the folder until it ends. Wait for it: do not remove its lock with --unlock."
        ) from None
    handle.seek(0)
    handle.truncate()
    info = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": time.time(),
        "command": " ".join(sys.argv),
    }
    handle.write(json.dumps(info))
    handle.flush()
    _held.append(handle)


@contextmanager
def queued(
    workdir: str | os.PathLike = ".", stop: Callable[[], bool] = lambda: False, poll_seconds: float = 0.5
) -> Iterator[bool]:
    """Wait for the folder's run queue (``.snakemake/astrid-queue.lock``, the lock the
    scheduled entries take with ``flock -w``) and hold it inside the ``with`` block.

    Parameters
    ----------
    workdir : str or os.PathLike
        The runs' working folder.
    stop : callable
        Polled while waiting; when it returns True the wait ends without the lock.
    poll_seconds : float
        Seconds between tries.

    Yields
    ------
    bool
        Whether the queue is held (False: ``stop`` ended the wait).
    """
    path = Path(workdir) / QUEUE_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if stop():
                    yield False
                    return
                time.sleep(poll_seconds)
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def main(argv: Sequence[str] | None = None) -> int:
    """``status``: say whether a live run holds the folder (exit 1) or not (exit 0).

    Parameters
    ----------
    argv : sequence of str, optional
        Command-line arguments; ``sys.argv[1:]`` when None.

    Returns
    -------
    int
        The exit status: 1 when a live run holds the folder, else 0.
    """
    parser = argparse.ArgumentParser(
        prog="python -m astrid.pipeline.runlock", description=__doc__.split("\n")[0]
    )
    parser.add_argument("command", choices=["status"])
    parser.add_argument("--directory", default=".", help="the working folder (default: here)")
    args = parser.parse_args(argv)
    info = holder(args.directory)
    if info is None:
        print(f"no AstrID run is active in {Path(args.directory).resolve()}: a Snakemake lock there is stale")
        return 0
    print(f"an AstrID run is active in {Path(args.directory).resolve()}: {_describe(info)}")
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
