"""Detection and measurement of candidates on the ZOGY score image.

A candidate is a local maximum of S_corr at or above the threshold, outside masked
footprints. For each one: position (sub-pixel, from a parabola through the 3×3 peak) in
pixels and on the sky; the PSF-fit flux on D (the matched filter S at the peak divided by
F_S, in reference electrons) with its error; an instrumental magnitude and, where the
reference has a catalog zero point, a calibrated one; shape and quality features; and 63×63
cutouts of the science, reference and difference images.

A field without a catalog is still detected, scored and alerted: its ``mag`` is NaN, its
``mag_inst`` (−2.5 log10 of the flux in reference electrons) is always there, and the
frame's limit is given in electrons (``LIMFLUX``) as well as in magnitudes where calibrated.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from astropy.io import fits
from astropy.table import Table
from astropy.wcs.utils import proj_plane_pixel_scales
from scipy import ndimage
from scipy.spatial import cKDTree

from astrid.imaging.sources import local_maxima, stamps_around

if TYPE_CHECKING:
    from astrid.imaging.difference import DifferenceResult
    from astrid.imaging.reference import Reference
from astrid.io.fitsio import atomic_output

CANDIDATE_COLUMNS = [
    "candidate_id",
    "x",
    "y",
    "ra",
    "dec",
    "snr",
    "flux",
    "flux_err",
    "mag",
    "mag_err",
    "mag_inst",
    "fwhm",
    "elongation",
    "neg_frac",
    "n_masked",
    "dist_ref_source",
    "dipole_min",
    "is_dipole",
]


@dataclass(frozen=True)
class DetectSettings:
    """Choices of detection; each has a ``detect.*`` config key."""

    threshold: float = 5.0
    cutout_size: int = 63
    dipole_sigma: float = 5.0
    max_candidates: int = 2000


def _parabola(minus, centre, plus):
    """Vertex offset (in [-0.5, 0.5]) of the parabola through three equally spaced values."""
    curvature = minus - 2 * centre + plus
    offset = np.where(curvature < 0, 0.5 * (minus - plus) / np.where(curvature < 0, curvature, -1), 0.0)
    return np.clip(offset, -0.5, 0.5)


def split_by_mask(xs: np.ndarray, ys: np.ndarray, bad: np.ndarray, radius: float) -> np.ndarray:
    """Which of the maxima (sorted strongest first) remain when each one that a masked
    stripe separates from a stronger one nearer than ``radius`` is dropped.

    A source cut by a masked column (a dead column, a cosmic ray's mask) has a maximum on
    each side of it, since the score is not trusted on it: one source, not two.

    Parameters
    ----------
    xs, ys : numpy.ndarray
        Pixel positions (int) of the maxima, strongest first.
    bad : numpy.ndarray of bool
        Where the score is not trusted.
    radius : float
        Farthest apart (pixels) two maxima of one source can be.

    Returns
    -------
    numpy.ndarray
        Boolean, True for the maxima kept.
    """
    keep = np.ones(len(xs), bool)
    if len(xs) < 2:
        return keep
    pairs = cKDTree(np.column_stack([xs, ys])).query_pairs(radius, output_type="ndarray")
    steps = np.linspace(0, 1, 9)[1:-1]
    for stronger, weaker in pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))]:
        if not keep[stronger]:
            continue
        line_x = np.round(xs[stronger] + steps * (xs[weaker] - xs[stronger])).astype(int)
        line_y = np.round(ys[stronger] + steps * (ys[weaker] - ys[stronger])).astype(int)
        if bad[line_y, line_x].any():
            keep[weaker] = False
    return keep


def find_candidates(
    diff: "DifferenceResult",
    new_image: np.ndarray,
    reference: "Reference",
    *,
    fwhm: float,
    exposure: str,
    settings: DetectSettings = DetectSettings(),
) -> tuple:
    """Candidates of one subtraction.

    Parameters
    ----------
    diff : astrid.imaging.difference.DifferenceResult
    new_image : numpy.ndarray
        Aligned, background-subtracted science image (for cutouts).
    reference : astrid.imaging.reference.Reference
        The reference: its image (for cutouts), sources (``stars``: the distance to the
        nearest one), grid (``wcs``) and zero point (magnitude of one reference electron;
        nan without a catalog: ``mag`` is nan and only ``mag_inst`` is given).
    fwhm : float
        FWHM (pixels) of the science PSF, the scale of the measurement windows.
    exposure : str
        Exposure id, the prefix of the candidate ids.
    settings : DetectSettings

    Returns
    -------
    (Table, numpy.ndarray)
        Candidates sorted by S_corr (highest first) and their cutouts, shape
        (n, 3, size, size): science, reference, difference.
    """
    ref_image, ref_stars, wcs, zeropoint = reference.data, reference.stars, reference.wcs, reference.zeropoint
    sub = diff.subtraction
    score_corr = np.where(diff.bad, 0.0, sub.score_corr)
    ys, xs = local_maxima(score_corr, settings.threshold - 1e-6)
    order = np.argsort(score_corr[ys, xs])[::-1][: settings.max_candidates]
    ys, xs = ys[order], xs[order]
    apart = split_by_mask(xs, ys, diff.bad, 2 * fwhm)
    ys, xs = ys[apart], xs[apart]
    s = sub.score
    dx = _parabola(s[ys, np.maximum(xs - 1, 0)], s[ys, xs], s[ys, np.minimum(xs + 1, s.shape[1] - 1)])
    dy = _parabola(s[np.maximum(ys - 1, 0), xs], s[ys, xs], s[np.minimum(ys + 1, s.shape[0] - 1), xs])
    x, y = xs + dx, ys + dy
    # S is smooth (a matched filter): a cubic spline gives its height at the sub-pixel peak.
    patches = stamps_around(s, ys, xs, 3)
    peak_score = np.array(
        [
            ndimage.map_coordinates(patch, [[3 + oy], [3 + ox]], order=3, mode="nearest")[0]
            for patch, oy, ox in zip(patches, dy, dx, strict=True)
        ]
    )
    flux = peak_score / sub.flux_scale
    flux_err = sub.score_std[ys, xs] / sub.flux_scale
    table = Table()
    table["candidate_id"] = np.array([f"{exposure}-{i:04d}" for i in range(len(xs))], dtype=str)
    table["x"], table["y"] = x, y
    ra, dec = wcs.all_pix2world(x, y, 0) if len(x) else (np.zeros(0), np.zeros(0))
    table["ra"], table["dec"] = ra, dec
    table["snr"] = score_corr[ys, xs]
    table["flux"], table["flux_err"] = flux, flux_err
    with np.errstate(invalid="ignore", divide="ignore"):
        instrumental = np.where(flux > 0, -2.5 * np.log10(flux), np.nan)
        table["mag"] = instrumental + zeropoint
        # A calibrated magnitude carries the zero point's error too.
        zeropoint_error = reference.zeropoint_error if np.isfinite(reference.zeropoint_error) else 0.0
        table["mag_err"] = np.where(flux > 0, np.hypot(1.0857 * flux_err / flux, zeropoint_error), np.nan)
        table["mag_inst"] = instrumental
    r = max(2, int(np.ceil(1.5 * fwhm)))
    d_stamps = stamps_around(sub.difference, ys, xs, r)
    offsets = np.arange(-r, r + 1)
    gy, gx = np.meshgrid(offsets, offsets, indexing="ij")
    weights = np.clip(d_stamps, 0, None) * (gx**2 + gy**2 <= r**2)
    total = np.maximum(weights.sum(axis=(1, 2)), 1e-12)
    mx = (weights * gx).sum(axis=(1, 2)) / total
    my = (weights * gy).sum(axis=(1, 2)) / total
    mxx = (weights * (gx - mx[:, None, None]) ** 2).sum(axis=(1, 2)) / total
    myy = (weights * (gy - my[:, None, None]) ** 2).sum(axis=(1, 2)) / total
    mxy = (weights * (gx - mx[:, None, None]) * (gy - my[:, None, None])).sum(axis=(1, 2)) / total
    half_trace, root = (mxx + myy) / 2, np.sqrt(((mxx - myy) / 2) ** 2 + mxy**2)
    major = np.sqrt(np.clip(half_trace + root, 1e-6, None))
    minor = np.sqrt(np.clip(half_trace - root, 1e-6, None))
    table["fwhm"] = 2.3548 * np.sqrt(major * minor)
    table["elongation"] = major / minor
    table["neg_frac"] = (stamps_around(sub.difference, ys, xs, 3) < 0).mean(axis=(1, 2))
    table["n_masked"] = (stamps_around(diff.mask, ys, xs, 3, fill=0) != 0).sum(axis=(1, 2))
    scale = float(np.mean(proj_plane_pixel_scales(wcs.celestial))) * 3600
    if len(ref_stars) and len(x):
        distance, _ = cKDTree(np.column_stack([ref_stars["x"], ref_stars["y"]])).query(
            np.column_stack([x, y])
        )
        table["dist_ref_source"] = distance * scale
    else:
        table["dist_ref_source"] = np.full(len(x), np.inf)
    dipole_r = max(3, int(np.ceil(2.5 * fwhm)))
    ring = stamps_around(np.where(diff.bad, 0.0, sub.score_corr), ys, xs, dipole_r)
    table["dipole_min"] = ring.min(axis=(1, 2)) if len(x) else np.zeros(0)
    table["is_dipole"] = table["dipole_min"] <= -settings.dipole_sigma
    table["dist_ref_source"].unit = "arcsec"
    half = settings.cutout_size // 2
    cutouts = (
        np.stack(
            [stamps_around(img, ys, xs, half) for img in (new_image, ref_image, sub.difference)], axis=1
        ).astype(np.float32)
        if len(xs)
        else np.zeros((0, 3, settings.cutout_size, settings.cutout_size), np.float32)
    )
    table.meta["THRESH"] = settings.threshold
    return table[CANDIDATE_COLUMNS], cutouts


def limiting_magnitude(
    diff: "DifferenceResult", zeropoint: float, nsigma: float = 5.0
) -> tuple[float, float]:
    """(magnitude, flux in reference electrons) of a point source detected at ``nsigma`` in
    the median of the frame's area; the magnitude is nan without a zero point.

    Parameters
    ----------
    diff : astrid.imaging.difference.DifferenceResult
        The subtraction; the median of sqrt(V(S)) over its trusted pixels sets the limit.
    zeropoint : float
        Magnitude of one reference electron (nan without a catalog).
    nsigma : float
        Detection significance of the limit (σ).

    Returns
    -------
    magnitude : float
        The limiting magnitude (nan without a zero point).
    flux : float
        The limiting flux in reference electrons.
    """
    sub = diff.subtraction
    flux_limit = nsigma * float(np.median(sub.score_std[~diff.bad])) / sub.flux_scale
    return zeropoint - 2.5 * np.log10(flux_limit), flux_limit


def photometry_cards(
    reference: "Reference", limit_mag: float, limit_flux: float
) -> list[tuple[str, bool | float | str, str]]:
    """Header cards (key, value, comment) of a frame's photometric calibration: whether it
    has one (``PHOTCAL``), the reference's zero point, its error and colour term and the 5σ
    limit in magnitudes where it does, the limit in electrons always (FITS headers take no
    NaN).

    Parameters
    ----------
    reference : astrid.imaging.reference.Reference
        The frame's reference: its zero point (nan without a catalog), error and header.
    limit_mag : float
        The 5σ limiting magnitude (see :func:`limiting_magnitude`).
    limit_flux : float
        The 5σ limiting flux (reference electrons).

    Returns
    -------
    list of (str, bool or float or str, str)
        ``PHOTCAL`` and ``LIMFLUX``; where the zero point is finite also ``REFZP``,
        ``LIMMAG``, ``REFZPERR`` (where known) and the colour term (``ZPCLRTM``,
        ``ZPCLRNM``, ``ZPCLR0``) where the reference has one.
    """
    calibrated = bool(np.isfinite(reference.zeropoint))
    cards = [
        ("PHOTCAL", calibrated, "magnitudes on a catalog zero point (else instrumental)"),
        ("LIMFLUX", float(limit_flux), "[e-] 5-sigma point-source limit, reference scale"),
    ]
    if calibrated:
        cards += [
            ("REFZP", float(reference.zeropoint), "reference zero point (mag of 1 e-)"),
            ("LIMMAG", float(limit_mag), "5-sigma point-source limit (mag)"),
        ]
        if np.isfinite(reference.zeropoint_error):
            cards.append(
                ("REFZPERR", float(reference.zeropoint_error), "[mag] error of the reference zero point")
            )
        cards += [
            (key, reference.header[key], reference.header.comments[key])
            for key in ("ZPCLRTM", "ZPCLRNM", "ZPCLR0")
            if key in reference.header
        ]
    return cards


def write_candidates(
    table_path: Path | str,
    cutout_path: Path | str,
    table: Table,
    cutouts: np.ndarray,
    header: fits.Header,
) -> None:
    """Candidate table (ECSV, with the frame's provenance in its meta) and cutouts (FITS cube).

    Parameters
    ----------
    table_path : pathlib.Path or str
        The ECSV table's path (written atomically).
    cutout_path : pathlib.Path or str
        The FITS cube's path (written atomically), with an ``IDS`` table of the
        candidate ids in the cube's order.
    table : astropy.table.Table
        Candidates (:func:`find_candidates`); a copy gets the header's cards as its meta.
    cutouts : numpy.ndarray
        Cutouts, shape (n, 3, size, size): science, reference, difference.
    header : astropy.io.fits.Header
        The frame's header (provenance); its ``EXPOSURE`` also goes into the cube.
    """
    from astropy.io import fits

    from astrid.io.fitsio import write_atomic

    table = table.copy()
    table.meta.update({key: header[key] for key in header if key not in ("COMMENT", "HISTORY", "")})
    with atomic_output(table_path) as tmp:
        table.write(tmp, format="ascii.ecsv", overwrite=True)
    primary = fits.PrimaryHDU(cutouts.astype(np.float32))
    primary.header["PLANES"] = ("science,reference,difference", "axis 2 of the cube")
    primary.header["EXPOSURE"] = header.get("EXPOSURE", "")
    ids = np.asarray(table["candidate_id"], str)
    width = max(40, max((len(i) for i in ids), default=0))
    ids = fits.BinTableHDU.from_columns(
        [fits.Column(name="candidate_id", format=f"{width}A", array=ids)],
        name="IDS",
    )
    write_atomic(fits.HDUList([primary, ids]), cutout_path)


def empty_candidates(settings: DetectSettings) -> tuple[Table, np.ndarray]:
    """An empty candidate table and cutout cube (for a frame that was not differenced).

    Parameters
    ----------
    settings : DetectSettings
        Gives the cutouts' size.

    Returns
    -------
    table : astropy.table.Table
        No rows, the columns of :func:`find_candidates`.
    cutouts : numpy.ndarray
        Shape (0, 3, size, size), float32.
    """
    dtypes = {"candidate_id": str, "n_masked": int, "is_dipole": bool}
    table = Table(names=CANDIDATE_COLUMNS, dtype=[dtypes.get(name, float) for name in CANDIDATE_COLUMNS])
    return table, np.zeros((0, 3, settings.cutout_size, settings.cutout_size), np.float32)
