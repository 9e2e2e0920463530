"""End to end: the documented dev demo (`make run ASTRID_ENV=dev`: 512² pixels, one field,
one band) through every stage and the report, in a temp folder: a minute or two on 2 cores.
The full-size figures come from `make run`.
"""

import csv
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from workflow_runs import REPO, jobs_in_dry_run, snakemake

pytestmark = pytest.mark.slow

# The documented dev demo (`make run ASTRID_ENV=dev`): 512² pixels, one field, one band.
DEV = REPO / "config" / "environments" / "dev.yaml"
PROFILE = str(REPO / "profiles" / "test")


def run(workdir, *args):
    result = snakemake(
        "--profile", PROFILE, "--configfile", str(workdir / "demo.yaml"), *args, workdir=workdir
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("demo")
    (workdir / "demo.yaml").write_bytes(DEV.read_bytes())
    first = run(workdir, "--config", "max_observations=3")
    calibrated_first = sorted((workdir / "results" / "calibrated").glob("*/*.fits"))
    stamps = {p: p.stat().st_mtime_ns for p in calibrated_first}
    second = run(workdir)
    return {
        "dir": workdir,
        "first": first,
        "second": second,
        "calibrated_first": calibrated_first,
        "stamps": stamps,
    }


def test_max_observations_takes_the_oldest_frames_first(demo_run):
    workdir = demo_run["dir"]
    first = [p.stem for p in demo_run["calibrated_first"]]
    assert len(first) == 3
    manifests = pd.concat(
        pd.read_csv(p, sep="\t", dtype=str) for p in sorted((workdir / "results" / "manifest").glob("*.tsv"))
    )
    science = manifests[manifests["frame_type"] == "science"].sort_values("mjd")
    assert first == list(science["exposure"][:3])


def test_the_next_run_processes_the_rest_and_keeps_what_was_done(demo_run):
    workdir = demo_run["dir"]
    all_calibrated = sorted((workdir / "results" / "calibrated").glob("*/*.fits"))
    assert len(all_calibrated) == 7  # 3 reference, 3 new, 1 follow-up
    for path, stamp in demo_run["stamps"].items():
        assert path.stat().st_mtime_ns == stamp, f"{path.name} was redone"


def test_defective_frames_are_quarantined_and_the_night_completes(demo_run):
    workdir = demo_run["dir"]
    quarantine = pd.read_csv(workdir / "results" / "quarantine" / "20261127.tsv", sep="\t")
    assert sorted(quarantine["reason_code"]) == ["UNKNOWN_TYPE", "UNREADABLE"]
    summary = re.sub(r"<[^>]+>", "", (workdir / "results" / "qa" / "20261127" / "summary.html").read_text())
    assert "UNREADABLE" in summary and "truncated" in summary
    assert "2 quarantined" in summary


def test_calibrated_products_carry_planes_and_provenance(demo_run):
    path = sorted((demo_run["dir"] / "results" / "calibrated" / "20261127").glob("*.fits"))[0]
    with fits.open(path) as hdul:
        assert [h.name for h in hdul] == ["PRIMARY", "SCI", "VAR", "MASK"]
        header = hdul[0].header
        for key in ("RAWFILE", "RAWSHA", "MBIAS", "MDARK", "MFLAT", "ASTRIDV", "CFGHASH"):
            assert header[key]
        assert header["MFLAT"] == "flat_r.fits"
        assert np.all(hdul["VAR"].data > 0)
        assert header["SKYPULL"] == pytest.approx(1.0, abs=0.05)


def test_a_rerun_has_nothing_to_do(demo_run):
    result = run(demo_run["dir"], "-n")
    assert "Nothing to be done" in result.stdout + result.stderr


def test_a_config_change_reruns_only_what_depends_on_it(demo_run):
    workdir = demo_run["dir"]
    (workdir / "change.yaml").write_text("calibration:\n  cosmic_rays:\n    sigclip: 5.0\n")
    result = run(workdir, "-n", "--configfile", str(workdir / "demo.yaml"), str(workdir / "change.yaml"))
    jobs = jobs_in_dry_run(result.stdout)
    assert jobs.pop("calibrate_exposure") == 7
    # The champion exists: new samples are made and the night re-scored and re-checked,
    # but no new model is trained outside the drift check.
    after_detection = {
        "detect_candidates",
        "summarize_differences",
        "make_training_samples",
        "score_candidates",
        "check_drift",
        "decide_retraining",
        "summarize_model",
        "summarize_scores",
        "write_alerts",
        "deliver_alerts",
        "plot_alerts",
        "summarize_latency",
        "summarize_operations",
        # The night summary lists each frame's differencing status (qa/<night>/difference.tsv).
        "summarize_night",
        "all",
    }
    before_detection = {"summarize_calibration", "build_reference", "align_exposure"}
    assert set(jobs) == before_detection | {"subtract_reference"} | after_detection
    # A detection threshold change reruns detection and what follows, nothing before it.
    (workdir / "threshold.yaml").write_text("detect:\n  threshold: 6.0\n")
    result = run(workdir, "-n", "--configfile", str(workdir / "demo.yaml"), str(workdir / "threshold.yaml"))
    jobs = jobs_in_dry_run(result.stdout)
    assert set(jobs) == after_detection
    differenced = len(list((workdir / "results" / "difference").glob("*/*.fits")))
    assert differenced == 4  # three new frames and one follow-up
    for per_frame in ("detect_candidates", "make_training_samples", "score_candidates"):
        assert jobs[per_frame] == differenced, per_frame


def bright_transients(workdir, products):
    """(table, its matches of truth transients of expected S/N ≥ 10) per frame's table
    under results/<products>/20261127."""
    from astropy.table import Table

    from astrid.realbogus.evaluate import match_transients

    transients = Table.read(workdir / "results" / "demo" / "truth" / "20261127.fits", hdu="TRANSIENTS")
    catalog = Table.read(workdir / "resources" / "catalogs" / "F01.ecsv")
    for path in sorted((workdir / "results" / products / "20261127").glob("*.ecsv")):
        table = Table.read(path, format="ascii.ecsv")
        matches = match_transients(table, transients, catalog, "r")
        yield table, matches[matches["expected_snr"] >= 10]


def test_demo_transients_are_in_the_candidate_tables(demo_run):
    checked = 0
    for candidates, bright in bright_transients(demo_run["dir"], "candidates"):
        assert "QCODE" not in candidates.meta, candidates.meta.get("QREASON")
        assert candidates.meta["SCORNOIS"] == pytest.approx(1.0, abs=0.05)
        checked += len(bright)
        assert bright["found"].all(), bright[~bright["found"]]
    assert checked >= 2


def test_report_is_self_contained_with_summary_and_plots(demo_run):
    workdir = demo_run["dir"]
    report = workdir / "report.html"
    run(workdir, "--report", str(report))
    text = report.read_text()
    assert report.stat().st_size > 100_000
    for needle in (
        "Night summary",
        "Calibration",
        "Difference imaging",
        "summary.html",
        "masters.png",
        "calibration.png",
        "difference.png",
        "candidates.png",
    ):
        assert needle in text, needle


def test_the_starter_is_champion_first_and_the_demo_model_beats_it_through_the_gate(demo_run):
    """The shipped starter model became v1 and champion of the empty store; the demo's own
    model was compared with it on the same test split, passed the gate as v2, and scores
    every frame."""
    from astropy.table import Table

    from astrid.realbogus.registry import champion, client

    workdir = demo_run["dir"]
    uri = f"sqlite:///{workdir / 'results' / 'mlflow' / 'mlflow.db'}"
    starter = client(uri).get_model_version("astrid-realbogus-dev", "1")
    assert starter.tags["trigger"] == "starter" and starter.tags["gate"] == "promoted"
    training = json.loads((workdir / "results" / "models" / "realbogus" / "training.json").read_text())
    assert training["champion_before"] == 1 and training["champion_metrics"] is not None
    assert training["metrics"]["f1"] >= training["champion_metrics"]["f1"]
    assert training["promoted"] and training["champion_after"] == training["version"] == 2
    version, run_id = champion(uri, "astrid-realbogus-dev")
    assert (version, run_id) == (2, training["run_id"])
    scored = sorted((workdir / "results" / "scored" / "20261127").glob("*.ecsv"))
    assert len(scored) == 3
    for path in scored:
        table = Table.read(path, format="ascii.ecsv")
        candidates = Table.read(
            workdir / "results" / "candidates" / "20261127" / path.name, format="ascii.ecsv"
        )
        assert list(table["candidate_id"]) == list(candidates["candidate_id"])
        assert table.meta["RBVERS"] == 2 and table.meta["RBRUNID"] == run_id
        assert np.all((table["rb_score"] >= 0) & (table["rb_score"] <= 1))
        assert np.all(table["rb_model_version"] == 2)
    drift = json.loads((workdir / "results" / "drift" / "20261127.json").read_text())
    assert drift["model_version"] == 2 and drift["figures"]["samples"] > 0
    retraining = json.loads((workdir / "results" / "models" / "realbogus" / "retraining.json").read_text())
    # The follow-up night is not in the training set; too small here to be judged for drift.
    assert retraining["new_nights"] == ["20261128"] and retraining["champion"] == 2
    assert not retraining["retrain"], retraining["reasons"]


def test_bright_demo_transients_score_real(demo_run):
    checked = 0
    for table, bright in bright_transients(demo_run["dir"], "scored"):
        for row in bright[bright["found"]]:
            assert table["rb_score"][row["candidate"]] >= table.meta["RBTHRESH"], row
            checked += 1
    assert checked >= 2


def alert_rows(workdir, night):
    with open(workdir / "results" / "alerts" / night / "alerts.tsv") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def test_alerts_cover_the_transients_link_across_nights_and_are_emitted_once(demo_run):
    from astropy.table import Table

    from astrid.alerts.packets import SCHEMA_VERSION, read_packets

    workdir = demo_run["dir"]
    transients = Table.read(workdir / "results" / "demo" / "truth" / "20261127.fits", hdu="TRANSIENTS")
    catalog = Table.read(workdir / "resources" / "catalogs" / "F01.ecsv")
    first, followup = alert_rows(workdir, "20261127"), alert_rows(workdir, "20261128")
    assert first and followup

    def nearest(rows, ra, dec):
        return min(
            rows,
            key=lambda r: np.hypot((float(r["ra"]) - ra) * np.cos(np.radians(dec)), float(r["dec"]) - dec),
        )

    def separation(row, ra, dec):
        return 3600 * np.hypot((float(row["ra"]) - ra) * np.cos(np.radians(dec)), float(row["dec"]) - dec)

    # Every transient bright enough on the difference has an alert on both nights, and the
    # follow-up night's alert belongs to the object the first night made.
    for t in transients[[tid.startswith("F01-") for tid in transients["transient_id"]]]:
        a, b = nearest(first, t["ra"], t["dec"]), nearest(followup, t["ra"], t["dec"])
        if separation(a, t["ra"], t["dec"]) > 1.5:
            continue  # too faint on this small demo
        assert separation(b, t["ra"], t["dec"]) < 1.5, t["transient_id"]
        assert b["object_id"] == a["object_id"] and int(b["n_previous"]) >= 1
    # No alert on a static star of the catalog (the variables are not static).
    variables = set(transients["host_id"][transients["kind"] == "variable"])
    stars = catalog[(catalog["kind"] == "star") & ~np.isin(catalog["source_id"], list(variables))]
    for row in first + followup:
        distance = 3600 * np.hypot(
            (stars["ra"] - float(row["ra"])) * np.cos(np.radians(float(row["dec"]))),
            stars["dec"] - float(row["dec"]),
        )
        assert distance.min() > 1.0, row
    # Packets read back with plain fastavro and carry their schema version.
    (packet,) = read_packets(workdir / followup[0]["packet"])
    assert packet["schema_version"] == SCHEMA_VERSION and packet["alert_id"] == int(followup[0]["alert_id"])
    # A rerun of the alert stage emits nothing new and keeps every alert.
    run(workdir, "--forcerun", "write_alerts")
    again = alert_rows(workdir, "20261127") + alert_rows(workdir, "20261128")
    assert sorted(r["alert_id"] for r in again) == sorted(r["alert_id"] for r in first + followup)
    assert not any(r["first_emitted"] == "True" for r in again)


def test_the_report_times_each_frame_from_exposure_to_its_first_alert(demo_run):
    latency = pd.read_csv(demo_run["dir"] / "results" / "qa" / "20261127" / "latency.tsv", sep="\t")
    assert len(latency) == 3  # the three differenced frames of the night
    frames_with_alerts = {row["exposure"] for row in alert_rows(demo_run["dir"], "20261127")}
    timed = latency.dropna(subset=["latency_minutes"])
    assert set(timed["exposure"]) == frames_with_alerts
    # The simulated night lies before this run: written after the exposure ended.
    assert (timed["latency_minutes"] > 0).all()
    # And the figure of its distribution, beside the table in the report.
    assert (demo_run["dir"] / "results" / "qa" / "20261127" / "latency.png").stat().st_size > 0


def test_every_scheduled_job_dry_runs(demo_run):
    import os
    import subprocess

    from astrid.ops import schedule

    workdir = demo_run["dir"]
    env = {**os.environ, "PYTHONPATH": str(REPO / "workflow" / "scripts")}
    # The free-disk check measures the disk this test runs on, which is the host's, not the
    # site's: a nearly full CI disk must not read as a failed schedule (tests/unit/test_monitor.py
    # checks the thresholds themselves).
    host = workdir / "host-disk.yaml"
    host.write_text("monitoring:\n  free_disk_fraction: {warning: 0.0, critical: 0.0}\n")
    for job, (_, target) in schedule.JOBS.items():
        if job == "follow":
            continue  # it follows a site's raw_dir until stopped: tests/e2e/test_follow_night.py runs it
        command = schedule.command(
            job, schedule.Installation(), workdir, PROFILE, [workdir / "demo.yaml", host]
        )
        if isinstance(target, list):
            command.append("--dry-run")
        done = subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True)
        assert done.returncode == 0, f"{job}: {done.stdout[-2000:]}{done.stderr[-2000:]}"
        if job == "monitor":
            assert "free_disk_fraction" in done.stdout  # measured and reported, just not judged here


def test_the_report_renders_in_a_headless_browser(demo_run):
    """Chromium (Debian's; .ci/run installs it) loads the report without a script error and
    shows every section; a screenshot is kept (ASTRID_TEST_ARTIFACTS, else the test folder)."""
    import os
    import shutil
    import subprocess

    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if not browser:
        pytest.skip("no Chromium here (Debian's chromium package; .ci/run installs it)")
    workdir = demo_run["dir"]
    report = workdir / "report-browser.html"
    run(workdir, "--report", str(report))
    artifacts = Path(os.environ.get("ASTRID_TEST_ARTIFACTS", workdir))
    artifacts.mkdir(parents=True, exist_ok=True)
    screenshot = artifacts / "report.png"
    common = [browser, "--headless=new", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=15000"]
    page = subprocess.run(
        [*common, "--enable-logging=stderr", "--v=0", "--dump-dom", report.as_uri()],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert page.returncode == 0, page.stderr[-2000:]
    errors = [line for line in page.stderr.splitlines() if "CONSOLE" in line and "Uncaught" in line]
    assert not errors, errors
    for section in (
        "1. Night summary",
        "2. Calibration",
        "3. Difference imaging",
        "4. Real/bogus",
        "5. Alerts",
    ):
        assert section in page.stdout, f"{section} missing from the rendered report"
    shot = subprocess.run(
        [
            *common,
            "--hide-scrollbars",
            "--window-size=1400,1800",
            f"--screenshot={screenshot}",
            report.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert shot.returncode == 0 and screenshot.stat().st_size > 50_000, shot.stderr[-2000:]
    # The figures travel inside the page (a self-contained file), one PNG per figure.
    html = report.read_text()
    assert html.count("image/png") >= 10 and "realbogus.png" in html and "alerts.tsv" in html
    assert "model.png" in html and "operations.png" in html  # the model's history, the runtimes


def test_reading_the_workflow_changes_nothing_in_results(demo_run):
    """A dry-run (the workflow read, its DAG planned) with results/ made read-only leaves every
    file as it was: same names, sizes, times and bytes. Root ignores the permission bits, so
    the snapshot comparison is what proves it; the read-only bits catch a non-root writer."""
    import hashlib
    import os
    import stat

    workdir = demo_run["dir"]
    results = workdir / "results"

    def snapshot():
        return {
            str(p.relative_to(results)): (
                p.stat().st_size,
                p.stat().st_mtime_ns,
                hashlib.sha256(p.read_bytes()).hexdigest(),
            )
            for p in sorted(results.rglob("*"))
            # A reader of the objects database (the count of undelivered alerts) marks its
            # read in SQLite's shared-memory index, by SQLite's protocol: not a product.
            if p.is_file() and not p.name.endswith("-shm")
        }

    before = snapshot()
    modes = {p: p.stat().st_mode for p in [results, *results.rglob("*")]}
    try:
        for path, mode in modes.items():
            path.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
        result = run(workdir, "-n", "--forceall")
    finally:
        for path, mode in sorted(modes.items(), key=lambda item: -len(item[0].parts)):
            os.chmod(path, mode)
    assert "This was a dry-run" in result.stdout + result.stderr
    assert snapshot() == before
