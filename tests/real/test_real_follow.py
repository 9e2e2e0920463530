"""Follow mode on real frames: the DECam archive site (tests/real/test_real_nights.py) with its
reference night of 2016 processed by a batch run, then the five frames of 2018 landing in
the night folder one by one while the follower (``python -m astrid.ops.follow``, as
``make follow`` runs it) watches. Each frame is differenced and scored as it lands, each
alert reaches a real webhook on 127.0.0.1 once, and the nightly batch afterwards finds the
alert path done. Skipped, saying why, without ../shared/data/real (set ASTRID_SHARED).
"""

import csv

import pytest
from following import (
    ALERT_PATH,
    assert_the_batch_finds_the_alert_path_done,
    build_references,
    follow_night,
    frame_jobs,
    webhook_receiver,
)
from real_sites import ARCHIVE_SITE, DECAM_FILTER, decam_frames, link
from workflow_runs import REPO

pytestmark = [pytest.mark.real_data, pytest.mark.slow]
PROFILE = str(REPO / "profiles" / "test")
NIGHT = "20180804"
WEBHOOK = """alerts:
  webhook: {enabled: true, url_env: REAL_FOLLOW_WEBHOOK}
  retry: {attempts: 1, backoff_seconds: 0.1}
"""


@pytest.fixture(scope="module")
def site(real_data, tmp_path_factory):
    """The site with its reference built from the 2016 frames; the 2018 frames to land."""
    site = tmp_path_factory.mktemp("real_follow_site")
    for frame in decam_frames(real_data, "18"):
        link(frame, site / "raw" / "20160818")
    (site / "raw" / NIGHT).mkdir()
    config = ARCHIVE_SITE.format(raw=site / "raw", decam_filter=DECAM_FILTER) + WEBHOOK
    (site / "site.yaml").write_text(config)
    build_references(site, "results/references/p318d1-66d0/i.fits", PROFILE)
    return site, decam_frames(real_data, "04")


def test_real_frames_are_differenced_scored_and_alerted_as_they_land(site, monkeypatch):
    site, arriving = site
    with webhook_receiver(monkeypatch, "REAL_FOLLOW_WEBHOOK") as delivered:
        text, scored_after = follow_night(site, NIGHT, arriving, link, PROFILE)
    exposures = sorted(scored_after)
    assert len(exposures) == 5
    jobs = frame_jobs(text)
    for exposure in exposures:
        assert sorted(jobs.get(exposure, [])) == sorted(ALERT_PATH), (exposure, jobs.get(exposure))
        assert (site / "results" / "difference" / NIGHT / f"{exposure}.fits").exists()
    with open(site / "results" / "alerts" / NIGHT / "alerts.tsv") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    assert rows, text[-4000:]
    assert {row["exposure"] for row in rows} <= set(exposures)
    assert sorted(delivered) == sorted(int(row["alert_id"]) for row in rows)
    assert "run failed" not in text, text[-4000:]
    assert_the_batch_finds_the_alert_path_done(site, PROFILE)
