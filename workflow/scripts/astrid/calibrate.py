"""CCD calibration: overscan, master bias, dark and flat, variance and mask planes.

Conventions
-----------
* All calibrated arrays are in electrons (masters: bias in e-, dark in e-/s, flat
  normalised to a median of 1 in the central region).
* Every array comes with a variance from the noise model (read noise, Poisson noise of the
  collected charge, and the noise of the masters subtracted or divided), not from the
  scatter of a handful of frames.
* Masters are combined with a clip against that noise model: a pixel is rejected from the
  stack when it is more than ``sigma`` standard deviations from the stack's median. With
  five frames a clip against the stack's own scatter would keep a cosmic ray (the outlier
  inflates the scatter it is judged by); the noise model does not have that weakness.
"""

import logging
from dataclasses import dataclass

import astroscrappy
import numpy as np
from astropy.io import fits
from astropy.stats import mad_std
from astropy.wcs import WCS
from ccdproc.utils.slices import slice_from_string
from scipy.ndimage import median_filter

from astrid import maskbits
from astrid.fitsio import ImageProduct

log = logging.getLogger(__name__)


class CalibrationError(Exception):
    """A master cannot be built or is not valid for a frame."""


@dataclass(frozen=True)
class CalibrationSettings:
    """Calibration choices; each has a ``calibration.*`` config key."""

    min_frames: int = 3
    clip_sigma: float = 5.0
    overscan_smoothing_rows: int = 15
    use_dark: bool = True
    hot_pixel_rate: float = 0.5  # e-/s
    flat_low: float = 0.5
    flat_high: float = 1.5
    cosmic_rays: bool = True
    cr_sigclip: float = 4.5
    cr_sigfrac: float = 0.3
    cr_objlim: float = 5.0
    cr_niter: int = 4


# --------------------------------------------------------------------------- raw frames


@dataclass
class RawElectrons:
    """A raw frame after overscan subtraction and trimming, in electrons."""

    electrons: np.ndarray
    saturated: np.ndarray
    nonfinite: np.ndarray
    header: fits.Header
    trim: tuple  # (slice_y, slice_x) of the active area in the raw frame


def section(text, shape):
    """Slices (y, x) of a FITS section like ``'[1:2048,1:2048]'``; the whole frame if empty."""
    if not text:
        return (slice(0, shape[0]), slice(0, shape[1]))
    try:
        ys, xs = slice_from_string(text, fits_convention=True)
    except ValueError as error:
        raise CalibrationError(f"cannot parse the FITS section {text!r}: {error}") from None
    for s, n, axis in ((ys, shape[0], "rows"), (xs, shape[1], "columns")):
        if s.start < 0 or s.stop > n or s.start >= s.stop:
            raise CalibrationError(f"section {text!r} lies outside the frame's {n} {axis}")
    return ys, xs


def overscan_and_trim(raw, biassec, trimsec, smoothing_rows):
    """Subtract the overscan level row by row and cut out the active area (ADU).

    The overscan level of each row is the median across the overscan columns, smoothed along
    the columns with a running median of ``smoothing_rows`` rows, so that the read noise of
    the few overscan pixels does not turn into row-to-row stripes.
    """
    raw = np.asarray(raw, dtype=np.float64)
    trim = section(trimsec, raw.shape)
    if biassec:
        ys, xs = section(biassec, raw.shape)
        level = np.median(raw[ys, xs], axis=1)
        if smoothing_rows > 1:
            level = median_filter(level, size=smoothing_rows, mode="nearest")
        full = np.full(raw.shape[0], np.median(level))
        full[ys] = level
        raw = raw - full[:, None]
    return raw[trim], trim


def read_raw(row, settings):
    """Read one manifest row's raw frame as overscan-corrected, trimmed electrons."""
    with fits.open(row["path"], memmap=False) as hdul:
        hdu = next(h for h in hdul if h.is_image and h.data is not None)
        raw = np.asarray(hdu.data, dtype=np.float64)
        header = hdu.header.copy()
    if raw.shape != (int(row["ny"]), int(row["nx"])):
        raise CalibrationError(f"{row['path']}: shape {raw.shape} differs from the manifest's")
    nonfinite = ~np.isfinite(raw)
    raw[nonfinite] = 0.0
    adu, trim = overscan_and_trim(raw, row["biassec"], row["trimsec"], settings.overscan_smoothing_rows)
    return RawElectrons(
        electrons=adu * float(row["gain"]),
        saturated=raw[trim] >= float(row["saturate"]),
        nonfinite=nonfinite[trim],
        header=header,
        trim=trim,
    )


# --------------------------------------------------------------------------- combining


def clip_combine(stack, variance, sigma):
    """Mean of a stack after rejecting pixels beyond ``sigma`` of the noise model.

    Parameters
    ----------
    stack : ndarray (n, ny, nx)
        Frames on a common scale.
    variance : ndarray (n, ny, nx)
        Expected variance of each pixel of each frame.
    sigma : float
        Rejection threshold in standard deviations from the stack's median.

    Returns
    -------
    (mean, variance_of_mean, n_used) : ndarrays (ny, nx)
    """
    median = np.median(stack, axis=0)
    keep = np.abs(stack - median) <= sigma * np.sqrt(variance)
    n_used = keep.sum(axis=0)
    none = n_used == 0
    keep[:, none] = True  # nothing agrees: fall back to all frames and flag below
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


def make_master_bias(rows, settings):
    """Master bias (electrons) from overscan-corrected bias frames."""
    _check_count(rows, "bias", settings)
    frames = [read_raw(row, settings) for row in rows]
    stack = np.stack([f.electrons for f in frames])
    read_var = np.stack(
        [np.full(f.electrons.shape, float(r["read_noise"]) ** 2) for f, r in zip(frames, rows, strict=True)]
    )
    mean, var, n_used = clip_combine(stack, read_var, settings.clip_sigma)
    mask = np.zeros(mean.shape, np.uint16)
    mask[np.any([f.nonfinite for f in frames], axis=0)] |= maskbits.NONFINITE
    return ImageProduct(mean, var, mask, _master_header("bias", rows, n_used))


def make_master_dark(rows, bias, settings):
    """Master dark current (electrons per second) from bias-subtracted dark frames.

    Frames of different exposure times are combined as rates; pixels above
    ``hot_pixel_rate`` are flagged ``HOT``.
    """
    _check_count(rows, "dark", settings)
    rates, rate_vars, exptimes = [], [], []
    for row in rows:
        frame = read_raw(row, settings)
        _check_shape(frame.electrons, bias, "bias", row)
        t = float(row["exptime"])
        charge = frame.electrons - bias.data
        rates.append(charge / t)
        rate_vars.append((float(row["read_noise"]) ** 2 + np.maximum(charge, 0.0)) / t**2)
        exptimes.append(t)
    mean, var, n_used = clip_combine(np.stack(rates), np.stack(rate_vars), settings.clip_sigma)
    mean_t = float(np.mean(exptimes))
    var = var + bias.variance / mean_t**2
    mask = bias.mask.copy()
    mask[mean > settings.hot_pixel_rate] |= maskbits.HOT
    header = _master_header("dark", rows, n_used)
    header["EXPTIMES"] = (",".join(f"{t:g}" for t in sorted(set(exptimes))), "[s] exposure times combined")
    return ImageProduct(mean, var, mask, header)


def _check_shape(data, master, kind, row):
    if data.shape != master.data.shape:
        raise CalibrationError(
            f"{row['exposure']}: trimmed shape {data.shape} does not match the master {kind} "
            f"{master.data.shape}"
        )


def _central(shape):
    ny, nx = shape
    return (slice(ny // 4, 3 * ny // 4), slice(nx // 4, 3 * nx // 4))


def make_master_flat(rows, bias, dark, settings):
    """Master flat of one band, normalised to a median of 1 in the central half.

    Each flat is bias- and dark-subtracted and divided by its own central median before the
    combination, so lamp or twilight level changes between flats do not matter. Pixels below
    ``flat_low`` or above ``flat_high`` are flagged ``BAD``.
    """
    _check_count(rows, "flat", settings)
    bands = {row["band"] for row in rows}
    if len(bands) != 1:
        raise CalibrationError(f"flats of several bands {sorted(bands)} cannot make one master")
    centre = _central(bias.data.shape)
    normed, normed_vars = [], []
    for row in rows:
        frame = read_raw(row, settings)
        _check_shape(frame.electrons, bias, "bias", row)
        t = float(row["exptime"])
        charge = frame.electrons - bias.data
        var = float(row["read_noise"]) ** 2 + np.maximum(charge, 0.0) + bias.variance
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


# --------------------------------------------------------------------------- science


def find_cosmic_rays(electrons, read_noise, exclude, settings):
    """Cosmic-ray pixels found by L.A.Cosmic (van Dokkum 2001) through astroscrappy.

    ``electrons`` must still contain the sky (the noise model uses it) and must not be
    flat-fielded: cosmic rays deposit charge in the detector, after the optics. The frame is
    mirrored outwards by a few pixels first: at a bare edge, a star cut in half looks as sharp
    as a cosmic ray to the Laplacian.
    """
    pad = 8
    crmask, _ = astroscrappy.detect_cosmics(
        np.pad(electrons.astype(np.float32), pad, mode="reflect"),
        inmask=np.pad(exclude, pad, mode="reflect"),
        gain=1.0,
        readnoise=read_noise,
        sigclip=settings.cr_sigclip,
        sigfrac=settings.cr_sigfrac,
        objlim=settings.cr_objlim,
        niter=settings.cr_niter,
        satlevel=np.inf,
        sepmed=True,
        cleantype="meanmask",
        fsmode="median",
    )
    return crmask[pad:-pad, pad:-pad] & ~exclude


def sky_statistics(data, variance, mask, box=64):
    """Sky level, its noise, the noise the variance plane predicts, and the pull scatter.

    Each figure is measured in ``box``×``box`` boxes (median and MAD-based standard
    deviation of the unmasked pixels, both robust to the few pixels that stars occupy),
    and the median over the boxes is returned: a bright star's wings or a gradient then
    move a handful of boxes, not the frame's figure.
    """
    ny, nx = (s - s % box for s in data.shape)
    good = (mask == 0) & np.isfinite(variance) & (variance > 0)

    def boxes(array):
        values = np.where(good, array, np.nan)[:ny, :nx]
        return values.reshape(ny // box, box, nx // box, box).swapaxes(1, 2).reshape(-1, box * box)

    values, var = boxes(data), boxes(variance)
    enough = np.sum(np.isfinite(values), axis=1) > box * box // 2
    values, var = values[enough], var[enough]
    level = np.nanmedian(values, axis=1)
    pulls = (values - level[:, None]) / np.sqrt(var)
    return {
        "sky_level": float(np.median(level)),
        "sky_noise": float(np.median(mad_std(values, axis=1, ignore_nan=True))),
        "expected_noise": float(np.median(np.sqrt(np.nanmedian(var, axis=1)))),
        "pull_std": float(np.median(mad_std(pulls, axis=1, ignore_nan=True))),
    }


def calibrate_science(row, bias, dark, flat, settings):
    """Calibrate one science frame.

    Returns
    -------
    (ImageProduct, astropy.io.fits.Header, dict)
        The calibrated frame (data in electrons, variance, mask), the WCS header of the
        trimmed frame (empty if the raw frame had none), and QA statistics.
    """
    frame = read_raw(row, settings)
    for master, kind in ((bias, "bias"), (dark, "dark"), (flat, "flat")):
        if master is not None:
            _check_shape(frame.electrons, master, kind, row)
    if flat.header.get("FILTER") not in (None, row["band"]):
        raise CalibrationError(
            f"{row['exposure']} is a {row['band']} frame but the master flat is for {flat.header['FILTER']}"
        )
    t = float(row["exptime"])
    read_var = float(row["read_noise"]) ** 2
    charge = frame.electrons - bias.data
    variance = read_var + np.maximum(charge, 0.0) + bias.variance
    mask = bias.mask | flat.mask
    if dark is not None:
        charge = charge - dark.data * t
        variance = variance + dark.variance * t**2
        mask = mask | dark.mask
    mask = mask.astype(np.uint16)
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
    data = charge / flat.data
    variance = variance / flat.data**2 + data**2 * flat.variance / flat.data**2
    stats = sky_statistics(data, variance, mask)
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
    product = ImageProduct(data.astype(np.float32), variance.astype(np.float32), mask, fits.Header())
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


def science_header(row, stats):
    """Primary header of a calibrated frame: what it is, when, and its QA figures."""
    header = fits.Header()
    header["EXPOSURE"] = (row["exposure"], "exposure id (raw file name)")
    header["NIGHT"] = (row["night"], "night of observation (YYYYMMDD)")
    header["FIELD"] = (row["field"], "field")
    header["FILTER"] = (row["band"], "band")
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
