"""A realistic, seeded raw night of CCD frames: AstrID's built-in demo and test fixture.

The model follows what a small observatory's camera produces:

* raw frames are ``uint16`` ADU with an overscan strip on the right (``BIASSEC``), a bias
  level that drifts from frame to frame and along rows, a fixed 2-D bias structure, read
  noise, dark current with hot pixels, a gain, a flat field made of vignetting, per-pixel
  response variation and one dead column, and a saturation level with bleed trails;
* science frames show the stars and galaxies of a field catalog through a Moffat PSF whose
  seeing varies per exposure, on a sky background, with pointing offsets of several pixels
  and a small rotation; the header carries the *nominal* WCS only (a first guess, as at a
  real telescope); cosmic rays hit every exposure;
* transients (supernova-like point sources on galaxies and variable stars) exist only in
  the night whose role is ``"new"``;
* the camera's ``layout`` says how the focal plane is read out: ``"single"`` (one CCD, one
  amplifier, one image HDU), ``"quad"`` (one CCD read by four amplifiers, one extension
  each, with their own gain, read noise, bias level and overscan, three of them mirrored:
  ``DETSEC`` says where each lands) or ``"mosaic"`` (two detectors side by side, one
  extension each with its own WCS, gain and bias).

Everything the pipeline must find is written to a truth file beside the raw night; the
pipeline reads it only in evaluation and tests.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
from astropy.table import Table

from astrid.io.sections import format_section
from astrid.sim.cosmics import add_cosmic_rays
from astrid.sim.scene import render_scene

# Sky brightness (e-/s/pixel) and zero points (magnitude giving 1 e-/s) per band for the
# demo camera: a 1-m class telescope with 0.4"/pixel on a moderately dark site.
SKY_RATE = {"g": 8.0, "r": 15.0, "i": 20.0}
ZEROPOINT = {"g": 25.6, "r": 25.8, "i": 25.4}
FLAT_LEVEL = 25000.0  # electrons per pixel in a dome flat at the centre of the field


LAYOUTS = ("single", "quad", "mosaic")

# Per-segment departures from the camera's gain, read noise and bias level (quad: amplifiers
# AMP1..AMP4 counter-clockwise from the lower left; mosaic: detectors CCD1, CCD2 left to
# right). Gain differences of a few per cent are typical between amplifiers of one CCD.
QUAD_GAIN_FACTORS = (1.00, 1.04, 0.96, 1.02)
QUAD_READ_NOISE_FACTORS = (1.00, 1.06, 0.96, 1.02)
QUAD_BIAS_OFFSETS = (0.0, 40.0, -20.0, 20.0)
MOSAIC_GAIN_FACTORS = (1.00, 1.09)
MOSAIC_BIAS_OFFSETS = (0.0, 100.0)


@dataclass(frozen=True)
class Segment:
    """One read-out of the focal plane: an amplifier (quad) or a detector (mosaic) or the
    whole CCD (single); rows and columns are its pixels on the focal plane."""

    name: str
    rows: slice
    cols: slice
    gain: float  # e-/ADU
    read_noise: float  # e-
    bias_level: float  # ADU
    flip_x: bool = False  # stored mirrored along x (read out from the right)
    flip_y: bool = False  # stored mirrored along y (read out from the top)


@dataclass(frozen=True)
class Camera:
    """Static properties of the simulated detector."""

    ny: int = 2048
    nx: int = 2048
    overscan: int = 32
    gain: float = 1.6  # e-/ADU
    read_noise: float = 5.0  # e-
    bias_level: float = 1000.0  # ADU
    full_well: float = 90000.0  # e-
    dark_current: float = 0.01  # e-/s/pixel
    hot_pixel_fraction: float = 3e-4
    pixel_scale: float = 0.4  # arcsec/pixel
    vignetting: float = 0.15  # fractional loss at the corners
    prnu: float = 0.01  # rms pixel response non-uniformity
    layout: str = "single"  # one of LAYOUTS

    def __post_init__(self):
        if self.layout not in LAYOUTS:
            raise ValueError(f"camera layout {self.layout!r} is not one of {', '.join(LAYOUTS)}")

    def segments(self) -> list[Segment]:
        """How the focal plane is read out: one segment per image HDU of a raw file.

        Returns
        -------
        list of Segment
            ``single``: the whole CCD; ``quad``: four amplifiers of ``ny/2 × nx/2``;
            ``mosaic``: two detectors of ``ny × nx/2``.
        """
        full = (slice(0, self.ny), slice(0, self.nx))
        if self.layout == "single":
            return [Segment("", *full, self.gain, self.read_noise, self.bias_level)]
        hy, hx = self.ny // 2, self.nx // 2
        if self.layout == "mosaic":
            return [
                Segment(
                    f"CCD{i + 1}",
                    slice(0, self.ny),
                    slice(i * hx, (i + 1) * hx),
                    self.gain * MOSAIC_GAIN_FACTORS[i],
                    self.read_noise,
                    self.bias_level + MOSAIC_BIAS_OFFSETS[i],
                )
                for i in range(2)
            ]
        corners = ((0, 0), (0, 1), (1, 1), (1, 0))  # (row half, column half) of AMP1..AMP4
        return [
            Segment(
                f"AMP{i + 1}",
                slice(r * hy, (r + 1) * hy),
                slice(c * hx, (c + 1) * hx),
                self.gain * QUAD_GAIN_FACTORS[i],
                self.read_noise * QUAD_READ_NOISE_FACTORS[i],
                self.bias_level + QUAD_BIAS_OFFSETS[i],
                flip_x=bool(c),
                flip_y=bool(r),
            )
            for i, (r, c) in enumerate(corners)
        ]

    @property
    def saturate_adu(self):
        """Raw level above which a pixel is unreliable (written as ``SATURATE``)."""
        return saturation_adu(self.bias_level, self.full_well, self.gain)

    @property
    def bad_column(self):
        return self.nx // 3

    def header_cards(self) -> dict[str, tuple[float | str, str]]:
        """The camera's cards of every raw header: gain, read noise, saturation, sections
        and names.

        Returns
        -------
        dict of str to (value, comment)
            ``GAIN`` (e-/ADU), ``RDNOISE`` (e-), ``SATURATE`` (ADU), ``BIASSEC`` and
            ``TRIMSEC`` (FITS sections), ``TELESCOP``, ``INSTRUME``.
        """
        return {
            "GAIN": (self.gain, "[e-/ADU] detector gain"),
            "RDNOISE": (self.read_noise, "[e-] read noise"),
            "SATURATE": (self.saturate_adu, "[ADU] saturation level"),
            "BIASSEC": (f"[{self.nx + 3}:{self.nx + self.overscan},1:{self.ny}]", "overscan"),
            "TRIMSEC": (f"[1:{self.nx},1:{self.ny}]", "active area"),
            "TELESCOP": ("AstrID demo 1.0m", ""),
            "INSTRUME": ("AstrID SimCam", ""),
        }


def demo_camera(size: int, layout: str = "single") -> Camera:
    """The demo's camera: CCDs of ``size``² pixels, one (single, quad) or two side by side
    (mosaic).

    Parameters
    ----------
    size : int
        Side of each CCD's active area, pixels (``demo.size``).
    layout : str
        One of ``LAYOUTS`` (``demo.camera``).

    Returns
    -------
    Camera
        A mosaic's focal plane is ``size × 2·size``: each detector sees as many stars as
        a single CCD of the same size.
    """
    return Camera(ny=size, nx=2 * size if layout == "mosaic" else size, layout=layout)


def saturation_adu(bias_level: float, full_well: float, gain: float) -> float:
    """Raw level (ADU) above which a pixel of a read-out is unreliable: 98 % of the full well.

    Parameters
    ----------
    bias_level : float
        The read-out's bias level (ADU).
    full_well : float
        Most charge a pixel holds (electrons).
    gain : float
        The read-out's gain (e-/ADU).

    Returns
    -------
    float
        The ``SATURATE`` value, whole ADU.
    """
    return float(np.floor(bias_level + 0.98 * full_well / gain))


def segment_cards(camera: "Camera", segment: Segment) -> dict[str, tuple[float | str, str]]:
    """Header cards of one extension of a multi-extension raw file.

    Parameters
    ----------
    camera : Camera
        The camera (overscan width, full well).
    segment : Segment
        The amplifier or detector.

    Returns
    -------
    dict of str to (value, comment)
        ``EXTNAME``, ``GAIN``, ``RDNOISE``, ``SATURATE``, ``BIASSEC`` and ``DATASEC``; an
        amplifier adds ``DETSEC`` (where it lands on the CCD), a detector ``CCDNAME``.
    """
    ny = segment.rows.stop - segment.rows.start
    nx = segment.cols.stop - segment.cols.start
    cards = {
        "EXTNAME": (segment.name, "amplifier" if camera.layout == "quad" else "detector"),
        "GAIN": (round(segment.gain, 4), "[e-/ADU] gain of this read-out"),
        "RDNOISE": (round(segment.read_noise, 3), "[e-] read noise of this read-out"),
        "SATURATE": (saturation_adu(segment.bias_level, camera.full_well, segment.gain), "[ADU] saturation"),
        "BIASSEC": (format_section(nx + 2, nx + camera.overscan, 0, ny), "overscan"),
        "DATASEC": (format_section(0, nx, 0, ny), "exposed pixels"),
    }
    if camera.layout == "quad":
        detsec = format_section(
            segment.cols.start,
            segment.cols.stop,
            segment.rows.start,
            segment.rows.stop,
            segment.flip_x,
            segment.flip_y,
        )
        cards["DETSEC"] = (detsec, "where DATASEC lands on the CCD")
    else:
        cards["CCDNAME"] = (segment.name, "detector")
    return cards


@dataclass
class DetectorMaps:
    """Fixed detector signatures: true flat per band, dark-current map, bias structure."""

    flat: dict
    dark_rate: np.ndarray
    bias_pattern: np.ndarray
    hot_pixels: np.ndarray = field(repr=False)


def detector_maps(camera: Camera, bands: Iterable[str], seed: int) -> DetectorMaps:
    """The detector's fixed signatures, identical for every night with the same seed.

    Parameters
    ----------
    camera : Camera
        The detector.
    bands : iterable of str
        Bands that get a flat field.
    seed : int
        Seed of the maps (drawn from ``numpy.random.default_rng([seed, 7])``).

    Returns
    -------
    DetectorMaps
        True flat per band (vignetting, pixel response, a colour tilt and one dead column),
        dark current (e-/s/pixel) with hot pixels, bias structure (ADU).
    """
    rng = np.random.default_rng([seed, 7])
    y, x = np.mgrid[0 : camera.ny, 0 : camera.nx].astype(np.float32)
    r2 = ((x - camera.nx / 2) / (camera.nx / 2)) ** 2 + ((y - camera.ny / 2) / (camera.ny / 2)) ** 2
    vignette = 1.0 - camera.vignetting * r2 / 2.0
    prnu = 1.0 + camera.prnu * rng.standard_normal((camera.ny, camera.nx)).astype(np.float32)
    flats = {}
    for i, band in enumerate(sorted(bands)):
        tilt = 1.0 + 0.01 * (i + 1) * (x / camera.nx - 0.5)  # colour-dependent gradient
        flat = (vignette * prnu * tilt).astype(np.float32)
        flat[:, camera.bad_column] *= 0.05
        flats[band] = flat
    dark = np.full((camera.ny, camera.nx), camera.dark_current, dtype=np.float32)
    hot = rng.random((camera.ny, camera.nx)) < camera.hot_pixel_fraction
    dark[hot] = rng.uniform(1.0, 20.0, hot.sum()).astype(np.float32)
    bias_pattern = (3.0 * (x / camera.nx) + 2.0 * np.sin(2 * np.pi * y / camera.ny)).astype(np.float32)
    return DetectorMaps(flat=flats, dark_rate=dark, bias_pattern=bias_pattern, hot_pixels=hot)


def saturate_and_bleed(electrons: np.ndarray, full_well: float) -> np.ndarray:
    """Clip at the full well, spilling the excess charge up and down the column.

    Parameters
    ----------
    electrons : numpy.ndarray
        Collected charge per pixel (electrons), float; changed in place.
    full_well : float
        Most charge a pixel holds (electrons).

    Returns
    -------
    numpy.ndarray
        ``electrons`` itself; charge spilling past the frame's edge is lost.
    """
    columns = np.unique(np.nonzero(electrons > full_well)[1])
    for col in columns:
        column = electrons[:, col]
        for row in np.flatnonzero(column > full_well):
            excess = column[row] - full_well
            if excess <= 0:
                continue
            column[row] = full_well
            for direction in (1, -1):
                share, r = excess / 2.0, row + direction
                while share > 0 and 0 <= r < column.size:
                    room = full_well - column[r]
                    take = min(room, share) if room > 0 else 0.0
                    column[r] += take
                    share -= take
                    r += direction
        electrons[:, col] = column
    return electrons


def read_out(
    camera: Camera,
    maps: DetectorMaps,
    electrons: np.ndarray,
    rng: np.random.Generator,
    frame_bias_offset: float,
) -> list[tuple[Segment, np.ndarray]]:
    """Read out the focal plane segment by segment (:meth:`Camera.segments`).

    Parameters
    ----------
    camera : Camera
        The detector and its layout.
    maps : DetectorMaps
        Its fixed signatures (the bias structure is used).
    electrons : numpy.ndarray
        Collected charge (electrons), ``(ny, nx)``.
    rng : numpy.random.Generator
        Draws the row patterns and read noise.
    frame_bias_offset : float
        This frame's bias level change (ADU), shared by every segment.

    Returns
    -------
    list of (Segment, numpy.ndarray)
        Each segment and its raw data (uint16 ADU, overscan columns on the right, mirrored
        as the segment is read); a single CCD gives exactly :func:`to_raw`'s frame.
    """
    if camera.layout == "single":
        return [(camera.segments()[0], to_raw(camera, maps, electrons, rng, frame_bias_offset))]
    raws = []
    for segment in camera.segments():
        charge = electrons[segment.rows, segment.cols]
        pattern = maps.bias_pattern[segment.rows, segment.cols]
        step = (
            slice(None, None, -1 if segment.flip_y else 1),
            slice(None, None, -1 if segment.flip_x else 1),
        )
        raw = _digitise(
            charge[step],
            pattern[step],
            segment.gain,
            segment.read_noise,
            segment.bias_level + frame_bias_offset,
            camera.overscan,
            rng,
        )
        raws.append((segment, raw))
    return raws


def _digitise(electrons, bias_pattern, gain, read_noise, bias_level, overscan, rng):
    ny, nx = electrons.shape
    row_pattern = 1.5 * np.sin(2 * np.pi * np.arange(ny) / 700.0 + rng.uniform(0, 2 * np.pi))
    level = bias_level + row_pattern[:, None]
    raw = np.empty((ny, nx + overscan), dtype=np.float64)
    raw[:, :nx] = electrons / gain + bias_pattern + level
    raw[:, nx:] = level
    raw += rng.normal(0.0, read_noise / gain, raw.shape)
    return np.clip(np.round(raw), 0, 65535).astype(np.uint16)


def to_raw(
    camera: Camera,
    maps: DetectorMaps,
    electrons: np.ndarray,
    rng: np.random.Generator,
    frame_bias_offset: float,
) -> np.ndarray:
    """Detector read-out of a single CCD: electrons → uint16 ADU with bias, overscan and
    read noise (the camera's layout is not used: see :func:`read_out`).

    Parameters
    ----------
    camera : Camera
        The detector.
    maps : DetectorMaps
        Its fixed signatures (the bias structure is used).
    electrons : numpy.ndarray
        Collected charge (electrons), ``(ny, nx)``.
    rng : numpy.random.Generator
        Draws the row pattern's phase and the read noise.
    frame_bias_offset : float
        This frame's bias level change (ADU).

    Returns
    -------
    numpy.ndarray
        The raw frame, uint16 ADU, ``(ny, nx + camera.overscan)``.
    """
    return _digitise(
        electrons,
        maps.bias_pattern,
        camera.gain,
        camera.read_noise,
        camera.bias_level + frame_bias_offset,
        camera.overscan,
        rng,
    )


def simulate_science(
    camera: Camera,
    maps: DetectorMaps,
    sources: Table,
    band: str,
    exptime: float,
    fwhm: float,
    beta: float,
    rng: np.random.Generator,
    cosmic_rate: float,
) -> tuple[list[tuple[Segment, np.ndarray]], Table]:
    """Raw science frame and its cosmic-ray truth from sources in true pixel coordinates.

    Parameters
    ----------
    camera : Camera
        The detector.
    maps : DetectorMaps
        Its fixed signatures.
    sources : astropy.table.Table
        The frame's sources (:func:`astrid.sim.catalogs.frame_sources`).
    band : str
        The band (``SKY_RATE`` and the flat of that band are used).
    exptime : float
        Exposure time (seconds).
    fwhm : float
        Seeing FWHM (pixels).
    beta : float
        Moffat β.
    rng : numpy.random.Generator
        Draws every random part of the frame.
    cosmic_rate : float
        Cosmic rays per second on a 2048² frame (scaled to the frame's area).

    Returns
    -------
    (list of (Segment, numpy.ndarray), astropy.table.Table)
        The raw frame's read-outs (:func:`read_out`, uint16 ADU) and the cosmic-ray pixels
        (``x``, ``y``, ``electrons``, on the focal plane).
    """
    scene = render_scene((camera.ny, camera.nx), sources, fwhm, beta)
    expected = (scene + SKY_RATE[band] * exptime) * maps.flat[band] + maps.dark_rate * exptime
    electrons = rng.poisson(expected).astype(np.float64)
    n_rays = rng.poisson(cosmic_rate * exptime * camera.nx * camera.ny / 2048.0**2)
    cosmics = add_cosmic_rays(electrons, rng, n_rays)
    saturate_and_bleed(electrons, camera.full_well)
    return read_out(camera, maps, electrons, rng, rng.normal(0, 4)), cosmics


def simulate_calibration(
    camera: Camera,
    maps: DetectorMaps,
    kind: str,
    band: str | None,
    exptime: float,
    rng: np.random.Generator,
    cosmic_rate: float,
) -> list[tuple[Segment, np.ndarray]]:
    """Raw bias, dark or flat frame.

    Parameters
    ----------
    camera : Camera
        The detector.
    maps : DetectorMaps
        Its fixed signatures.
    kind : str
        ``"bias"``, ``"dark"`` or ``"flat"``; a bias gets no cosmic rays.
    band : str or None
        The flat's band; unused for bias and dark.
    exptime : float
        Exposure time (seconds).
    rng : numpy.random.Generator
        Draws every random part of the frame.
    cosmic_rate : float
        Cosmic rays per second on a 2048² frame.

    Returns
    -------
    list of (Segment, numpy.ndarray)
        The raw frame's read-outs (:func:`read_out`, uint16 ADU).
    """
    shape = (camera.ny, camera.nx)
    expected = np.zeros(shape) + maps.dark_rate * exptime
    if kind == "flat":
        expected = expected + FLAT_LEVEL * maps.flat[band] * rng.uniform(0.9, 1.1)
    electrons = rng.poisson(expected).astype(np.float64)
    if kind != "bias":
        add_cosmic_rays(
            electrons, rng, rng.poisson(cosmic_rate * exptime * camera.nx * camera.ny / 2048.0**2)
        )
    saturate_and_bleed(electrons, camera.full_well)
    return read_out(camera, maps, electrons, rng, rng.normal(0, 4))
