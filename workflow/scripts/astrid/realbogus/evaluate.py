"""Evaluation against the demo's truth (used by tests and benchmarks, never by the pipeline)."""

import numpy as np
from astropy.table import Table


def transient_delta_flux(transients: Table, catalog: Table, band: str, zeropoint: float) -> np.ndarray:
    """Flux change (reference electrons) of each truth transient between the two nights.

    A supernova's whole flux is new; a variable star's change is its new flux minus its
    catalog flux.

    Parameters
    ----------
    transients : astropy.table.Table
        Truth transients (``kind``, ``host_id``, ``mag_<band>``).
    catalog : astropy.table.Table
        The field's catalog (``source_id``, ``mag_<band>``), for the variables' quiescent
        magnitudes.
    band : str
        The band of the magnitude columns.
    zeropoint : float
        Zero point (mag) of the reference: the magnitude of one reference electron.

    Returns
    -------
    numpy.ndarray
        Flux change of each transient (reference electrons).
    """
    new = 10 ** (-0.4 * (np.asarray(transients[f"mag_{band}"], float) - zeropoint))
    base = np.zeros(len(transients))
    for i, row in enumerate(transients):
        if row["kind"] == "variable":
            host = catalog[catalog["source_id"] == row["host_id"]][0]
            base[i] = 10 ** (-0.4 * (host[f"mag_{band}"] - zeropoint))
    return new - base


def match_transients(
    candidates: Table, transients: Table, catalog: Table, band: str, radius_arcsec: float = 1.0
) -> Table:
    """Truth transients of a frame's field with their expected S/N and the matching candidate.

    Parameters
    ----------
    candidates : Table
        A candidate table as written by ``detect_candidates`` (its meta has ``REFZP`` and
        ``LIMMAG``, the 5σ limit).
    transients : Table
        The truth ``TRANSIENTS`` of the night.
    catalog : Table
        The field's catalog (for the variables' quiescent magnitudes).
    band : str
        The band of the magnitude columns (``mag_<band>``).
    radius_arcsec : float
        Largest separation (arcsec) between a transient and its matching candidate.

    Returns
    -------
    Table
        ``transient_id, kind, expected_snr, found, candidate`` (row of the matching
        candidate, -1 if none), ``snr, flux, flux_err, delta_flux``.
    """
    zeropoint, limit = float(candidates.meta["REFZP"]), float(candidates.meta["LIMMAG"])
    mine = transients[[tid.startswith(f"{candidates.meta['FIELD']}-") for tid in transients["transient_id"]]]
    delta = transient_delta_flux(mine, catalog, band, zeropoint)
    sigma = 10 ** (-0.4 * (limit - zeropoint)) / 5.0
    rows = []
    for row, flux in zip(mine, delta, strict=True):
        if len(candidates):
            separation = (
                np.hypot(
                    (candidates["ra"] - row["ra"]) * np.cos(np.radians(row["dec"])),
                    candidates["dec"] - row["dec"],
                )
                * 3600
            )
            best = int(np.argmin(separation))
            found = bool(separation[best] <= radius_arcsec)
        else:
            found, best = False, 0
        rows.append(
            {
                "transient_id": row["transient_id"],
                "kind": row["kind"],
                "expected_snr": flux / sigma,
                "found": found,
                "candidate": best if found else -1,
                "snr": float(candidates["snr"][best]) if found else np.nan,
                "flux": float(candidates["flux"][best]) if found else np.nan,
                "flux_err": float(candidates["flux_err"][best]) if found else np.nan,
                "delta_flux": flux,
            }
        )
    return (
        Table(rows=rows)
        if rows
        else Table(names=["transient_id", "expected_snr", "found"], dtype=[str, float, bool])
    )


def sky_uniformity(data: np.ndarray, sky_pixels: np.ndarray, box: int = 128) -> float:
    """Largest relative deviation of the sky's median in ``box``² boxes from its overall median.

    Parameters
    ----------
    data : numpy.ndarray
        The image.
    sky_pixels : numpy.ndarray
        Boolean image, True on empty sky.
    box : int
        Side of the boxes (pixels); a box with no more than ``box`` sky pixels is skipped.

    Returns
    -------
    float
        The largest |box median / median of the box medians − 1|.
    """
    levels = []
    for y in range(0, data.shape[0], box):
        for x in range(0, data.shape[1], box):
            pixels = data[y : y + box, x : x + box][sky_pixels[y : y + box, x : x + box]]
            if pixels.size > box:
                levels.append(np.median(pixels))
    levels = np.asarray(levels)
    return float(np.max(np.abs(levels / np.median(levels) - 1)))


def sky_pulls(
    data: np.ndarray, variance: np.ndarray, sky_pixels: np.ndarray, sky_level: float
) -> tuple[float, float]:
    """Mean and standard deviation of (data − sky) / σ over empty-sky pixels.

    Parameters
    ----------
    data : numpy.ndarray
        The image.
    variance : numpy.ndarray
        Its variance plane (σ², in the image's units squared).
    sky_pixels : numpy.ndarray
        Boolean image, True on empty sky.
    sky_level : float
        The expected sky, in the image's units.

    Returns
    -------
    (float, float)
        Mean and standard deviation of the pulls (0 and 1 when the variance is right).
    """
    pulls = (data[sky_pixels] - sky_level) / np.sqrt(variance[sky_pixels])
    return float(np.mean(pulls)), float(np.std(pulls))


def cosmic_ray_recovery(
    is_cosmic: np.ndarray, injected: np.ndarray, star_pixels: np.ndarray
) -> tuple[float, float]:
    """Fraction of injected cosmic-ray pixels masked, and of star pixels wrongly masked.

    Parameters
    ----------
    is_cosmic : numpy.ndarray
        Boolean image, True where the pipeline masked a cosmic ray.
    injected : numpy.ndarray
        Boolean image, True on the injected cosmic-ray pixels.
    star_pixels : numpy.ndarray
        Boolean image, True on the stars' pixels.

    Returns
    -------
    (float, float)
        The fraction of ``injected`` masked and the fraction of ``star_pixels`` masked.
    """
    return float(is_cosmic[injected].mean()), float(is_cosmic[star_pixels].mean())
