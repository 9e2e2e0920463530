"""Frames reduced by an observatory pipeline, imported as calibrated products: units through
the gain, the variance from the frame or estimated right, data-quality bits mapped."""

import numpy as np
import pytest
from astropy.io import fits

from astrid.calibrate.raw import CalibrationError
from astrid.calibrate.reduced import ReducedSettings, import_reduced
from astrid.io import maskbits

SIZE = 256


def stars(rng, n=40, flux=20000.0, sigma=1.6):
    """A noiseless image of ``n`` Gaussian stars of ``flux`` (in the image's units)."""
    y, x = np.mgrid[:SIZE, :SIZE]
    image = np.zeros((SIZE, SIZE))
    for xc, yc in rng.uniform(10, SIZE - 10, (n, 2)):
        image += flux / (2 * np.pi * sigma**2) * np.exp(-((x - xc) ** 2 + (y - yc) ** 2) / (2 * sigma**2))
    return image


def write(path, image, header=None, extra=()):
    fits.HDUList(
        [fits.PrimaryHDU(image.astype(np.float32), header=fits.Header(header or {})), *extra]
    ).writeto(path)
    return str(path)


def test_a_sky_subtracted_adu_frame_without_variance_gets_a_right_estimate(tmp_path):
    """DECam community-pipeline style: ADU, sky subtracted, GAIN in the header, no variance
    plane. The estimate (background rms^2 + source electrons) makes the sky's pulls unit."""
    rng = np.random.default_rng(1)
    gain, sky_adu = 4.0, 300.0
    truth = stars(rng)
    electrons = rng.poisson((truth + sky_adu) * gain) + rng.normal(0, 10, (SIZE, SIZE))
    image = electrons / gain - sky_adu
    path = write(tmp_path / "decam.fits", image, {"GAIN": gain, "BUNIT": "adu"})
    product, _, facts = import_reduced(path, ReducedSettings())
    assert facts["gain"] == gain and "source electrons" in facts["variance"]
    assert np.allclose(product.data, (image * gain).astype(np.float32))
    assert facts["stats"]["pull_std"] == pytest.approx(1.0, abs=0.05)
    # A star's peak: its own Poisson noise is in the variance.
    peak = np.unravel_index(np.argmax(truth), truth.shape)
    assert product.variance[peak] == pytest.approx(
        facts["stats"]["sky_noise"] ** 2 + product.data[peak], rel=0.2
    )


def test_a_flux_unit_frame_has_no_poisson_term_and_says_so(tmp_path):
    """JWST i2d style: MJy/sr, no gain: counts are unknown, so only the background's variance."""
    rng = np.random.default_rng(2)
    image = stars(rng, flux=5.0) + rng.normal(0, 0.01, (SIZE, SIZE))
    path = write(tmp_path / "jwst.fits", image, {"BUNIT": "MJy/sr", "GAIN": 2.0})
    product, _, facts = import_reduced(path, ReducedSettings())
    assert facts["gain"] == 1.0 and facts["variance"] == "estimated: background rms^2"
    assert np.allclose(product.variance, 0.01**2, rtol=0.1)
    assert facts["stats"]["pull_std"] == pytest.approx(1.0, abs=0.05)


def test_variance_planes_and_quality_bits_of_the_frame_are_used(tmp_path):
    rng = np.random.default_rng(3)
    image = rng.normal(0, 5.0, (SIZE, SIZE))
    ivar = np.full((SIZE, SIZE), 1 / 25.0)
    ivar[0, 0] = 0.0  # no data there
    quality = np.zeros((SIZE, SIZE), np.int32)
    quality[5, 5], quality[6, 6], quality[7, 7] = 2, 4, 64
    path = write(
        tmp_path / "banzai.fits",
        image,
        {"GAIN": 1.0},
        [fits.ImageHDU(ivar.astype(np.float32), name="IVAR"), fits.ImageHDU(quality, name="BPM")],
    )
    settings = ReducedSettings(
        inverse_variance_hdu="IVAR", mask_hdu="BPM", mask_bits={"SATURATED": [2], "COSMIC_RAY": [4]}
    )
    product, _, facts = import_reduced(path, settings)
    assert facts["variance"] == "the frame's inverse variance"
    assert np.isclose(product.variance[10, 10], 25.0) and np.isinf(product.variance[0, 0])
    assert product.mask[5, 5] == maskbits.SATURATED and product.mask[6, 6] == maskbits.COSMIC_RAY
    assert product.mask[7, 7] == maskbits.BAD  # a bit the site did not map
    assert product.mask[0, 0] & maskbits.BAD and product.mask[10, 10] == 0
    with pytest.raises(CalibrationError, match="banzai.fits: no HDU 'ERR'"):
        import_reduced(path, ReducedSettings(error_hdu="ERR"))
