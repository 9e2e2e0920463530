"""Canonical names: valid wildcards and file names, bounded, unique, stable."""

import re

import pytest

from astrid.io.names import (
    BAND_PATTERN,
    EXPOSURE_PATTERN,
    FIELD_PATTERN,
    band_name,
    exposure_name,
    field_name,
)


@pytest.mark.parametrize(
    "original",
    ["20261127-0001", "frame é 1", "frame_e_1", "a b/c\\d:e", "ünïcødé", "...", "", "x" * 400, "-lead"],
)
def test_every_exposure_name_is_a_wildcard_value_of_bounded_length(original):
    name = exposure_name(original)
    assert re.fullmatch(EXPOSURE_PATTERN, name), name
    assert len(name) <= 64 and name == exposure_name(original)


def test_safe_names_are_kept_and_changed_ones_stay_unique():
    assert exposure_name("20261127-0001") == "20261127-0001"
    assert exposure_name("frame_e_1") == "frame_e_1"
    changed = {exposure_name(n) for n in ("frame é 1", "frame e 1", "frame  e 1", "frame_e_1")}
    assert len(changed) == 4
    long_names = {exposure_name("x" * 300 + str(i)) for i in range(3)}
    assert len(long_names) == 3


def test_field_and_band_names_fold_punctuation_without_a_hash():
    assert field_name("M 31") == field_name("M_31") == "M_31"
    assert field_name("p310d6+00d1") == "p310d6+00d1"
    assert band_name("r'") == "r" and band_name("Open/Clear") == "Open_Clear"
    assert re.fullmatch(FIELD_PATTERN, field_name("x" * 300)) and re.fullmatch(
        BAND_PATTERN, band_name("é" * 40)
    )


def test_file_names_go_into_fits_headers_as_printable_ascii_naming_the_file():
    from astropy.io import fits

    from astrid.io.names import header_text

    header = fits.Header()
    header["RAWFILE"] = header_text("frame é 1\t.fits")
    assert header["RAWFILE"] == "frame \\xe9 1\\t.fits"
    assert header_text("20261127-0001.fits") == "20261127-0001.fits"
