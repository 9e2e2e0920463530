"""The demo night simulator: reproducible, realistic headers, transients only when new."""

import numpy as np
import pytest
from astropy.io import fits

from astrid.ingest.files import find_raw_frames
from astrid.sim.camera import Camera, saturate_and_bleed
from astrid.sim.catalogs import catalog_width, make_field_catalog
from astrid.sim.night import NightPlan, simulate_night


def test_same_seed_writes_the_same_night(tmp_path):
    camera = Camera(ny=128, nx=128)
    fields = (("S", 10.0, 10.0),)
    catalogs = {"S": make_field_catalog("S", 10.0, 10.0, catalog_width(camera), 5)}
    plan = NightPlan(
        night="20261127",
        role="new",
        fields=fields,
        bands=("g",),
        science_per_field_band=1,
        n_bias=1,
        n_dark=1,
        n_flat=1,
    )
    for run in ("a", "b"):
        simulate_night(plan, camera, catalogs, tmp_path / run, tmp_path / f"{run}.fits", 5)
    first = [p.read_bytes() for p in find_raw_frames(tmp_path / "a")]
    second = [p.read_bytes() for p in find_raw_frames(tmp_path / "b")]
    assert first == second and len(first) == 6


def test_science_header_follows_common_practice(small_night):
    science = small_night.truth["FRAMES"]
    exposure = science[science["kind"] == "science"]["exposure"][0]
    header = fits.getheader(small_night.raw_dir / f"{exposure}.fits")
    for key in (
        "IMAGETYP",
        "FILTER",
        "EXPTIME",
        "DATE-OBS",
        "OBJECT",
        "GAIN",
        "RDNOISE",
        "SATURATE",
        "BIASSEC",
        "TRIMSEC",
        "CTYPE1",
        "CRVAL1",
    ):
        assert key in header
    assert header["NAXIS1"] == small_night.camera.nx + small_night.camera.overscan
    assert header["BITPIX"] == 16


def test_header_wcs_is_only_a_first_guess(small_night):
    frames = small_night.truth["FRAMES"]
    science = frames[(frames["kind"] == "science") & (frames["defect"] == "")]
    offsets = np.hypot(science["dx"], science["dy"])
    assert (offsets > 0.5).all() and (offsets < 12).all()
    assert (np.abs(science["rotation_deg"]) <= small_night.plan.max_rotation_deg).all()
    assert len(set(np.round(science["fwhm_px"], 3))) == len(science)  # seeing varies


def test_overscan_holds_bias_only(small_night):
    exposure = small_night.truth["FRAMES"]["exposure"][0]
    raw = fits.getdata(small_night.raw_dir / f"{exposure}.fits").astype(float)
    overscan = raw[:, small_night.camera.nx + 2 :]
    rn_adu = small_night.camera.read_noise / small_night.camera.gain
    assert abs(np.median(overscan) - small_night.camera.bias_level) < 15
    assert np.std(overscan - np.median(overscan, axis=1, keepdims=True)) == pytest.approx(rn_adu, rel=0.1)


def test_transients_exist_only_in_the_new_night(small_night, tmp_path):
    sources = small_night.truth["SOURCES"]
    assert {"supernova", "variable"} <= set(sources["kind"])
    assert len(small_night.truth["TRANSIENTS"]) >= 4
    reference = NightPlan(
        night="20261101",
        role="reference",
        fields=small_night.fields,
        bands=("r",),
        science_per_field_band=1,
        defects=False,
    )
    simulate_night(
        reference,
        small_night.camera,
        small_night.catalogs,
        tmp_path / "ref",
        tmp_path / "ref.fits",
        small_night.seed,
    )
    ref_kinds = set(fits.getdata(tmp_path / "ref.fits", "SOURCES")["kind"])
    assert ref_kinds == {"star", "galaxy"}
    assert len(fits.getdata(tmp_path / "ref.fits", "TRANSIENTS")) == 0


def test_supernovae_sit_on_their_host_galaxies(small_night):
    catalog = small_night.catalogs["T01"]
    for row in small_night.truth["TRANSIENTS"]:
        host = catalog[catalog["source_id"] == row["host_id"]][0]
        separation = np.hypot(
            (row["ra"] - host["ra"]) * np.cos(np.radians(host["dec"])), row["dec"] - host["dec"]
        )
        limit = host["r_eff"] / 3600 if row["kind"] == "supernova" else 1e-9
        assert separation <= limit


def test_bright_stars_saturate_and_bleed():
    camera = Camera(ny=64, nx=64)
    electrons = np.zeros((64, 64))
    electrons[32, 32] = 5 * camera.full_well
    saturate_and_bleed(electrons, camera.full_well)
    assert electrons.max() <= camera.full_well
    assert electrons.sum() == pytest.approx(5 * camera.full_well)
    assert (electrons[:, 32] == camera.full_well).sum() == 5
