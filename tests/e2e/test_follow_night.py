"""End to end: follow mode on a small simulated stream. A site's reference night is processed
by a batch run; the next night's calibration frames are there at dusk, and its science
frames are written into the night folder one by one by this test while the follower
(``python -m astrid.ops.follow``, as ``make follow`` runs it) watches. Each frame gets its
scores and alerts while the night goes on; the follower is stopped with SIGTERM part-way
and started again; no frame is processed twice and no alert is delivered twice (a real
webhook receiver on 127.0.0.1 counts them); the nightly batch afterwards finds nothing left
to do on the alert path.
"""

import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from nights import stream_site
from workflow_runs import REPO, jobs_in_dry_run, snakemake

pytestmark = pytest.mark.slow

PROFILE = str(REPO / "profiles" / "test")
FIELD = ("F01", 150.1, 2.2)
SEED = 20261206
NIGHT = "20261127"
# The frames between a raw frame and its alert (ingest runs per night, whenever one arrives).
ALERT_PATH = (
    "calibrate_exposure",
    "align_exposure",
    "subtract_reference",
    "detect_candidates",
    "score_candidates",
)
SITE = """align: {max_rms_px: 1.0}  # a 512² frame registers on a dozen stars
alerts:
  webhook: {enabled: true, url_env: FOLLOW_TEST_WEBHOOK}
  retry: {attempts: 1, backoff_seconds: 0.1}
"""


class Receiver(BaseHTTPRequestHandler):
    alert_ids = []

    def do_POST(self):  # noqa: N802 (http.server's naming)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        Receiver.alert_ids.extend(a["alert_id"] for a in body["alerts"])
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The site: a processed reference night, the new night's calibration frames in its
    folder and its science frames waiting (in ``arriving``) to be written there."""
    site = tmp_path_factory.mktemp("follow_site")
    arriving = stream_site(site, 512, 3, SEED, NIGHT, extra=SITE)
    # The batch of the reference night (references built; no science frame tonight yet).
    batch = snakemake(
        "results/references/F01/r.fits",
        "--profile",
        PROFILE,
        "--configfile",
        str(site / "site.yaml"),
        workdir=site,
    )
    assert batch.returncode == 0, batch.stdout[-3000:] + batch.stderr[-3000:]
    return site, arriving


def start_follower(site, log):
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "astrid.ops.follow",
            "--configfile",
            str(site / "site.yaml"),
            "--profile",
            PROFILE,
            "--poll-seconds",
            "0.5",
        ],
        cwd=site,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONPATH": str(REPO / "workflow" / "scripts")},
    )


def wait_for(path, follower, log_path, timeout=240):
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert follower.poll() is None, log_path.read_text()[-4000:]
        assert time.monotonic() < deadline, (
            f"{path} not made in {timeout} s:\n" + log_path.read_text()[-4000:]
        )
        time.sleep(0.5)
    return time.monotonic()


def test_frames_are_alerted_as_they_arrive_once_each_through_a_restart(site, monkeypatch):
    site, arriving = site
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    Receiver.alert_ids = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("FOLLOW_TEST_WEBHOOK", f"http://127.0.0.1:{server.server_address[1]}/hook")
    log_path = site / "follow.log"
    try:
        with open(log_path, "ab") as log:
            follower = start_follower(site, log)
            for number, source in enumerate(arriving):
                if number == 2:
                    # Stopped while the second frame's run is going (as at a SLURM time
                    # limit): that run finishes its running jobs and ends, the follower exits
                    # 0; started again, it goes on where the products say.
                    follower.send_signal(signal.SIGTERM)
                    assert follower.wait(timeout=120) == 0, log_path.read_text()[-4000:]
                    assert "follower stopped" in log_path.read_text()
                    follower = start_follower(site, log)
                runs_done = log_path.read_text().count("run done")
                shutil.copy(source, site / "raw" / NIGHT / source.name)  # lands now
                landed = time.monotonic()
                exposure = source.stem
                scored = site / "results" / "scored" / NIGHT / f"{exposure}.ecsv"
                done = wait_for(scored, follower, log_path)
                print(f"{exposure}: scored {done - landed:.1f} s after it landed")
            # The run that scored the last frame ends (its alerts delivered) before the
            # follower is stopped.
            deadline = time.monotonic() + 120
            while log_path.read_text().count("run done") < runs_done + 1:
                assert time.monotonic() < deadline, log_path.read_text()[-4000:]
                time.sleep(0.5)
            follower.send_signal(signal.SIGTERM)
            assert follower.wait(timeout=120) == 0, log_path.read_text()[-4000:]
    finally:
        server.shutdown()
    text = log_path.read_text()
    # Each frame went once through each step of the alert path: no later run (nor the run
    # after the restart) made its products again.
    jobs = re.findall(r"rule (\w+):\n(?:    .*\n)*?    wildcards: night=\d+, exposure=([\w-]+)", text)
    for exposure in (p.stem for p in arriving):
        done = [rule for rule, e in jobs if e == exposure]
        assert sorted(done) == sorted(ALERT_PATH), (exposure, done)
    # Every frame that arrived was alerted on, each alert delivered exactly once.
    with open(site / "results" / "alerts" / NIGHT / "alerts.tsv") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    alert_ids = sorted(int(row["alert_id"]) for row in rows)
    assert {row["exposure"] for row in rows} == {p.stem for p in arriving}, text[-4000:]
    assert sorted(Receiver.alert_ids) == alert_ids, (Receiver.alert_ids, alert_ids)
    assert "run failed" not in text, text[-4000:]
    # The nightly batch finds the alert path done: only work off it (training samples,
    # summaries) is left.
    dry = snakemake("--profile", PROFILE, "--configfile", str(site / "site.yaml"), "--dry-run", workdir=site)
    assert dry.returncode == 0, dry.stdout[-3000:] + dry.stderr[-3000:]
    left = jobs_in_dry_run(dry.stdout) if "Job stats:" in dry.stdout else {}
    assert not set(left) & {*ALERT_PATH, "write_alerts"}, left
