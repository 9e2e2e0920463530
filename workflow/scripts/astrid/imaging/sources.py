"""Background and bright-source finding on calibrated images.

These are the quick, robust measurements every later stage needs: a smooth background, the
stars of an image with sub-pixel centroids, fluxes and sizes, and which of them are isolated
and unsaturated enough to model the PSF or to tie two images together.
"""

import numpy as np
from astropy.table import Table
from scipy import ndimage

from astrid.imaging.blocks import filter_rows, map_row_blocks
from astrid.io import maskbits


def subtract_background(data: np.ndarray, sky: np.ndarray, bad: np.ndarray, workers: int = 1) -> np.ndarray:
    """``data - sky`` as float32, with the ``bad`` pixels set to 0, in row blocks.

    Parameters
    ----------
    data : numpy.ndarray
        The image (electrons).
    sky : numpy.ndarray
        Its background (electrons), e.g. from :func:`background`.
    bad : numpy.ndarray of bool
        True where a pixel is masked.
    workers : int
        Threads (row blocks); the result does not depend on them.

    Returns
    -------
    numpy.ndarray
        The background-subtracted image, float32.
    """
    return filter_rows(
        lambda d, s, b: np.where(b, 0.0, d - s).astype(np.float32), [data, sky, bad], 0, workers
    )


def background(
    data: np.ndarray, mask: np.ndarray | None = None, box: int = 128, workers: int = 1
) -> tuple[np.ndarray, float]:
    """Smooth background and its noise from box statistics, interpolated back to every pixel.

    Two passes: the first estimate (a mode, from a sample of each box) finds the pixels of
    sources (3σ above it after a 3×3 average, grown by 2 pixels); the second leaves them
    out, so that the wings of many faint stars do not lift the background of a crowded
    field, and takes the 3σ-clipped mean of every remaining pixel of the box. The mean of
    all pixels is the least noisy level: with the mode of a sample, the backgrounds of a
    4096² pair were off by 0.012σ per pixel from box to box, which ZOGY's matched filter
    turns into offsets of 0.1σ in S_corr and false detections at 5σ (measured: 3 per frame
    on seed 1 of the benchmark pairs; 0 with the true background).

    Parameters
    ----------
    data : numpy.ndarray
        The image (electrons).
    mask : numpy.ndarray of bool, optional
        True where pixels must be ignored.
    box : int
        Box size in pixels. Sources much smaller than a box do not bias it; and the box must
        be large, because the ZOGY score integrates over the PSF: an error of the background
        of a few per cent of σ per box, from too few pixels, becomes a tenth of a σ in S_corr.
    workers : int
        Threads (row blocks); the result does not depend on them.

    Returns
    -------
    background : numpy.ndarray
        The background image (electrons), float32.
    rms : float
        The median over boxes of the robust (MAD) standard deviation of the pixels
        (electrons).
    """
    sky, rms = _box_background(data, mask, box, workers)

    def source_pixels(data, sky):
        # 3σ of the 3×3-averaged noise (σ/3): pure noise flags ~3 % of pixels once grown,
        # too few to bias the rest low; a lower threshold would.
        return maskbits.grow(_sum3x3(np.asarray(data, np.float32) - sky) > 9 * rms, 2)

    sources = filter_rows(source_pixels, [data, sky], reach=3, workers=workers)
    if mask is not None:
        sources |= mask
    if sources.mean() < 0.7:  # keep enough sky in each box to measure
        sky, rms = _box_background(data, sources, box, workers, clipped_mean=True)
    return sky, rms


def _sum3x3(image):
    """Sum over each pixel's 3×3 square, edges reflected (9 × scipy's ``uniform_filter(image,
    3)``, ten times faster as shifted sums)."""
    total = image.copy()
    for axis in (0, 1):
        part = total.copy()
        first, last = [slice(None)] * 2, [slice(None)] * 2
        lower, upper = [slice(None)] * 2, [slice(None)] * 2
        lower[axis], upper[axis] = slice(None, -1), slice(1, None)
        total[tuple(upper)] += part[tuple(lower)]
        total[tuple(lower)] += part[tuple(upper)]
        first[axis], last[axis] = slice(0, 1), slice(-1, None)
        total[tuple(first)] += part[tuple(first)]  # reflected: the edge pixel counts twice
        total[tuple(last)] += part[tuple(last)]
    return total


STEP = 2  # every second pixel of every second row: plenty for a box's statistics


def _box_statistics(data, mask, box, workers=1, clipped_mean=False):
    """Each box's background level and robust (MAD) standard deviation: arrays (by, bx).

    The level is the mode of every ``STEP``-th pixel; with ``clipped_mean``, the 3σ-clipped
    mean of every pixel, lifted by the median over boxes of mode - mean.
    """
    ny, nx = data.shape
    by, bx = max(1, ny // box), max(1, nx // box)

    def boxes(start, stop, step):  # (box rows, box columns, pixels), masked pixels NaN
        values = data[start:stop:step, : bx * box : step].astype(np.float32)
        if mask is not None:
            values[mask[start:stop:step, : bx * box : step]] = np.nan
        crop = values.reshape(-1, box // step, bx, box // step).swapaxes(1, 2)
        return crop.reshape(crop.shape[0], bx, -1)

    def statistics(start, stop):  # of the boxes whose rows lie in [start, stop)
        mode, spread = _box_median_and_mad(boxes(start, stop, STEP))
        if not clipped_mean:
            return mode, spread, mode
        every = boxes(start, stop, 1)
        with np.errstate(invalid="ignore", divide="ignore"):  # NaN: a box all masked
            inside = np.abs(every - mode[..., None]) <= 3 * spread[..., None]
            mean = np.where(inside, every, 0.0).sum(axis=-1) / inside.sum(axis=-1)
        return mean, spread, mode

    parts = map_row_blocks(statistics, by * box, workers, multiple=box)
    levels, spreads, modes = (np.concatenate(column) for column in zip(*parts, strict=True))
    if clipped_mean:
        # The faint wings of unmasked sources lift a mean: take the mode's level, by the
        # median over boxes of mode - mean. That offset is one constant for the image: its
        # noise averages out over the boxes, where each box's own mode is noisy, but a
        # field whose crowding changes across the image keeps the change in its mean.
        levels = levels + np.nanmedian(modes - levels)
    return levels, spreads


def _box_background(data, mask, box, workers=1, clipped_mean=False):
    """The background image (box levels interpolated to every pixel) and its noise."""
    ny, nx = data.shape
    levels, spreads = _box_statistics(data, mask, box, workers, clipped_mean)
    by, bx = levels.shape
    # A box dominated by a bright star stands out: a 3×3 median over boxes removes it.
    if by >= 3 and bx >= 3:
        levels = ndimage.median_filter(levels, size=3, mode="nearest")
    levels = np.where(np.isfinite(levels), levels, np.nanmedian(levels))
    rms = float(np.nanmedian(spreads))
    # Bilinear interpolation between box centres, as two small matrix products.
    rows, cols = _interpolation_matrix(ny, by, box), _interpolation_matrix(nx, bx, box)
    return (rows @ levels.astype(np.float32) @ cols.T).astype(np.float32), rms


def noise_rms(data: np.ndarray, mask: np.ndarray | None = None, box: int = 128, workers: int = 1) -> float:
    """Background noise of an image whose background is already subtracted: the median
    over boxes of the pixels' robust (MAD) standard deviation, ``mask`` (True) left out.

    One pass, no source masking: the MAD of a box barely feels the few per cent of its
    pixels that sources cover (the background level would).

    Parameters
    ----------
    data : numpy.ndarray
        Background-subtracted image (electrons).
    mask : numpy.ndarray of bool, optional
        True where pixels must be ignored.
    box : int
        Box size in pixels.
    workers : int
        Threads (row blocks); the result does not depend on them.

    Returns
    -------
    float
        The noise per pixel (electrons).
    """
    return float(np.nanmedian(_box_statistics(data, mask, box, workers)[1]))


def _interpolation_matrix(n, n_boxes, box):
    """(n, n_boxes) weights of linear interpolation from box centres to pixels (flat at the ends)."""
    weights = np.zeros((n, n_boxes), np.float32)
    if n_boxes == 1:
        weights[:, 0] = 1.0
        return weights
    centres = (np.arange(n_boxes) + 0.5) * box - 0.5
    position = np.clip(np.arange(n, dtype=np.float64), centres[0], centres[-1])
    upper = np.clip(np.searchsorted(centres, position, side="right"), 1, n_boxes - 1)
    lower = upper - 1
    t = (position - centres[lower]) / (centres[upper] - centres[lower])
    rows = np.arange(n)
    weights[rows, lower] = 1 - t
    weights[rows, upper] += t
    return weights


def _box_median_and_mad(crop):
    """Background level (mode) and MAD-based standard deviation along the last axis, ignoring NaN."""
    ordered = np.sort(crop, axis=-1)  # NaN sort to the end
    count = np.isfinite(ordered).sum(axis=-1)

    def quantile_half(sorted_values, n):
        lo = np.clip((n - 1) // 2, 0, None)
        hi = np.clip(n // 2, 0, None)
        a = np.take_along_axis(sorted_values, lo[..., None], axis=-1)[..., 0]
        b = np.take_along_axis(sorted_values, hi[..., None], axis=-1)[..., 0]
        return np.where(n > 0, (a + b) / 2, np.nan)

    median = quantile_half(ordered, count)
    deviations = np.sort(np.abs(ordered - median[..., None]), axis=-1)
    sigma = 1.4826 * quantile_half(deviations, count)
    # In a crowded box the faint wings of stars skew the distribution: the mode, estimated
    # as 2.5 median - 1.5 mean of the 3σ-clipped pixels (SExtractor), is the background.
    with np.errstate(invalid="ignore"):
        inside = np.abs(ordered - median[..., None]) <= 3 * sigma[..., None]
        mean = np.nansum(np.where(inside, ordered, 0.0), axis=-1) / np.maximum(inside.sum(axis=-1), 1)
        skewed = np.abs(mean - median) > 0.3 * sigma
    mode = np.where(skewed, median, 2.5 * median - 1.5 * mean)
    return mode, sigma


def find_stars(
    data: np.ndarray,
    variance: np.ndarray,
    mask: np.ndarray,
    threshold: float = 10.0,
    fwhm_guess: float = 3.0,
    box: int = 128,
    max_sources: int = 5000,
    background_rms: float | None = None,
    workers: int = 1,
) -> Table:
    """Point-like sources above ``threshold`` σ, with centroids, fluxes and sizes.

    The background-subtracted image is smoothed with a Gaussian of the guessed FWHM, local
    maxima above the threshold are kept, and each is measured in a window of ±2 FWHM:
    first-moment centroid, second-moment FWHM and elongation, and the flux in a circular
    aperture of radius 2 FWHM (≈ 99 % of a Moffat β = 3.5 profile; used for ratios only).

    ``background_rms`` tells that ``data`` is already background-subtracted and gives its
    noise, which saves estimating the background again. ``workers`` threads share the
    image-wide filters.

    Parameters
    ----------
    data : numpy.ndarray
        The image (electrons).
    variance : numpy.ndarray
        Its variance (electrons²), for the flux errors.
    mask : numpy.ndarray
        Mask bits; pixels with any bit set are ignored.
    threshold : float
        Detection threshold in σ of the smoothed image's noise.
    fwhm_guess : float
        Guessed FWHM (pixels): the smoothing kernel and the measurement window.
    box : int
        Box size (pixels) of the background, when it is estimated here.
    max_sources : int
        Most local maxima kept, highest first.
    background_rms : float, optional
        Noise per pixel (electrons) of an already background-subtracted ``data``.
    workers : int
        Threads; the result does not depend on them.

    Returns
    -------
    astropy.table.Table
        Columns ``x, y`` (0-based pixels), ``flux``, ``flux_err``, ``snr``, ``peak``,
        ``fwhm``, ``elongation``, ``masked`` (any mask bit in the window), ``isolated``
        (no brighter-than-10 % neighbour within 4 FWHM). Sorted by flux, brightest first.
    """
    bad = mask != 0
    if background_rms is None:
        sky, rms = background(data, bad, box, workers)
        image = np.where(bad, 0.0, data - sky).astype(np.float32)
    else:  # already background-subtracted, with this noise
        rms = background_rms
        image = np.where(bad, 0.0, data).astype(np.float32)
    sigma = fwhm_guess / 2.3548
    reach = int(4 * sigma + 0.5)  # gaussian_filter's default truncation
    smooth = filter_rows(lambda rows: ndimage.gaussian_filter(rows, sigma), [image], reach, workers)
    # Noise of the smoothed image for white noise of ``rms`` per pixel.
    smooth_rms = rms / (2 * np.sqrt(np.pi) * sigma)
    ys, xs = local_maxima(smooth, threshold * smooth_rms)
    order = np.argsort(smooth[ys, xs])[::-1][:max_sources]
    ys, xs = ys[order], xs[order]
    r = int(np.ceil(2 * fwhm_guess))
    keep = (ys >= r) & (ys < data.shape[0] - r) & (xs >= r) & (xs < data.shape[1] - r)
    ys, xs = ys[keep], xs[keep]
    offsets = np.arange(-r, r + 1)
    dy, dx = np.meshgrid(offsets, offsets, indexing="ij")
    aperture = (dx**2 + dy**2) <= r**2
    stamps = image[ys[:, None, None] + dy, xs[:, None, None] + dx]
    weights = np.clip(stamps, 0, None) * aperture
    total = weights.sum(axis=(1, 2))
    total = np.where(total > 0, total, np.nan)
    cx = (weights * dx).sum(axis=(1, 2)) / total
    cy = (weights * dy).sum(axis=(1, 2)) / total
    cx, cy = _windowed_centroid(stamps, dx, dy, cx, cy, sigma)
    mxx = (weights * (dx - cx[:, None, None]) ** 2).sum(axis=(1, 2)) / total
    myy = (weights * (dy - cy[:, None, None]) ** 2).sum(axis=(1, 2)) / total
    mxy = (weights * (dx - cx[:, None, None]) * (dy - cy[:, None, None])).sum(axis=(1, 2)) / total
    half_trace, det_term = (mxx + myy) / 2, np.sqrt(((mxx - myy) / 2) ** 2 + mxy**2)
    major, minor = (
        np.sqrt(np.clip(half_trace + det_term, 1e-6, None)),
        np.sqrt(np.clip(half_trace - det_term, 1e-6, None)),
    )
    flux = (stamps * aperture).sum(axis=(1, 2))
    flux_var = np.where(aperture, variance[ys[:, None, None] + dy, xs[:, None, None] + dx], 0.0).sum(
        axis=(1, 2)
    )
    masked = bad[ys[:, None, None] + dy, xs[:, None, None] + dx].any(axis=(1, 2))
    table = Table()
    table["x"] = xs + cx
    table["y"] = ys + cy
    table["flux"] = flux
    table["flux_err"] = np.sqrt(np.clip(flux_var, 0, None))
    table["snr"] = flux / table["flux_err"]
    table["peak"] = image[ys, xs]
    # Second moments of the clipped window: FWHM of the equivalent Gaussian.
    table["fwhm"] = 2.3548 * np.sqrt(major * minor)
    table["elongation"] = major / minor
    table["masked"] = masked
    table["isolated"] = _isolated(table["x"], table["y"], flux, 4 * fwhm_guess)
    good = np.isfinite(table["x"]) & np.isfinite(table["fwhm"]) & (flux > 0)
    table = table[good]
    table.sort("flux", reverse=True)
    table.meta["BKG_RMS"] = rms
    return table


def stamps_around(
    image: np.ndarray, ys: np.ndarray, xs: np.ndarray, half: int, fill: float | bool = 0.0
) -> np.ndarray:
    """(n, 2·half+1, 2·half+1) stamps of ``image`` centred on the pixels (ys, xs).

    Parameters
    ----------
    image : numpy.ndarray
        The image.
    ys, xs : numpy.ndarray
        Row and column (int) of each centre.
    half : int
        Half-width of the stamps (pixels).
    fill : scalar
        Value of the stamps' pixels beyond the image's edge.

    Returns
    -------
    numpy.ndarray
        The stamps, of ``image``'s dtype (or ``fill``'s where wider).
    """
    offsets = np.arange(-half, half + 1)
    rows = ys[:, None, None] + offsets[None, :, None]
    cols = xs[:, None, None] + offsets[None, None, :]
    inside = (rows >= 0) & (rows < image.shape[0]) & (cols >= 0) & (cols < image.shape[1])
    values = image[np.clip(rows, 0, image.shape[0] - 1), np.clip(cols, 0, image.shape[1] - 1)]
    return np.where(inside, values, fill)


def local_maxima(image: np.ndarray, threshold: float, half: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Pixels above ``threshold`` that are the maximum of their (2·half+1)² neighbourhood.

    Only the pixels above the threshold are examined, which at survey sizes is much cheaper
    than a maximum filter over the whole image.

    Parameters
    ----------
    image : numpy.ndarray
        The image searched.
    threshold : float
        Pixels must be strictly above this value (in the image's units).
    half : int
        Half-width of the neighbourhood (pixels); pixels beyond the image's edge do not
        count.

    Returns
    -------
    ys, xs : numpy.ndarray
        Row and column indices of the maxima, in row-major order. Equal neighbours both
        count as maxima.
    """
    ys, xs = np.nonzero(image > threshold)
    if len(ys) == 0:
        return ys, xs
    padded = np.pad(image, half, mode="constant", constant_values=-np.inf)
    offsets = np.arange(-half, half + 1)
    is_max = np.ones(len(ys), bool)
    for dy in offsets:
        for dx in offsets:
            if dy or dx:
                is_max &= image[ys, xs] >= padded[ys + half + dy, xs + half + dx]
    return ys[is_max], xs[is_max]


def _windowed_centroid(stamps, dx, dy, cx, cy, sigma, iterations=5):
    """Gaussian-windowed centroids (SExtractor's XWIN_IMAGE): unbiased by sub-pixel position.

    A plain first moment in a window centred on the peak pixel is pulled towards that pixel;
    weighting by a Gaussian of the PSF's width centred on the current estimate, and
    iterating, removes the bias and most of the noise of the faint wings.
    """
    for _ in range(iterations):
        ddx, ddy = dx - cx[:, None, None], dy - cy[:, None, None]
        window = np.exp(-(ddx**2 + ddy**2) / (2 * sigma**2))
        weights = stamps * window
        total = weights.sum(axis=(1, 2))
        ok = total > 0
        step_x = np.where(ok, 2 * (weights * ddx).sum(axis=(1, 2)) / np.where(ok, total, 1), 0)
        step_y = np.where(ok, 2 * (weights * ddy).sum(axis=(1, 2)) / np.where(ok, total, 1), 0)
        cx = cx + np.clip(step_x, -1, 1)
        cy = cy + np.clip(step_y, -1, 1)
    return cx, cy


def _isolated(x, y, flux, radius):
    """True where no other source brighter than 10 % of this one lies within ``radius``."""
    from scipy.spatial import cKDTree

    points = np.column_stack([x, y])
    if len(points) < 2:
        return np.ones(len(points), bool)
    tree = cKDTree(points)
    isolated = np.ones(len(points), bool)
    for i, neighbours in enumerate(tree.query_ball_point(points, radius)):
        for j in neighbours:
            if j != i and flux[j] > 0.1 * flux[i]:
                isolated[i] = False
                break
    return isolated


def psf_stars(stars: Table, min_snr: float = 20.0, max_stars: int = 100) -> Table:
    """Stars fit to model the PSF or to tie images: isolated, unmasked (so unsaturated),
    round, well measured.

    Parameters
    ----------
    stars : astropy.table.Table
        Sources from :func:`find_stars`.
    min_snr : float
        Lowest signal-to-noise ratio of the aperture flux.
    max_stars : int
        Most stars returned (the first ones, brightest first from :func:`find_stars`).

    Returns
    -------
    astropy.table.Table
        At most ``max_stars`` of the isolated, unmasked stars above ``min_snr`` with
        elongation below 1.5 and FWHM within 30 % of their median FWHM.
    """
    good = stars["isolated"] & ~stars["masked"] & (stars["snr"] > min_snr)
    good &= stars["elongation"] < 1.5
    fwhm = np.median(stars["fwhm"][good]) if good.any() else np.nan
    good &= np.abs(stars["fwhm"] - fwhm) < 0.3 * fwhm  # drop galaxies and blends
    return stars[good][:max_stars]


def point_like(stars: Table, tolerance: float = 0.4) -> Table:
    """Unmasked, round sources whose size is within ``tolerance`` of the median: stars,
    not galaxies, blends or cosmic-ray remnants. Their centroids tie images together.

    Parameters
    ----------
    stars : astropy.table.Table
        Sources from :func:`find_stars`.
    tolerance : float
        Largest fractional difference of a source's FWHM from the median of the unmasked,
        round sources (elongation below 1.5).

    Returns
    -------
    astropy.table.Table
        The point-like sources, in their original order.
    """
    good = ~stars["masked"] & (stars["elongation"] < 1.5)
    if not good.any():
        return stars[good]
    size = np.median(stars["fwhm"][good])
    return stars[good & (np.abs(stars["fwhm"] - size) < tolerance * size)]
