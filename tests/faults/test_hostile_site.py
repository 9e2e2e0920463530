"""A hostile but realistic site: nothing stops the night, nothing is lost.

One site folder is made from two small simulated nights (two fields, one band, 512²), and
the new night is salted with what real observatories' folders hold: damaged frames of every
kind (a cut-short fpack file and an amplifier extension without its gain among them), odd file names, one exposure written twice, a field name far too long, a field named
only by its pointing, a link to nothing, a folder named like a frame, a frame truncated by a
copy that later completes, a frame still being written, and a catalog folder that lacks one
field's catalog. The site runs as a user would (a site config, `snakemake --profile
profiles/test`); the tests read the products on disk. A second run after the truncated frame
is completed and the arriving one is written processes both, and every alert stays emitted
exactly once.
"""

import csv
import gzip
import os
import re
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from nights import small_night
from workflow_runs import REPO, snakemake

pytestmark = pytest.mark.slow

PROFILE = str(REPO / "profiles" / "test")
REFERENCE_NIGHT, NIGHT = "20261101", "20261127"
LONG_OBJECT = "NGC 1234 field observed for the long-period variable survey " * 6  # > 255 chars
# Two fields, one band, the smallest frames that go through every stage.
SIMULATION = small_night(
    reference_exposures=2,
    new_exposures=3,
    defects=False,
    fields="[{name: F01, ra: 150.1, dec: 2.2}, {name: F02, ra: 210.8, dec: 54.35}]",
)
SITE = """demo: {{enabled: false}}
raw_dir: {raw}
reference: {{nights: ["{reference}"], catalog_dir: {catalogs}}}
ingest: {{settle_seconds: 60}}
align: {{max_rms_px: 1.0}}
realbogus:
  min_f1_score: 0.0
  threshold: 0.01  # nearly every candidate is called real: what is tested is that alerts go out
  injection: {{per_megapixel: 200.0, min_separation: 20.0}}
  samples: {{passes: 1, spoiled_passes: 1}}
  training: {{epochs: 2, batch_size: 16}}
"""


def an_hour_ago(*paths):
    for path in paths:
        then = time.time() - 3600
        os.utime(path, (then, then))


def copy_with(source, target, **keywords):
    """A copy of a raw frame with header keywords changed (None removes one)."""
    with fits.open(source) as hdul:
        header = hdul[0].header.copy()
        for key, value in keywords.items():
            if value is None:
                header.remove(key, ignore_missing=True)
            else:
                header[key] = value
        fits.PrimaryHDU(hdul[0].data, header=header).writeto(target)
    an_hour_ago(target)
    return target


def salt(night, catalogs):
    """Put every kind of trouble into the new night's folder; return the files that a later
    run completes (the truncated one) or finds written whole (the arriving one)."""
    science = sorted(p for p in night.glob("*.fits") if fits.getheader(p).get("IMAGETYP") == "Light Frame")
    good = science[0]
    frame = fits.getdata(good)
    # Damaged frames (what already held before this suite: it must keep holding).
    (night / "zero.fits").write_bytes(b"")
    (night / "random.fits").write_bytes(np.random.default_rng(1).bytes(40_000))
    (night / "corrupt.fits.gz").write_bytes(gzip.compress(good.read_bytes())[:5000])
    fits.PrimaryHDU(np.zeros((3, 20, 20), np.float32), header=fits.getheader(good)).writeto(
        night / "cube.fits"
    )
    fits.PrimaryHDU(np.full(frame.shape, np.nan, np.float32), header=fits.getheader(good)).writeto(
        night / "nan.fits"
    )
    copy_with(good, night / "badexp.fits", EXPTIME="thirty")
    copy_with(good, night / "baddate.fits", **{"DATE-OBS": "yesterday evening"})
    copy_with(good, night / "notype.fits", IMAGETYP=None)
    # A tile-compressed frame cut short, and a two-amplifier frame whose second amplifier
    # does not say its gain.
    packed = night / "packed.fits.fz"
    fits.HDUList([fits.PrimaryHDU(), fits.CompImageHDU(frame, fits.getheader(good))]).writeto(packed)
    packed.write_bytes(packed.read_bytes()[: packed.stat().st_size // 2])
    amplifiers = [fits.PrimaryHDU(header=fits.getheader(good))]
    half = frame.shape[1] // 2
    for i, columns in enumerate((slice(0, half), slice(half, 2 * half))):
        header = fits.Header({"EXTNAME": f"AMP{i + 1}", "RDNOISE": 5.0, "SATURATE": 60000.0})
        header["DETSEC"] = f"[{columns.start + 1}:{columns.stop},1:{frame.shape[0]}]"
        if i == 0:
            header["GAIN"] = 1.6
        amplifiers.append(fits.ImageHDU(frame[:, columns], header=header))
    for key in ("GAIN", "RDNOISE", "SATURATE", "BIASSEC", "TRIMSEC"):
        amplifiers[0].header.remove(key, ignore_missing=True)
    fits.HDUList(amplifiers).writeto(night / "amps.fits")
    # Names and entries that used to stop every night.
    copy_with(science[1], night / "frame é 1.fits")
    copy_with(science[2], night / "a.fits")
    (night / "a.fits.gz").write_bytes(gzip.compress((night / "a.fits").read_bytes(), mtime=0))
    copy_with(science[0], night / "long.fits", OBJECT=LONG_OBJECT)
    copy_with(science[1], night / "pointing.fits", OBJECT=None)
    (night / "x.fits").symlink_to(night / "gone.fits")
    (night / "y.fits").mkdir()
    # A copy cut short, and a frame still being written when the run starts.
    late = copy_with(science[2], night / "late.fits")
    complete = late.read_bytes()
    late.write_bytes(complete[: len(complete) // 3])
    an_hour_ago(late, *[p for p in night.iterdir() if not p.is_symlink()])
    arriving = copy_with(science[0], night / "arriving.fits")
    whole = arriving.read_bytes()
    arriving.write_bytes(whole[: 2 * len(whole) // 3])  # two thirds written, just now
    # The site's catalogs: F01's only.
    catalogs.mkdir()
    return {"late": (late, complete), "arriving": (arriving, whole)}


def run(site, *args, timeout=900):
    return snakemake(
        "--profile", PROFILE, "--configfile", str(site / "site.yaml"), *args, workdir=site, timeout=timeout
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    simulation = tmp_path_factory.mktemp("simulation")
    (simulation / "demo.yaml").write_text(SIMULATION)
    targets = [
        f"results/demo/raw/{REFERENCE_NIGHT}",
        f"results/demo/raw/{NIGHT}",
        "resources/catalogs/F01.ecsv",
    ]
    made = snakemake(
        *targets, "--profile", PROFILE, "--configfile", str(simulation / "demo.yaml"), workdir=simulation
    )
    assert made.returncode == 0, made.stderr[-3000:]
    site = tmp_path_factory.mktemp("site")
    shutil.copytree(simulation / "results" / "demo" / "raw", site / "raw")
    later = salt(site / "raw" / NIGHT, site / "catalogs")
    shutil.copy(simulation / "resources" / "catalogs" / "F01.ecsv", site / "catalogs" / "F01.ecsv")
    (site / "site.yaml").write_text(
        SITE.format(raw=site / "raw", reference=REFERENCE_NIGHT, catalogs=site / "catalogs")
    )
    first = run(site)
    return {"dir": site, "first": first, "later": later}


def table(site, *parts):
    return pd.read_csv(site["dir"].joinpath("results", *parts), sep="\t", dtype=str, keep_default_na=False)


def alert_rows(site):
    with open(site["dir"] / "results" / "alerts" / NIGHT / "alerts.tsv") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def test_the_night_completes_whatever_its_folder_holds(site):
    result = site["first"]
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert (site["dir"] / "results" / "qa" / NIGHT / "summary.html").exists()
    assert (site["dir"] / "results" / "alerts" / NIGHT / "delivery.tsv").exists()


def test_every_bad_frame_and_entry_is_quarantined_with_its_reason(site):
    quarantine = table(site, "quarantine", f"{NIGHT}.tsv")
    reasons = dict(zip(quarantine["exposure"], quarantine["reason_code"], strict=True))
    assert reasons == {
        "zero": "UNREADABLE",
        "random": "UNREADABLE",
        "corrupt": "UNREADABLE",
        "cube": "EMPTY",
        "nan": "ALL_NAN",
        "badexp": "BAD_VALUE",
        "baddate": "BAD_VALUE",
        "notype": "MISSING_KEYWORD",
        "packed": "UNREADABLE",
        "amps": "MISSING_KEYWORD",
        "a": "DUPLICATE_EXPOSURE",
        "x": "NOT_A_FILE",
        "y": "NOT_A_FILE",
        "late": "UNREADABLE",
    }
    by_name = dict(zip(quarantine["exposure"], quarantine["reason"], strict=True))
    assert "truncated" in by_name["late"] and "late.fits" in by_name["late"]
    assert "a.fits.gz and a.fits are both exposure a" in by_name["a"]
    assert "packed.fits.fz cannot be read" in by_name["packed"]
    assert "amps.fits extension AMP2 has no GAIN" in by_name["amps"]
    summary = re.sub(r"<[^>]+>", " ", (site["dir"] / "results" / "qa" / NIGHT / "summary.html").read_text())
    for code in set(reasons.values()):
        assert code in summary, code


def test_odd_names_become_safe_ids_and_their_frames_are_processed(site):
    manifest = table(site, "manifest", f"{NIGHT}.tsv")
    science = manifest[manifest["frame_type"] == "science"]
    ids = dict(zip(science["path"].map(lambda p: Path(p).name), science["exposure"], strict=True))
    odd = ids["frame é 1.fits"]
    assert re.fullmatch(r"frame_e_1-[0-9a-f]{8}", odd)
    assert ids["a.fits"] == "a"
    fields = dict(zip(science["exposure"], science["field"], strict=True))
    assert len(fields["long"]) <= 48 and fields["long"].startswith("NGC_1234_field")
    assert fields["pointing"].startswith("p150d1+02d2")
    for exposure in (odd, "a"):
        assert (site["dir"] / "results" / "scored" / NIGHT / f"{exposure}.ecsv").exists(), exposure


def test_fields_without_a_reference_stop_with_a_reason_and_the_others_go_on(site):
    differences = table(site, "qa", NIGHT, "difference.tsv")
    status = dict(zip(differences["exposure"], differences["status"], strict=True))
    assert status["long"] == "NO_REFERENCE" and status["pointing"] == "NO_REFERENCE"
    assert sum(s == "ok" for s in status.values()) >= 6
    summary = re.sub(r"<[^>]+>", " ", (site["dir"] / "results" / "qa" / NIGHT / "summary.html").read_text())
    assert "could not be differenced" in summary and "NO_REFERENCE" in summary


def test_a_field_without_its_catalog_is_alerted_in_instrumental_units(site):
    from astrid.alerts.packets import read_packets

    differences = table(site, "qa", NIGHT, "difference.tsv")
    photometry = differences[differences["status"] == "ok"].groupby("field")["photometry"].agg(set).to_dict()
    assert photometry == {"F01": {"catalog"}, "F02": {"instrumental"}}
    rows = alert_rows(site)
    assert {r["field"] for r in rows} >= {"F01", "F02"}
    for row in rows:
        (packet,) = read_packets(site["dir"] / row["packet"])
        candidate = packet["candidate"]
        assert candidate["photometry_calibrated"] is (row["field"] == "F01"), row["field"]
        assert candidate["psf_flux_electrons"] is not None and candidate["limiting_flux_electrons"] > 0
        if row["field"] == "F02":
            assert candidate["mag"] is None and candidate["psf_flux"] is None
    summary = (site["dir"] / "results" / "qa" / NIGHT / "summary.html").read_text()
    assert "Without a catalog zero point" in summary and "F02" in summary


def test_a_frame_still_arriving_waits_and_is_listed(site):
    waiting = table(site, "waiting", f"{NIGHT}.tsv")
    assert list(waiting["exposure"]) == ["arriving"]
    summary = re.sub(r"<[^>]+>", " ", (site["dir"] / "results" / "qa" / NIGHT / "summary.html").read_text())
    assert "still being written" in summary and "arriving" in summary


def killed_while_writing_alerts(site):
    """Run the site, and kill Snakemake and its jobs (the process group, as a power cut or
    `scancel` would) as soon as the alert job has written its first packet of this run."""
    import signal
    import subprocess
    import sys

    packets = site["dir"] / "results" / "alerts" / NIGHT / "packets"
    started = time.time()
    command = [
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        str(REPO / "workflow" / "Snakefile"),
        "--directory",
        str(site["dir"]),
        "--profile",
        PROFILE,
        "--configfile",
        str(site["dir"] / "site.yaml"),
    ]
    process = subprocess.Popen(
        command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )

    def written_since_start(path):
        try:
            return path.stat().st_mtime > started
        except FileNotFoundError:  # Snakemake empties the folder before the job runs again
            return False

    try:
        while process.poll() is None and time.time() - started < 900:
            if any(written_since_start(p) for p in packets.glob("*.avro")):
                os.killpg(process.pid, signal.SIGKILL)
                break
            time.sleep(0.02)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    return process.returncode


@pytest.fixture(scope="module")
def second_run(site):
    """The copy of the truncated frame completes in place and the arriving frame is written;
    the next run is killed while it writes the night's alerts; the user asks whether the
    lock left behind is stale, unlocks, and runs again."""
    import subprocess
    import sys

    late, complete = site["later"]["late"]
    late.write_bytes(complete)
    arriving, whole = site["later"]["arriving"]
    arriving.write_bytes(whole)
    an_hour_ago(late, arriving)
    before = alert_rows(site)
    killed = killed_while_writing_alerts(site)
    env = {**os.environ, "PYTHONPATH": str(REPO / "workflow" / "scripts")}
    status = subprocess.run(
        [sys.executable, "-m", "astrid.pipeline.runlock", "status", "--directory", str(site["dir"])],
        capture_output=True,
        text=True,
        env=env,
    )
    refused = run(site["dir"])
    unlocked = run(site["dir"], "--unlock")
    result = run(site["dir"])
    return {
        "result": result,
        "before": before,
        "after": alert_rows(site),
        "killed": killed,
        "status": status,
        "refused": refused,
        "unlocked": unlocked,
    }


def test_a_run_killed_while_writing_alerts_leaves_a_lock_that_is_told_stale(second_run):
    assert second_run["killed"] == -9  # it was killed, not finished
    refused = second_run["refused"]
    assert refused.returncode != 0 and "Directory cannot be locked" in refused.stdout + refused.stderr
    status = second_run["status"]
    assert status.returncode == 0 and "no AstrID run is active" in status.stdout
    assert second_run["unlocked"].returncode == 0


def test_frames_completed_after_a_run_are_processed_by_the_next(site, second_run):
    result = second_run["result"]
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert table(site, "waiting", f"{NIGHT}.tsv").empty
    assert "late" not in set(table(site, "quarantine", f"{NIGHT}.tsv")["exposure"])
    for exposure in ("late", "arriving"):
        assert (site["dir"] / "results" / "scored" / NIGHT / f"{exposure}.ecsv").exists(), exposure


def test_each_alert_is_emitted_once_across_the_runs_and_the_crash(site, second_run):
    import sqlite3

    before = {r["alert_id"]: r for r in second_run["before"]}
    after = {r["alert_id"]: r for r in second_run["after"]}
    assert all(before[a]["first_emitted"] == "True" for a in before)
    # The late frames join the training set: the second run may train and promote another
    # model, and the night's table lists the candidates that model calls real. Whatever it
    # lists, nothing emitted before is emitted again, and what is new is emitted once.
    assert not any(after[a]["first_emitted"] == "True" for a in set(before) & set(after))
    new = set(after) - set(before)
    assert all(after[a]["first_emitted"] == "True" for a in new)
    assert {"late", "arriving"} <= {after[a]["exposure"] for a in new}
    packets = list((site["dir"] / "results" / "alerts" / NIGHT / "packets").glob("*.avro"))
    assert len(packets) == len(after)
    with sqlite3.connect(site["dir"] / "results" / "alerts" / "objects.sqlite") as db:
        stored = {str(i) for (i,) in db.execute("SELECT alert_id FROM alerts WHERE night = ?", (NIGHT,))}
    assert stored == set(before) | set(after)  # every alert ever emitted stays on record
