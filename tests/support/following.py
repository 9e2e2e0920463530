"""Follow mode driven as at a site: the follower (``python -m astrid.ops.follow``, as
``make follow`` runs it) watches a site's night folder while the test lands frames in it one
by one; a webhook receiver on 127.0.0.1 counts the alerts delivered; the jobs each frame went
through are read back from the follower's log (tests/e2e/test_follow_night.py on simulated
frames, tests/real/test_real_follow.py on real ones).
"""

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from workflow_runs import REPO, jobs_in_dry_run, snakemake

from astrid.ingest.files import exposure_id

# The steps between a raw frame and its scores, each once per frame (ingest runs per night
# whenever a frame arrives; alert packets and delivery per night).
ALERT_PATH = (
    "calibrate_exposure",
    "align_exposure",
    "subtract_reference",
    "detect_candidates",
    "score_candidates",
)


@contextmanager
def webhook_receiver(monkeypatch, variable):
    """A webhook on 127.0.0.1 whose URL is put in ``$variable``; yields the list of the
    alert ids it receives, in order."""
    received = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's naming)
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            received.extend(alert["alert_id"] for alert in body["alerts"])
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv(variable, f"http://127.0.0.1:{server.server_address[1]}/hook")
    try:
        yield received
    finally:
        server.shutdown()


def build_references(site, reference, profile):
    """The batch of the reference night, as a site runs it before following the next one:
    ``reference`` (a reference image's path) made with the site's config."""
    batch = snakemake(
        reference, "--profile", str(profile), "--configfile", str(site / "site.yaml"), workdir=site
    )
    assert batch.returncode == 0, batch.stdout[-3000:] + batch.stderr[-3000:]


def assert_the_batch_finds_the_alert_path_done(site, profile):
    """A dry run of the nightly batch after following plans no alert-path job: only work
    off it (training samples, summaries) is left."""
    dry = snakemake(
        "--profile", str(profile), "--configfile", str(site / "site.yaml"), "--dry-run", workdir=site
    )
    assert dry.returncode == 0, dry.stdout[-3000:] + dry.stderr[-3000:]
    left = jobs_in_dry_run(dry.stdout) if "Job stats:" in dry.stdout else {}
    assert not set(left) & {*ALERT_PATH, "write_alerts", "deliver_alerts"}, left


def start_follower(site, log, profile):
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "astrid.ops.follow",
            "--configfile",
            str(site / "site.yaml"),
            "--profile",
            str(profile),
            "--poll-seconds",
            "0.5",
        ],
        cwd=site,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONPATH": str(REPO / "workflow" / "scripts")},
    )


def wait_for(path, follower, log_path, timeout=240):
    """The time ``path`` appeared, failing if the follower ends or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert follower.poll() is None, log_path.read_text()[-4000:]
        assert time.monotonic() < deadline, (
            f"{path} not made in {timeout} s:\n" + log_path.read_text()[-4000:]
        )
        time.sleep(0.5)
    return time.monotonic()


def stop(follower, log_path):
    """SIGTERM, as at a SLURM time limit or `kill`: the follower must exit 0."""
    follower.send_signal(signal.SIGTERM)
    assert follower.wait(timeout=120) == 0, log_path.read_text()[-4000:]
    assert "follower stopped" in log_path.read_text()


def follow_night(site, night, arriving, land, profile, restart_before=None):
    """Follow ``night`` of ``site`` while ``land(source, night_dir)`` puts each of
    ``arriving`` in its folder, one after the other, each once the previous one is scored.

    With ``restart_before`` = n, the follower is stopped with SIGTERM while the run of frame
    n − 1 is going and started again before frame n lands. Returns the follower's log and
    each exposure's seconds from landing to its scores."""
    log_path = site / "follow.log"
    scored_after = {}
    with open(log_path, "ab") as log:
        follower = start_follower(site, log, profile)
        for number, source in enumerate(arriving):
            if number == restart_before:
                stop(follower, log_path)
                follower = start_follower(site, log, profile)
            land(source, site / "raw" / night)
            landed = time.monotonic()
            exposure = exposure_id(source)
            scored = site / "results" / "scored" / night / f"{exposure}.ecsv"
            scored_after[exposure] = wait_for(scored, follower, log_path) - landed
            print(f"{exposure}: scored {scored_after[exposure]:.1f} s after it landed")
        # The follower is idle with the last frame's alerts delivered before the stop.
        delivery = site / "results" / "alerts" / night / "delivery.tsv"
        deadline = time.monotonic() + 120
        while not (idle(log_path.read_text()) and newer(delivery, scored)):
            assert time.monotonic() < deadline, log_path.read_text()[-4000:]
            time.sleep(0.5)
        stop(follower, log_path)
    return log_path.read_text(), scored_after


def idle(log_text):
    """Whether every run the follower's log shows started has ended."""
    ended = sum(log_text.count(outcome) for outcome in ("run done", "run failed", "run stopped"))
    return log_text.count("running the alert path") == ended


def newer(path, than):
    return path.exists() and path.stat().st_mtime_ns >= than.stat().st_mtime_ns


def frame_jobs(log_text):
    """Exposure → the per-frame rules Snakemake ran for it, across all runs in the log."""
    jobs = {}
    for rule, exposure in re.findall(
        r"rule (\w+):\n(?:    .*\n)*?    wildcards: night=\d+, exposure=([\w.-]+)", log_text
    ):
        jobs.setdefault(exposure, []).append(rule)
    return jobs
