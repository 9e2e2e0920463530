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

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from astropy.io import fits
from ccdproc.utils.slices import slice_from_string
from scipy.ndimage import median_filter

if TYPE_CHECKING:
    from astrid.io.fitsio import ImageProduct


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


@dataclass
class RawElectrons:
    """A raw frame after overscan subtraction and trimming, in electrons."""

    electrons: np.ndarray
    saturated: np.ndarray
    nonfinite: np.ndarray
    header: fits.Header
    trim: tuple  # (slice_y, slice_x) of the active area in the raw frame


def section(text: str, shape: tuple[int, ...]) -> tuple[slice, slice]:
    """Slices (y, x) of a FITS section like ``'[1:2048,1:2048]'``; the whole frame if empty.

    Parameters
    ----------
    text : str
        The section in FITS convention (1-based, inclusive, x first), or empty.
    shape : tuple of int
        The frame's (ny, nx) in pixels.

    Returns
    -------
    (slice, slice)
        0-based numpy slices of rows and columns.

    Raises
    ------
    CalibrationError
        When ``text`` cannot be parsed or lies outside the frame.
    """
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


def overscan_and_trim(
    raw: np.ndarray, biassec: str, trimsec: str, smoothing_rows: int
) -> tuple[np.ndarray, tuple[slice, slice]]:
    """Subtract the overscan level row by row and cut out the active area (ADU).

    The overscan level of each row is the median across the overscan columns, smoothed along
    the columns with a running median of ``smoothing_rows`` rows, so that the read noise of
    the few overscan pixels does not turn into row-to-row stripes.

    Parameters
    ----------
    raw : numpy.ndarray
        The raw frame (ADU).
    biassec : str
        The overscan section (FITS convention); empty for none, then nothing is subtracted.
    trimsec : str
        The active area (FITS convention); empty for the whole frame.
    smoothing_rows : int
        Length of the running median along the overscan, in rows (1 or less: none). Rows
        outside the overscan section get the median level.

    Returns
    -------
    (numpy.ndarray, (slice, slice))
        The trimmed frame in ADU (float64) and the slices of the active area in ``raw``.

    Raises
    ------
    CalibrationError
        When a section cannot be parsed or lies outside the frame.
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


def read_raw(row: Mapping, settings: CalibrationSettings) -> RawElectrons:
    """Read one manifest row's raw frame as overscan-corrected, trimmed electrons.

    Parameters
    ----------
    row : mapping
        The frame's manifest row (``path``, ``ny``, ``nx``, ``biassec``, ``trimsec``,
        ``gain`` in e-/ADU and ``saturate`` in ADU are used).
    settings : CalibrationSettings
        ``overscan_smoothing_rows`` is used.

    Returns
    -------
    RawElectrons
        The trimmed frame in electrons (non-finite raw pixels set to 0 and flagged), the
        pixels whose raw value reached ``saturate``, and the raw header.

    Raises
    ------
    CalibrationError
        When the file's shape differs from the manifest's or a section is invalid.
    """
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


def check_shape(data: np.ndarray, master: "ImageProduct", kind: str, row: Mapping) -> None:
    """Refuse a master whose shape differs from a trimmed frame's.

    Parameters
    ----------
    data : numpy.ndarray
        The trimmed frame.
    master : ImageProduct
        The master to apply to it.
    kind : str
        The master's kind (``"bias"``, ``"dark"``, ``"flat"``), for the message.
    row : mapping
        The frame's manifest row (``exposure`` names it in the message).

    Raises
    ------
    CalibrationError
        When the shapes differ.
    """
    if data.shape != master.data.shape:
        raise CalibrationError(
            f"{row['exposure']}: trimmed shape {data.shape} does not match the master {kind} "
            f"{master.data.shape}"
        )
