"""Empirical point-spread functions from isolated, unsaturated stars."""

import numpy as np
from scipy import ndimage


class PSFError(Exception):
    """Too few good stars to model the PSF."""


def empirical_psf(image, stars, size=31, min_stars=5):
    """Median of the normalised, re-centred stamps of ``stars`` (unit sum, centred).

    Parameters
    ----------
    image : ndarray
        Background-subtracted image.
    stars : table
        Isolated, unsaturated stars with sub-pixel ``x, y`` (see ``sources.psf_stars``).
    size : int
        Odd side of the PSF stamp in pixels.
    min_stars : int
        Fewest stars to accept.

    Returns
    -------
    ndarray (size, size)
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


def psf_fwhm(psf):
    """FWHM (pixels) of a PSF stamp: the diameter of the area above half maximum."""
    fine = ndimage.zoom(psf, 4, order=3)  # count the area on a 4× finer grid
    area = (fine >= fine.max() / 2).sum() / 16.0
    return float(2 * np.sqrt(area / np.pi))
