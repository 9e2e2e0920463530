"""The follower's choices: which frames have arrived, when a run is due, waiting for another
run, retrying a failure, and stopping (its runs are real child processes here; the workflow
itself is followed in tests/e2e/test_follow_night.py)."""

import os
import signal
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from astrid.ops import follow
from astrid.pipeline.planning import starter_model_path

NOW = 2_000_000_000.0


def frame(folder, name, age):
    path = Path(folder) / name
    path.write_bytes(b"SIMPLE  =                    T" + b" " * 2850)
    os.utime(path, (NOW - age, NOW - age))
    return path


def test_settled_or_complete_fits_files_count_as_arrived(tmp_path):
    frame(tmp_path, "a.fits", 60)
    frame(tmp_path, "b.fits.fz", 10)
    frame(tmp_path, "c.fits", 2)  # still being written: its header has not ended
    frame(tmp_path, ".d.fits", 60)  # hidden: a copy in progress
    frame(tmp_path, "notes.txt", 60)
    fits.PrimaryHDU(np.zeros((8, 8), np.float32)).writeto(tmp_path / "e.fits")  # whole, just now
    os.utime(tmp_path / "e.fits", (NOW, NOW))
    names = {name for name, _, _ in follow.arrived_frames(tmp_path, 5.0, NOW)}
    assert names == {"a.fits", "b.fits.fz", "e.fits"}
    names = {name for name, _, _ in follow.arrived_frames(tmp_path, 5.0, NOW, when_complete=False)}
    assert names == {"a.fits", "b.fits.fz"}
    assert follow.arrived_frames(tmp_path / "missing", 5.0, NOW) == frozenset()


def test_the_newest_night_folder_is_followed(tmp_path):
    assert follow.latest_night(tmp_path) is None
    for name in ("20261126", "20261127", "notes", "2026112"):
        (tmp_path / name).mkdir()
    (tmp_path / "20261128").write_text("a file, not a night")
    assert follow.latest_night(tmp_path) == "20261127"


def recorder(tmp_path, exit_status=0, seconds=0.0):
    """A command that appends the night it was run for (and its ASTRID_CHAMPION) to
    runs.txt, sleeps, then exits."""
    script = (
        "import os, sys, time; open(sys.argv[1], 'a').write(sys.argv[2] + "
        "os.environ.get('ASTRID_CHAMPION', '') + '\\n'); "
        f"time.sleep({seconds}); sys.exit({exit_status})"
    )
    return lambda night: [sys.executable, "-c", script, str(tmp_path / "runs.txt"), night]


def runs(tmp_path):
    path = tmp_path / "runs.txt"
    return path.read_text().split() if path.exists() else []


def test_a_run_happens_when_frames_arrive_and_not_again_for_the_same_frames(tmp_path):
    raw = tmp_path / "raw"
    (raw / "20261127").mkdir(parents=True)
    follower = follow.Follower(raw, 5.0, recorder(tmp_path))
    assert follower.poll(NOW) is None  # nothing has arrived
    frame(raw / "20261127", "f1.fits", 60)
    assert follower.poll(NOW) == 0 and runs(tmp_path) == ["20261127"]
    assert follower.poll(NOW) is None  # the same frames: nothing to do
    frame(raw / "20261127", "f2.fits", 1)
    assert follower.poll(NOW) is None  # f2 is still arriving
    assert follower.poll(NOW + 10) == 0 and runs(tmp_path) == ["20261127"] * 2


def test_a_failed_run_is_retried_when_a_frame_arrives_or_after_the_retry_time(tmp_path):
    raw = tmp_path / "raw"
    (raw / "20261127").mkdir(parents=True)
    frame(raw / "20261127", "f1.fits", 60)
    follower = follow.Follower(raw, 5.0, recorder(tmp_path, exit_status=1), retry_seconds=300)
    assert follower.poll(NOW) == 1
    assert follower.poll(NOW + 10) is None  # not in a hot loop
    frame(raw / "20261127", "f2.fits", 60)
    assert follower.poll(NOW + 20) == 1  # a new frame: tried at once
    assert follower.poll(NOW + 400) == 1  # and again after the retry time
    assert len(runs(tmp_path)) == 3


def test_the_follower_waits_while_another_run_holds_the_folder(tmp_path):
    raw = tmp_path / "raw"
    (raw / "20261127").mkdir(parents=True)
    frame(raw / "20261127", "f1.fits", 60)
    holder = {"command": "snakemake --profile profiles/default (the nightly batch)"}
    follower = follow.Follower(raw, 5.0, recorder(tmp_path), busy=lambda: holder)
    assert follower.poll(NOW) is None and runs(tmp_path) == []
    holder = None
    assert follower.poll(NOW) == 0 and runs(tmp_path) == ["20261127"]


def test_sigterm_stops_the_run_in_progress_and_the_follower_returns_0(tmp_path):
    raw = tmp_path / "raw"
    (raw / "20261127").mkdir(parents=True)
    frame(raw / "20261127", "f1.fits", 60)
    follower = follow.Follower(raw, 0.0, recorder(tmp_path, seconds=60))
    threading.Timer(1.0, follower.stop, (signal.SIGTERM, None)).start()
    started = time.monotonic()
    assert follower.run(poll_seconds=0.1) == 0
    assert time.monotonic() - started < 30  # the 60 s run was stopped
    assert follower.stopping and follower.child is None


def test_the_follow_command_runs_the_alert_path_of_the_night_with_every_config_file():
    from snakemake.cli import get_argument_parser

    command = follow.snakemake_command(
        follow.alert_path_targets("20261127"), "profiles/slurm", ["prod.yaml", "site.yaml"], "/opt/py"
    )
    assert command[:3] == ["/opt/py", "-m", "snakemake"]
    args = get_argument_parser().parse_args(command[3:])
    assert args.configfile == [Path("prod.yaml"), Path("site.yaml")]
    assert args.targets == ["results/alerts/20261127/delivery.tsv"]


def test_a_demo_config_is_refused_with_the_reason():
    with pytest.raises(SystemExit, match="demo.enabled is true"):
        follow.main(["--once"])


def test_the_starter_model_is_found_here_or_in_the_repository(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    repository = tmp_path / "repo"
    (repository / "resources").mkdir(parents=True)
    (repository / "resources" / "starter.pt").write_bytes(b"x")
    assert starter_model_path("resources/starter.pt", repository) == str(
        repository / "resources" / "starter.pt"
    )
    (tmp_path / "resources").mkdir()
    (tmp_path / "resources" / "starter.pt").write_bytes(b"x")
    assert starter_model_path("resources/starter.pt", repository) == "resources/starter.pt"
    assert starter_model_path("resources/none.pt", repository) is None
    assert starter_model_path("", repository) is None


def test_a_run_waits_in_the_queue_the_scheduled_runs_share(tmp_path):
    import subprocess

    from astrid.pipeline.runlock import QUEUE_FILE

    raw = tmp_path / "raw"
    (raw / "20261127").mkdir(parents=True)
    frame(raw / "20261127", "f1.fits", 60)
    (tmp_path / QUEUE_FILE).parent.mkdir()
    # The 02:00 batch, as its crontab entry runs it, holds the queue for 3 s.
    batch = subprocess.Popen(["flock", str(tmp_path / QUEUE_FILE), "sleep", "3"])
    time.sleep(0.5)
    follower = follow.Follower(raw, 5.0, recorder(tmp_path), workdir=tmp_path)
    started = time.monotonic()
    assert follower.poll(NOW) == 0 and runs(tmp_path) == ["20261127"]
    assert time.monotonic() - started > 2.0  # it waited for the batch
    assert batch.wait() == 0
    # Stopped while waiting: no run.
    batch = subprocess.Popen(["flock", str(tmp_path / QUEUE_FILE), "sleep", "30"])
    time.sleep(0.5)
    frame(raw / "20261127", "f2.fits", 60)
    threading.Timer(1.0, follower.stop).start()
    assert follower.poll(NOW) is None and runs(tmp_path) == ["20261127"]
    batch.kill()


def test_each_run_is_told_the_champion_so_it_need_not_ask_mlflow(tmp_path):
    raw = tmp_path / "raw"
    (raw / "20261127").mkdir(parents=True)
    frame(raw / "20261127", "f1.fits", 60)
    champions = iter(["1:aaa", "2:bbb"])
    follower = follow.Follower(
        raw, 5.0, recorder(tmp_path), environment=lambda: {"ASTRID_CHAMPION": next(champions)}
    )
    assert follower.poll(NOW) == 0
    frame(raw / "20261127", "f2.fits", 60)
    assert follower.poll(NOW) == 0
    assert runs(tmp_path) == ["202611271:aaa", "202611272:bbb"]  # asked again before each run


def test_a_store_without_champion_gets_the_starter_and_the_runs_are_told_it(tmp_path, monkeypatch):
    from workflow_runs import REPO

    from astrid.pipeline.config import load_config

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    config = load_config([], REPO / "config" / "config.yaml")
    name = config["realbogus"]["model_name"]
    assert follow.champion_environment(name) == {"ASTRID_CHAMPION": ":"}  # no store yet
    assert follow.ensure_champion(config, REPO) == 1
    assert follow.ensure_champion(config, REPO) is None  # a champion is there now
    version, run_id = follow.champion_environment(name)["ASTRID_CHAMPION"].split(":")
    assert version == "1" and len(run_id) == 32
