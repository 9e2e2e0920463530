"""Real raw frames from ../shared/data/real/raw (skipped with the reason when absent).

Feder Observatory: a night of bias, 30 s and 120 s darks, R and V flats and R and V light
frames with an overscan strip. These "mini" frames were converted to 8 bits by their
author (see PROVENANCE.md), so they exercise the bookkeeping, not noise statistics; the
headers carry no GAIN, RDNOISE or SATURATE, which a site supplies through config.
SAAO 1.0 m: one raw object frame with BIASSEC/TRIMSEC, GAIN and RDNOISE.
"""

import numpy as np
import pytest
from astropy.io import fits
from nights import rows_of

from astrid.calibrate.masters import make_master_bias, make_master_dark, make_master_flat
from astrid.calibrate.raw import CalibrationSettings, read_raw
from astrid.calibrate.science import calibrate_science
from astrid.ingest.classify import MISSING_KEYWORD, IngestSettings, inspect_frame
from astrid.ingest.night import ingest_night

pytestmark = pytest.mark.real_data
FEDER_SITE = IngestSettings(gain=1.5, read_noise=10.0, saturate=255)
SETTINGS = CalibrationSettings()


@pytest.fixture(scope="module")
def feder(real_data):
    folder = real_data / "raw" / "feder_apogee_reducer_mini"
    manifest, quarantine, _ = ingest_night(folder, "20130704", FEDER_SITE, 3, True)
    return manifest, quarantine


def test_feder_night_is_classified_by_header(feder):
    manifest, quarantine = feder
    assert quarantine.empty
    counts = manifest.groupby(["frame_type", "band"]).size().to_dict()
    assert counts == {
        ("bias", ""): 5,
        ("dark", ""): 6,
        ("flat", "R"): 5,
        ("flat", "V"): 3,
        ("science", "R"): 3,
        ("science", "V"): 2,
    }
    science = manifest[manifest["frame_type"] == "science"]
    assert set(science["exposure"].str[:9]) == {"SA112-SF1"}
    assert science["field"].nunique() == 1  # the OBJECT-less frames share one pointing name
    assert sorted(rows_of(manifest, "dark"), key=lambda r: r["exposure"])[0]["exptime"] == 120.0


def test_feder_without_site_defaults_is_quarantined_with_the_missing_keyword(real_data):
    folder = real_data / "raw" / "feder_apogee_reducer_mini"
    manifest, quarantine, _ = ingest_night(folder, "20130704", IngestSettings(), 3, True)
    assert manifest.empty
    assert set(quarantine["reason_code"]) == {MISSING_KEYWORD}
    assert quarantine["reason"].str.contains("no GAIN keyword").all()


@pytest.fixture(scope="module")
def feder_masters(feder):
    manifest, _ = feder
    bias = make_master_bias(rows_of(manifest, "bias"), SETTINGS)
    dark = make_master_dark(rows_of(manifest, "dark"), bias, SETTINGS)
    return manifest, bias, dark


def test_feder_darks_of_30_and_120_s_agree_as_rates(feder_masters):
    manifest, bias, dark = feder_masters
    rate_30 = make_master_dark(rows_of(manifest, "dark", exptime=30.0), bias, SETTINGS).data
    rate_120 = make_master_dark(rows_of(manifest, "dark", exptime=120.0), bias, SETTINGS).data
    hot = rate_120 * 120 > 20  # pixels with a dark signal well above the 8-bit quantisation
    assert hot.sum() > 20
    assert np.median(rate_30[hot]) == pytest.approx(np.median(rate_120[hot]), rel=0.2)
    assert dark.header["EXPTIMES"] == "30,120"


def test_feder_r_frames_are_calibrated_with_r_flats_and_a_scaled_dark(feder_masters):
    manifest, bias, dark = feder_masters
    flat_r = make_master_flat(rows_of(manifest, "flat", "R"), bias, dark, SETTINGS)
    assert flat_r.header["FILTER"] == "R"
    assert {flat_r.header[f"IMCMB00{i}"] for i in range(1, 6)} == {
        r["exposure"] for r in rows_of(manifest, "flat", "R")
    }
    hot = dark.data * 30 > 5  # dark signal of a 30 s frame in electrons
    for row in rows_of(manifest, "science", "R"):
        product, wcs_header, _ = calibrate_science(row, bias, dark, flat_r, SETTINGS)
        assert product.data.shape == (1024, 1536)  # TRIMSEC removed the overscan
        uncorrected = read_raw(row, SETTINGS).electrons - bias.data
        # The dark scaled to 30 s removes the hot pixels' excess: what is left is far
        # below what was there before the subtraction.
        residual = np.median(np.abs(product.data[hot] - np.median(product.data)))
        before = np.median(uncorrected[hot] - np.median(uncorrected))
        assert residual < 0.3 * before
        assert wcs_header["CTYPE1"].startswith("RA---TAN")
    flat_v = make_master_flat(rows_of(manifest, "flat", "V"), bias, dark, SETTINGS)
    with pytest.raises(Exception, match="master flat is for V"):
        calibrate_science(rows_of(manifest, "science", "R")[0], bias, dark, flat_v, SETTINGS)


def test_saao_frame_overscan_and_trim_from_header(real_data):
    path = real_data / "raw" / "saao_1m_ccdproc" / "a8280271.fits"
    row = inspect_frame(path, "20130713", IngestSettings(saturate=65535))
    assert (row["frame_type"], row["band"], row["field"]) == ("science", "48", "rf0420")
    assert row["gain"] == 1.9 and row["read_noise"] == 5.0
    assert row["date_obs"].startswith("2013-07-13T00:57:33")
    frame = read_raw(row, SETTINGS)
    assert frame.electrons.shape == (520, 512)
    raw = fits.getdata(path).astype(float)
    expected_adu = np.median(raw[:, 16:528]) - np.median(raw[:, 3:13])
    assert np.median(frame.electrons) / 1.9 == pytest.approx(expected_adu, abs=1.0)
    assert 50 < expected_adu < 150  # sky ≈ 300 ADU over an overscan level ≈ 215 ADU
