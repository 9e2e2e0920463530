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
  the night whose role is ``"new"``.

Everything the pipeline must find is written to a truth file beside the raw night; the
pipeline reads it only in evaluation and tests.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
from astropy.table import Table

from astrid.sim.cosmics import add_cosmic_rays
from astrid.sim.scene import render_scene

# Sky brightness (e-/s/pixel) and zero points (magnitude giving 1 e-/s) per band for the
# demo camera: a 1-m class telescope with 0.4"/pixel on a moderately dark site.
SKY_RATE = {"g": 8.0, "r": 15.0, "i": 20.0}
ZEROPOINT = {"g": 25.6, "r": 25.8, "i": 25.4}
FLAT_LEVEL = 25000.0  # electrons per pixel in a dome flat at the centre of the field


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

    @property
    def saturate_adu(self):
        """Raw level above which a pixel is unreliable (written as ``SATURATE``)."""
        return float(np.floor(self.bias_level + 0.98 * self.full_well / self.gain))

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


def to_raw(
    camera: Camera,
    maps: DetectorMaps,
    electrons: np.ndarray,
    rng: np.random.Generator,
    frame_bias_offset: float,
) -> np.ndarray:
    """Detector read-out: electrons → uint16 ADU with bias, overscan and read noise.

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
    ny, nx = electrons.shape
    row_pattern = 1.5 * np.sin(2 * np.pi * np.arange(ny) / 700.0 + rng.uniform(0, 2 * np.pi))
    level = camera.bias_level + frame_bias_offset + row_pattern[:, None]
    raw = np.empty((ny, nx + camera.overscan), dtype=np.float64)
    raw[:, :nx] = electrons / camera.gain + maps.bias_pattern + level
    raw[:, nx:] = level
    raw += rng.normal(0.0, camera.read_noise / camera.gain, raw.shape)
    return np.clip(np.round(raw), 0, 65535).astype(np.uint16)


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
) -> tuple[np.ndarray, Table]:
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
    (numpy.ndarray, astropy.table.Table)
        The raw frame (uint16 ADU) and the cosmic-ray pixels (``x``, ``y``, ``electrons``).
    """
    scene = render_scene((camera.ny, camera.nx), sources, fwhm, beta)
    expected = (scene + SKY_RATE[band] * exptime) * maps.flat[band] + maps.dark_rate * exptime
    electrons = rng.poisson(expected).astype(np.float64)
    n_rays = rng.poisson(cosmic_rate * exptime * camera.nx * camera.ny / 2048.0**2)
    cosmics = add_cosmic_rays(electrons, rng, n_rays)
    saturate_and_bleed(electrons, camera.full_well)
    return to_raw(camera, maps, electrons, rng, rng.normal(0, 4)), cosmics


def simulate_calibration(
    camera: Camera,
    maps: DetectorMaps,
    kind: str,
    band: str | None,
    exptime: float,
    rng: np.random.Generator,
    cosmic_rate: float,
) -> np.ndarray:
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
    numpy.ndarray
        The raw frame (uint16 ADU).
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
    return to_raw(camera, maps, electrons, rng, rng.normal(0, 4))
