"""A science frame calibrated into electrons, with its variance and mask planes (bad, hot,
saturated, cosmic-ray pixels) and the sky statistics the QA reports.
"""

import logging
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS

from astrid.calibrate.lacosmic import detect_cosmic_rays
from astrid.calibrate.raw import CalibrationError, CalibrationSettings, check_shape, read_raw
from astrid.io import maskbits
from astrid.io.fitsio import ImageProduct

log = logging.getLogger(__name__)

# Rows of boxes one thread partitions at a time in sky_statistics.
ROWS_PER_TASK = 256

# A Gaussian's standard deviation over its median absolute deviation (astropy's mad_std).
MAD_TO_STD = 1.482602218505602

# Pixels the sky statistics look at, at most: beyond, every n-th row and column of boxes. A
# 2048² frame is measured whole; a 4096² frame in every second box row and column (1024
# boxes of 64², a quarter of the pixels, 1.4 s less): on the seeded 4096² frame the sky
# level moved by 0.002 of the noise and the pull scatter by 1e-4.
SKY_STATISTICS_PIXELS = 2048 * 2048


def find_cosmic_rays(
    electrons: np.ndarray,
    read_noise: float,
    exclude: np.ndarray,
    settings: CalibrationSettings,
) -> np.ndarray:
    """Cosmic-ray pixels found by L.A.Cosmic (van Dokkum 2001): astroscrappy's, computed by
    :func:`astrid.calibrate.lacosmic.detect_cosmic_rays` (the same mask in a third of the
    time). astroscrappy's filters share the job's threads through OpenMP (Snakemake sets
    ``OMP_NUM_THREADS`` to the rule's ``threads``).

    ``electrons`` must still contain the sky (the noise model uses it) and must not be
    flat-fielded: cosmic rays deposit charge in the detector, after the optics. The frame is
    mirrored outwards by a few pixels first: at a bare edge, a star cut in half looks as sharp
    as a cosmic ray to the Laplacian.

    Parameters
    ----------
    electrons : numpy.ndarray
        The bias- and dark-subtracted frame (electrons), sky included.
    read_noise : float
        Read noise (electrons).
    exclude : numpy.ndarray of bool
        Pixels L.A.Cosmic must ignore and never report (already masked, saturated cores).
    settings : CalibrationSettings
        ``cr_sigclip``, ``cr_sigfrac``, ``cr_objlim`` and ``cr_niter`` are used.

    Returns
    -------
    numpy.ndarray of bool
        Cosmic-ray pixels, same shape as ``electrons``.
    """
    pad = 8
    crmask = detect_cosmic_rays(
        np.pad(electrons.astype(np.float32, copy=False), pad, mode="reflect"),
        np.pad(exclude, pad, mode="reflect"),
        read_noise,
        settings.cr_sigclip,
        settings.cr_sigfrac,
        settings.cr_objlim,
        settings.cr_niter,
    )
    return crmask[pad:-pad, pad:-pad] & ~exclude


def _row_medians(values: np.ndarray, groups: list[np.ndarray], threads: int = 1) -> np.ndarray:
    """``np.nanmedian(values, axis=1)`` to the last bit, for rows whose NaNs sort last.

    numpy's nanmedian strips each row of its NaNs in a Python loop (4096 calls per figure
    at 4096²); rows with the same number of finite values are partitioned together here
    instead, and the median is the mean of the same one or two middle values. numpy's
    partition releases the GIL: ``threads`` share the groups, cut into pieces of at most
    ``ROWS_PER_TASK`` rows.

    Parameters
    ----------
    values : numpy.ndarray
        2-D, one sample per row, NaN where a value is missing (no infinities).
    groups : list of numpy.ndarray
        Indices of the rows with equal numbers of finite values (see :func:`_count_groups`),
        the same for every image of one NaN pattern.
    threads : int
        Threads sharing the work; the result does not depend on them.

    Returns
    -------
    numpy.ndarray
        The median of each row's finite values.
    """
    medians = np.empty(values.shape[0], dtype=values.dtype)

    def median_of(rows: np.ndarray) -> None:
        n = int(np.isfinite(values[rows[0]]).sum())
        middle = sorted({(n - 1) // 2, n // 2})
        part = np.partition(values[rows], middle, axis=1)[:, middle]
        medians[rows] = part.mean(axis=1)

    tasks = [rows[i : i + ROWS_PER_TASK] for rows in groups for i in range(0, len(rows), ROWS_PER_TASK)]
    if threads <= 1:
        for rows in tasks:
            median_of(rows)
    else:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(median_of, tasks))
    return medians


def _count_groups(values: np.ndarray) -> list[np.ndarray]:
    """Indices of the rows of ``values`` grouped by their number of finite values."""
    counts = np.isfinite(values).sum(axis=1)
    return [np.flatnonzero(counts == n) for n in np.unique(counts)]


def sky_statistics(
    data: np.ndarray,
    variance: np.ndarray,
    mask: np.ndarray,
    box: int = 64,
    *,
    threads: int = 1,
    max_pixels: int = SKY_STATISTICS_PIXELS,
) -> dict[str, float]:
    """Sky level, its noise, the noise the variance plane predicts, and the pull scatter.

    Each figure is measured in ``box``×``box`` boxes (median and MAD-based standard
    deviation of the unmasked pixels, both robust to the few pixels that stars occupy),
    and the median over the boxes is returned: a bright star's wings or a gradient then
    move a handful of boxes, not the frame's figure.

    Parameters
    ----------
    data : numpy.ndarray
        The calibrated frame (electrons).
    variance : numpy.ndarray
        Its variance (electrons²); pixels with a non-finite or non-positive variance are
        left out.
    mask : numpy.ndarray
        Its mask bits; only pixels with none are used.
    box : int
        Side of the boxes in pixels; rows and columns beyond the last whole box are left
        out, and so are boxes with half their pixels or fewer usable.
    threads : int
        Threads sharing the medians; the figures do not depend on them.
    max_pixels : int
        Pixels measured at most: a larger frame is measured in every n-th row and column
        of boxes, the smallest n that fits (a regular grid over the whole frame).

    Returns
    -------
    dict of str to float
        ``sky_level``, ``sky_noise``, ``expected_noise`` (electrons) and ``pull_std``
        (dimensionless; 1 when the variance plane is right).
    """
    ny, nx = (s - s % box for s in data.shape)
    stride = max(1, int(np.ceil(np.sqrt(ny * nx / max_pixels))))

    def sampled(array):
        """The array's boxes in every ``stride``-th box row and column, one box per row."""
        blocks = array[:ny, :nx].reshape(ny // box, box, nx // box, box)[::stride, :, ::stride, :]
        return blocks.swapaxes(1, 2).reshape(-1, box * box)

    var = sampled(variance)
    good = (sampled(mask) == 0) & np.isfinite(var) & (var > 0)
    values, var = np.where(good, sampled(data), np.nan), np.where(good, var, np.nan)
    enough = np.sum(np.isfinite(values), axis=1) > box * box // 2
    values, var = values[enough], var[enough]
    groups = _count_groups(values)

    def medians(array):
        return _row_medians(array, groups, threads)

    level = medians(values)
    pulls = (values - level[:, None]) / np.sqrt(var)
    # astropy's mad_std with ignore_nan: 1.482602218505602 × the median absolute deviation.
    noise = MAD_TO_STD * medians(np.abs(values - level[:, None]))
    pull_std = MAD_TO_STD * medians(np.abs(pulls - medians(pulls)[:, None]))
    return {
        "sky_level": float(np.median(level)),
        "sky_noise": float(np.median(noise)),
        "expected_noise": float(np.median(np.sqrt(medians(var)))),
        "pull_std": float(np.median(pull_std)),
    }


def calibrate_science(
    row: Mapping,
    bias: ImageProduct,
    dark: ImageProduct | None,
    flat: ImageProduct,
    settings: CalibrationSettings,
    *,
    threads: int = 1,
) -> tuple[ImageProduct, fits.Header, dict]:
    """Calibrate one science frame.

    Parameters
    ----------
    row : mapping
        The frame's manifest row.
    bias : ImageProduct
        The night's master bias (electrons).
    dark : ImageProduct or None
        The night's master dark (e-/s), or None when darks are not used.
    flat : ImageProduct
        The night's master flat in the frame's band.
    settings : CalibrationSettings
        The calibration settings (``cosmic_rays`` and the ``cr_*`` values among them).
    threads : int
        Threads for the sky statistics (the job's threads); the result does not depend on
        them. The cosmic-ray search shares the cores through astroscrappy's OpenMP filters.

    Returns
    -------
    (ImageProduct, astropy.io.fits.Header, dict)
        The calibrated frame (data in electrons, variance, mask), the WCS header of the
        trimmed frame (empty if the raw frame had none), and QA statistics.

    Raises
    ------
    CalibrationError
        When a master's shape differs from the frame's, or the flat is for another band.
    """
    frame = read_raw(row, settings)
    for master, kind in ((bias, "bias"), (dark, "dark"), (flat, "flat")):
        if master is not None:
            check_shape(frame.electrons, master, kind, row)
    if flat.header.get("FILTER") not in (None, row["band"]):
        raise CalibrationError(
            f"{row['exposure']} is a {row['band']} frame but the master flat is for {flat.header['FILTER']}"
        )
    t = float(row["exptime"])
    # float32 throughout, as the product is written, and in place where the operands allow:
    # every new 4096² plane costs its page faults (in place: about 0.6 s less at 4096²).
    charge = np.subtract(frame.electrons, bias.data, dtype=np.float32)
    variance = np.maximum(charge, 0.0)
    variance += np.asarray(frame.read_variance, dtype=np.float32)
    variance += bias.variance
    mask = bias.mask.astype(np.uint16)
    mask |= flat.mask
    if dark is not None:
        scratch = np.multiply(dark.data, t, dtype=np.float32)
        charge -= scratch
        variance += np.multiply(dark.variance, t**2, out=scratch)
        mask |= dark.mask
    # A bleed trail ends in a partly filled pixel below the saturation level: grow the
    # saturated area by one pixel so that the trail's end is masked too.
    saturated = maskbits.grow(frame.saturated, 1)
    mask[saturated] |= maskbits.SATURATED
    mask[frame.nonfinite] |= maskbits.NONFINITE
    if settings.cosmic_rays:
        # The clipped core of a saturated star is as sharp as a cosmic ray; keep L.A.Cosmic
        # away from it (the core is masked as saturated anyway).
        protected = (mask != 0) | maskbits.grow(saturated, 5)
        cosmic = find_cosmic_rays(charge, float(row["read_noise"]), protected, settings)
        # The faint ends of a track often stay below the neighbour threshold: grow by a pixel.
        cosmic = maskbits.grow(cosmic, 1) & ~protected
        mask[cosmic] |= maskbits.COSMIC_RAY
    data = np.divide(charge, flat.data, out=charge)
    # variance / flat² + data² × flat variance / flat², in that order.
    flat_squared = np.square(flat.data)
    variance /= flat_squared
    term = np.square(data)
    term *= flat.variance
    term /= flat_squared
    variance += term
    stats = sky_statistics(data, variance, mask, threads=threads)
    stats["n_cosmic_pixels"] = int(((mask & maskbits.COSMIC_RAY) != 0).sum())
    stats["masked_fraction"] = float((mask != 0).mean())
    stats["n_saturated_pixels"] = int(frame.saturated.sum())
    wcs_header = fits.Header()
    try:
        wcs = WCS(frame.header)
        if wcs.has_celestial:
            wcs_header = wcs.celestial[frame.trim].to_header(relax=True)
    except Exception as error:  # noqa: BLE001 - a broken WCS is not fatal at this stage
        log.warning("%s: header WCS ignored (%s)", row["exposure"], error)
    product = ImageProduct(data, variance, mask, fits.Header())
    return product, wcs_header, stats


# QA statistics of a calibrated frame and the header keywords that carry them.
QA_KEYWORDS = {
    "sky_level": ("SKYLEVEL", "[e-] sigma-clipped median of the sky"),
    "sky_noise": ("SKYNOISE", "[e-] robust std of the sky"),
    "expected_noise": ("SKYEXPN", "[e-] sky noise predicted by the VAR plane"),
    "pull_std": ("SKYPULL", "robust std of (sky - level)/sqrt(VAR)"),
    "n_cosmic_pixels": ("NCRPIX", "pixels masked as cosmic rays"),
    "n_saturated_pixels": ("NSATPIX", "pixels saturated in the raw frame"),
    "masked_fraction": ("MASKFRAC", "fraction of pixels with any mask bit"),
}


def science_header(row: Mapping, stats: Mapping[str, float]) -> fits.Header:
    """Primary header of a calibrated frame: what it is, when, and its QA figures.

    Parameters
    ----------
    row : mapping
        The frame's manifest row.
    stats : mapping of str to float
        QA statistics of :func:`calibrate_science`; each key must be one of
        ``QA_KEYWORDS``.

    Returns
    -------
    astropy.io.fits.Header
        Exposure, night, field, band (and a mosaic's detector), times, gain and read noise,
        and the QA keywords.
    """
    header = fits.Header()
    header["EXPOSURE"] = (row["exposure"], "exposure id (raw file name)")
    header["NIGHT"] = (row["night"], "night of observation (YYYYMMDD)")
    header["FIELD"] = (row["field"], "field")
    header["FILTER"] = (row["band"], "band")
    if row.get("detector"):
        header["DETECTOR"] = (row["detector"], "detector of the mosaic")
    header["IMAGETYP"] = ("science", "frame type after calibration")
    header["EXPTIME"] = (float(row["exptime"]), "[s] exposure time")
    header["DATE-OBS"] = (row["date_obs"], "UTC start of exposure")
    header["MJD-OBS"] = (float(row["mjd"]), "[d] MJD (UTC) start of exposure")
    header["GAIN"] = (float(row["gain"]), "[e-/ADU] gain applied")
    header["RDNOISE"] = (float(row["read_noise"]), "[e-] read noise")
    for key, value in stats.items():
        keyword, comment = QA_KEYWORDS[key]
        header[keyword] = (value, comment)
    return header
