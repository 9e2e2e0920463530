"""Fake sources and artefacts put into aligned science frames before subtraction.

Production pipelines measure completeness and train real/bogus classifiers on point sources
injected into the science image before it is differenced, so that their cutouts carry the
real subtraction noise. The same frames also receive deliberate artefacts (unmasked cosmic
rays, hot pixels, bad column segments), the commonest bogus detections of a real camera.
"""

from dataclasses import dataclass

import numpy as np
from astropy.table import Table
from scipy import ndimage


@dataclass(frozen=True)
class InjectionSettings:
    """Choices of the injections; each has a ``realbogus.injection.*`` config key."""

    per_megapixel: float = 40.0  # fakes per million pixels in each pass
    snr_min: float = 3.0
    snr_max: float = 100.0
    galaxy_fraction: float = 0.5  # fakes placed on a galaxy of the reference (when it has any)
    star_fraction: float = 0.15  # fakes placed on a star of the reference: a variable brightening
    artefacts_per_megapixel: float = 25.0  # cosmic rays, hot pixels and bad columns together
    # Pixels between any two injected things: 45 (the cutout's half-diagonal) keeps each
    # 63×63 cutout to its own injection, as on a real night where transients are sparse.
    min_separation: float = 45.0


def shifted_psf(psf: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """``psf`` moved by a sub-pixel (dx, dy), by a Fourier shift (no smoothing of the core).

    Parameters
    ----------
    psf : numpy.ndarray
        The PSF stamp.
    dx, dy : float
        Shift in x and y (pixels).

    Returns
    -------
    numpy.ndarray
        The shifted stamp, of the same shape (the shift is cyclic).
    """
    spectrum = ndimage.fourier_shift(np.fft.fft2(psf), (dy, dx))
    return np.fft.ifft2(spectrum).real


def add_point_sources(
    image: np.ndarray,
    variance: np.ndarray,
    psf: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    flux: np.ndarray,
    rng: np.random.Generator,
) -> None:
    """Add point sources of ``flux`` electrons at (x, y), with their Poisson noise.

    ``psf`` is the image's own PSF (unit sum). The variance plane grows by the sources'
    expected counts, as it would for a star that was really there.

    Parameters
    ----------
    image, variance : numpy.ndarray
        The image (electrons) and its variance plane (electrons²), changed in place.
    psf : numpy.ndarray
        The image's PSF stamp (odd size, unit sum).
    x, y : numpy.ndarray
        Positions of the sources (pixels).
    flux : numpy.ndarray
        Flux of each source (electrons).
    rng : numpy.random.Generator
        Source of the Poisson noise.
    """
    half = psf.shape[0] // 2
    for xi, yi, fi in zip(x, y, flux, strict=True):
        cx, cy = int(round(xi)), int(round(yi))
        stamp = fi * np.clip(shifted_psf(psf, xi - cx, yi - cy), 0, None)
        y0, y1 = max(cy - half, 0), min(cy + half + 1, image.shape[0])
        x0, x1 = max(cx - half, 0), min(cx + half + 1, image.shape[1])
        part = stamp[y0 - (cy - half) : y1 - (cy - half), x0 - (cx - half) : x1 - (cx - half)]
        image[y0:y1, x0:x1] += rng.normal(part, np.sqrt(part)).astype(image.dtype)
        variance[y0:y1, x0:x1] += part.astype(variance.dtype)


def _free_positions(candidates, taken, min_separation, count):
    """Up to ``count`` of ``candidates`` (k, 2), each ≥ ``min_separation`` from every other
    chosen one and from ``taken``."""
    chosen = list(taken)
    out = []
    for position in candidates:
        if len(out) == count:
            break
        if chosen and np.min(np.hypot(*(np.asarray(chosen) - position).T)) < min_separation:
            continue
        chosen.append(position)
        out.append(position)
    return np.asarray(out, float).reshape(-1, 2)


def injection_sites(
    shape: tuple[int, int],
    usable: np.ndarray,
    galaxies: Table,
    settings: InjectionSettings,
    rng: np.random.Generator,
    taken: np.ndarray | tuple = (),
    stars: Table | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Positions (x, y) for one pass of fakes: some on galaxies, some on stars, the rest
    anywhere usable.

    ``usable`` is a boolean image of where the score can be trusted; ``galaxies`` a table of
    extended reference sources (``x``, ``y``, ``fwhm``), ``stars`` one of point sources
    (``x``, ``y``). A fake on a galaxy lands within half the galaxy's FWHM of its centre,
    like a supernova near its host's core; a fake on a star lands on the star, like a
    variable star brightening.

    Parameters
    ----------
    shape : (int, int)
        Shape (ny, nx) of the image.
    usable : numpy.ndarray
        Boolean image, True where the score can be trusted.
    galaxies : astropy.table.Table
        Extended reference sources (``x``, ``y``, ``fwhm`` in pixels).
    settings : InjectionSettings
        Fakes per megapixel, fractions on galaxies and on stars, least separation.
    rng : numpy.random.Generator
        Source of the positions.
    taken : (k, 2) array, optional
        Positions (x, y) already used: no site is closer than ``settings.min_separation``
        to any of them.
    stars : astropy.table.Table, optional
        Point sources of the reference (``x``, ``y``); none when not given.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        The sites (m, 2), x and y in pixels (fewer than asked where there is no room), and
        each one's host: ``"galaxy"``, ``"star"`` or ``""`` (str).
    """
    count = max(1, int(round(settings.per_megapixel * shape[0] * shape[1] / 1e6)))
    on_galaxy = np.zeros((0, 2))
    if len(galaxies) and settings.galaxy_fraction > 0:
        pick = rng.permutation(len(galaxies))
        offsets = rng.normal(0, 0.5, (len(pick), 2)) * np.asarray(galaxies["fwhm"])[pick, None] / 2.3548
        on_galaxy = np.column_stack([galaxies["x"][pick], galaxies["y"][pick]]) + offsets
    on_star = np.zeros((0, 2))
    if stars is not None and len(stars) and settings.star_fraction > 0:
        pick = rng.permutation(len(stars))
        on_star = np.column_stack([stars["x"][pick], stars["y"][pick]]).astype(float)
    anywhere = rng.uniform([0, 0], [shape[1] - 1, shape[0] - 1], (count * 4, 2))

    def inside(points):
        xi, yi = np.round(points).astype(int).T
        ok = (xi >= 0) & (xi < shape[1]) & (yi >= 0) & (yi < shape[0])
        ok[ok] &= usable[yi[ok], xi[ok]]
        return points[ok]

    used, chosen, hosts = list(taken), [], []
    for host, candidates, wanted in (
        ("galaxy", on_galaxy, int(round(count * settings.galaxy_fraction))),
        ("star", on_star, int(round(count * settings.star_fraction))),
        ("", anywhere, count),
    ):
        wanted = min(wanted, count - sum(len(c) for c in chosen))
        found = _free_positions(inside(candidates), used, settings.min_separation, wanted)
        used.extend(found)
        chosen.append(found)
        hosts.append(np.full(len(found), host, dtype="U6"))
    return np.vstack(chosen), np.concatenate(hosts)


def fake_fluxes(
    sites: np.ndarray,
    score_std: np.ndarray,
    flux_scale: float,
    flux_ratio: float,
    settings: InjectionSettings,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Science-image fluxes giving optimal S/N log-uniform in [snr_min, snr_max].

    On the difference a point source of reference flux F peaks at S = F·F_S over a noise
    ``score_std``; the science image carries F × ``flux_ratio`` electrons.

    Parameters
    ----------
    sites : numpy.ndarray
        Positions (k, 2), x and y in pixels.
    score_std : numpy.ndarray
        Standard deviation of the score image S, per pixel.
    flux_scale : float
        F_S: the score of a point source per unit reference flux.
    flux_ratio : float
        Flux scale of the science image over the reference (the frame's ``FLXRATIO``).
    settings : InjectionSettings
        The S/N range.
    rng : numpy.random.Generator
        Source of the S/N values.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        The flux of each fake in the science image (electrons) and its optimal S/N.
    """
    snr = np.exp(rng.uniform(np.log(settings.snr_min), np.log(settings.snr_max), len(sites)))
    xi, yi = np.round(sites).astype(int).T
    reference_flux = snr * score_std[yi, xi] / flux_scale
    return reference_flux * flux_ratio, snr


def add_artefacts(
    image: np.ndarray, sites: np.ndarray, background_rms: float, rng: np.random.Generator
) -> Table:
    """Cosmic-ray tracks, hot pixels and bad column segments at ``sites`` (unmasked).

    Parameters
    ----------
    image : numpy.ndarray
        The image, changed in place.
    sites : numpy.ndarray
        Positions (k, 2), x and y in pixels.
    background_rms : float
        Background noise per pixel, in the image's units: the scale of the artefacts'
        amplitudes.
    rng : numpy.random.Generator
        Source of the kinds, shapes and amplitudes.

    Returns
    -------
    astropy.table.Table
        ``x, y, kind``: what was put where.
    """
    kinds = rng.choice(["cosmic_ray", "hot_pixel", "bad_column"], len(sites), p=[0.6, 0.25, 0.15])
    for (x, y), kind in zip(sites, kinds, strict=True):
        xi, yi = int(round(x)), int(round(y))
        amplitude = background_rms * np.exp(rng.uniform(np.log(8), np.log(300)))
        if kind == "hot_pixel":
            image[yi, xi] += amplitude
            if rng.random() < 0.3:  # a hot pair
                image[yi, min(xi + 1, image.shape[1] - 1)] += amplitude * rng.uniform(0.3, 1)
        elif kind == "cosmic_ray":
            length = rng.integers(1, 12)
            angle = rng.uniform(0, np.pi)
            steps = np.linspace(-length / 2, length / 2, 2 * length + 1)
            xs = np.clip(np.round(xi + steps * np.cos(angle)).astype(int), 0, image.shape[1] - 1)
            ys = np.clip(np.round(yi + steps * np.sin(angle)).astype(int), 0, image.shape[0] - 1)
            ys, xs = np.unique(np.column_stack([ys, xs]), axis=0).T
            image[ys, xs] += amplitude * rng.uniform(0.5, 1.0, len(ys))
        else:
            length = rng.integers(5, 40)
            y0, y1 = max(yi - length // 2, 0), min(yi + length // 2 + 1, image.shape[0])
            image[y0:y1, xi] += amplitude * 0.3
    return Table({"x": sites[:, 0], "y": sites[:, 1], "kind": kinds})


def extended_sources(stars: Table, fwhm: float, factor: float = 1.4) -> Table:
    """Sources of the reference wider than ``factor`` × the PSF FWHM: galaxies.

    Parameters
    ----------
    stars : astropy.table.Table
        The reference's sources, with their ``fwhm`` (pixels) and optionally ``masked``.
    fwhm : float
        FWHM of the PSF (pixels).
    factor : float
        How much wider than the PSF a galaxy is.

    Returns
    -------
    astropy.table.Table
        The rows of ``stars`` that are wider and not masked (none without a ``fwhm`` column).
    """
    if not len(stars) or "fwhm" not in stars.colnames:
        return stars[:0]
    keep = np.asarray(stars["fwhm"]) > factor * fwhm
    if "masked" in stars.colnames:
        keep &= ~np.asarray(stars["masked"])
    return stars[keep]
