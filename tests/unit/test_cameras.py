"""Multi-extension cameras: a CCD read by four amplifiers and a two-detector mosaic, measured
against the simulation's truth, and their bad files quarantined with reasons."""

import json

import numpy as np
import pytest
from astropy.io import fits
from nights import SmallNight, rows_of

from astrid.calibrate.masters import make_master_bias, make_master_dark, make_master_flat
from astrid.calibrate.raw import CalibrationSettings, read_raw
from astrid.calibrate.science import calibrate_science
from astrid.ingest.classify import (
    BAD_VALUE,
    MISSING_HDU,
    MISSING_KEYWORD,
    UNREADABLE,
    IngestSettings,
    inspect_exposure,
)
from astrid.ingest.night import ingest_night
from astrid.io import maskbits
from astrid.sim.camera import QUAD_GAIN_FACTORS

SETTINGS = CalibrationSettings()


def masters(manifest, detector=""):
    rows = {
        kind: [r for r in rows_of(manifest, kind) if r["detector"] == detector] for kind in ("bias", "dark")
    }
    bias = make_master_bias(rows["bias"], SETTINGS)
    dark = make_master_dark(rows["dark"], bias, SETTINGS)
    flats = [r for r in rows_of(manifest, "flat", "r") if r["detector"] == detector]
    return bias, dark, make_master_flat(flats, bias, dark, SETTINGS)


def quadrant_ratios(flat, true_flat):
    """Median of master / true flat in each quadrant (the amplifiers), relative to their mean."""
    ny, nx = true_flat.shape
    good = flat.mask == 0
    ratio = np.where(good, flat.data / true_flat, np.nan)
    medians = [
        np.nanmedian(ratio[r * ny // 2 : (r + 1) * ny // 2, c * nx // 2 : (c + 1) * nx // 2])
        for r in (0, 1)
        for c in (0, 1)
    ]
    return np.array(medians) / np.mean(medians)


@pytest.fixture(scope="module")
def quad(tmp_path_factory):
    night = SmallNight(tmp_path_factory.mktemp("quad"), 512, "reference", layout="quad")
    return night, night.ingest().manifest


@pytest.fixture(scope="module")
def mosaic(tmp_path_factory):
    night = SmallNight(tmp_path_factory.mktemp("mosaic"), 256, "reference", layout="mosaic")
    return night, night.ingest().manifest


def test_quad_frames_are_one_ccd_with_each_amplifiers_own_gain_and_noise(quad):
    night, manifest = quad
    assert len(manifest) == len(night.truth["FRAMES"]) - 2  # the truncated and focus frames
    row = rows_of(manifest, "science")[0]
    assert (row["ny"], row["nx"]) == (512, 512) and row["detector"] == ""
    amplifiers = json.loads(row["amplifiers"])
    gains = [a["gain"] for a in amplifiers]
    assert gains == pytest.approx([night.camera.gain * f for f in QUAD_GAIN_FACTORS], rel=1e-3)
    assert {a["detsec"] for a in amplifiers} == {
        "[1:256,1:256]",
        "[512:257,1:256]",
        "[512:257,512:257]",
        "[1:256,512:257]",
    }


def test_quad_amplifier_gain_steps_are_removed_to_half_a_percent(quad):
    night, manifest = quad
    _, _, flat = masters(manifest)
    true_flat = night.maps.flat["r"]
    steps = quadrant_ratios(flat, true_flat / np.median(true_flat[128:384, 128:384]))
    assert np.abs(steps - 1).max() < 0.005, f"amplifier steps {steps}"
    # The same frames read with one gain for all four amplifiers keep steps of several
    # per cent: what the assembly removes.
    one_gain = []
    for row in rows_of(manifest, "flat", "r"):
        amplifiers = json.loads(row["amplifiers"])
        for amplifier in amplifiers:
            amplifier["gain"] = float(row["gain"])
        one_gain.append({**row, "amplifiers": json.dumps(amplifiers)})
    bias, dark, _ = masters(manifest)
    naive = make_master_flat(one_gain, bias, dark, SETTINGS)
    assert np.abs(quadrant_ratios(naive, true_flat) - 1).max() > 0.02


def test_quad_read_noise_is_each_amplifiers_own(quad):
    night, manifest = quad
    biases = rows_of(manifest, "bias")
    master = make_master_bias(biases[:-1], SETTINGS)
    frame = read_raw(biases[-1], SETTINGS)  # not in the master
    pulls = (frame.electrons - master.data) / np.sqrt(frame.read_variance + master.variance)
    for segment in night.camera.segments():
        assert frame.read_variance[segment.rows, segment.cols] == pytest.approx(segment.read_noise**2)
        # One read noise for all four (the row's median) would be 4-5 % off on two of them.
        assert np.std(pulls[segment.rows, segment.cols]) == pytest.approx(1.0, abs=0.02), segment.name


def test_mosaic_detectors_are_separate_images_with_their_own_masters_and_wcs(mosaic):
    night, manifest = mosaic
    science = rows_of(manifest, "science")
    assert sorted({r["detector"] for r in science}) == ["CCD1", "CCD2"]
    assert {r["exposure"].rsplit("-", 1)[1] for r in science} == {"CCD1", "CCD2"}
    assert {r["field"] for r in science} == {"T01-CCD1", "T01-CCD2"}
    gains = {r["detector"]: float(r["gain"]) for r in science}
    assert gains["CCD2"] / gains["CCD1"] == pytest.approx(1.09, rel=1e-3)
    true_flat = night.maps.flat["r"]
    for detector, columns in (("CCD1", slice(0, 256)), ("CCD2", slice(256, 512))):
        bias, dark, flat = masters(manifest, detector)
        truth = true_flat[:, columns] / np.median(true_flat[64:192, columns][:, 64:192])
        good = flat.mask == 0
        ratio = flat.data[good] / truth[good]
        assert abs(np.median(ratio) - 1) < 2e-3 and np.std(ratio) < 0.01, detector
        row = next(r for r in science if r["detector"] == detector)
        product, wcs_header, _ = calibrate_science(row, bias, dark, flat, SETTINGS)
        assert product.data.shape == (256, 256)
        # The detector's WCS puts the focal plane's centre where the detector sees it.
        assert wcs_header["CRPIX1"] == pytest.approx(256.5 - columns.start, abs=1e-6)


def write_quad_frame(path, drop_gain_of=None, detsec_of_amp2=None):
    hdus = [fits.PrimaryHDU(header=fits.Header({"IMAGETYP": "Light Frame", "FILTER": "r", "EXPTIME": 30.0}))]
    hdus[0].header["DATE-OBS"] = "2026-11-27T23:00:00"
    hdus[0].header["OBJECT"] = "F1"
    for i, detsec in enumerate(("[1:10,1:8]", detsec_of_amp2 or "[20:11,1:8]")):
        header = fits.Header({"EXTNAME": f"AMP{i + 1}", "GAIN": 1.5, "RDNOISE": 4.0, "SATURATE": 60000.0})
        header["DATASEC"], header["BIASSEC"], header["DETSEC"] = "[1:10,1:8]", "[12:14,1:8]", detsec
        if drop_gain_of == f"AMP{i + 1}":
            del header["GAIN"]
        hdus.append(fits.ImageHDU(np.full((8, 14), 1000, np.uint16), header=header))
    fits.HDUList(hdus).writeto(path)


def test_an_amplifier_without_gain_is_quarantined_naming_its_extension(tmp_path):
    write_quad_frame(tmp_path / "good.fits")
    assert inspect_exposure(tmp_path / "good.fits", "20261127", IngestSettings()).rows[0]["nx"] == 20
    write_quad_frame(tmp_path / "nogain.fits", drop_gain_of="AMP2")
    with pytest.raises(Exception) as error:
        inspect_exposure(tmp_path / "nogain.fits", "20261127", IngestSettings())
    assert error.value.code == MISSING_KEYWORD
    assert (
        "nogain.fits extension AMP2 has no GAIN" in error.value.reason and "ingest.gain" in error.value.reason
    )
    # The site's fallback gain is used where the extension has none.
    (row,) = inspect_exposure(tmp_path / "nogain.fits", "20261127", IngestSettings(gain=1.5)).rows
    assert [a["gain"] for a in json.loads(row["amplifiers"])] == [1.5, 1.5]
    write_quad_frame(tmp_path / "overlap.fits", detsec_of_amp2="[5:14,1:8]")
    with pytest.raises(Exception) as error:
        inspect_exposure(tmp_path / "overlap.fits", "20261127", IngestSettings())
    assert error.value.code == BAD_VALUE and "overlap" in error.value.reason


def test_a_mosaic_file_missing_a_detector_is_quarantined_and_its_other_detectors_go_on(mosaic, tmp_path):
    night, _ = mosaic
    raw = tmp_path / "20261127"
    raw.mkdir()
    for path in night.raw_dir.iterdir():
        (raw / path.name).write_bytes(path.read_bytes())
    science = sorted(p.name for p in raw.iterdir() if fits.getval(p, "IMAGETYP") == "Light Frame")[0]
    with fits.open(raw / science) as hdul:
        fits.HDUList([hdul[0].copy(), hdul["CCD1"].copy()]).writeto(raw / "lost.fits")
    compressed = raw / "packed.fits.fz"
    with fits.open(raw / science) as hdul:
        fits.HDUList([fits.PrimaryHDU(), fits.CompImageHDU(hdul["CCD1"].data, hdul["CCD1"].header)]).writeto(
            compressed
        )
    compressed.write_bytes(compressed.read_bytes()[:-3000])
    manifest, quarantine, _ = ingest_night(raw, "20261127", IngestSettings(), 3, True, now=4e9)
    reasons = {row["exposure"]: row for row in quarantine.to_dict("records")}
    assert reasons["lost-CCD2"]["reason_code"] == MISSING_HDU
    assert "lost.fits has no extension for detector CCD2" in reasons["lost-CCD2"]["reason"]
    assert "lost-CCD1" in set(manifest["exposure"])
    assert reasons["packed"]["reason_code"] == UNREADABLE and "packed.fits.fz" in reasons["packed"]["reason"]
    assert (manifest["detector"] != "").all()


def test_mosaic_masks_are_per_detector(mosaic):
    night, manifest = mosaic
    for detector in ("CCD1", "CCD2"):
        _, _, flat = masters(manifest, detector)
        dead = night.camera.bad_column - (0 if detector == "CCD1" else 256)
        if 0 <= dead < 256:
            assert (flat.mask[:, dead] & maskbits.BAD).all()
        else:
            assert not (flat.mask & maskbits.BAD).all(axis=0).any()
