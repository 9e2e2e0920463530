"""Master bias, dark and flat of a night, combined with a clip against the noise model
(see :mod:`astrid.calibrate.raw` for the conventions).
"""

from collections.abc import Mapping, Sequence

import numpy as np
from astropy.io import fits

from astrid.calibrate.raw import CalibrationError, CalibrationSettings, check_shape, read_raw
from astrid.io import maskbits
from astrid.io.fitsio import ImageProduct


def clip_combine(
    stack: np.ndarray, variance: np.ndarray, sigma: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean of a stack after rejecting pixels beyond ``sigma`` of the noise model.

    Parameters
    ----------
    stack : numpy.ndarray (n, ny, nx)
        Frames on a common scale.
    variance : numpy.ndarray (n, ny, nx)
        Expected variance of each pixel of each frame.
    sigma : float
        Rejection threshold in standard deviations from the stack's median.

    Returns
    -------
    (mean, variance_of_mean, n_used) : numpy.ndarray (ny, nx) each
        The mean of the kept pixels, its variance, and how many frames were kept at each
        pixel. Where no frame lies within ``sigma``, all of them are used.
    """
    median = np.median(stack, axis=0)
    keep = np.abs(stack - median) <= sigma * np.sqrt(variance)
    n_used = keep.sum(axis=0)
    none = n_used == 0
    keep[:, none] = True  # nothing agrees within the noise model: fall back to every frame
    n_used = keep.sum(axis=0)
    mean = np.where(keep, stack, 0.0).sum(axis=0) / n_used
    var = np.where(keep, variance, 0.0).sum(axis=0) / n_used**2
    return mean, var, n_used


def _check_count(rows, kind, settings):
    if len(rows) < settings.min_frames:
        raise CalibrationError(
            f"a master {kind} needs at least calibration.min_frames = {settings.min_frames} "
            f"frames, got {len(rows)}"
        )


def _master_header(kind, rows, n_used):
    header = fits.Header()
    header["MASTER"] = (kind, "kind of master calibration")
    header["NCOMBINE"] = (len(rows), "frames combined")
    header["NUSEDMIN"] = (int(n_used.min()), "fewest frames kept at a pixel after clipping")
    for i, row in enumerate(rows, start=1):
        header[f"IMCMB{i:03d}"] = row["exposure"]
    return header


def make_master_bias(rows: Sequence[Mapping], settings: CalibrationSettings) -> ImageProduct:
    """Master bias (electrons) from overscan-corrected bias frames.

    Parameters
    ----------
    rows : sequence of mapping
        Manifest rows of the night's bias frames.
    settings : CalibrationSettings
        ``min_frames``, ``clip_sigma`` and the overscan smoothing are used.

    Returns
    -------
    ImageProduct
        Mean bias (electrons), its variance from the read noise, ``NONFINITE`` where any
        frame had a non-finite pixel; the header lists the frames combined.

    Raises
    ------
    CalibrationError
        With fewer than ``settings.min_frames`` frames, or a frame that does not match its
        manifest row.
    """
    _check_count(rows, "bias", settings)
    frames = [read_raw(row, settings) for row in rows]
    stack = np.stack([f.electrons for f in frames])
    read_var = np.stack([np.zeros(f.electrons.shape) + f.read_variance for f in frames])
    mean, var, n_used = clip_combine(stack, read_var, settings.clip_sigma)
    mask = np.zeros(mean.shape, np.uint16)
    mask[np.any([f.nonfinite for f in frames], axis=0)] |= maskbits.NONFINITE
    return ImageProduct(mean, var, mask, _master_header("bias", rows, n_used))


def make_master_dark(
    rows: Sequence[Mapping], bias: ImageProduct, settings: CalibrationSettings
) -> ImageProduct:
    """Master dark current (electrons per second) from bias-subtracted dark frames.

    Frames of different exposure times are combined as rates; pixels above
    ``hot_pixel_rate`` are flagged ``HOT``.

    Parameters
    ----------
    rows : sequence of mapping
        Manifest rows of the night's dark frames.
    bias : ImageProduct
        The night's master bias (:func:`make_master_bias`).
    settings : CalibrationSettings
        ``min_frames``, ``clip_sigma``, ``hot_pixel_rate`` (e-/s) and the overscan smoothing
        are used.

    Returns
    -------
    ImageProduct
        Dark current (e-/s), its variance ((e-/s)²) and the bias mask plus ``HOT``; the
        header lists the frames and exposure times combined.

    Raises
    ------
    CalibrationError
        With fewer than ``settings.min_frames`` frames, or a frame whose shape differs from
        the bias.
    """
    _check_count(rows, "dark", settings)
    rates, rate_vars, exptimes = [], [], []
    for row in rows:
        frame = read_raw(row, settings)
        check_shape(frame.electrons, bias, "bias", row)
        t = float(row["exptime"])
        charge = frame.electrons - bias.data
        rates.append(charge / t)
        rate_vars.append((frame.read_variance + np.maximum(charge, 0.0)) / t**2)
        exptimes.append(t)
    mean, var, n_used = clip_combine(np.stack(rates), np.stack(rate_vars), settings.clip_sigma)
    mean_t = float(np.mean(exptimes))
    var = var + bias.variance / mean_t**2
    mask = bias.mask.copy()
    mask[mean > settings.hot_pixel_rate] |= maskbits.HOT
    header = _master_header("dark", rows, n_used)
    header["EXPTIMES"] = (",".join(f"{t:g}" for t in sorted(set(exptimes))), "[s] exposure times combined")
    return ImageProduct(mean, var, mask, header)


def _central(shape):
    ny, nx = shape
    return (slice(ny // 4, 3 * ny // 4), slice(nx // 4, 3 * nx // 4))


def make_master_flat(
    rows: Sequence[Mapping],
    bias: ImageProduct,
    dark: ImageProduct | None,
    settings: CalibrationSettings,
) -> ImageProduct:
    """Master flat of one band, normalised to a median of 1 in the central half.

    Each flat is bias- and dark-subtracted and divided by its own central median before the
    combination, so lamp or twilight level changes between flats do not matter. Pixels below
    ``flat_low`` or above ``flat_high`` are flagged ``BAD``.

    Parameters
    ----------
    rows : sequence of mapping
        Manifest rows of the night's flat frames in one band.
    bias : ImageProduct
        The night's master bias.
    dark : ImageProduct or None
        The night's master dark (e-/s), or None when darks are not used.
    settings : CalibrationSettings
        ``min_frames``, ``clip_sigma``, ``flat_low``, ``flat_high`` and the overscan
        smoothing are used.

    Returns
    -------
    ImageProduct
        The normalised flat (dimensionless, float32) and its variance; pixels outside
        ``flat_low``–``flat_high`` are flagged ``BAD``, non-finite or non-positive ones are
        also set to 1; the header carries ``FILTER``.

    Raises
    ------
    CalibrationError
        With fewer than ``settings.min_frames`` frames, flats of several bands, a frame
        whose shape differs from the bias, or a flat without signal.
    """
    _check_count(rows, "flat", settings)
    bands = {row["band"] for row in rows}
    if len(bands) != 1:
        raise CalibrationError(f"flats of several bands {sorted(bands)} cannot make one master")
    centre = _central(bias.data.shape)
    normed, normed_vars = [], []
    for row in rows:
        frame = read_raw(row, settings)
        check_shape(frame.electrons, bias, "bias", row)
        t = float(row["exptime"])
        charge = frame.electrons - bias.data
        var = frame.read_variance + np.maximum(charge, 0.0) + bias.variance
        if dark is not None:
            charge = charge - dark.data * t
            var = var + dark.variance * t**2
        level = np.median(charge[centre])
        if not level > 0:
            raise CalibrationError(f"flat {row['exposure']} has no signal (central median {level:.1f} e-)")
        normed.append(charge / level)
        normed_vars.append(var / level**2)
    mean, var, n_used = clip_combine(np.stack(normed), np.stack(normed_vars), settings.clip_sigma)
    norm = np.median(mean[centre])
    mean, var = mean / norm, var / norm**2
    mask = bias.mask.copy() | (dark.mask if dark is not None else 0)
    bad = ~np.isfinite(mean) | (mean < settings.flat_low) | (mean > settings.flat_high)
    mask[bad] |= maskbits.BAD
    mean[~np.isfinite(mean) | (mean <= 0)] = 1.0
    header = _master_header("flat", rows, n_used)
    header["FILTER"] = bands.pop()
    return ImageProduct(mean.astype(np.float32), var.astype(np.float32), mask, header)
