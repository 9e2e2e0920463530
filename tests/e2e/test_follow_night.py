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
import shutil

import pytest
from following import (
    ALERT_PATH,
    assert_the_batch_finds_the_alert_path_done,
    build_references,
    follow_night,
    frame_jobs,
    webhook_receiver,
)
from nights import stream_site
from workflow_runs import REPO

pytestmark = pytest.mark.slow

PROFILE = str(REPO / "profiles" / "test")
SEED = 20261206
NIGHT = "20261127"
SITE = """align: {max_rms_px: 1.0}  # a 512² frame registers on a dozen stars
alerts:
  webhook: {enabled: true, url_env: FOLLOW_TEST_WEBHOOK}
  retry: {attempts: 1, backoff_seconds: 0.1}
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The site: a processed reference night, the new night's calibration frames in its
    folder and its science frames waiting (in ``arriving``) to be written there."""
    site = tmp_path_factory.mktemp("follow_site")
    arriving = stream_site(site, 512, 3, SEED, NIGHT, extra=SITE)
    # The batch of the reference night (references built; no science frame tonight yet).
    build_references(site, "results/references/F01/r.fits", PROFILE)
    return site, arriving


def test_frames_are_alerted_as_they_arrive_once_each_through_a_restart(site, monkeypatch):
    site, arriving = site
    with webhook_receiver(monkeypatch, "FOLLOW_TEST_WEBHOOK") as delivered:
        # Stopped while the second frame's run is going (as at a SLURM time limit): that run
        # finishes its running jobs and ends, the follower exits 0; started again, it goes on
        # where the products say.
        text, _ = follow_night(
            site, NIGHT, arriving, lambda source, night_dir: shutil.copy(source, night_dir), PROFILE, 2
        )
    # Each frame went once through each step of the alert path: no later run (nor the run
    # after the restart) made its products again.
    jobs = frame_jobs(text)
    for exposure in (p.stem for p in arriving):
        assert sorted(jobs.get(exposure, [])) == sorted(ALERT_PATH), (exposure, jobs.get(exposure))
    # Every frame that arrived was alerted on, each alert delivered exactly once.
    with open(site / "results" / "alerts" / NIGHT / "alerts.tsv") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    alert_ids = sorted(int(row["alert_id"]) for row in rows)
    assert {row["exposure"] for row in rows} == {p.stem for p in arriving}, text[-4000:]
    assert sorted(delivered) == alert_ids, (delivered, alert_ids)
    assert "run failed" not in text, text[-4000:]
    assert_the_batch_finds_the_alert_path_done(site, PROFILE)
