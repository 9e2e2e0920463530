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


def region_slices(shape: tuple[int, int], regions: int) -> list[tuple[slice, slice]]:
    """The (rows, columns) slices of an image cut into ``regions`` × ``regions`` regions,
    row by row from the lower left.

    Parameters
    ----------
    shape : tuple of int
        The image's (ny, nx).
    regions : int
        Regions per side.

    Returns
    -------
    list of (slice, slice)
    """
    ys = np.linspace(0, shape[0], regions + 1).round().astype(int)
    xs = np.linspace(0, shape[1], regions + 1).round().astype(int)
    return [
        (slice(ys[i], ys[i + 1]), slice(xs[j], xs[j + 1])) for i in range(regions) for j in range(regions)
    ]


def _stars_in(stars: Table, rows: slice, cols: slice) -> Table:
    inside = (stars["y"] >= rows.start - 0.5) & (stars["y"] < rows.stop - 0.5)
    inside &= (stars["x"] >= cols.start - 0.5) & (stars["x"] < cols.stop - 0.5)
    return stars[inside]


def regional_fwhm(
    stars: Table, shape: tuple[int, int], regions: int, min_stars: int = 8
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Median FWHM of the PSF stars of each region (nan where a region has fewer than
    ``min_stars``), its error and the stars' number: how much the PSF varies across the
    frame, and how well that is known.

    Parameters
    ----------
    stars : astropy.table.Table
        Every source of the image (:func:`astrid.imaging.sources.find_stars`); the PSF stars
        are chosen per region, so that a PSF wider in the corners is not taken for galaxies.
    shape : tuple of int
        The image's (ny, nx).
    regions : int
        Regions per side.
    min_stars : int
        Fewest PSF stars for a region's median.

    Returns
    -------
    fwhm : numpy.ndarray
        One FWHM (pixels) per region, in :func:`region_slices` order.
    errors : numpy.ndarray
        The error of each median (1.25 × the stars' robust spread / √n).
    counts : numpy.ndarray
        The PSF stars of each region.
    """
    from astropy.stats import mad_std

    from astrid.imaging.sources import psf_stars

    values, errors, counts = [], [], []
    for rows, cols in region_slices(shape, regions):
        good = psf_stars(_stars_in(stars, rows, cols), max_stars=len(stars))
        enough = len(good) >= min_stars
        values.append(float(np.median(good["fwhm"])) if enough else np.nan)
        errors.append(1.2533 * float(mad_std(good["fwhm"])) / np.sqrt(len(good)) if enough else np.nan)
        counts.append(len(good))
    return np.array(values), np.array(errors), np.array(counts)


def regional_psfs(
    image: np.ndarray,
    stars: Table,
    regions: int,
    fallback: np.ndarray,
    min_stars: int = 8,
) -> list[np.ndarray]:
    """One empirical PSF per region, from that region's stars; the frame's PSF where a
    region has too few.

    Parameters
    ----------
    image : numpy.ndarray
        Background-subtracted image.
    stars : astropy.table.Table
        Every source of the image, on its grid.
    regions : int
        Regions per side.
    fallback : numpy.ndarray
        The frame's PSF (its stamp size is used for every region's).
    min_stars : int
        Fewest PSF stars for a region's own PSF.

    Returns
    -------
    list of numpy.ndarray
        In :func:`region_slices` order.
    """
    from astrid.imaging.sources import psf_stars

    psfs = []
    for rows, cols in region_slices(image.shape, regions):
        good = psf_stars(_stars_in(stars, rows, cols), max_stars=50)
        try:
            psfs.append(empirical_psf(image, good, size=fallback.shape[0], min_stars=min_stars))
        except PSFError:
            psfs.append(fallback)
    return psfs
