"""End to end: a night of the demo's two-detector mosaic (`demo.camera: mosaic`, two 512²
detectors side by side), each detector processed as its own image — its own masters,
reference, alignment, differences and alerts — and a file that lost an extension in transfer
quarantined for that detector only, the night completing. The site writes its image products
quantised (`products.compression`): every stage reads them back.

The model learns from three frames here, so it is not gated and a candidate scoring 0.01
alerts: the test checks that each detector's transients are found, not how well they are
scored.
The field M07 is one whose seeded catalog puts at least nine stars brighter than r = 20.5 on
each detector: a 512² reference needs that many to register and to model its PSF.
"""

import csv

import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS
from nights import small_night
from workflow_runs import REPO, snakemake

pytestmark = pytest.mark.slow

PROFILE = str(REPO / "profiles" / "test")
DETECTORS = ("CCD1", "CCD2")
EDGE = 40  # pixels


def tsv(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


@pytest.fixture(scope="module")
def mosaic_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("mosaic")
    config = small_night(
        reference_exposures=3,
        new_exposures=2,
        fields="[{name: M07, ra: 150.1, dec: 2.2}]",
        camera="mosaic",
        # Three frames train the model: the detectors are under test here, not the model, so
        # nearly every candidate is alerted (and no starter model competes at the gate).
        extra='realbogus: {min_f1_score: 0.0, threshold: 0.01, starter_model: ""}\n'
        "products: {compression: quantised}\n",
    )
    (workdir / "mosaic.yaml").write_text(config)
    result = snakemake("--profile", PROFILE, "--configfile", str(workdir / "mosaic.yaml"), workdir=workdir)
    return workdir, result


def test_the_mosaic_night_completes(mosaic_run):
    workdir, result = mosaic_run
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def test_each_detector_has_its_own_masters_and_reference(mosaic_run):
    workdir, _ = mosaic_run
    gains = {}
    for detector in DETECTORS:
        for night in ("20261101", "20261127"):
            folder = workdir / "results" / "masters" / night / detector
            assert {p.name for p in folder.iterdir()} >= {"bias.fits", "dark.fits", "flat_r.fits"}
            assert (workdir / "results" / "qa" / night / detector / "masters.png").stat().st_size > 10_000
        assert (workdir / "results" / "references" / f"M07-{detector}" / "r.fits").exists()
        calibrated = sorted((workdir / "results" / "calibrated" / "20261127").glob(f"*-{detector}.fits"))
        header = fits.getheader(calibrated[0])
        assert header["DETECTOR"] == detector and header["FIELD"] == f"M07-{detector}"
        for product in (calibrated[0], workdir / "results" / "difference" / "20261127" / calibrated[0].name):
            with fits.open(product) as hdul:
                assert isinstance(hdul["MASK"], fits.CompImageHDU), product
        gains[detector] = header["GAIN"]
    assert gains["CCD2"] / gains["CCD1"] == pytest.approx(1.09, rel=1e-3)


def test_the_lost_extension_is_quarantined_and_the_rest_of_its_frame_processed(mosaic_run):
    workdir, _ = mosaic_run
    truth = Table.read(workdir / "results" / "demo" / "truth" / "20261127.fits", hdu="FRAMES")
    (lost,) = truth[truth["defect"] == "lost_extension"]["exposure"]
    quarantine = {row["exposure"]: row for row in tsv(workdir / "results" / "quarantine" / "20261127.tsv")}
    row = quarantine[f"{lost}-CCD2"]
    assert row["reason_code"] == "MISSING_HDU"
    assert f"{lost}.fits has no extension for detector CCD2" in row["reason"]
    assert (workdir / "results" / "calibrated" / "20261127" / f"{lost}-CCD1.fits").exists()
    summary = (workdir / "results" / "qa" / "20261127" / "summary.html").read_text()
    assert "MISSING_HDU" in summary


def test_each_detectors_differences_are_clean_and_its_transients_alerted(mosaic_run):
    workdir, _ = mosaic_run
    differences = tsv(workdir / "results" / "qa" / "20261127" / "difference.tsv")
    assert len(differences) == 3  # two exposures of two detectors, less the lost extension
    for row in differences:
        assert row["status"] == "ok", row
        assert float(row["score_noise"]) == pytest.approx(1.0, abs=0.1), row
    alerts = tsv(workdir / "results" / "alerts" / "20261127" / "alerts.tsv")
    alerted = SkyCoord([float(a["ra"]) for a in alerts], [float(a["dec"]) for a in alerts], unit="deg")
    transients = Table.read(workdir / "results" / "demo" / "truth" / "20261127.fits", hdu="TRANSIENTS")
    on_detector = {}
    for detector in DETECTORS:
        reference = workdir / "results" / "references" / f"M07-{detector}" / "r.fits"
        wcs = WCS(fits.getheader(reference, "SCI"))
        x, y = wcs.all_world2pix(transients["ra"], transients["dec"], 0)
        # Within a PSF-matching kernel of the edge the score is flagged unreliable (SCORE_BAD).
        on_detector[detector] = (x > EDGE) & (x < 512 - EDGE) & (y > EDGE) & (y < 512 - EDGE)
        assert {a["field"] for a in alerts if a["exposure"].endswith(detector)} == {f"M07-{detector}"}
    assert all(mask.any() for mask in on_detector.values()), "a transient on each detector"
    inside = np.logical_or(*on_detector.values())
    truth = SkyCoord(transients["ra"][inside], transients["dec"][inside], unit="deg")
    _, separation, _ = truth.match_to_catalog_sky(alerted)
    assert (separation.arcsec < 1.0).all(), separation.arcsec
