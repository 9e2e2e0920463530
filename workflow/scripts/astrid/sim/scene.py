"""PSF and galaxy profiles and the noiseless image of a frame's sources."""

from typing import TYPE_CHECKING

import numpy as np
from scipy.signal import fftconvolve

if TYPE_CHECKING:
    from astropy.table import Table


def moffat_alpha(fwhm: float, beta: float) -> float:
    """The Moffat core width α of a profile with the given FWHM and β.

    Parameters
    ----------
    fwhm : float
        Full width at half maximum (pixels).
    beta : float
        Moffat β.

    Returns
    -------
    float
        α (pixels): FWHM = 2α √(2^(1/β) − 1).
    """
    return fwhm / (2.0 * np.sqrt(2.0 ** (1.0 / beta) - 1.0))


def moffat_stamp(
    fwhm: float, beta: float, dx: float, dy: float, radius: int, oversample: int = 3
) -> np.ndarray:
    """Pixel-integrated Moffat profile of unit total flux on a (2r+1)² stamp.

    ``dx, dy`` is the sub-pixel offset of the centre from the stamp's central pixel.

    Parameters
    ----------
    fwhm : float
        Full width at half maximum (pixels).
    beta : float
        Moffat β.
    dx, dy : float
        Offset of the centre (pixels).
    radius : int
        Half-size of the stamp (pixels).
    oversample : int
        Sub-pixels per pixel along each axis for the integration.

    Returns
    -------
    numpy.ndarray
        ``(2 radius + 1)²`` stamp; it sums to slightly less than 1, the wings beyond the
        stamp being cut off.
    """
    alpha = moffat_alpha(fwhm, beta)
    n = 2 * radius + 1
    sub = (np.arange(n * oversample) + 0.5) / oversample - 0.5 - radius
    yy, xx = np.meshgrid(sub - dy, sub - dx, indexing="ij")
    profile = (beta - 1) / (np.pi * alpha**2) * (1 + (xx**2 + yy**2) / alpha**2) ** (-beta)
    return profile.reshape(n, oversample, n, oversample).mean(axis=(1, 3))


def sersic_stamp(r_eff_px: float, n: float, axis_ratio: float, pa_deg: float, radius: int) -> np.ndarray:
    """Sérsic profile of unit flux (normalised on the stamp), centred on the stamp.

    Parameters
    ----------
    r_eff_px : float
        Effective (half-light) radius (pixels).
    n : float
        Sérsic index.
    axis_ratio : float
        Minor over major axis.
    pa_deg : float
        Position angle of the major axis (degrees).
    radius : int
        Half-size of the stamp (pixels).

    Returns
    -------
    numpy.ndarray
        ``(2 radius + 1)²`` stamp summing to 1.
    """
    from scipy.special import gammaincinv

    b_n = gammaincinv(2 * n, 0.5)
    yy, xx = np.mgrid[-radius : radius + 1, -radius : radius + 1].astype(float)
    theta = np.radians(pa_deg)
    xr = xx * np.cos(theta) + yy * np.sin(theta)
    yr = -xx * np.sin(theta) + yy * np.cos(theta)
    r = np.sqrt(xr**2 + (yr / axis_ratio) ** 2)
    profile = np.exp(-b_n * ((np.maximum(r, 0.3) / r_eff_px) ** (1.0 / n) - 1))
    return profile / profile.sum()


def _add_stamp(image, stamp, xc, yc):
    """Add ``stamp`` centred on integer pixel (xc, yc), clipping at the image edges."""
    r = stamp.shape[0] // 2
    y0, x0 = yc - r, xc - r
    y1, x1 = y0 + stamp.shape[0], x0 + stamp.shape[1]
    sy0, sx0 = max(0, -y0), max(0, -x0)
    sy1 = stamp.shape[0] - max(0, y1 - image.shape[0])
    sx1 = stamp.shape[1] - max(0, x1 - image.shape[1])
    if sy1 <= sy0 or sx1 <= sx0:
        return
    image[max(y0, 0) : min(y1, image.shape[0]), max(x0, 0) : min(x1, image.shape[1])] += stamp[
        sy0:sy1, sx0:sx1
    ]


def render_scene(shape: tuple[int, int], sources: "Table", fwhm: float, beta: float) -> np.ndarray:
    """Noiseless image (electrons, before the flat field) of point sources and galaxies.

    ``sources`` is a table with pixel ``x, y`` (0-based), ``flux_e`` and ``kind``; galaxies
    also carry ``r_eff_px``, ``sersic_n``, ``axis_ratio`` and ``pa_deg``.

    Parameters
    ----------
    shape : tuple of int
        The image's (ny, nx) in pixels.
    sources : astropy.table.Table
        The sources, as above; those more than 60 pixels outside the image are skipped.
    fwhm : float
        Seeing FWHM (pixels).
    beta : float
        Moffat β; galaxies are convolved with the same PSF.

    Returns
    -------
    numpy.ndarray
        float64 image (electrons).
    """
    image = np.zeros(shape, dtype=np.float64)
    margin = 60
    psf_for_galaxies = moffat_stamp(fwhm, beta, 0.0, 0.0, int(np.ceil(3 * fwhm)))
    for row in sources:
        x, y, flux = float(row["x"]), float(row["y"]), float(row["flux_e"])
        if not (-margin < x < shape[1] + margin and -margin < y < shape[0] + margin):
            continue
        xc, yc = int(np.round(x)), int(np.round(y))
        if row["kind"] == "galaxy":
            r_eff = float(row["r_eff_px"])
            radius = int(min(60, max(8, np.ceil(5 * r_eff))))
            galaxy = sersic_stamp(
                r_eff, float(row["sersic_n"]), float(row["axis_ratio"]), float(row["pa_deg"]), radius
            )
            stamp = fftconvolve(galaxy, psf_for_galaxies, mode="same")
        else:
            # Bright stars need wide stamps so that their wings are not cut off.
            radius = int(np.ceil(fwhm * (4 if flux < 1e5 else 12 if flux < 1e7 else 25)))
            stamp = moffat_stamp(fwhm, beta, x - xc, y - yc, radius)
        _add_stamp(image, flux * stamp, xc, yc)
    return image


def render_varying_psf(
    shape: tuple[int, int], sources: "Table", fwhm_centre: float, fwhm_corner: float, beta: float
) -> np.ndarray:
    """Noiseless image of point sources whose PSF widens from the centre to the corners, as
    field curvature or a tilted detector make it: FWHM = centre + (corner − centre)·(r/r_max)²,
    r the distance from the image's centre.

    Parameters
    ----------
    shape : tuple of int
        The image's (ny, nx).
    sources : astropy.table.Table
        Point sources: ``x``, ``y``, ``flux_e``, ``kind``.
    fwhm_centre, fwhm_corner : float
        FWHM (pixels) at the centre and in the corners.
    beta : float
        Moffat β.

    Returns
    -------
    numpy.ndarray
        float64 image (electrons).
    """
    cy, cx = (shape[0] - 1) / 2, (shape[1] - 1) / 2
    r2 = ((np.asarray(sources["x"]) - cx) ** 2 + (np.asarray(sources["y"]) - cy) ** 2) / (cx**2 + cy**2)
    fwhm = fwhm_centre + (fwhm_corner - fwhm_centre) * np.clip(r2, 0, 1)
    # Twenty steps of FWHM: within 0.5 % of each source's own.
    steps = np.linspace(fwhm.min(), fwhm.max(), 21)
    nearest = np.abs(fwhm[:, None] - steps[None, :]).argmin(axis=1)
    image = np.zeros(shape, dtype=np.float64)
    for k in np.unique(nearest):
        image += render_scene(shape, sources[nearest == k], float(steps[k]), beta)
    return image
