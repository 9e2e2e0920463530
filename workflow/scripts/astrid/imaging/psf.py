"""Empirical point-spread functions from isolated, unsaturated stars."""

import numpy as np
from astropy.table import Table
from scipy import ndimage


class PSFError(Exception):
    """Too few good stars to model the PSF."""


def empirical_psf(image: np.ndarray, stars: Table, size: int = 31, min_stars: int = 5) -> np.ndarray:
    """Median of the normalised, re-centred stamps of ``stars`` (unit sum, centred).

    Parameters
    ----------
    image : numpy.ndarray
        Background-subtracted image (electrons).
    stars : astropy.table.Table
        Isolated, unsaturated stars with sub-pixel ``x, y`` (see ``sources.psf_stars``).
    size : int
        Odd side of the PSF stamp in pixels.
    min_stars : int
        Fewest stars to accept.

    Returns
    -------
    numpy.ndarray
        The PSF stamp, shape (size, size), float64, non-negative with unit sum.

    Raises
    ------
    PSFError
        When fewer than ``min_stars`` stars have a whole stamp inside the image and a
        positive flux.
    """
    half = size // 2
    pad = half + 3
    stamps = []
    for x, y in zip(stars["x"], stars["y"], strict=True):
        xi, yi = int(round(x)), int(round(y))
        if not (pad <= xi < image.shape[1] - pad and pad <= yi < image.shape[0] - pad):
            continue
        cut = image[yi - pad : yi + pad + 1, xi - pad : xi + pad + 1].astype(np.float64)
        # A Fourier shift moves a sampled star without smoothing it; a spline shift
        # broadens a sharp core, and the model error shows as rings around bright stars.
        shifted = np.fft.ifft2(ndimage.fourier_shift(np.fft.fft2(cut), (yi - y, xi - x))).real
        stamp = shifted[3:-3, 3:-3]
        total = stamp.sum()
        if total > 0:
            stamps.append(stamp / total)
    if len(stamps) < min_stars:
        raise PSFError(f"only {len(stamps)} isolated unsaturated stars to model the PSF (need {min_stars})")
    # The image is background-subtracted: the stamps' outer ring holds the PSF's wings,
    # which must stay (subtracting them would bias every PSF flux high by a few per cent).
    psf = np.median(stamps, axis=0)
    psf[psf < 0] = 0.0
    return (psf / psf.sum()).astype(np.float64)


def psf_fwhm(psf: np.ndarray) -> float:
    """FWHM (pixels) of a PSF stamp: the diameter of the area above half maximum.

    Parameters
    ----------
    psf : numpy.ndarray
        Centred PSF stamp.

    Returns
    -------
    float
        The FWHM in pixels, from the area above half maximum on a 4× finer grid.
    """
    fine = ndimage.zoom(psf, 4, order=3)  # count the area on a 4× finer grid
    area = (fine >= fine.max() / 2).sum() / 16.0
    return float(2 * np.sqrt(area / np.pi))
