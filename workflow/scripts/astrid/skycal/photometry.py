"""Photometric zero points from catalog stars, with a colour term and honest errors.

The model, per matched star: ``m_catalog = m_instrumental + ZP + k·(c − c₀)``, where ``c``
is the catalog colour that goes with the band (``g−r`` for r) and ``c₀`` the median colour
of the calibration stars, so that ``ZP`` is the zero point of a star of typical colour — the
one to use for a transient whose colour is unknown. Outliers are rejected by iterated
σ-clipping, starting from the median so that one bad star cannot pull the first fit, with
each star's errors plus a scatter found from the median of the normalised residuals (one
outlier cannot inflate it and so hide itself). The kept stars are then weighted by their
instrumental and catalog errors plus the intrinsic scatter that makes χ²/dof = 1
(variability, catalog systematics and flat-field errors that no error bar carries).
"""

from dataclasses import dataclass, field

import numpy as np


class PhotometryError(Exception):
    """Too few usable catalog stars for a zero point."""


@dataclass(frozen=True)
class ZeroPoint:
    """A fitted zero point: the magnitude of one electron for a star of colour ``colour_reference``."""

    zeropoint: float
    error: float
    colour_term: float = 0.0
    colour_term_error: float = 0.0
    colour_name: str = ""
    colour_reference: float = 0.0
    scatter: float = np.nan  # rms of the kept stars' residuals (mag)
    intrinsic_scatter: float = 0.0  # added to every star's error (mag)
    n_stars: int = 0
    n_rejected: int = 0
    kept: np.ndarray = field(default_factory=lambda: np.zeros(0, bool), compare=False)
    residuals: np.ndarray = field(default_factory=lambda: np.zeros(0), compare=False)
    instrumental_error: np.ndarray = field(default_factory=lambda: np.zeros(0), compare=False)

    def header_cards(self, prefix: str = "ZP") -> list[tuple[str, float | int | str, str]]:
        """FITS cards (key, value, comment) of the fit.

        Parameters
        ----------
        prefix : str
            Key prefix (``ZP`` gives ``ZP``, ``ZPERR``, ``ZPCLRTRM`` …).

        Returns
        -------
        list of (str, float or int or str, str)
        """
        return [
            (prefix, self.zeropoint, "magnitude of 1 e- (catalog), typical colour"),
            (f"{prefix}ERR", self.error, "[mag] error of the zero point"),
            (f"{prefix}CLRTM", self.colour_term, f"colour term k per mag of {self.colour_name or 'none'}"),
            (f"{prefix}CLRER", self.colour_term_error, "[mag/mag] error of the colour term"),
            (f"{prefix}CLRNM", self.colour_name or "none", "catalog colour of the colour term"),
            (f"{prefix}CLR0", self.colour_reference, "[mag] colour at which ZP applies"),
            (f"{prefix}SCAT", self.scatter, "[mag] rms of the calibration stars' residuals"),
            (f"{prefix}NSTR", self.n_stars, "calibration stars kept"),
            (f"{prefix}NREJ", self.n_rejected, "calibration stars rejected as outliers"),
        ]


def _weighted_fit(y, sigma, x=None):
    """Weighted least squares of y = a (+ b x); returns (params, covariance, chi2)."""
    w = 1.0 / sigma**2
    design = np.ones((len(y), 1)) if x is None else np.column_stack([np.ones(len(y)), x])
    normal = design.T @ (design * w[:, None])
    covariance = np.linalg.inv(normal)
    params = covariance @ (design.T @ (w * y))
    chi2 = float(np.sum(w * (y - design @ params) ** 2))
    return params, covariance, chi2


def _solve_scatter(too_small, high):
    """The smallest s in [0, high] where ``too_small(s)`` turns false (bisection)."""
    if not too_small(0.0):
        return 0.0
    low = 0.0
    while too_small(high):
        high *= 2
    for _ in range(50):
        middle = (low + high) / 2
        low, high = (middle, high) if too_small(middle) else (low, middle)
    return high


def _robust_scatter(residuals, errors):
    """The scatter added in quadrature that gives the normalised residuals the median absolute
    value of a unit Gaussian (0.6745): what the rejection uses, as one outlier cannot inflate
    it and so hide itself."""
    if len(residuals) < 2:
        return 0.0
    return _solve_scatter(
        lambda s: np.median(np.abs(residuals) / np.sqrt(errors**2 + s**2)) > 0.6745,
        max(float(np.max(np.abs(residuals))), 1e-3),
    )


def _chi2_scatter(y, errors, x, dof):
    """The scatter added in quadrature that makes χ²/dof = 1 on the kept stars: what the
    weights and the final errors use (less noisy than the median)."""
    if dof <= 0:
        return 0.0
    return _solve_scatter(
        lambda s: _weighted_fit(y, np.sqrt(errors**2 + s**2), x)[2] / dof > 1.0,
        max(float(np.std(y)), 1e-3) * 2,
    )


def fit_zero_point(
    instrumental: np.ndarray,
    instrumental_error: np.ndarray,
    catalog: np.ndarray,
    catalog_error: np.ndarray | None = None,
    colour: np.ndarray | None = None,
    colour_name: str = "",
    colour_term: float | str | None = "fit",
    clip_sigma: float = 3.0,
    min_stars: int = 5,
    max_iterations: int = 10,
) -> ZeroPoint:
    """Fit a zero point (and colour term) to matched stars.

    Parameters
    ----------
    instrumental, instrumental_error : numpy.ndarray
        The stars' instrumental magnitudes (−2.5 log10 electrons) and errors.
    catalog, catalog_error : numpy.ndarray
        Their catalog magnitudes and errors (missing errors count as 0).
    colour : numpy.ndarray, optional
        Their catalog colour (``colour_name``); without it no colour term.
    colour_name : str
        The colour's name, e.g. ``g-r``.
    colour_term : "fit", float or None
        Fit k, hold it at a configured value, or use none. A fit needs 3 stars more than
        ``min_stars`` and a colour spread of at least 0.1 mag; otherwise k is 0.
    clip_sigma : float
        Stars further than this many of their σ from the fit are rejected.
    min_stars : int
        Fewest stars kept for a zero point.
    max_iterations : int
        Most rounds of fit and rejection.

    Returns
    -------
    ZeroPoint
        The fit; ``kept``, ``residuals`` (nan where unusable) and ``instrumental_error``
        per input star.

    Raises
    ------
    PhotometryError
        When fewer than ``min_stars`` stars have finite magnitudes (and colours, when a
        colour term is used), or fewer than that survive the rejection.
    """
    inst = np.asarray(instrumental, float)
    inst_err = np.asarray(instrumental_error, float)
    cat = np.asarray(catalog, float)
    cat_err = np.zeros_like(cat) if catalog_error is None else np.nan_to_num(np.asarray(catalog_error, float))
    usable = np.isfinite(inst) & np.isfinite(cat) & np.isfinite(inst_err)
    x = None
    if colour is not None and colour_term is not None:
        colour = np.asarray(colour, float)
        usable &= np.isfinite(colour)
        if not usable.sum():
            raise PhotometryError(f"no catalog star with a {colour_name or 'colour'} to fit a zero point on")
    else:
        colour_term, colour_name = None, ""
    if usable.sum() < min_stars:
        raise PhotometryError(
            f"too few catalog stars for a zero point: {int(usable.sum())} usable, need {min_stars}"
        )
    colour0 = float(np.median(colour[usable])) if colour_term is not None else 0.0
    fit_k = colour_term == "fit" and usable.sum() >= min_stars + 3 and float(np.ptp(colour[usable])) >= 0.1
    fixed_k = float(colour_term) if isinstance(colour_term, int | float) else 0.0
    y = cat - inst
    if colour_term is not None:
        x = colour - colour0
        if not fit_k:
            y = y - fixed_k * x
    errors = np.hypot(inst_err, cat_err)
    # Start from the median: the first fit must not be pulled by a gross outlier.
    spread = 1.4826 * np.median(np.abs(y[usable] - np.median(y[usable])))
    kept = usable & (np.abs(y - np.median(y[usable])) <= max(5 * spread, 5 * np.median(errors[usable]), 0.05))
    residual = np.where(usable, y - np.median(y[usable]), np.nan)
    for _ in range(max_iterations):
        if kept.sum() < min_stars:
            raise PhotometryError(
                f"too few catalog stars for a zero point after rejecting outliers: {int(kept.sum())} of "
                f"{int(usable.sum())} kept, need {min_stars}"
            )
        xs = x[kept] if fit_k else None
        sigma = np.sqrt(errors**2 + _robust_scatter(residual[kept], errors[kept]) ** 2)
        params, _, _ = _weighted_fit(y[kept], sigma[kept], xs)
        residual = np.where(usable, y - params[0] - (params[1] * x if fit_k else 0.0), np.nan)
        again = usable & (np.abs(np.nan_to_num(residual, nan=np.inf)) <= clip_sigma * sigma)
        if np.array_equal(again, kept):
            break
        kept = again
    # The final weights and errors: the kept stars' errors plus the scatter that makes
    # their χ²/dof one.
    xs = x[kept] if fit_k else None
    scatter = _chi2_scatter(y[kept], errors[kept], xs, kept.sum() - (2 if fit_k else 1))
    params, covariance, _ = _weighted_fit(y[kept], np.sqrt(errors[kept] ** 2 + scatter**2), xs)
    residual = np.where(usable, y - params[0] - (params[1] * x if fit_k else 0.0), np.nan)
    k = float(params[1]) if fit_k else fixed_k
    k_error = float(np.sqrt(covariance[1, 1])) if fit_k else 0.0
    return ZeroPoint(
        zeropoint=float(params[0]),
        error=float(np.sqrt(covariance[0, 0])),
        colour_term=k,
        colour_term_error=k_error,
        colour_name=colour_name,
        colour_reference=colour0,
        scatter=float(np.sqrt(np.mean(residual[kept] ** 2))),
        intrinsic_scatter=float(scatter),
        n_stars=int(kept.sum()),
        n_rejected=int(usable.sum() - kept.sum()),
        kept=kept,
        residuals=residual,
        instrumental_error=inst_err,
    )
