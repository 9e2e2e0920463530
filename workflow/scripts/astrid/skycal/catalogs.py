"""Reference catalogs as sites have them, read into one layout.

Whatever a file's origin, :func:`read_catalog` gives a table with ``ra``, ``dec`` (degrees,
ICRS, at the Julian year in ``epoch``), ``pm_ra`` (μα·cos δ) and ``pm_dec`` (mas/yr, zero
where the catalog has none), and per band ``mag_<band>`` with ``err_<band>`` (magnitudes).
The column names of Gaia DR3 (the archive's), ATLAS-RefCat2 (VizieR's and the native
release's), APASS DR9 (VizieR's) and AstrID's own are known; any other catalog is read with
a column mapping. ECSV, FITS, Parquet and CSV files are read alike.
"""

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from astropy.table import MaskedColumn, Table
from astropy.time import Time
from astropy.wcs.utils import proj_plane_pixel_scales
from yaml import YAMLError

from astrid.io.fitsio import atomic_output

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from astropy.wcs import WCS

MAS_PER_DEGREE = 3.6e6


class CatalogError(Exception):
    """A catalog file cannot be read as a reference catalog; the message names the file."""


@dataclass(frozen=True)
class CatalogFormat:
    """Where one kind of catalog keeps what AstrID needs.

    Each entry lists the column names that kind of file has been seen with, first found
    wins. ``errors`` given as ``("snr", column)`` are signal-to-noise ratios of the flux
    (Gaia's ``*_flux_over_error``), turned into magnitude errors.
    """

    ra: tuple[str, ...]
    dec: tuple[str, ...]
    pm_ra: tuple[str, ...] = ()
    pm_dec: tuple[str, ...] = ()
    epoch: float = 2000.0  # Julian year of the positions, where no epoch column says
    epoch_columns: tuple[str, ...] = ()
    magnitudes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    errors: Mapping[str, tuple] = field(default_factory=dict)
    signature: tuple[str, ...] = ()  # columns whose presence names the format


def _refcat2_band(band: str, vizier: str, native: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    return (vizier, native), (f"e_{vizier}", f"d{native}")


_REFCAT2 = {b: _refcat2_band(b, f"{b}mag", b) for b in "griz"}

FORMATS: dict[str, CatalogFormat] = {
    "gaia_dr3": CatalogFormat(
        ra=("ra",),
        dec=("dec",),
        pm_ra=("pmra",),
        pm_dec=("pmdec",),
        epoch=2016.0,
        epoch_columns=("ref_epoch",),
        magnitudes={
            "G": ("phot_g_mean_mag",),
            "BP": ("phot_bp_mean_mag",),
            "RP": ("phot_rp_mean_mag",),
        },
        errors={
            "G": ("snr", "phot_g_mean_flux_over_error"),
            "BP": ("snr", "phot_bp_mean_flux_over_error"),
            "RP": ("snr", "phot_rp_mean_flux_over_error"),
        },
        signature=("phot_g_mean_mag",),
    ),
    "refcat2": CatalogFormat(
        ra=("RA_ICRS", "ra", "RA"),
        dec=("DE_ICRS", "dec", "Dec", "DEC"),
        pm_ra=("pmRA", "pmra"),
        pm_dec=("pmDE", "pmdec"),
        epoch=2015.5,
        magnitudes={"G": ("Gmag", "gaia"), "BP": ("BPmag", "bp"), "RP": ("RPmag", "rp")}
        | {b: names for b, (names, _) in _REFCAT2.items()},
        errors={"G": ("e_Gmag", "dgaia"), "BP": ("e_BPmag", "dbp"), "RP": ("e_RPmag", "drp")}
        | {b: errs for b, (_, errs) in _REFCAT2.items()},
        signature=("rcontrib",),
    ),
    "apass": CatalogFormat(
        ra=("RAJ2000", "_RAJ2000", "RA"),
        dec=("DEJ2000", "_DEJ2000", "DEC"),
        magnitudes={"B": ("Bmag",), "V": ("Vmag",), "g": ("g'mag",), "r": ("r'mag",), "i": ("i'mag",)},
        errors={"B": ("e_Bmag",), "V": ("e_Vmag",), "g": ("e_g'mag",), "r": ("e_r'mag",), "i": ("e_i'mag",)},
        signature=("r'mag",),
    ),
}
FORMAT_NAMES = ("auto", "astrid", *FORMATS)
FETCH_ERROR = "FETCHERR"  # meta of a fetched catalog without rows: why the fetch failed

# The colour that goes with each band's zero point: (bluer band, redder band).
COLOURS: dict[str, tuple[str, str]] = {
    "u": ("u", "g"),
    "g": ("g", "r"),
    "r": ("g", "r"),
    "i": ("r", "i"),
    "z": ("i", "z"),
    "y": ("z", "y"),
    "B": ("B", "V"),
    "V": ("B", "V"),
    "R": ("V", "R"),
    "I": ("R", "I"),
    "G": ("BP", "RP"),
}


def _first(table: Table, names: tuple[str, ...]) -> str | None:
    return next((n for n in names if n in table.colnames), None)


def _floats(table: Table, name: str, path: str) -> np.ndarray:
    column = table[name]
    try:
        values = np.asarray(
            column.filled(np.nan) if isinstance(column, MaskedColumn) else column, dtype=float
        )
    except (TypeError, ValueError) as error:
        raise CatalogError(f"{path}: column {name!r} is not numeric ({error})") from None
    return values


def detect_format(table: Table, path: str = "catalog") -> str:
    """The name of the catalog format a table's columns show.

    Parameters
    ----------
    table : astropy.table.Table
        The catalog as read.
    path : str
        Its file, named in errors.

    Returns
    -------
    str
        ``astrid`` (``ra``, ``dec``, ``mag_<band>``) or a key of :data:`FORMATS`.

    Raises
    ------
    CatalogError
        When no known format fits, listing the columns the file has.
    """
    names = set(table.colnames)
    for name, kind in FORMATS.items():
        if set(kind.signature) <= names and _first(table, kind.ra) and _first(table, kind.dec):
            return name
    if {"ra", "dec"} <= names and any(n.startswith("mag_") for n in names):
        return "astrid"
    shown = ", ".join(table.colnames[:20]) + (" …" if len(table.colnames) > 20 else "")
    raise CatalogError(
        f"{path}: not a catalog format AstrID knows (AstrID's ra/dec/mag_<band>, Gaia DR3, "
        f"ATLAS-RefCat2, APASS); its columns are {shown}. Name its columns with "
        "reference.catalog_columns."
    )


def _from_mapping(table: Table, columns: Mapping[str, str], epoch: float, path: str) -> Table:
    missing = [c for c in columns.values() if c not in table.colnames]
    if missing:
        raise CatalogError(f"{path}: reference.catalog_columns names columns it lacks: {', '.join(missing)}")
    for needed in ("ra", "dec"):
        if needed not in columns:
            raise CatalogError(f"{path}: reference.catalog_columns must name its '{needed}' column")
    out = Table()
    for key, name in columns.items():
        out[key] = _floats(table, name, path)
    for key in ("pm_ra", "pm_dec"):
        if key not in out.colnames:
            out[key] = np.zeros(len(out))
    out["epoch"] = np.full(len(out), epoch)
    return out


def _from_format(table: Table, kind: CatalogFormat, epoch: float | None, path: str) -> Table:
    out = Table()
    out["ra"] = _floats(table, _first(table, kind.ra), path)
    out["dec"] = _floats(table, _first(table, kind.dec), path)
    for key, names in (("pm_ra", kind.pm_ra), ("pm_dec", kind.pm_dec)):
        found = _first(table, names)
        out[key] = np.nan_to_num(_floats(table, found, path)) if found else np.zeros(len(table))
    found = _first(table, kind.epoch_columns)
    out["epoch"] = _floats(table, found, path) if found else np.full(len(table), epoch or kind.epoch)
    for band, names in kind.magnitudes.items():
        found = _first(table, names)
        if not found:
            continue
        out[f"mag_{band}"] = _floats(table, found, path)
        error = kind.errors.get(band, ())
        if error and error[0] == "snr":
            snr = (
                _floats(table, error[1], path) if error[1] in table.colnames else np.full(len(table), np.nan)
            )
            with np.errstate(divide="ignore", invalid="ignore"):
                out[f"err_{band}"] = 1.0857 / snr
        else:
            found = _first(table, error)
            out[f"err_{band}"] = _floats(table, found, path) if found else np.full(len(table), np.nan)
    return out


def read_catalog(
    path: Path | str,
    format: str = "auto",
    columns: Mapping[str, str] | None = None,
    epoch: float | None = None,
) -> Table:
    """Read a reference catalog into AstrID's layout.

    Parameters
    ----------
    path : pathlib.Path or str
        An ECSV, FITS, Parquet or CSV file.
    format : str
        ``auto`` (from the columns), ``astrid``, ``gaia_dr3``, ``refcat2`` or ``apass``.
    columns : mapping, optional
        AstrID's column (``ra``, ``dec``, ``pm_ra``, ``pm_dec``, ``mag_<band>``,
        ``err_<band>``) → the file's column, for any other catalog; overrides ``format``.
    epoch : float, optional
        Julian year of the positions where the file does not say (default: the format's,
        J2000 for a mapping).

    Returns
    -------
    astropy.table.Table
        ``ra``, ``dec``, ``pm_ra``, ``pm_dec``, ``epoch`` and ``mag_<band>``/``err_<band>``
        per band, rows without a position dropped; ``meta["FORMAT"]`` names the format.

    Raises
    ------
    CatalogError
        When the file cannot be read, lacks positions or magnitudes, or holds positions
        outside the sky; the message names the file.
    """
    path = str(path)
    try:
        table = Table.read(path, format="ascii.csv" if path.endswith(".csv") else None)
    except FileNotFoundError:
        raise CatalogError(f"{path}: no such catalog file") from None
    except (OSError, ValueError, TypeError, KeyError, IndexError, YAMLError) as error:
        # What astropy's readers raise for a file they cannot parse (an ECSV header is YAML).
        raise CatalogError(
            f"{path}: not a readable catalog table ({type(error).__name__}: {error})"
        ) from None
    if table.meta.get(FETCH_ERROR):
        raise CatalogError(f"{path}: {table.meta[FETCH_ERROR]}")
    out = catalog_layout(table, path, format, columns, epoch)
    out.meta["SOURCE"] = os.path.basename(path)
    return out


def catalog_layout(
    table: Table,
    source: str,
    format: str = "auto",
    columns: Mapping[str, str] | None = None,
    epoch: float | None = None,
) -> Table:
    """A catalog table, as read or as an archive returned it, in AstrID's layout.

    Parameters
    ----------
    table : astropy.table.Table
        The rows with their own columns.
    source : str
        What the rows came from (a file, an archive), for the messages.
    format, columns, epoch
        As for :func:`read_catalog`.

    Returns
    -------
    astropy.table.Table
        As :func:`read_catalog` returns, ``meta["SOURCE"]`` set to ``source``.

    Raises
    ------
    CatalogError
        As :func:`read_catalog`, naming ``source``.
    """
    path = source
    if columns:
        name = "columns"
        out = _from_mapping(table, columns, 2000.0 if epoch is None else epoch, path)
    else:
        name = detect_format(table, path) if format == "auto" else format
        if name == "astrid":
            mapping = {c: c for c in table.colnames if c.startswith(("mag_", "err_", "pm_"))}
            out = _from_mapping(table, {"ra": "ra", "dec": "dec", **mapping}, epoch or 2000.0, path)
            if "epoch" in table.colnames:
                out["epoch"] = _floats(table, "epoch", path)
        elif name in FORMATS:
            kind = FORMATS[name]
            if not (_first(table, kind.ra) and _first(table, kind.dec)):
                raise CatalogError(
                    f"{path}: a {name} catalog needs RA and Dec columns ({kind.ra[0]}, {kind.dec[0]})"
                )
            out = _from_format(table, kind, epoch, path)
        else:
            raise CatalogError(f"{path}: unknown catalog format {name!r} (one of {', '.join(FORMAT_NAMES)})")
    if not any(c.startswith("mag_") for c in out.colnames):
        raise CatalogError(f"{path}: no magnitude column AstrID can use")
    out = out[np.isfinite(out["ra"]) & np.isfinite(out["dec"])]
    if len(out) and (np.any(np.abs(out["dec"]) > 90) or np.any((out["ra"] < -360) | (out["ra"] > 360))):
        raise CatalogError(f"{path}: RA/Dec outside the sky; are they in degrees?")
    out["ra"] = np.mod(out["ra"], 360.0)
    out.meta["FORMAT"] = name
    out.meta["SOURCE"] = source
    return out


def julian_year(when: Time | str | float) -> float:
    """The Julian year (e.g. 2026.93) of a time, an ISO date or a year.

    Parameters
    ----------
    when : astropy.time.Time, str or float
        An observation time (``DATE-OBS``) or a Julian year.

    Returns
    -------
    float
        The Julian epoch.
    """
    if isinstance(when, int | float | np.floating):
        return float(when)
    return float(Time(when).jyear)


def read_field_catalog(paths: Sequence[str], reading: Mapping) -> tuple[Table | None, str | None]:
    """A field's catalog where it has one, and why it could not be read where it cannot:
    a bad catalog costs the field its calibrated magnitudes, never the night.

    Parameters
    ----------
    paths : sequence of str
        The rule's catalog input: empty, or the field's catalog.
    reading : mapping
        :func:`read_catalog`'s ``format``, ``columns`` and ``epoch``.

    Returns
    -------
    catalog : astropy.table.Table or None
    problem : str or None
        The :class:`CatalogError` message (naming the file), or None.
    """
    if not paths:
        return None, None
    try:
        return read_catalog(paths[0], **reading), None
    except CatalogError as error:
        log.error("magnitudes stay instrumental: %s", error)
        return None, str(error)


def at_epoch(catalog: Table, when: Time | str | float) -> Table:
    """The catalog with its positions moved by their proper motions to a date.

    Linear motion on the tangent plane, which is exact to far below a milliarcsecond for a
    few decades and any star away from the poles' last arcminute.

    Parameters
    ----------
    catalog : astropy.table.Table
        A table from :func:`read_catalog`.
    when : astropy.time.Time, str or float
        The observation's time or Julian year.

    Returns
    -------
    astropy.table.Table
        A copy with ``ra``, ``dec`` and ``epoch`` at that date.
    """
    year = julian_year(when)
    moved = catalog.copy()
    years = year - np.asarray(catalog["epoch"], float)
    dec = np.asarray(catalog["dec"], float) + np.asarray(catalog["pm_dec"]) * years / MAS_PER_DEGREE
    cos_dec = np.maximum(np.cos(np.radians(dec)), 1e-9)
    moved["ra"] = np.mod(
        np.asarray(catalog["ra"], float) + np.asarray(catalog["pm_ra"]) * years / MAS_PER_DEGREE / cos_dec,
        360.0,
    )
    moved["dec"] = dec
    moved["epoch"] = np.full(len(catalog), year)
    return moved


def in_footprint(catalog: Table, wcs: "WCS", shape: tuple[int, int], margin: float = 0.0) -> np.ndarray:
    """Which catalog rows fall on an image (plus ``margin`` pixels around it).

    Parameters
    ----------
    catalog : astropy.table.Table
        Rows with ``ra``, ``dec``.
    wcs : astropy.wcs.WCS
        The image's celestial WCS.
    shape : (int, int)
        The image's (rows, columns).
    margin : float
        Pixels added on each side.

    Returns
    -------
    numpy.ndarray
        A boolean per row.
    """
    if not len(catalog):
        return np.zeros(0, bool)
    with np.errstate(invalid="ignore"):
        x, y = wcs.all_world2pix(np.asarray(catalog["ra"]), np.asarray(catalog["dec"]), 0, quiet=True)
    # Rows behind the projection's horizon come out finite but far: guard with the angle too.
    centre = wcs.pixel_to_world_values((shape[1] - 1) / 2, (shape[0] - 1) / 2)
    ra0, dec0 = np.radians(centre[0]), np.radians(centre[1])
    ra, dec = np.radians(np.asarray(catalog["ra"])), np.radians(np.asarray(catalog["dec"]))
    front = np.sin(dec) * np.sin(dec0) + np.cos(dec) * np.cos(dec0) * np.cos(ra - ra0) > 0
    return (
        front
        & np.isfinite(x)
        & np.isfinite(y)
        & (x > -0.5 - margin)
        & (x < shape[1] - 0.5 + margin)
        & (y > -0.5 - margin)
        & (y < shape[0] - 0.5 + margin)
    )


def cut_to_frames(catalog: Table, frames: list, margin_arcmin: float = 2.0) -> Table:
    """The rows of a (site-wide) catalog that fall on any of a field's frames.

    Parameters
    ----------
    catalog : astropy.table.Table
        A table from :func:`read_catalog`.
    frames : list of (astropy.wcs.WCS, (int, int))
        Each frame's celestial WCS and shape; frames without a celestial WCS are skipped.
    margin_arcmin : float
        How far beyond the frames' edges rows are kept (pointing errors, proper motions).

    Returns
    -------
    astropy.table.Table
        The rows on the frames, with the catalog's meta.
    """
    keep = np.zeros(len(catalog), bool)
    for wcs, shape in frames:
        if not wcs.has_celestial:
            continue
        scale = float(np.mean(proj_plane_pixel_scales(wcs.celestial))) * 60  # arcmin per pixel
        keep |= in_footprint(catalog, wcs.celestial, shape, margin_arcmin / scale)
    return catalog[keep]


def write_catalog(catalog: Table, path: Path | str) -> None:
    """Write a catalog as ECSV, atomically (a reader never sees half a file).

    Parameters
    ----------
    catalog : astropy.table.Table
        The rows to write.
    path : pathlib.Path or str
        The ``.ecsv`` file.
    """
    with atomic_output(path) as temporary:
        catalog.write(temporary, format="ascii.ecsv", overwrite=True)


def colour(catalog: Table, band: str) -> tuple[np.ndarray, str] | None:
    """The colour that goes with a band's zero point, where the catalog has both bands.

    Parameters
    ----------
    catalog : astropy.table.Table
        Rows with ``mag_<band>`` columns.
    band : str
        The image's band.

    Returns
    -------
    (numpy.ndarray, str) or None
        The colour per row (nan where a magnitude is missing) and its name (``g-r``);
        None where the band has no standard colour or the catalog lacks a band of it.
    """
    pair = COLOURS.get(band)
    if not pair or not all(f"mag_{b}" in catalog.colnames for b in pair):
        return None
    blue, red = (np.asarray(catalog[f"mag_{b}"], float) for b in pair)
    return blue - red, f"{pair[0]}-{pair[1]}"
