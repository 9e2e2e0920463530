"""End to end: a raw night and an archive-reduced night of the same field. The reference is
built from the site's own raw frames (bias, darks, flats, science), written by a camera
that puts no WCS in its headers; the next night arrives already reduced by an observatory
pipeline (SCI, VAR and a data-quality plane with the pipeline's own bit values) and is
imported, aligned onto that reference, differenced and alerted — its transients found where
the simulation put them. The site's catalog is one ATLAS-RefCat2 Parquet file covering more
sky than the field, as a site would keep it in resources/: the field's part is cut from it
and calibrates the alerts' magnitudes, and the site's astrometry.net index is built from it
once (resources/index), so that the raw frames are solved blind.

The reduced frames are made here from the simulated raw night with AstrID's library (masters
and calibration), then written in an archive's layout: what an observatory pipeline would
hand over.
"""

import csv
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.table import Table
from nights import rows_of, simulate_site_nights
from wcs_headers import without_wcs
from workflow_runs import REPO, snakemake

from astrid.calibrate.masters import make_master_bias, make_master_dark, make_master_flat
from astrid.calibrate.raw import CalibrationSettings
from astrid.calibrate.science import calibrate_science
from astrid.ingest.classify import IngestSettings
from astrid.ingest.night import ingest_night
from astrid.io import maskbits
from astrid.sim.camera import demo_camera
from astrid.sim.catalogs import catalog_width, make_field_catalog

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("solve-field") is None,
        reason="astrometry.net is not installed (Debian package astrometry.net; .ci/run installs it): "
        "the site's raw frames carry no WCS",
    ),
]

PROFILE = str(REPO / "profiles" / "test")
FIELD = ("F01", 150.1, 2.2)
SEED = 20261128
# The archive's data-quality bits (not AstrID's): 1 bad, 2 saturated, 4 cosmic ray.
ARCHIVE_BITS = {
    1: maskbits.BAD | maskbits.HOT | maskbits.NONFINITE,
    2: maskbits.SATURATED,
    4: maskbits.COSMIC_RAY,
}
SITE = """demo: {{enabled: false}}
raw_dir: {raw}
reference: {{nights: ["20261101"], catalog_dir: null, catalog: {catalog}}}
astrometry: {{index_dirs: [resources/index]}}
align: {{max_rms_px: 1.0}}  # a 512² frame registers on a dozen stars
reduced:
  nights: ["20261127"]
  science_hdu: SCI
  variance_hdu: VAR
  mask_hdu: DQ
  mask_bits: {{BAD: [1], SATURATED: [2], COSMIC_RAY: [4]}}
realbogus:
  min_f1_score: 0.0
  threshold: 0.01  # the night's plumbing is under test, not the model: nearly every candidate alerts
  training: {{epochs: 2, batch_size: 16}}
"""


def reduce_like_an_archive(raw_night, archive_night):
    """The raw night calibrated with AstrID's library and written as an archive would."""
    settings = CalibrationSettings()
    manifest = ingest_night(raw_night, "20261127", IngestSettings(), 3, True, now=4e9).manifest
    bias = make_master_bias(rows_of(manifest, "bias"), settings)
    dark = make_master_dark(rows_of(manifest, "dark"), bias, settings)
    flat = make_master_flat(rows_of(manifest, "flat", "r"), bias, dark, settings)
    archive_night.mkdir(parents=True)
    for row in rows_of(manifest, "science"):
        product, wcs_header, _ = calibrate_science(row, bias, dark, flat, settings)
        raw_header = fits.getheader(row["path"])
        primary = fits.Header({key: raw_header[key] for key in ("DATE-OBS", "EXPTIME", "FILTER", "OBJECT")})
        primary["ORIGIN"] = "an observatory pipeline"
        quality = np.zeros(product.mask.shape, np.int32)
        for bit, ours in ARCHIVE_BITS.items():
            quality[(product.mask & ours) != 0] |= bit
        image_header = wcs_header.copy()
        image_header["BUNIT"] = "electron"
        fits.HDUList(
            [
                fits.PrimaryHDU(header=primary),
                fits.ImageHDU(product.data, header=image_header, name="SCI"),
                fits.ImageHDU(product.variance, header=image_header, name="VAR"),
                fits.ImageHDU(quality, header=wcs_header, name="DQ"),
            ]
        ).writeto(archive_night / f"{row['exposure']}_red.fits")
        settled = time.time() - 3600  # delivered an hour ago, not still arriving
        os.utime(archive_night / f"{row['exposure']}_red.fits", (settled, settled))


def write_refcat2(catalog, path):
    """The field's stars as ATLAS-RefCat2's native columns, with as many again 3° away (in
    another pattern: a copy of the field's would be as good a match for the blind solver)."""
    stars = catalog[catalog["kind"] == "star"]
    far = stars.copy()
    far["ra"] += 3.0
    far["dec"] = np.random.default_rng(SEED).permutation(far["dec"])
    both = Table(
        {
            "ra": np.concatenate([stars["ra"], far["ra"]]),
            "dec": np.concatenate([stars["dec"], far["dec"]]),
            "pmra": np.zeros(2 * len(stars)),
            "pmdec": np.zeros(2 * len(stars)),
            **{b: np.concatenate([stars[f"mag_{b}"], far[f"mag_{b}"]]) for b in "gri"},
            **{f"d{b}": np.full(2 * len(stars), 0.01) for b in "gri"},
            "rcontrib": np.ones(2 * len(stars), int),
        }
    )
    path.parent.mkdir(parents=True)
    both.write(path)


@pytest.fixture(scope="module")
def mixed_site(tmp_path_factory):
    site = tmp_path_factory.mktemp("mixed_site")
    camera = demo_camera(512)
    catalog = make_field_catalog(*FIELD, catalog_width(camera), SEED)
    write_refcat2(catalog, site / "resources" / "catalogs" / "site" / "refcat2.parquet")
    simulate_site_nights(site, camera, FIELD, catalog, SEED)
    reduce_like_an_archive(site / "simulated" / "20261127", site / "raw" / "20261127")
    for path in (site / "raw" / "20261101").glob("*.fits"):  # a camera that writes no WCS
        with fits.open(path) as hdul:
            hdus = [fits.PrimaryHDU(hdul[0].data, without_wcs(hdul[0].header))]
        fits.HDUList(hdus).writeto(path, overwrite=True)
        os.utime(path, (time.time() - 3600,) * 2)
    # The site's index, built once from its catalog as resources/README.md says.
    index = subprocess.run(
        [
            sys.executable,
            "-m",
            "astrid.astrometry.index",
            str(site / "resources" / "catalogs" / "site" / "refcat2.parquet"),
            "r",
            str(site / "resources" / "index"),
            "--scales=-1,0,1",  # quads of 1.4′ to 4′ for a 3.4′ frame
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO / "workflow" / "scripts")},
    )
    assert index.returncode == 0, index.stderr
    (site / "site.yaml").write_text(
        SITE.format(raw=site / "raw", catalog=site / "resources" / "catalogs" / "site" / "refcat2.parquet")
    )
    result = snakemake("--profile", PROFILE, "--configfile", str(site / "site.yaml"), workdir=site)
    return site, result


def test_a_reduced_night_is_differenced_against_a_reference_built_from_raw_frames(mixed_site):
    site, result = mixed_site
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    reference = fits.getheader(site / "results" / "references" / "F01" / "r.fits")
    assert reference["NCOMBINE"] == 3 and reference["IMCMB001"].startswith("20261101-")
    # The raw frames had no WCS: each was solved blind on the site's index.
    for path in (site / "results" / "calibrated" / "20261101").glob("*.fits"):
        header = fits.getheader(path)
        assert header["ASTROK"] and header["ASTRIDX"].startswith("index-site-"), dict(header)
        assert header["ASTRNMAT"] >= 10 and header["ASTRRMS"] < 0.4, dict(header)  # 0.4″ pixels
    assert (site / "results" / "masters" / "20261101" / "bias.fits").exists()
    assert not (site / "results" / "masters" / "20261127").exists()  # reduced: no masters
    with open(site / "results" / "qa" / "20261127" / "difference.tsv") as handle:
        differences = list(csv.DictReader(handle, delimiter="\t"))
    assert len(differences) == 3
    for row in differences:
        assert row["status"] == "ok" and row["exposure"].endswith("_red"), row
        assert float(row["score_noise"]) == pytest.approx(1.0, abs=0.1), row
        calibrated = fits.getheader(site / "results" / "calibrated" / "20261127" / f"{row['exposure']}.fits")
        assert calibrated["REDUCED"] and calibrated["VAREST"] == "the frame's variance plane"


def test_the_reduced_nights_transients_are_alerted_where_they_are(mixed_site):
    site, _ = mixed_site
    with open(site / "results" / "alerts" / "20261127" / "alerts.tsv") as handle:
        alerts = list(csv.DictReader(handle, delimiter="\t"))
    alerted = SkyCoord([float(a["ra"]) for a in alerts], [float(a["dec"]) for a in alerts], unit="deg")
    transients = Table.read(site / "truth" / "20261127.fits", hdu="TRANSIENTS")
    bright = transients[(transients["kind"] == "supernova") & (transients["mag_r"] < 20.0)]
    assert len(bright) >= 2
    _, separation, _ = SkyCoord(bright["ra"], bright["dec"], unit="deg").match_to_catalog_sky(alerted)
    # Within half a 0.4″ pixel, through a blind solution and the catalog's refit (measured
    # 0.03″ and 0.05″).
    assert (separation.arcsec < 0.2).all(), separation.arcsec
    # The archive's data-quality bits arrive as AstrID's: its cosmic rays are masked.
    with fits.open(site / "results" / "calibrated" / "20261127" / f"{alerts[0]['exposure']}.fits") as hdul:
        assert ((hdul["MASK"].data & maskbits.COSMIC_RAY) != 0).sum() > 10


def test_the_site_catalog_is_cut_to_the_field_and_calibrates_the_alerts(mixed_site):
    site, _ = mixed_site
    truth = Table.read(site / "truth" / "20261127.fits", hdu="TRANSIENTS")
    cut = Table.read(site / "results" / "catalogs" / "F01.ecsv")
    site_catalog = Table.read(site / "resources" / "catalogs" / "site" / "refcat2.parquet")
    assert 10 < len(cut) <= len(site_catalog) // 2  # the field's stars, none of the far ones
    assert np.all(np.abs(cut["ra"] - FIELD[1]) < 0.2)
    reference = fits.getheader(site / "results" / "references" / "F01" / "r.fits")
    assert reference["ZPNSTR"] >= 5 and 0 < reference["ZPERR"] < 0.05 and "PHOTNOTE" not in reference
    from astrid.alerts.packets import read_packets

    with open(site / "results" / "alerts" / "20261127" / "alerts.tsv") as handle:
        alerts = list(csv.DictReader(handle, delimiter="\t"))
    detections = [packet["candidate"] for row in alerts for packet in read_packets(site / row["packet"])]
    assert all(
        d["photometry_calibrated"] and d["zeropoint_err"] == pytest.approx(reference["ZPERR"])
        for d in detections
    )
    # The bright supernovae's magnitudes are the simulation's, within their errors.
    alerted = SkyCoord([d["ra"] for d in detections], [d["dec"] for d in detections], unit="deg")
    bright = truth[(truth["kind"] == "supernova") & (truth["mag_r"] < 20.0)]
    index, _, _ = SkyCoord(bright["ra"], bright["dec"], unit="deg").match_to_catalog_sky(alerted)
    for row, i in zip(bright, index, strict=True):
        detection = detections[i]
        assert detection["mag"] == pytest.approx(row["mag_r"], abs=3 * detection["mag_err"] + 0.05), detection
