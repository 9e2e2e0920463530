"""Real nights through the workflow, as an observatory would run them: a site config written
here, `snakemake --profile profiles/test --configfile …`, the products read from disk.

* An archive site: DECam community-pipeline frames (five of 2016 as the reference night,
  five of 2018 as the new night) and a JWST NIRCam pair (UNCOVER Nov 2022 as the new night,
  GLASS June 2022 supplied in resources/templates as a survey template), all declared
  reduced — imported, referenced, aligned, differenced, scored and alerted.
* The Feder raw frames split into two nights: raw → calibration → reference → alignment,
  as far as their 8-bit pixels allow, every stop with its reason code, the run exiting 0.

The frames are linked, never copied into the repository. Skipped, saying why, without
../shared/data/real (set ASTRID_SHARED).
"""

import csv
import os
import time

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from astropy.stats import mad_std
from astropy.table import Table
from feder import FEDER, index_from_solved_frame
from real_sites import ARCHIVE_SITE, DECAM_FILTER, decam_frames, link
from wcs_headers import frame_wcs, without_wcs
from workflow_runs import REPO, snakemake

pytestmark = [pytest.mark.real_data, pytest.mark.slow]
PROFILE = str(REPO / "profiles" / "test")
# The bright star that sfft's own DECam difference leaves as a +53/-41σ dipole (PROVENANCE).
DIPOLE_STAR = (318.11762, -66.01062)
FEDER_SITE = """demo: {{enabled: false}}
raw_dir: {raw}
ingest: {{gain: 1.5, read_noise: 10.0, saturate: 255}}
reference: {{nights: ["20130704"], fetch: {{archive: refcat2, timeout_seconds: 10}}}}
astrometry: {{index_dirs: [{index}]}}
realbogus: {{min_f1_score: 0.0, training: {{epochs: 2, batch_size: 16}}}}
"""


def run_site(site, config):
    (site / "site.yaml").write_text(config)
    return snakemake(
        "--profile", PROFILE, "--configfile", str(site / "site.yaml"), workdir=site, timeout=1500
    )


@pytest.fixture(scope="module")
def archive_site(real_data, tmp_path_factory):
    site = tmp_path_factory.mktemp("archive_site")
    for epoch, night in (("18", "20160818"), ("04", "20180804")):
        for frame in decam_frames(real_data, epoch):
            link(frame, site / "raw" / night)
    # A reduced frame whose transfer kept only its primary header: no science HDU.
    header = fits.getheader(decam_frames(real_data, "04")[0])
    fits.PrimaryHDU(header=header).writeto(site / "raw" / "20180804" / "headeronly.fits")
    os.utime(site / "raw" / "20180804" / "headeronly.fits", (time.time() - 3600,) * 2)  # settled
    jwst = real_data / "pairs" / "jwst_nircam_abell2744"
    link(next(jwst.glob("jw01324*.fits")), site / "resources" / "templates")  # any name will do
    link(next(jwst.glob("jw02561*.fits")), site / "raw" / "20221111")
    result = run_site(site, ARCHIVE_SITE.format(raw=site / "raw", decam_filter=DECAM_FILTER))
    return site, result


def differences(site, night):
    return pd.read_csv(site / "results" / "qa" / night / "difference.tsv", sep="\t", dtype={"exposure": str})


def score_noise(path):
    """Robust spread of the product's S_corr over its unflagged pixels."""
    with fits.open(path) as hdul:
        return float(mad_std(hdul["SCORR"].data[hdul["MASK"].data == 0]))


def test_the_archive_site_runs_to_the_end(archive_site):
    site, result = archive_site
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def test_a_reduced_frame_without_its_science_hdu_is_quarantined(archive_site):
    site, _ = archive_site
    quarantine = pd.read_csv(site / "results" / "quarantine" / "20180804.tsv", sep="\t")
    (row,) = quarantine.to_dict("records")
    assert row["exposure"] == "headeronly" and row["reason_code"] == "EMPTY"
    assert "headeronly.fits has no 2-D image data" in row["reason"]


def test_decam_frames_are_imported_referenced_aligned_and_differenced(archive_site):
    site, _ = archive_site
    table = differences(site, "20180804")
    assert list(table["status"]) == ["ok"] * 5, table[["exposure", "status", "reason"]]
    reference = fits.getheader(site / "results" / "references" / "p318d1-66d0" / "i.fits")
    assert reference["NCOMBINE"] == 5
    calibrated = fits.getheader(site / "results" / "calibrated" / "20180804" / "DEC-OBS04a.mini.fits")
    assert calibrated["REDUCED"] and calibrated["GAIN"] == pytest.approx(3.984, abs=0.001)
    assert calibrated["SKYPULL"] == pytest.approx(1.0, abs=0.05)  # the estimated variance holds
    for exposure in table["exposure"]:
        path = site / "results" / "difference" / "20180804" / f"{exposure}.fits"
        # Before renormalising (the frames' own variance) and after (the product's S_corr).
        assert fits.getheader(path)["SCORNOIS"] == pytest.approx(1.0, abs=0.05), exposure
        assert score_noise(path) == pytest.approx(1.0, abs=0.05), exposure


def test_the_star_sfft_leaves_as_a_dipole_is_never_alerted_as_a_transient(archive_site):
    """sfft's difference of these frames (on the archive's alignment) leaves a +53/-41σ
    dipole on one bright star. AstrID registers each frame on the reference's stars; a
    candidate there, if any, must carry the dipole flag, and none may become an alert that
    is not flagged."""
    site, _ = archive_site
    found = []
    for path in sorted((site / "results" / "scored" / "20180804").glob("*.ecsv")):
        table = Table.read(path, format="ascii.ecsv")
        separation = 3600 * np.hypot(
            (table["ra"] - DIPOLE_STAR[0]) * np.cos(np.radians(DIPOLE_STAR[1])), table["dec"] - DIPOLE_STAR[1]
        )
        found += [bool(row["is_dipole"]) for row in table[separation < 3.0]]
    assert all(found), f"candidates at the dipole star without the dipole flag: {found}"


def test_archive_alerts_are_written_as_packets_in_instrumental_units(archive_site):
    from astrid.alerts.packets import read_packets

    site, _ = archive_site
    for night in ("20180804", "20221111"):
        with open(site / "results" / "alerts" / night / "alerts.tsv") as handle:
            rows = list(csv.DictReader(handle, delimiter="\t"))
        packets = sorted((site / "results" / "alerts" / night / "packets").glob("*.avro"))
        assert rows and len(packets) == len(rows), night
        (packet,) = read_packets(packets[0])
        assert packet["candidate"]["photometry_calibrated"] is False  # no catalog at this site
        assert packet["cutout_difference"]["stamp_data"]


def test_the_jwst_pair_is_differenced_on_the_archives_grid(archive_site):
    """The earlier mosaic is supplied as a plain template and imported as the reference. The
    drizzled mosaics share one grid; their galaxies' centroids cannot refine the
    registration (2.4 px rms over 900 'stars'), so the archive's alignment is used."""
    site, _ = archive_site
    (row,) = differences(site, "20221111").to_dict("records")
    assert row["status"] == "ok", row
    (template,) = (site / "results" / "templates").glob("*/F200W.fits")
    with fits.open(template) as hdul:
        assert hdul[0].header["TEMPLATE"].startswith("jw01324") and hdul[0].header["TMPLWGT"] == "none"
        assert {"SCI", "VAR", "MASK", "PSF", "STARS"} <= {hdu.name for hdu in hdul}
        assert len(hdul["STARS"].data) > 100 and np.isnan(float(hdul[0].header["ZP"]))  # no catalog
        # No weight and no GAIN: the variance is the sky's measured noise, squared.
        variance = hdul["VAR"].data[hdul["MASK"].data == 0]
        assert np.median(variance) == pytest.approx(hdul[0].header["BKGRMS"] ** 2, rel=0.02)
    aligned = fits.getheader(site / "results" / "aligned" / "20221111" / f"{row['exposure']}.fits")
    assert aligned["ALNMETH"] == "grid"
    difference = site / "results" / "difference" / "20221111" / f"{row['exposure']}.fits"
    assert fits.getheader(difference)["SCORNOIS"] > 1.5  # correlated noise, before renormalising
    assert score_noise(difference) == pytest.approx(1.0, abs=0.05)


@pytest.fixture(scope="module")
def feder_site(real_data, tmp_path_factory):
    site = tmp_path_factory.mktemp("feder_site")
    folder = real_data / "raw" / "feder_apogee_reducer_mini"
    science = {"20130704": ("001R1", "002R1", "001V1"), "20130705": ("003R1", "002V1")}
    for night, frames in science.items():
        for path in sorted(folder.glob("*.fit.gz")):
            if night == "20130705" and path.name[10:15] in frames:
                copy_without_wcs(path, site / "raw" / night / path.name)  # as a camera that writes none
            elif not path.name.startswith("SA112") or path.name[10:15] in frames:
                link(path, site / "raw" / night)  # every night has its own calibration frames
    index = site / "resources" / "index"
    index_from_solved_frame(folder / "SA112-SF1-001R1.fit.gz", index)
    return site, run_site(site, FEDER_SITE.format(raw=site / "raw", index=index))


def copy_without_wcs(source, target):
    """A copy of a raw frame with every WCS keyword removed."""
    with fits.open(source) as hdul:
        header, data = without_wcs(hdul[0].header), hdul[0].data
    target.parent.mkdir(parents=True, exist_ok=True)
    fits.PrimaryHDU(data, header).writeto(target)
    settled = time.time() - 3600
    os.utime(target, (settled, settled))


def test_feder_raw_nights_go_as_far_as_their_8_bit_pixels_allow_and_say_why(feder_site):
    site, result = feder_site
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for night, count in (("20130704", 3), ("20130705", 2)):
        calibrated = sorted((site / "results" / "calibrated" / night).glob("*.fits"))
        assert len(calibrated) == count, night
        with fits.open(calibrated[0]) as hdul:
            assert [h.name for h in hdul] == ["PRIMARY", "SCI", "VAR", "MASK"]
        assert (site / "results" / "masters" / night / "bias.fits").exists()
    # The new night's frames came without a WCS: solved blind with the site's index, they
    # land within 1.5″ of the solutions their camera's files had (1.12″ pixels).
    for path in sorted((site / "results" / "calibrated" / "20130705").glob("*.fits")):
        calibrated = fits.getheader(path, "SCI")
        assert fits.getheader(path)["ASTROK"] and fits.getheader(path)["ASTRNMAT"] >= 10, path.name
        original = frame_wcs(fits.getheader(FEDER / f"{path.stem}.fit.gz"))
        solved = frame_wcs(calibrated)
        yy, xx = np.mgrid[0:1024:32, 0:1536:32]
        ra1, dec1 = solved.all_pix2world(xx.ravel(), yy.ravel(), 0)
        ra2, dec2 = original.all_pix2world(xx.ravel(), yy.ravel(), 0)
        assert np.max(np.hypot((ra1 - ra2) * np.cos(np.radians(dec2)), dec1 - dec2)) * 3600 < 1.5, path.name
    for path in (site / "results" / "calibrated" / "20130704").glob("*.fits"):
        assert "ASTROK" not in fits.getheader(path)  # their own WCS served
    # The site has no catalog of SA112 and asks VizieR for RefCat2: without the network (CI
    # has none) the fetch says why and the night goes on.
    (fetched,) = (site / "results" / "catalogs" / "fetched").glob("*.ecsv")
    rows = Table.read(fetched)
    assert len(rows) > 10 or rows.meta["FETCHERR"].startswith(
        f"field {fetched.stem}: could not fetch refcat2"
    )
    table = differences(site, "20130705")
    assert set(table["status"]) == {"NO_REFERENCE"}
    assert table["reason"].str.contains("enough stars").all()
    summary = (site / "results" / "qa" / "20130705" / "summary.html").read_text()
    assert "NO_REFERENCE" in summary and "could not be differenced" in summary
