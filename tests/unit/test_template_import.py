"""Supplied templates imported as references: a survey-style image in its own units, with a
relative weight map and a mask, gives the reference a coadd would, with its zero point."""

import re

import numpy as np
import pytest
from astropy.io import fits
from nights import rows_of

from astrid.imaging.reference import ReferenceSettings
from astrid.imaging.template_import import import_template
from astrid.imaging.templates import TemplateError
from astrid.io import maskbits
from astrid.sim.camera import ZEROPOINT
from astrid.skycal.catalogs import read_catalog

GAIN = 2.0  # electrons per unit of the "survey" image
WEIGHT_UNITS = 37.0  # the weight map is inverse variance times this (a relative weight)
BAD_COLUMN = 300


@pytest.fixture(scope="module")
def calibrated_frame(small_night):
    """One calibrated frame of the small night, its header WCS, its expected zero point and
    its true seeing (pixels)."""
    from astrid.calibrate.masters import make_master_bias, make_master_dark, make_master_flat
    from astrid.calibrate.raw import CalibrationSettings
    from astrid.calibrate.science import calibrate_science

    manifest = small_night.ingest().manifest
    settings = CalibrationSettings()
    bias = make_master_bias(rows_of(manifest, "bias"), settings)
    dark = make_master_dark(rows_of(manifest, "dark"), bias, settings)
    flat = make_master_flat(rows_of(manifest, "flat", "r"), bias, dark, settings)
    row = rows_of(manifest, "science")[0]
    product, wcs_header, _ = calibrate_science(row, bias, dark, flat, settings)
    # As in the coadd's test: calibrated electrons are over a flat normalised to its centre.
    true_flat = small_night.maps.flat["r"]
    ny, nx = true_flat.shape
    flat_level = np.median(true_flat[ny // 4 : 3 * ny // 4, nx // 4 : 3 * nx // 4])
    zeropoint = ZEROPOINT["r"] + 2.5 * np.log10(60.0) - 2.5 * np.log10(flat_level)
    frames = small_night.truth["FRAMES"]
    fwhm = float(frames[frames["exposure"] == row["exposure"]]["fwhm_px"][0])
    return product, wcs_header, zeropoint, fwhm


def survey_template(path, calibrated_frame, weight=True):
    """The frame as a survey would hand it out: other units, sky left in, a relative weight
    HDU, a mask HDU with a bad column, and MJD-OBS for the catalog's epoch."""
    product, wcs_header, _, _ = calibrated_frame
    header = wcs_header.copy()
    header["FILTER"] = "r"
    header["MJD-OBS"] = product.header.get("MJD-OBS", 61371.0)
    header["BUNIT"] = "DN"
    image = (product.data + 250.0) / GAIN
    flags = np.zeros(image.shape, np.int32)
    flags[:, BAD_COLUMN] = 1
    hdus = [fits.PrimaryHDU(), fits.ImageHDU(image.astype(np.float32), header, name="SCI")]
    if weight:
        ivar = np.where(product.mask == 0, GAIN**2 / product.variance, 0.0) * WEIGHT_UNITS
        hdus.append(fits.ImageHDU(ivar.astype(np.float32), name="WHT"))
    hdus.append(fits.ImageHDU(flags, name="DQ"))
    fits.HDUList(hdus).writeto(path)
    return path


def test_a_survey_image_with_weight_and_mask_becomes_a_calibrated_reference(
    tmp_path, calibrated_frame, small_night
):
    product, _, zeropoint, fwhm = calibrated_frame
    path = survey_template(tmp_path / "ps1_cutout.fits", calibrated_frame)
    small_night.catalogs["T01"].write(tmp_path / "T01.ecsv")
    catalog = read_catalog(tmp_path / "T01.ecsv")  # as the rule reads a site's catalog
    reference = import_template(path, ReferenceSettings(), catalog, "r")
    # The relative weight is rescaled to the sky's measured noise: variance in the image's units.
    assert reference.header["WGTSCALE"] == pytest.approx(WEIGHT_UNITS, rel=0.05)
    good = reference.mask == 0
    true_variance = product.variance / GAIN**2
    assert np.median(reference.variance[good] / true_variance[good]) == pytest.approx(1.0, abs=0.05)
    # The sky is subtracted and its pulls are unit normal.
    pulls = reference.data[good] / np.sqrt(reference.variance[good])
    assert np.median(pulls) == pytest.approx(0.0, abs=0.05)
    # The mask's bad column is flagged and zeroed.
    assert (reference.mask[:, BAD_COLUMN] & maskbits.BAD).all() and not reference.data[:, BAD_COLUMN].any()
    # Its zero point, against the catalog, is the frame's in electrons less 2.5 log10(gain).
    assert reference.zeropoint == pytest.approx(zeropoint - 2.5 * np.log10(GAIN), abs=0.05)
    assert 0 < reference.zeropoint_error < 0.02 and reference.header["ZPNSTR"] >= 10
    assert reference.header["TEMPLATE"] == "ps1_cutout.fits" and reference.header["TMPLWGT"] == "WHT"
    # Its PSF is the frame's.
    assert reference.fwhm == pytest.approx(fwhm, rel=0.1)


def test_without_a_weight_the_variance_is_the_skys_plus_the_sources_poisson_term(tmp_path, calibrated_frame):
    product, _, _, _ = calibrated_frame
    path = survey_template(tmp_path / "plain.fits", calibrated_frame, weight=False)
    with fits.open(path, mode="update") as hdul:
        hdul["SCI"].header["GAIN"] = GAIN
    reference = import_template(path, ReferenceSettings())
    good = reference.mask == 0
    assert np.median(reference.variance[good] / (product.variance[good] / GAIN**2)) == pytest.approx(
        1.0, abs=0.05
    )
    assert np.isnan(reference.zeropoint) and reference.header["TMPLWGT"] == "none"


def test_templates_that_cannot_serve_are_refused_naming_the_file_and_the_problem(tmp_path, calibrated_frame):
    path = survey_template(tmp_path / "cut.fits", calibrated_frame)
    with fits.open(path) as hdul:
        shape = hdul["SCI"].data.shape
        hdus = [hdu.copy() for hdu in hdul]
    hdus[2] = fits.ImageHDU(np.ones((10, 10), np.float32), name="WHT")
    fits.HDUList(hdus).writeto(tmp_path / "wrong_weight.fits")
    with pytest.raises(
        TemplateError, match=re.escape(f"wrong_weight.fits: WHT is (10, 10), the image {shape}")
    ):
        import_template(tmp_path / "wrong_weight.fits", ReferenceSettings())
    fits.PrimaryHDU(np.ones((64, 64), np.float32)).writeto(tmp_path / "no_wcs.fits")
    with pytest.raises(TemplateError, match="no_wcs.fits: no celestial WCS"):
        import_template(tmp_path / "no_wcs.fits", ReferenceSettings())
    fits.PrimaryHDU().writeto(tmp_path / "empty.fits")
    with pytest.raises(TemplateError, match="empty.fits: no 2-D image HDU"):
        import_template(tmp_path / "empty.fits", ReferenceSettings())
