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

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from astropy.io import fits
from scipy.ndimage import median_filter

from astrid.io.fitsio import exposure_header
from astrid.io.sections import SectionError, parse_section

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
    cr_niter: int = 2


@dataclass
class RawElectrons:
    """A raw frame after overscan subtraction and trimming, in electrons."""

    electrons: np.ndarray
    saturated: np.ndarray
    nonfinite: np.ndarray
    header: fits.Header
    trim: tuple  # (slice_y, slice_x) of the active area in the raw frame
    read_variance: np.ndarray | float  # read noise² (e-²): per pixel where amplifiers differ


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
        ys, xs = parse_section(text).slices
    except SectionError as error:
        raise CalibrationError(f"cannot parse the FITS section {text!r}: {error}") from None
    for s, n, axis in ((ys, shape[0], "rows"), (xs, shape[1], "columns")):
        if s.stop > n:
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
        The trimmed frame in ADU (float32: exact for 16-bit counts, and the precision the
        products are written in) and the slices of the active area in ``raw``.

    Raises
    ------
    CalibrationError
        When a section cannot be parsed or lies outside the frame.
    """
    raw = np.asarray(raw, dtype=np.float32)
    trim = section(trimsec, raw.shape)
    if biassec:
        ys, xs = section(biassec, raw.shape)
        level = np.median(raw[ys, xs], axis=1)
        if smoothing_rows > 1:
            level = median_filter(level, size=smoothing_rows, mode="nearest")
        full = np.full(raw.shape[0], np.median(level), dtype=np.float32)
        full[ys] = level
        raw = raw - full[:, None]
    return raw[trim], trim


def _hdu_index(hdul, hdu):
    """The HDU a manifest row names (its index or EXTNAME), else the first image with data."""
    hdu = str(hdu or "")
    if hdu:
        return int(hdu) if hdu.isdigit() else hdul.index_of(hdu)
    return next(i for i, h in enumerate(hdul) if h.is_image and h.data is not None)


def read_raw(row: Mapping, settings: CalibrationSettings) -> RawElectrons:
    """Read one manifest row's raw frame as overscan-corrected, trimmed electrons.

    A frame read by several amplifiers (the row's ``amplifiers``) is assembled: each
    amplifier's overscan is subtracted, its data section scaled by its own gain and placed
    at its ``DETSEC`` (mirrored where the section runs backwards), and the read variance is
    each amplifier's own. A mosaic's detector is read from its HDU (``hdu``).

    Parameters
    ----------
    row : mapping
        The frame's manifest row (``path``, ``ny``, ``nx``, ``biassec``, ``trimsec``,
        ``gain`` in e-/ADU, ``read_noise`` in e-, ``saturate`` in ADU, ``hdu`` and
        ``amplifiers`` are used).
    settings : CalibrationSettings
        ``overscan_smoothing_rows`` is used.

    Returns
    -------
    RawElectrons
        The trimmed frame in electrons (non-finite raw pixels set to 0 and flagged), the
        pixels whose raw value reached the saturation level, the raw header (the
        exposure's keywords with the extension's) and the read variance.

    Raises
    ------
    CalibrationError
        When the file's shape differs from the manifest's or a section is invalid.
    """
    amplifiers = json.loads(row.get("amplifiers") or "[]")
    with fits.open(row["path"], memmap=False) as hdul:
        if amplifiers:
            return _assemble_amplifiers(hdul, row, amplifiers, settings)
        index = _hdu_index(hdul, row.get("hdu"))
        raw = np.asarray(hdul[index].data, dtype=np.float32)
        header = exposure_header(hdul, index)
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
        read_variance=float(row["read_noise"]) ** 2,
    )


def _assemble_amplifiers(hdul, row, amplifiers, settings):
    shape = (int(row["ny"]), int(row["nx"]))
    electrons = np.zeros(shape, dtype=np.float32)
    saturated = np.zeros(shape, dtype=bool)
    nonfinite = np.zeros(shape, dtype=bool)
    read_variance = np.zeros(shape)
    sections = [parse_section(a["detsec"]) for a in amplifiers]
    y0, x0 = min(s.y0 for s in sections), min(s.x0 for s in sections)
    for amplifier, detsec in zip(amplifiers, sections, strict=True):
        raw = np.asarray(hdul[int(amplifier["hdu"])].data, dtype=np.float32)
        bad = ~np.isfinite(raw)
        raw[bad] = 0.0
        adu, trim = overscan_and_trim(
            raw, amplifier["biassec"], amplifier["datasec"], settings.overscan_smoothing_rows
        )
        # A DETSEC running backwards means the amplifier was read from the far side.
        mirror = (
            slice(None, None, -1 if detsec.flip_y else 1),
            slice(None, None, -1 if detsec.flip_x else 1),
        )
        place = (slice(detsec.y0 - y0, detsec.y1 - y0), slice(detsec.x0 - x0, detsec.x1 - x0))
        if adu.shape != detsec.shape:
            raise CalibrationError(
                f"{row['path']} extension {amplifier['name']}: DATASEC {adu.shape} does not fill DETSEC {detsec.shape}"
            )
        electrons[place] = (adu * float(amplifier["gain"]))[mirror]
        saturated[place] = (raw[trim] >= float(amplifier["saturate"]))[mirror]
        nonfinite[place] = bad[trim][mirror]
        read_variance[place] = float(amplifier["read_noise"]) ** 2
    whole = (slice(0, shape[0]), slice(0, shape[1]))
    return RawElectrons(electrons, saturated, nonfinite, hdul[0].header.copy(), whole, read_variance)


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
