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

import logging
import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.table import Table, vstack
from astropy.wcs import WCS
from scipy.signal import fftconvolve

log = logging.getLogger(__name__)

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

    def header_cards(self):
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


def detector_maps(camera, bands, seed):
    """The detector's fixed signatures, identical for every night with the same seed."""
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


# --------------------------------------------------------------------------- catalogs


def catalog_width(camera):
    """Side (degrees) of the sky area a field catalog covers: the frame plus a margin for
    pointing offsets and rotation."""
    return 1.3 * max(camera.nx, camera.ny) * camera.pixel_scale / 3600.0


def _power_law_mags(rng, n, bright, faint, slope=0.3):
    """Magnitudes with dN/dm ∝ 10^(slope·m) between ``bright`` and ``faint``."""
    a, b = 10 ** (slope * bright), 10 ** (slope * faint)
    return np.log10(a + rng.random(n) * (b - a)) / slope


def make_field_catalog(
    name, ra, dec, width_deg, seed, star_density=20000.0, galaxy_density=5000.0, bright_density=100.0
):
    """Stars and galaxies of one field, as a survey reference catalog would list them.

    Parameters
    ----------
    name : str
        Field name (``OBJECT`` in the headers).
    ra, dec : float
        Field centre in degrees.
    width_deg : float
        Side of the square area covered, in degrees.
    seed : int
        Seed; the same inputs always give the same catalog.
    star_density, galaxy_density : float
        Sources per square degree to r = 23.5 (stars, from r = 14) and r = 22.5 (galaxies).
    bright_density : float
        Stars of r = 10.5–13.5 per square degree (at least two per catalog): they saturate
        and bleed, as bright stars do in every real field.

    Returns
    -------
    astropy.table.Table
        One row per source: ``source_id``, ``kind``, ``ra``, ``dec``, ``mag_<band>`` and,
        for galaxies, Sérsic parameters (``r_eff`` in arcsec, ``sersic_n``, ``axis_ratio``,
        ``pa_deg``).
    """
    rng = np.random.default_rng([seed, sum(name.encode())])
    area = width_deg**2
    n_bright = max(2, rng.poisson(bright_density * area))
    n_star = rng.poisson(star_density * area)
    n_gal = rng.poisson(galaxy_density * area)
    kinds = np.array(["star"] * (n_bright + n_star) + ["galaxy"] * n_gal)
    n = kinds.size
    xi = (rng.random(n) - 0.5) * width_deg
    eta = (rng.random(n) - 0.5) * width_deg
    mag_r = np.concatenate(
        [
            rng.uniform(10.5, 13.5, n_bright),
            _power_law_mags(rng, n_star, 14.0, 23.5),
            _power_law_mags(rng, n_gal, 17.0, 22.5),
        ]
    )
    colour = np.where(kinds == "star", rng.normal(0.6, 0.3, n), rng.normal(0.8, 0.2, n))
    table = Table()
    table["source_id"] = [f"{name}-{i:05d}" for i in range(n)]
    table["kind"] = kinds
    table["ra"] = ra + xi / np.cos(np.radians(dec))
    table["dec"] = dec + eta
    table["mag_g"] = mag_r + colour
    table["mag_r"] = mag_r
    table["mag_i"] = mag_r - 0.4 * colour
    is_gal = kinds == "galaxy"
    table["r_eff"] = np.where(is_gal, rng.uniform(0.8, 3.0, n), 0.0)
    table["sersic_n"] = np.where(is_gal, rng.choice([1.0, 4.0], n, p=[0.7, 0.3]), 0.0)
    table["axis_ratio"] = np.where(is_gal, rng.uniform(0.35, 1.0, n), 1.0)
    table["pa_deg"] = np.where(is_gal, rng.uniform(0, 180, n), 0.0)
    table.meta.update({"FIELD": name, "RA": ra, "DEC": dec, "SEED": seed})
    return table


def make_transients(catalog, seed, n_supernovae, n_variables, inner_radius_deg):
    """Transients of one field for the new night.

    Supernova-like point sources sit on galaxies, offset from the core by 0.3–1 effective
    radius; variable stars of r = 17.5–20 brighten by 0.3–1.2 mag (never to saturation,
    where no pipeline could measure them). Only sources within
    ``inner_radius_deg`` of the field centre are used, so every pointing sees them.
    """
    rng = np.random.default_rng([seed, sum(catalog.meta["FIELD"].encode()), 11])
    ra0, dec0 = catalog.meta["RA"], catalog.meta["DEC"]
    sep = np.hypot((catalog["ra"] - ra0) * np.cos(np.radians(dec0)), catalog["dec"] - dec0)
    inner = sep < inner_radius_deg
    hosts = np.flatnonzero(inner & (catalog["kind"] == "galaxy") & (catalog["mag_r"] < 21.5))
    stars = np.flatnonzero(
        inner & (catalog["kind"] == "star") & (catalog["mag_r"] > 17.5) & (catalog["mag_r"] < 20)
    )
    rows = []
    for k, i in enumerate(rng.choice(hosts, min(n_supernovae, hosts.size), replace=False)):
        offset = rng.uniform(0.3, 1.0) * catalog["r_eff"][i] / 3600.0
        angle = rng.uniform(0, 2 * np.pi)
        mag_r = rng.uniform(18.0, 20.5)
        rows.append(
            {
                "transient_id": f"{catalog.meta['FIELD']}-SN{k:02d}",
                "kind": "supernova",
                "host_id": catalog["source_id"][i],
                "ra": catalog["ra"][i] + offset * np.cos(angle) / np.cos(np.radians(dec0)),
                "dec": catalog["dec"][i] + offset * np.sin(angle),
                "delta_mag_g": np.nan,
                "delta_mag_r": np.nan,
                "delta_mag_i": np.nan,
                "mag_g": mag_r + rng.normal(0.2, 0.1),
                "mag_r": mag_r,
                "mag_i": mag_r - 0.1,
            }
        )
    for k, i in enumerate(rng.choice(stars, min(n_variables, stars.size), replace=False)):
        brighten = rng.uniform(0.3, 1.2)
        rows.append(
            {
                "transient_id": f"{catalog.meta['FIELD']}-VAR{k:02d}",
                "kind": "variable",
                "host_id": catalog["source_id"][i],
                "ra": catalog["ra"][i],
                "dec": catalog["dec"][i],
                "delta_mag_g": -brighten,
                "delta_mag_r": -brighten,
                "delta_mag_i": -brighten,
                "mag_g": catalog["mag_g"][i] - brighten,
                "mag_r": catalog["mag_r"][i] - brighten,
                "mag_i": catalog["mag_i"][i] - brighten,
            }
        )
    table = Table(rows=rows) if rows else Table(names=["transient_id", "kind"], dtype=[str, str])
    table.meta["FIELD"] = catalog.meta["FIELD"]
    return table


# --------------------------------------------------------------------------- rendering


def moffat_alpha(fwhm, beta):
    return fwhm / (2.0 * np.sqrt(2.0 ** (1.0 / beta) - 1.0))


def moffat_stamp(fwhm, beta, dx, dy, radius, oversample=3):
    """Pixel-integrated Moffat profile of unit total flux on a (2r+1)² stamp.

    ``dx, dy`` is the sub-pixel offset of the centre from the stamp's central pixel.
    """
    alpha = moffat_alpha(fwhm, beta)
    n = 2 * radius + 1
    sub = (np.arange(n * oversample) + 0.5) / oversample - 0.5 - radius
    yy, xx = np.meshgrid(sub - dy, sub - dx, indexing="ij")
    profile = (beta - 1) / (np.pi * alpha**2) * (1 + (xx**2 + yy**2) / alpha**2) ** (-beta)
    return profile.reshape(n, oversample, n, oversample).mean(axis=(1, 3))


def sersic_stamp(r_eff_px, n, axis_ratio, pa_deg, radius):
    """Sérsic profile of unit flux (normalised on the stamp), centred on the stamp."""
    from scipy.special import gammaincinv

    b_n = gammaincinv(2 * n, 0.5)
    yy, xx = np.mgrid[-radius : radius + 1, -radius : radius + 1].astype(float)
    theta = np.radians(pa_deg)
    xr = xx * np.cos(theta) + yy * np.sin(theta)
    yr = -xx * np.sin(theta) + yy * np.cos(theta)
    r = np.sqrt(xr**2 + (yr / axis_ratio) ** 2)
    profile = np.exp(-b_n * ((np.maximum(r, 0.3) / r_eff_px) ** (1.0 / n) - 1))
    return profile / profile.sum()


def _add_stamp(image, stamp, xc, yc):
    """Add ``stamp`` centred on integer pixel (xc, yc), clipping at the image edges."""
    r = stamp.shape[0] // 2
    y0, x0 = yc - r, xc - r
    y1, x1 = y0 + stamp.shape[0], x0 + stamp.shape[1]
    sy0, sx0 = max(0, -y0), max(0, -x0)
    sy1 = stamp.shape[0] - max(0, y1 - image.shape[0])
    sx1 = stamp.shape[1] - max(0, x1 - image.shape[1])
    if sy1 <= sy0 or sx1 <= sx0:
        return
    image[max(y0, 0) : min(y1, image.shape[0]), max(x0, 0) : min(x1, image.shape[1])] += stamp[
        sy0:sy1, sx0:sx1
    ]


def render_scene(shape, sources, fwhm, beta):
    """Noiseless image (electrons, before the flat field) of point sources and galaxies.

    ``sources`` is a table with pixel ``x, y`` (0-based), ``flux_e`` and ``kind``; galaxies
    also carry ``r_eff_px``, ``sersic_n``, ``axis_ratio`` and ``pa_deg``.
    """
    image = np.zeros(shape, dtype=np.float64)
    margin = 60
    psf_for_galaxies = moffat_stamp(fwhm, beta, 0.0, 0.0, int(np.ceil(3 * fwhm)))
    for row in sources:
        x, y, flux = float(row["x"]), float(row["y"]), float(row["flux_e"])
        if not (-margin < x < shape[1] + margin and -margin < y < shape[0] + margin):
            continue
        xc, yc = int(np.round(x)), int(np.round(y))
        if row["kind"] == "galaxy":
            r_eff = float(row["r_eff_px"])
            radius = int(min(60, max(8, np.ceil(5 * r_eff))))
            galaxy = sersic_stamp(
                r_eff, float(row["sersic_n"]), float(row["axis_ratio"]), float(row["pa_deg"]), radius
            )
            stamp = fftconvolve(galaxy, psf_for_galaxies, mode="same")
        else:
            # Bright stars need wide stamps so that their wings are not cut off.
            radius = int(np.ceil(fwhm * (4 if flux < 1e5 else 12 if flux < 1e7 else 25)))
            stamp = moffat_stamp(fwhm, beta, x - xc, y - yc, radius)
        _add_stamp(image, flux * stamp, xc, yc)
    return image


def add_cosmic_rays(electrons, rng, n_rays):
    """Add ``n_rays`` cosmic-ray tracks in place; return their pixels as a table."""
    ny, nx = electrons.shape
    xs, ys, deposits = [], [], []
    for _ in range(n_rays):
        length = rng.integers(1, 9)
        angle = rng.uniform(0, np.pi)
        x0, y0 = rng.uniform(0, nx), rng.uniform(0, ny)
        steps = np.arange(length)
        px = np.clip(np.round(x0 + steps * np.cos(angle)).astype(int), 0, nx - 1)
        py = np.clip(np.round(y0 + steps * np.sin(angle)).astype(int), 0, ny - 1)
        pix = np.unique(np.stack([py, px], axis=1), axis=0)
        energy = rng.uniform(400.0, 4000.0, len(pix))
        electrons[pix[:, 0], pix[:, 1]] += energy
        ys.extend(pix[:, 0])
        xs.extend(pix[:, 1])
        deposits.extend(energy)
    return Table({"x": np.array(xs, int), "y": np.array(ys, int), "electrons": np.array(deposits)})


def saturate_and_bleed(electrons, full_well):
    """Clip at the full well, spilling the excess charge up and down the column."""
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


def to_raw(camera, maps, electrons, rng, frame_bias_offset):
    """Detector read-out: electrons → uint16 ADU with bias, overscan and read noise."""
    ny, nx = electrons.shape
    row_pattern = 1.5 * np.sin(2 * np.pi * np.arange(ny) / 700.0 + rng.uniform(0, 2 * np.pi))
    level = camera.bias_level + frame_bias_offset + row_pattern[:, None]
    raw = np.empty((ny, nx + camera.overscan), dtype=np.float64)
    raw[:, :nx] = electrons / camera.gain + maps.bias_pattern + level
    raw[:, nx:] = level
    raw += rng.normal(0.0, camera.read_noise / camera.gain, raw.shape)
    return np.clip(np.round(raw), 0, 65535).astype(np.uint16)


# --------------------------------------------------------------------------- frames


def nominal_wcs(camera, ra, dec, crpix_shift=(0.0, 0.0), rotation_deg=0.0):
    """TAN WCS of the camera pointed at (ra, dec), optionally shifted and rotated."""
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [ra, dec]
    wcs.wcs.crpix = [camera.nx / 2 + 0.5 + crpix_shift[0], camera.ny / 2 + 0.5 + crpix_shift[1]]
    scale = camera.pixel_scale / 3600.0
    theta = np.radians(rotation_deg)
    wcs.wcs.cd = scale * np.array([[-np.cos(theta), np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    return wcs


def frame_sources(camera, catalog, transients, band, exptime, wcs, night_is_new):
    """Sources of one exposure in its true pixel frame, with their fluxes in electrons."""
    x, y = wcs.all_world2pix(catalog["ra"], catalog["dec"], 0)
    mags = np.array(catalog[f"mag_{band}"], dtype=float)
    kinds = np.array(catalog["kind"], dtype="U16")
    ids = np.array(catalog["source_id"], dtype="U32")
    if night_is_new and len(transients):
        variables = transients[transients["kind"] == "variable"]
        lookup = {sid: i for i, sid in enumerate(ids)}
        for row in variables:
            mags[lookup[row["host_id"]]] = row[f"mag_{band}"]
            kinds[lookup[row["host_id"]]] = "variable"
    table = Table()
    table["source_id"] = ids
    table["kind"] = kinds
    table["x"], table["y"] = x, y
    table["flux_e"] = 10 ** (-0.4 * (mags - ZEROPOINT[band])) * exptime
    table["r_eff_px"] = np.array(catalog["r_eff"]) / camera.pixel_scale
    for name in ("sersic_n", "axis_ratio", "pa_deg"):
        table[name] = catalog[name]
    if night_is_new and len(transients):
        sne = transients[transients["kind"] == "supernova"]
        if len(sne):
            sx, sy = wcs.all_world2pix(sne["ra"], sne["dec"], 0)
            extra = Table()
            extra["source_id"] = np.array(sne["transient_id"], dtype="U32")
            extra["kind"] = np.array(["supernova"] * len(sne), dtype="U16")
            extra["x"], extra["y"] = sx, sy
            extra["flux_e"] = 10 ** (-0.4 * (np.array(sne[f"mag_{band}"]) - ZEROPOINT[band])) * exptime
            extra["r_eff_px"] = 0.0
            extra["sersic_n"], extra["axis_ratio"], extra["pa_deg"] = 0.0, 1.0, 0.0
            table = vstack([table, extra])
    inside = (table["x"] > -50) & (table["x"] < camera.nx + 50)
    inside &= (table["y"] > -50) & (table["y"] < camera.ny + 50)
    return table[inside]


def simulate_science(camera, maps, sources, band, exptime, fwhm, beta, rng, cosmic_rate):
    """Raw science frame and its cosmic-ray truth from sources in true pixel coordinates."""
    scene = render_scene((camera.ny, camera.nx), sources, fwhm, beta)
    expected = (scene + SKY_RATE[band] * exptime) * maps.flat[band] + maps.dark_rate * exptime
    electrons = rng.poisson(expected).astype(np.float64)
    n_rays = rng.poisson(cosmic_rate * exptime * camera.nx * camera.ny / 2048.0**2)
    cosmics = add_cosmic_rays(electrons, rng, n_rays)
    saturate_and_bleed(electrons, camera.full_well)
    return to_raw(camera, maps, electrons, rng, rng.normal(0, 4)), cosmics


def simulate_calibration(camera, maps, kind, band, exptime, rng, cosmic_rate):
    """Raw bias, dark or flat frame."""
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


# --------------------------------------------------------------------------- a night

IMAGETYP = {"bias": "Bias Frame", "dark": "Dark Frame", "flat": "Flat Field", "science": "Light Frame"}


@dataclass(frozen=True)
class NightPlan:
    """What one simulated night contains."""

    night: str  # YYYYMMDD
    role: str  # "reference" (no transients) or "new"
    fields: tuple  # ((name, ra, dec), ...)
    bands: tuple = ("g", "r")
    science_per_field_band: int = 2
    science_exptime: float = 60.0
    n_bias: int = 5
    n_dark: int = 5
    dark_exptime: float = 300.0
    n_flat: int = 5
    flat_exptime: float = 5.0
    seeing_arcsec: tuple = (0.9, 1.6)
    moffat_beta: float = 3.5
    max_offset_px: float = 8.0
    max_rotation_deg: float = 0.1
    cosmic_rate: float = 5.0  # rays per second per 2048² frame
    n_supernovae: int = 5
    n_variables: int = 3
    defects: bool = True  # add a truncated frame and a frame of unknown type


def _header(camera, kind, band, exptime, date_obs, field_name=None):
    header = fits.Header()
    header["IMAGETYP"] = IMAGETYP[kind]
    if kind in ("flat", "science"):
        header["FILTER"] = (band, "filter band")
    header["EXPTIME"] = (exptime, "[s] exposure time")
    header["DATE-OBS"] = (date_obs.isoformat(timespec="milliseconds"), "UTC start of exposure")
    for key, (value, comment) in camera.header_cards().items():
        header[key] = (value, comment)
    if field_name:
        header["OBJECT"] = field_name
    return header


def written_at(path, header):
    """Date the file as the camera would have: modified when its exposure ended (a night
    on disk is ingested as a finished night, none of its frames still arriving)."""
    end = datetime.fromisoformat(header["DATE-OBS"]).replace(tzinfo=timezone.utc)
    stamp = (end + timedelta(seconds=float(header["EXPTIME"]))).timestamp()
    os.utime(path, (stamp, stamp))


def simulate_night(plan, camera, catalogs, out_dir, truth_path, seed):
    """Write one raw night (calibrations and science frames) and its truth file.

    Parameters
    ----------
    plan : NightPlan
    camera : Camera
    catalogs : dict
        Field name → field catalog (:func:`make_field_catalog`).
    out_dir : path
        Folder that receives the raw frames, ``<night>-<NNNN>.fits``.
    truth_path : path
        FITS file that receives the truth tables ``FRAMES``, ``SOURCES``, ``TRANSIENTS``
        and ``COSMICS``.
    seed : int
    """
    out_dir, truth_path = Path(out_dir), Path(truth_path)
    out_dir.mkdir(parents=True, exist_ok=True)
    maps = detector_maps(camera, plan.bands, seed)
    night_int = int(plan.night)
    start = datetime.strptime(plan.night, "%Y%m%d") + timedelta(hours=23)
    frames, sources_truth, cosmics_truth, transients_truth = [], [], [], []
    sequence = 0

    def next_name():
        nonlocal sequence
        sequence += 1
        return f"{plan.night}-{sequence:04d}"

    def write(name, raw, header):
        path = out_dir / f"{name}.fits"
        fits.PrimaryHDU(raw, header=header).writeto(path, overwrite=True)
        written_at(path, header)

    clock = start
    calibrations = [("bias", None, 0.0)] * plan.n_bias + [("dark", None, plan.dark_exptime)] * plan.n_dark
    calibrations += [("flat", band, plan.flat_exptime) for band in plan.bands for _ in range(plan.n_flat)]
    for kind, band, exptime in calibrations:
        name = next_name()
        rng = np.random.default_rng([seed, night_int, sequence])
        raw = simulate_calibration(camera, maps, kind, band, exptime, rng, plan.cosmic_rate)
        write(name, raw, _header(camera, kind, band, exptime, clock))
        frames.append(
            {
                "exposure": name,
                "kind": kind,
                "field": "",
                "band": band or "",
                "exptime": exptime,
                "fwhm_px": np.nan,
                "dx": 0.0,
                "dy": 0.0,
                "rotation_deg": 0.0,
                "defect": "",
            }
        )
        clock += timedelta(seconds=exptime + 20)

    clock = start + timedelta(hours=2)
    for field_name, ra, dec in plan.fields:
        catalog = catalogs[field_name]
        inner = 0.35 * min(camera.nx, camera.ny) * camera.pixel_scale / 3600.0
        transients = make_transients(catalog, seed, plan.n_supernovae, plan.n_variables, inner)
        if plan.role == "new" and len(transients):
            transients_truth.append(transients)
        for band in plan.bands:
            for _ in range(plan.science_per_field_band):
                name = next_name()
                rng = np.random.default_rng([seed, night_int, sequence])
                fwhm = rng.uniform(*plan.seeing_arcsec) / camera.pixel_scale
                shift = rng.uniform(-plan.max_offset_px, plan.max_offset_px, 2)
                rotation = rng.uniform(-plan.max_rotation_deg, plan.max_rotation_deg)
                true_wcs = nominal_wcs(camera, ra, dec, shift, rotation)
                sources = frame_sources(
                    camera, catalog, transients, band, plan.science_exptime, true_wcs, plan.role == "new"
                )
                raw, cosmics = simulate_science(
                    camera,
                    maps,
                    sources,
                    band,
                    plan.science_exptime,
                    fwhm,
                    plan.moffat_beta,
                    rng,
                    plan.cosmic_rate,
                )
                header = _header(camera, "science", band, plan.science_exptime, clock, field_name)
                header.update(nominal_wcs(camera, ra, dec).to_header())
                header["AIRMASS"] = round(float(rng.uniform(1.05, 1.6)), 3)
                write(name, raw, header)
                src = sources.copy(copy_data=False)
                src["exposure"] = name
                sources_truth.append(src)
                cosmics["exposure"] = name
                cosmics_truth.append(cosmics)
                frames.append(
                    {
                        "exposure": name,
                        "kind": "science",
                        "field": field_name,
                        "band": band,
                        "exptime": plan.science_exptime,
                        "fwhm_px": fwhm,
                        "dx": shift[0],
                        "dy": shift[1],
                        "rotation_deg": rotation,
                        "defect": "",
                    }
                )
                clock += timedelta(seconds=plan.science_exptime + 30)

    if plan.defects:
        # A frame whose transfer was cut off, and a focus frame nobody should process.
        name = next_name()
        header = _header(camera, "science", plan.bands[0], plan.science_exptime, clock, plan.fields[0][0])
        path = out_dir / f"{name}.fits"
        fits.PrimaryHDU(np.zeros((camera.ny, camera.nx + camera.overscan), np.uint16), header=header).writeto(
            path, overwrite=True
        )
        with open(path, "r+b") as handle:
            handle.truncate(path.stat().st_size // 3)
        written_at(path, header)
        frames.append(
            {
                "exposure": name,
                "kind": "science",
                "field": plan.fields[0][0],
                "band": plan.bands[0],
                "exptime": plan.science_exptime,
                "fwhm_px": np.nan,
                "dx": 0.0,
                "dy": 0.0,
                "rotation_deg": 0.0,
                "defect": "truncated",
            }
        )
        name = next_name()
        header = _header(camera, "science", plan.bands[0], 2.0, clock, plan.fields[0][0])
        header["IMAGETYP"] = "Focus"
        rng = np.random.default_rng([seed, night_int, sequence])
        write(name, to_raw(camera, maps, np.zeros((camera.ny, camera.nx)), rng, 0.0), header)
        frames.append(
            {
                "exposure": name,
                "kind": "focus",
                "field": plan.fields[0][0],
                "band": plan.bands[0],
                "exptime": 2.0,
                "fwhm_px": np.nan,
                "dx": 0.0,
                "dy": 0.0,
                "rotation_deg": 0.0,
                "defect": "unknown_type",
            }
        )

    hdus = [fits.PrimaryHDU()]
    hdus[0].header["NIGHT"] = plan.night
    hdus[0].header["ROLE"] = plan.role
    hdus[0].header["SEED"] = seed
    tables = {
        "FRAMES": Table(rows=frames),
        "SOURCES": vstack(sources_truth) if sources_truth else Table(),
        "TRANSIENTS": vstack(transients_truth, metadata_conflicts="silent")
        if transients_truth
        else Table({"transient_id": np.array([], "U32")}),
        "COSMICS": vstack(cosmics_truth) if cosmics_truth else Table(),
    }
    for name, table in tables.items():
        hdus.append(fits.table_to_hdu(table))
        hdus[-1].name = name
    truth_path.parent.mkdir(parents=True, exist_ok=True)
    fits.HDUList(hdus).writeto(truth_path, overwrite=True)
    log.info("night %s: %d frames written to %s", plan.night, sequence, out_dir)
    return sequence
