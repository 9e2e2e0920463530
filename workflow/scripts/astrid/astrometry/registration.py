"""Matching the stars of two images and registering one onto the other.

The header WCS is only a first guess. The registration of an image onto a reference grid is
found in three steps: (1) the reference stars are projected into the image with the header
WCS; (2) the remaining offset (tens of pixels) is found by voting over all pairwise offsets
of the brightest stars; (3) stars are paired within a few pixels and an affine transform is
fitted with iterative outlier rejection. When the vote finds no clear offset (header far
off, a large rotation), an asterism match (astroalign's triangle invariants) takes over.
"""

import logging
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

log = logging.getLogger(__name__)

TOO_FEW_STARS = "TOO_FEW_STARS"
NO_MATCH = "NO_MATCH"
RESIDUAL_TOO_LARGE = "RESIDUAL_TOO_LARGE"


class AlignmentError(Exception):
    """An image cannot be registered; carries a reason code."""

    def __init__(self, code, reason):
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason


@dataclass
class Registration:
    """Affine map from image pixels to reference pixels: ref = A @ img + b."""

    matrix: np.ndarray  # (2, 2), acting on (x, y)
    offset: np.ndarray  # (2,)
    n_matched: int
    rms: float  # pixels, per coordinate, of the matched stars' residuals
    method: str  # "vote" or "asterism"

    def apply(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Map image positions to reference positions.

        Parameters
        ----------
        x, y : numpy.ndarray
            Positions on the image (0-based pixels).

        Returns
        -------
        tuple of numpy.ndarray
            The same positions (x, y) on the reference grid (pixels).
        """
        xy = self.matrix @ np.vstack([x, y]) + self.offset[:, None]
        return xy[0], xy[1]

    def inverse(self) -> "Registration":
        """The inverse map, from reference pixels to image pixels.

        The match statistics (``n_matched``, ``rms``, ``method``) are carried over unchanged.

        Returns
        -------
        Registration
            The map img = A⁻¹ @ ref − A⁻¹ @ b.
        """
        inv = np.linalg.inv(self.matrix)
        return Registration(inv, -inv @ self.offset, self.n_matched, self.rms, self.method)

    @property
    def rotation_deg(self):
        return float(np.degrees(np.arctan2(self.matrix[1, 0], self.matrix[0, 0])))

    @property
    def scale(self):
        return float(np.sqrt(abs(np.linalg.det(self.matrix))))


def vote_offset(
    x_img: np.ndarray,
    y_img: np.ndarray,
    x_ref: np.ndarray,
    y_ref: np.ndarray,
    max_offset: float,
    bin_size: float = 2.0,
) -> tuple[np.ndarray | None, int]:
    """Most common offset (ref − img) among all pairs, and how many pairs voted for it.

    Parameters
    ----------
    x_img, y_img : numpy.ndarray
        Stars of the image, already mapped to reference pixels by the first guess.
    x_ref, y_ref : numpy.ndarray
        Stars of the reference (pixels).
    max_offset : float
        Largest offset searched, per coordinate (pixels).
    bin_size : float
        Width of the vote's histogram bins (pixels).

    Returns
    -------
    offset : numpy.ndarray or None
        The offset (dx, dy) in pixels, the median of the pairs near the winning bin; None
        when no pair lies within ``max_offset``.
    votes : int
        Pairs in the winning 2×2 bins.
    """
    dx = (x_ref[None, :] - x_img[:, None]).ravel()
    dy = (y_ref[None, :] - y_img[:, None]).ravel()
    near = (np.abs(dx) < max_offset) & (np.abs(dy) < max_offset)
    if not near.any():
        return None, 0
    bins = np.arange(-max_offset, max_offset + bin_size, bin_size)
    hist, xe, ye = np.histogram2d(dx[near], dy[near], bins=[bins, bins])
    # Sum 2×2 neighbouring bins so that an offset on a bin edge is not split in two.
    summed = hist[:-1, :-1] + hist[1:, :-1] + hist[:-1, 1:] + hist[1:, 1:]
    i, j = np.unravel_index(np.argmax(summed), summed.shape)
    votes = int(summed[i, j])
    centre = np.array([xe[i + 1], ye[j + 1]])
    close = near.copy()
    close[near] = (np.abs(dx[near] - centre[0]) < bin_size * 1.5) & (
        np.abs(dy[near] - centre[1]) < bin_size * 1.5
    )
    return np.array([np.median(dx[close]), np.median(dy[close])]), votes


def fit_affine(
    x_img: np.ndarray,
    y_img: np.ndarray,
    x_ref: np.ndarray,
    y_ref: np.ndarray,
    radius: float,
    initial: Registration,
    iterations: int = 5,
    clip: float = 3.0,
) -> tuple[Registration, int]:
    """Pair stars within ``radius`` after ``initial`` and fit ref = A·img + b, rejecting outliers.

    The inputs are sorted brightest first. The fit uses every paired star; its quality
    (``rms``) is judged on the brighter half, whose centroids are precise: faint stars'
    centroid noise says nothing about the registration.

    Parameters
    ----------
    x_img, y_img : numpy.ndarray
        Stars of the image (pixels), brightest first.
    x_ref, y_ref : numpy.ndarray
        Stars of the reference (pixels), brightest first.
    radius : float
        Pairing distance after the first map (pixels); later iterations set it from the
        residuals (at least 1 pixel).
    initial : Registration
        The first map image → reference; its ``method`` is kept.
    iterations : int
        Rounds of pairing and fitting.
    clip : float
        Pairs whose residual exceeds ``clip`` × the rms residual are rejected.

    Returns
    -------
    registration : Registration
        The fitted map (``initial`` when fewer than 6 stars pair in the first round).
    n_used : int
        Stars kept in the last fit (the number paired when the fit stopped short).
    """
    registration = initial
    tree = cKDTree(np.column_stack([x_ref, y_ref]))
    n_used = 0
    for _ in range(iterations):
        px, py = registration.apply(x_img, y_img)
        distance, index = tree.query(np.column_stack([px, py]), distance_upper_bound=radius)
        paired = np.flatnonzero(np.isfinite(distance))
        if len(paired) < 6:
            return registration, len(paired)
        design = np.column_stack([x_img[paired], y_img[paired], np.ones(len(paired))])
        target = np.column_stack([x_ref[index[paired]], y_ref[index[paired]]])
        coefficients, *_ = np.linalg.lstsq(design, target, rcond=None)
        residual = target - design @ coefficients
        keep = np.hypot(*residual.T) < max(clip * np.sqrt(np.mean(residual**2)), 0.05)
        if keep.sum() >= 6:
            coefficients, *_ = np.linalg.lstsq(design[keep], target[keep], rcond=None)
        else:
            keep[:] = True
        residual = (target - design @ coefficients)[keep]
        brighter = np.arange(keep.sum()) < max(6, keep.sum() // 2)
        rms = float(np.sqrt(np.mean(residual[brighter] ** 2)))
        n_used = int(keep.sum())
        registration = Registration(
            coefficients[:2].T.copy(), coefficients[2].copy(), n_used, rms, initial.method
        )
        radius = max(3 * np.sqrt(np.mean(residual**2)) * np.sqrt(2), 1.0)
    return registration, n_used


def register(
    x_img: np.ndarray,
    y_img: np.ndarray,
    x_ref_guess: np.ndarray,
    y_ref_guess: np.ndarray,
    x_ref: np.ndarray,
    y_ref: np.ndarray,
    max_offset: float = 100.0,
    min_matches: int = 10,
    max_rms: float = 0.5,
    n_bright: int = 150,
) -> Registration:
    """Registration of an image onto a reference from their star lists.

    Parameters
    ----------
    x_img, y_img : numpy.ndarray
        Stars of the image (pixels), brightest first.
    x_ref_guess, y_ref_guess : numpy.ndarray
        The same image's stars mapped to reference pixels through the header WCSs (the
        first guess).
    x_ref, y_ref : numpy.ndarray
        Stars of the reference (pixels), brightest first.
    max_offset : float
        Largest error of the first guess searched by the vote (pixels).
    min_matches : int
        Fewest paired stars to trust the fit.
    max_rms : float
        Largest acceptable residual per coordinate (pixels).
    n_bright : int
        Brightest stars of each list used by the offset vote and the asterism match.

    Returns
    -------
    Registration
        The map image → reference, fitted on the paired stars.

    Raises
    ------
    AlignmentError
        ``TOO_FEW_STARS``, ``NO_MATCH`` or ``RESIDUAL_TOO_LARGE``.
    """
    x_img, y_img = np.asarray(x_img, float), np.asarray(y_img, float)
    if len(x_img) < min_matches or len(x_ref) < min_matches:
        raise AlignmentError(
            TOO_FEW_STARS,
            f"{len(x_img)} stars in the image and {len(x_ref)} in the reference; need {min_matches}",
        )
    gx, gy = np.asarray(x_ref_guess, float), np.asarray(y_ref_guess, float)
    # First guess as an affine map img → ref from the header WCSs.
    design = np.column_stack([x_img, y_img, np.ones(len(x_img))])
    guess, *_ = np.linalg.lstsq(design, np.column_stack([gx, gy]), rcond=None)
    first = Registration(guess[:2].T.copy(), guess[2].copy(), 0, np.inf, "vote")
    bright = slice(0, n_bright)
    shift, votes = vote_offset(
        gx[bright], gy[bright], np.asarray(x_ref)[bright], np.asarray(y_ref)[bright], max_offset
    )
    registration, matched = None, 0
    if shift is not None and votes >= min(min_matches, 6):
        first.offset = first.offset + shift
        registration, matched = fit_affine(x_img, y_img, np.asarray(x_ref), np.asarray(y_ref), 4.0, first)
    if registration is None or matched < min_matches:
        registration, matched = _asterism(x_img, y_img, np.asarray(x_ref), np.asarray(y_ref), n_bright)
    if registration is None or matched < min_matches:
        raise AlignmentError(
            NO_MATCH,
            f"no consistent offset or asterism between the image's and the reference's stars ({matched} paired)",
        )
    if registration.rms > max_rms:
        raise AlignmentError(
            RESIDUAL_TOO_LARGE,
            f"residual {registration.rms:.2f} px per coordinate exceeds {max_rms} px after pairing {matched} stars",
        )
    return registration


def _asterism(x_img, y_img, x_ref, y_ref, n_bright):
    """Fallback: triangle-invariant asterism match (astroalign), then the affine fit."""
    try:
        import astroalign
    except ImportError:  # pragma: no cover - astroalign is a pinned requirement
        return None, 0
    source = np.column_stack([x_img[:n_bright], y_img[:n_bright]])
    target = np.column_stack([x_ref[:n_bright], y_ref[:n_bright]])
    try:
        transform, _ = astroalign.find_transform(source, target, max_control_points=50)
    except Exception as error:  # noqa: BLE001 - astroalign raises bare exceptions
        log.info("asterism match failed: %s", error)
        return None, 0
    initial = Registration(
        transform.params[:2, :2].copy(), transform.params[:2, 2].copy(), 0, np.inf, "asterism"
    )
    return fit_affine(x_img, y_img, x_ref, y_ref, 3.0, initial)
