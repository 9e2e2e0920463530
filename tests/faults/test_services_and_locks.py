"""Services that are down fail fast and by name, credentials never leak, a live run is never
run over, and scheduling and reporting errors are one clear line.

The servers are real sockets on 127.0.0.1: a port nothing listens on (connection refused)
and a listener that accepts and never answers (a host that hangs), the two ways a service
is down.
"""

import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager

import pytest
from nights import small_night
from workflow_runs import REPO, snakemake

pytestmark = pytest.mark.slow
PYTHON_ENV = {**os.environ, "PYTHONPATH": str(REPO / "workflow" / "scripts")}
TIMEOUT = 3  # services.timeout_seconds in these tests
WITHIN = 15  # s: the most a down service may cost before its message (issue target)


def closed_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def hanging_server():
    """A port that accepts connections and never says a word."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    try:
        yield server.getsockname()[1]
    finally:
        server.close()


def dry_run(workdir, env, *args):
    (workdir / "small.yaml").write_text(small_night() + f"services: {{timeout_seconds: {TIMEOUT}}}\n")
    start = time.monotonic()
    result = snakemake("-n", "--configfile", str(workdir / "small.yaml"), *args, workdir=workdir, env=env)
    return result, time.monotonic() - start


def everything_written(workdir, result):
    """What the run printed and what Snakemake logged in the folder."""
    logs = [p.read_text(errors="replace") for p in (workdir / ".snakemake" / "log").glob("*.log")]
    return result.stdout + result.stderr + "".join(logs)


@pytest.mark.parametrize("server", ["refused", "hanging"])
def test_an_mlflow_server_that_is_down_is_named_within_seconds_and_its_password_never_shown(tmp_path, server):
    with hanging_server() as hanging:
        port = closed_port() if server == "refused" else hanging
        env = {**os.environ, "MLFLOW_TRACKING_URI": f"http://alice:s3cret-pw@127.0.0.1:{port}"}
        result, elapsed = dry_run(tmp_path, env)
    text = everything_written(tmp_path, result)
    assert result.returncode != 0 and elapsed < WITHIN, (elapsed, text[-2000:])
    assert f"MLflow tracking server (MLFLOW_TRACKING_URI) at http://127.0.0.1:{port}" in text
    assert "s3cret-pw" not in text and "alice" not in text


@pytest.mark.parametrize("server", ["refused", "hanging"])
def test_a_postgresql_server_that_is_down_is_named_within_seconds_without_its_password(tmp_path, server):
    with hanging_server() as hanging:
        port = closed_port() if server == "refused" else hanging
        env = {**os.environ, "ASTRID_DATABASE_URL": f"postgresql://bob:pg-s3cret@127.0.0.1:{port}/astrid"}
        result, elapsed = dry_run(tmp_path, env)
    text = everything_written(tmp_path, result)
    assert result.returncode != 0 and elapsed < WITHIN, (elapsed, text[-2000:])
    assert f"object database postgresql://127.0.0.1:{port}/astrid" in text
    assert "pg-s3cret" not in text


@pytest.mark.parametrize("channel", ["webhook", "email"])
def test_a_delivery_channel_that_hangs_gives_up_within_the_timeout_naming_it(monkeypatch, channel):
    from astrid.alerts import delivery

    monkeypatch.setenv("ASTRID_SERVICE_TIMEOUT", str(TIMEOUT))
    with hanging_server() as port:
        monkeypatch.setenv("HANGING_HOOK", f"http://127.0.0.1:{port}/secret-token")
        chosen = (
            delivery.Webhook("HANGING_HOOK")
            if channel == "webhook"
            else delivery.Email("127.0.0.1", port, "astrid@localhost", ("observer@example.org",))
        )
        start = time.monotonic()
        ok, attempts, error = delivery.send_with_retries(
            chosen, [], delivery.Retry(attempts=3, backoff_seconds=1)
        )
        elapsed = time.monotonic() - start
    assert not ok and elapsed < TIMEOUT + 2, elapsed
    named = "webhook (the URL in $HANGING_HOOK)" if channel == "webhook" else f"SMTP server 127.0.0.1:{port}"
    assert named in error and "secret-token" not in error


def test_a_bad_schedule_in_the_environment_is_one_line_naming_the_variable():
    env = {**PYTHON_ENV, "ASTRID_OBSERVATION_SCHEDULE": "61 * * * *"}
    done = subprocess.run(
        [sys.executable, "-m", "astrid.ops.schedule"], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "ASTRID_OBSERVATION_SCHEDULE" in lines[0] and "minute '61'" in lines[0]


@contextmanager
def live_run(workdir):
    """A process that holds the folder's run lock, as a running Snakemake does."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\nfrom astrid.pipeline import runlock\nrunlock.hold(sys.argv[1])\n"
            "print('held', flush=True)\ntime.sleep(600)",
            str(workdir),
        ],
        env=PYTHON_ENV,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        yield holder
    finally:
        holder.kill()
        holder.wait()


def test_unlocking_during_a_live_run_does_not_let_a_second_run_go_ahead(tmp_path):
    (tmp_path / "small.yaml").write_text(small_night())
    with live_run(tmp_path):
        status = subprocess.run(
            [sys.executable, "-m", "astrid.pipeline.runlock", "status", "--directory", str(tmp_path)],
            env=PYTHON_ENV,
            capture_output=True,
            text=True,
        )
        assert status.returncode == 1 and "an AstrID run is active" in status.stdout
        assert snakemake("--unlock", workdir=tmp_path).returncode == 0
        second = snakemake("--cores", "1", "--configfile", str(tmp_path / "small.yaml"), workdir=tmp_path)
    assert second.returncode != 0
    assert "another AstrID run is active" in second.stdout + second.stderr
    assert not (tmp_path / "results" / "demo" / "raw").exists()  # no job ran
    after = subprocess.run(
        [sys.executable, "-m", "astrid.pipeline.runlock", "status", "--directory", str(tmp_path)],
        env=PYTHON_ENV,
        capture_output=True,
        text=True,
    )
    assert after.returncode == 0 and "stale" in after.stdout


def test_a_report_asked_for_during_a_live_run_says_so(tmp_path):
    (tmp_path / "small.yaml").write_text(small_night())
    with live_run(tmp_path):
        result = snakemake(
            "--configfile",
            str(tmp_path / "small.yaml"),
            "--report",
            str(tmp_path / "r.html"),
            workdir=tmp_path,
        )
    assert result.returncode != 0
    assert "a run is active in this folder" in result.stdout + result.stderr
    assert not (tmp_path / "r.html").exists()
