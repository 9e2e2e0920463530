"""Follow mode: alerts as the night goes on, from frames processed as they arrive.

    python -m astrid.ops.follow [--night YYYYMMDD] [--configfile site.yaml] [--profile DIR]   # make follow

The follower watches the night folder (the newest ``YYYYMMDD`` folder under ``raw_dir``
unless ``--night`` names one). Whenever the set of frames that have finished arriving
changes (a frame counts once it holds every byte its headers declare, or else once it has
not been modified for ``ingest.settle_seconds``: astrid.ingest.files.has_arrived), it
runs Snakemake once on that night's alert path only: ingest, calibration, alignment,
difference, detection, scores, alert packets and their delivery
(``results/alerts/<night>/delivery.tsv``). One run at a time; the next waits for it.

What makes it safe to leave running:

* Snakemake decides what to make from the products on disk, so a frame already processed
  is never processed again, by the follower, after its restart or by the nightly batch;
  alerts are written to the alert database once and delivered once (astrid.alerts).
* The training samples, drift checks and summaries are not on the alert path: the nightly
  batch (the ``observation`` schedule) makes them, and finds the alert path already done.
* While another AstrID run holds the folder (the nightly batch) the follower waits; its
  runs and the scheduled ones queue on one lock (astrid.pipeline.runlock.queued), so the
  02:00 batch waits for the follower's run in progress rather than failing.
* SIGTERM or SIGINT stops it cleanly: a run in progress is asked to stop (Snakemake then
  removes what its killed jobs half wrote) and the follower exits 0. ``--rerun-incomplete``
  of the profiles redoes those jobs on the next start.
* A store without a real/bogus champion gets the starter model first
  (``realbogus.starter_model``), so that the first frames are scored at once rather than
  after a training.

Each run's outcome is logged (and appended to ``logs/follow/<night>.log`` by the scheduled
entry, see astrid.ops.schedule).
"""

import argparse
import logging
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from astrid.ingest.files import has_arrived, looks_like_fits
from astrid.pipeline import runlock
from astrid.pipeline.config import SNAKEFILE

log = logging.getLogger("astrid.follow")

NIGHT_NAME = re.compile(r"^[0-9]{8}$")


def alert_path_targets(night: str) -> list[str]:
    """The files whose making is a night's alert path: the delivery table needs the alert
    packets, which need every arrived frame's scores, and so on back to the raw frames.

    Parameters
    ----------
    night : str
        The night, ``YYYYMMDD``.

    Returns
    -------
    list of str
        Snakemake targets, relative to the working folder.
    """
    return [f"results/alerts/{night}/delivery.tsv"]


def latest_night(raw_dir: Path | str) -> str | None:
    """The newest night folder (``YYYYMMDD``) under ``raw_dir``, None when there is none.

    Parameters
    ----------
    raw_dir : pathlib.Path or str
        The folder of one sub-folder of raw frames per night.

    Returns
    -------
    str or None
    """
    raw_dir = Path(raw_dir)
    if not raw_dir.is_dir():
        return None
    nights = sorted(p.name for p in raw_dir.iterdir() if p.is_dir() and NIGHT_NAME.match(p.name))
    return nights[-1] if nights else None


def arrived_frames(
    night_dir: Path | str, settle_seconds: float, now: float | None = None, when_complete: bool = True
) -> frozenset:
    """The FITS files of a night folder that have finished arriving (by the ingest's own
    rule, astrid.ingest.files.has_arrived, so that a frame the follower counts is one the
    ingest reads): (name, size, mtime in ns) of each.

    Parameters
    ----------
    night_dir : pathlib.Path or str
        The night's raw folder; a missing folder holds nothing.
    settle_seconds : float
        ``ingest.settle_seconds``: seconds without modification after which a file counts
        as complete.
    now : float, optional
        Seconds since the epoch; the current time when None.
    when_complete : bool
        ``ingest.arrive_when_complete``: a file holding every byte its headers declare
        counts at once.

    Returns
    -------
    frozenset of tuple
        One (name, size, mtime_ns) per file that has arrived.
    """
    now = time.time() if now is None else now
    night_dir = Path(night_dir)
    if not night_dir.is_dir():
        return frozenset()
    frames = set()
    for path in night_dir.iterdir():
        if not looks_like_fits(path):
            continue
        try:
            info = path.stat()
        except OSError:  # removed meanwhile, or a dangling link
            continue
        if has_arrived(path, info.st_mtime, settle_seconds, now, when_complete):
            frames.add((path.name, info.st_size, info.st_mtime_ns))
    return frozenset(frames)


def snakemake_command(
    targets: Sequence[str],
    profile: Path | str,
    configfiles: Sequence[Path | str] = (),
    python: str = sys.executable,
    snakefile: Path | str = SNAKEFILE,
) -> list[str]:
    """The Snakemake command of one follow run.

    Parameters
    ----------
    targets : sequence of str
        What to make (:func:`alert_path_targets`).
    profile : pathlib.Path or str
        The Snakemake profile folder.
    configfiles : sequence of pathlib.Path or str
        Site configs (one ``--configfile`` flag for all: a second flag replaces the first).
    python : str
        The interpreter with AstrID's packages.
    snakefile : pathlib.Path or str
        The workflow.

    Returns
    -------
    list of str
    """
    # The targets go first: --configfile takes every word after it.
    extra = ["--configfile", *map(str, configfiles)] if configfiles else []
    return [python, "-m", "snakemake", *targets, "-s", str(snakefile), "--profile", str(profile), *extra]


@dataclass
class Follower:
    """The watch loop; :meth:`poll` is one look at the night folder.

    Attributes
    ----------
    raw_dir : pathlib.Path
        Folder of the nights' raw folders.
    settle_seconds : float
        ``ingest.settle_seconds``.
    when_complete : bool
        ``ingest.arrive_when_complete`` (:func:`arrived_frames`).
    command : callable
        Night → the command of one run (:func:`snakemake_command` of its targets).
    night : str or None
        The night to follow; None: the newest night folder, looked up at every poll.
    retry_seconds : float
        After a failed run, how long before the same frames are tried again (a new frame
        triggers a run at once).
    busy : callable
        Returns a description of another AstrID run holding the folder, or None
        (astrid.pipeline.runlock.holder); the follower waits while one does.
    launch : callable
        Starts a command (with ``env=`` the run's environment) and returns its process
        (``subprocess.Popen``; a benchmark passes its own working folder and log).
    environment : callable
        Variables to add to each run's environment, asked before each run
        (:func:`champion_environment`: the champion, so that the run need not ask MLflow).
    workdir : pathlib.Path or None
        The runs' working folder, whose run queue each run waits for and holds
        (astrid.pipeline.runlock.queued); None: no queue.
    """

    raw_dir: Path
    settle_seconds: float
    command: Callable[[str], list[str]]
    when_complete: bool = True
    night: str | None = None
    retry_seconds: float = 300.0
    busy: Callable[[], dict | None] = lambda: None
    launch: Callable[..., subprocess.Popen] = subprocess.Popen
    environment: Callable[[], dict[str, str]] = dict
    workdir: Path | None = None
    stopping: bool = False
    child: subprocess.Popen | None = None
    _done: dict = field(default_factory=dict)  # night → frames the last good run saw
    _failed: dict = field(default_factory=dict)  # night → (frames, time) of the last failure
    _waiting_for: dict | None = None  # the other run last seen holding the folder

    def stop(self, signum: int | None = None, frame: FrameType | None = None) -> None:
        """Stop after the run in progress, which is asked to stop now (a signal handler).

        Parameters
        ----------
        signum : int, optional
            The signal received.
        frame : types.FrameType, optional
            The frame it interrupted (unused).
        """
        self.stopping = True
        if self.child is not None and self.child.poll() is None:
            log.info("stopping: asking the run in progress (pid %d) to stop", self.child.pid)
            self.child.send_signal(signal.SIGTERM)

    def _queue(self):
        if self.workdir is None:
            return nullcontext(True)
        return runlock.queued(self.workdir, lambda: self.stopping)

    def poll(self, now: float | None = None) -> int | None:
        """Look at the night folder once and run the workflow if frames have arrived since
        the last good run.

        Parameters
        ----------
        now : float, optional
            Seconds since the epoch; the current time when None.

        Returns
        -------
        int or None
            The run's exit status; None when nothing was run.
        """
        now = time.time() if now is None else now
        night = self.night or latest_night(self.raw_dir)
        if night is None:
            return None
        frames = arrived_frames(self.raw_dir / night, self.settle_seconds, now, self.when_complete)
        if not frames or frames == self._done.get(night):
            return None
        failed = self._failed.get(night)
        if failed and failed[0] == frames and now - failed[1] < self.retry_seconds:
            return None
        holder = self.busy()
        if holder is not None:
            if holder != self._waiting_for:
                log.info("waiting: another run holds the folder (%s)", holder.get("command", "?"))
            self._waiting_for = holder
            return None
        self._waiting_for = None
        new = len(frames - self._done.get(night, frozenset()))
        with self._queue() as ours:
            if not ours or self.stopping:  # stopped while waiting, or just before the run
                return None
            log.info("night %s: %d frame(s) arrived, running the alert path", night, new)
            started = time.monotonic()
            self.child = self.launch(self.command(night), env={**os.environ, **self.environment()})
            status = self.child.wait()
            self.child = None
        took = time.monotonic() - started
        if status == 0:
            self._done[night] = frames
            self._failed.pop(night, None)
            log.info("night %s: run done in %.1f s", night, took)
        elif self.stopping:
            log.info("night %s: run stopped after %.1f s (exit %d)", night, took, status)
        else:
            self._failed[night] = (frames, now)
            log.warning(
                "night %s: run failed after %.1f s (exit %d); tried again when a frame arrives or in %.0f s",
                night,
                took,
                status,
                self.retry_seconds,
            )
        return status

    def run(self, poll_seconds: float, once: bool = False) -> int:
        """Poll until stopped (or once).

        Parameters
        ----------
        poll_seconds : float
            Seconds between looks at the night folder.
        once : bool
            Look once (a cron entry of its own, or a test) and return that run's status.

        Returns
        -------
        int
            0 when stopped by a signal or when ``once`` found nothing or succeeded, else the
            failed run's exit status.
        """
        while not self.stopping:
            status = self.poll()
            if once:
                return status or 0
            deadline = time.monotonic() + poll_seconds
            while not self.stopping and time.monotonic() < deadline:
                time.sleep(min(0.2, poll_seconds))
        log.info("follower stopped")
        return 0


def champion_environment(model_name: str, results: Path | str = "results") -> dict[str, str]:
    """The champion for the next run, as the environment variable a run inherits from its
    main process (``planning.CHAMPION_ENV``): the run then does not import MLflow to ask
    the registry itself (seconds of every run's start). Asked before each run, so a new
    champion is used from the next run on.

    Parameters
    ----------
    model_name : str
        The registered model (``realbogus.model_name``).
    results : pathlib.Path or str
        The runs' results folder (its embedded store, unless ``MLFLOW_TRACKING_URI`` names
        a server).

    Returns
    -------
    dict of str to str
        ``{ASTRID_CHAMPION: "<version>:<run id>"}`` (empty values without a champion); empty
        when the registry cannot be read, so that the run asks it and says why.
    """
    from astrid.pipeline.planning import CHAMPION_ENV
    from astrid.realbogus.registry import RegistryError, champion, tracking_uri
    from astrid.realbogus.scoring import ARCHITECTURE

    try:
        version, run_id = champion(tracking_uri(results), model_name, ARCHITECTURE)
    except RegistryError as error:
        log.warning("%s; the run will ask the registry itself", error)
        return {}
    return {CHAMPION_ENV: f"{version or ''}:{run_id or ''}"}


def ensure_champion(config: dict, repository: Path) -> int | None:
    """Register the starter model as champion when the model store has none, so that the
    first frames of a new site are scored at once; nothing when the store has a champion
    or no starter model is configured.

    Parameters
    ----------
    config : dict
        The workflow configuration (``realbogus`` section).
    repository : pathlib.Path
        The workflow's repository, where a relative starter path is also looked up.

    Returns
    -------
    int or None
        The version registered, or None.
    """
    from astrid.pipeline.planning import starter_model_path
    from astrid.realbogus.starter import register_starter

    realbogus = config["realbogus"]
    path = starter_model_path(realbogus["starter_model"], repository)
    if path is None:
        return None
    return register_starter(path, realbogus["model_name"], realbogus["experiment"])


def main(argv: Sequence[str] | None = None) -> int:
    """Follow the night until SIGTERM or SIGINT (or look once with ``--once``).

    Parameters
    ----------
    argv : sequence of str, optional
        Command-line arguments; ``sys.argv[1:]`` when None.

    Returns
    -------
    int
        The exit status: 0 when stopped by a signal.
    """
    from astrid.pipeline.config import WORKFLOW_DIR, ConfigError, load_config

    parser = argparse.ArgumentParser(prog="python -m astrid.ops.follow", description=__doc__.split("\n")[0])
    parser.add_argument("--night", help="the night to follow, YYYYMMDD (default: the newest night folder)")
    parser.add_argument("--configfile", action="append", default=[], help="site config, as for Snakemake")
    parser.add_argument("--profile", default="profiles/default", help="Snakemake profile of the runs")
    parser.add_argument("--poll-seconds", type=float, default=0.5, help="seconds between looks (default 0.5)")
    parser.add_argument(
        "--retry-seconds", type=float, default=300.0, help="wait before retrying a failed run (default 300)"
    )
    parser.add_argument("--once", action="store_true", help="look once, run if needed, and exit")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", stream=sys.stdout)
    if args.night and not NIGHT_NAME.match(args.night):
        parser.error(f"--night {args.night!r} is not YYYYMMDD")
    try:
        config = load_config(args.configfile)
    except ConfigError as error:
        raise SystemExit(f"astrid.ops.follow: {error}") from None
    if config["demo"]["enabled"]:
        raise SystemExit(
            "astrid.ops.follow: demo.enabled is true; the demo writes its nights whole. Follow a "
            "site's raw_dir with a site config (demo: {enabled: false})"
        )
    ensure_champion(config, WORKFLOW_DIR.parent)
    follower = Follower(
        raw_dir=Path(config["raw_dir"]),
        settle_seconds=config["ingest"]["settle_seconds"],
        when_complete=config["ingest"]["arrive_when_complete"],
        command=lambda night: snakemake_command(alert_path_targets(night), args.profile, args.configfile),
        night=args.night,
        retry_seconds=args.retry_seconds,
        busy=runlock.holder,
        workdir=Path("."),
        environment=lambda: champion_environment(config["realbogus"]["model_name"]),
    )
    signal.signal(signal.SIGTERM, follower.stop)
    signal.signal(signal.SIGINT, follower.stop)
    log.info(
        "following %s (pid %d); stop with SIGTERM or Ctrl-C",
        Path(config["raw_dir"]) / (args.night or "<newest night>"),
        os.getpid(),
    )
    return follower.run(args.poll_seconds, args.once)


if __name__ == "__main__":
    raise SystemExit(main())
