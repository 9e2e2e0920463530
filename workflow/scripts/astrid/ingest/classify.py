"""One raw frame read, classified by its header and validated.

A frame that cannot be used raises :class:`FrameRejected` with a reason code (the
constants below) and a sentence a person can act on.
"""

import re
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.time import Time
from astropy.utils.exceptions import AstropyUserWarning
from astropy.wcs import WCS

from astrid.ingest.files import NOT_A_FILE, UNSUPPORTED_FORMAT, exposure_id  # noqa: F401 - codes re-exported
from astrid.io.names import band_name, field_from_pointing, field_name, separation_arcmin

FRAME_TYPES = ("bias", "dark", "flat", "science")

# Header values seen in the wild for each frame type, after upper-casing and turning
# '_' and '-' into spaces.
TYPE_SPELLINGS = {
    "bias": {"BIAS", "ZERO", "BIAS FRAME", "ZERO FRAME", "BIAS IMAGE"},
    "dark": {"DARK", "DARK FRAME", "DARK IMAGE", "DARKCURRENT", "DARK CURRENT"},
    "flat": {
        "FLAT",
        "FLATFIELD",
        "FLAT FIELD",
        "FLAT FRAME",
        "DOMEFLAT",
        "DOME FLAT",
        "SKYFLAT",
        "SKY FLAT",
        "TWIFLAT",
        "TWILIGHT FLAT",
        "TWILIGHTFLAT",
        "LAMPFLAT",
        "LAMP FLAT",
    },
    "science": {
        "OBJECT",
        "LIGHT",
        "LIGHT FRAME",
        "SCIENCE",
        "SCI",
        "OBJ",
        "EXPOSE",
        "TARGET",
    },
}
_SPELLING_TO_TYPE = {s: t for t, spellings in TYPE_SPELLINGS.items() for s in spellings}

# Reason codes for quarantined frames.
UNREADABLE = "UNREADABLE"
EMPTY = "EMPTY"
ALL_NAN = "ALL_NAN"
MISSING_KEYWORD = "MISSING_KEYWORD"
BAD_VALUE = "BAD_VALUE"
UNKNOWN_TYPE = "UNKNOWN_TYPE"
SHAPE_MISMATCH = "SHAPE_MISMATCH"
NO_MASTER = "NO_MASTER"
DUPLICATE_EXPOSURE = "DUPLICATE_EXPOSURE"
MISSING_HDU = "MISSING_HDU"


class FrameRejected(Exception):
    """A frame cannot be used; carries a reason code and a human sentence."""

    def __init__(self, code, reason):
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason


@dataclass(frozen=True)
class IngestSettings:
    """Header conventions of a site; each value has a config key (``ingest.*``)."""

    type_keywords: tuple = ("IMAGETYP", "OBSTYPE", "FRAMETYP")
    band_keywords: tuple = ("FILTER", "FILTERS", "FILTER1", "BAND")
    field_keywords: tuple = ("OBJECT", "FIELD")
    gain: float | None = None  # used when the header has no GAIN
    read_noise: float | None = None  # used when the header has no RDNOISE
    saturate: float | None = None  # used when the header has no SATURATE
    biassec: str | None = None  # overrides the header's BIASSEC
    trimsec: str | None = None  # overrides the header's TRIMSEC
    field_radius_arcmin: float = 3.0  # unnamed pointings closer than this share a field
    settle_seconds: float = 5.0  # a file modified more recently than this is still arriving
    band_map: Mapping = dataclass_field(default_factory=dict)  # header filter value → band
    fields: tuple = ()  # the site's fields by position: {name, ra, dec, radius_arcmin}
    reduced: bool = False  # frames already reduced by an observatory pipeline (reduced.*)
    science_hdu: str | int | None = None  # a reduced frame's image HDU (None: the first)


def normalise_type(value: object) -> str | None:
    """Frame type (bias/dark/flat/science) of an IMAGETYP-like header value, or None.

    Parameters
    ----------
    value : object
        The header value, matched against ``TYPE_SPELLINGS`` as upper-case text with runs of
        ``_``, ``-`` and spaces made one space (or removed).

    Returns
    -------
    str or None
        One of ``FRAME_TYPES``, or None for a spelling not known.
    """
    text = re.sub(r"[_\-]+", " ", str(value)).strip().upper()
    text = re.sub(r"\s+", " ", text)
    return _SPELLING_TO_TYPE.get(text) or _SPELLING_TO_TYPE.get(text.replace(" ", ""))


def _first(header, keywords):
    for key in keywords:
        value = header.get(key)
        if value is not None and str(value).strip() != "":
            return key, value
    return None, None


def _float(header, key, fallback, path):
    value = header.get(key, fallback)
    if value is None:
        raise FrameRejected(MISSING_KEYWORD, f"{path.name} has no {key} keyword and no default is configured")
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise FrameRejected(BAD_VALUE, f"{path.name}: {key} = {value!r} is not a number") from None
    if not np.isfinite(value):
        raise FrameRejected(BAD_VALUE, f"{path.name}: {key} = {value!r} is not finite")
    return value


def _optional_float(header, key, default):
    try:
        value = float(header.get(key, default))
    except (TypeError, ValueError):
        return default
    return value if np.isfinite(value) else default


# Keywords giving the start of an exposure, first found wins (DATE-BEG: JWST; MJD-OBS alone:
# some archive products).
DATE_KEYWORDS = ("DATE-OBS", "DATE-BEG")


def _date_obs(header, path):
    _, date = _first(header, DATE_KEYWORDS)
    if date is None:
        mjd = header.get("MJD-OBS")
        if isinstance(mjd, int | float) and np.isfinite(mjd):
            return Time(float(mjd), format="mjd", scale="utc")
        raise FrameRejected(MISSING_KEYWORD, f"{path.name} has no DATE-OBS (nor DATE-BEG or MJD-OBS) keyword")
    date = str(date).strip()
    time_obs = header.get("TIME-OBS") or header.get("UT") or header.get("UTSTART")
    if "T" not in date and time_obs:
        date = f"{date}T{str(time_obs).strip()}"
    try:
        return Time(date, format="isot", scale="utc")
    except ValueError:
        try:
            return Time(date, scale="utc")
        except ValueError:
            raise FrameRejected(BAD_VALUE, f"{path.name}: DATE-OBS = {date!r} is not a date") from None


def _pointing(header):
    """(ra, dec) in degrees of the frame centre from the header WCS, or None."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            wcs = WCS(header)
        if wcs.has_celestial:
            ny, nx = header["NAXIS2"], header["NAXIS1"]
            ra, dec = wcs.celestial.all_pix2world([[nx / 2, ny / 2]], 0)[0]
            if np.isfinite(ra) and np.isfinite(dec):
                return float(ra), float(dec)
    except Exception:  # noqa: BLE001 - any broken WCS means "no pointing"
        return None
    return None


def name_fields_from_pointings(
    rows: list[dict], radius_arcmin: float, site_fields: Iterable[Mapping] = ()
) -> list[dict]:
    """Name the fields of science frames by their pointing where the site says so, or where
    the header names none; ``field_source`` says which ("header", "site", "pointing").

    * A frame within a site field's ``radius_arcmin`` (config ``ingest.fields``) takes its
      name, whatever its header says: the site's names win.
    * A frame without a field name takes the name of its pointing; frames of one night
      within ``radius_arcmin`` of an earlier such frame share its name, so that small
      pointing offsets never split a field (across nights, the planning does the same:
      :func:`astrid.pipeline.planning.field_names`).

    Parameters
    ----------
    rows : list of dict
        Manifest rows (:func:`inspect_frame`) in time order; ``field`` and ``field_source``
        are set in place.
    radius_arcmin : float
        Largest separation, in arcminutes, of pointings that share a field.
    site_fields : iterable of mapping
        The site's fields: ``name``, ``ra``, ``dec`` (degrees) and ``radius_arcmin``.

    Returns
    -------
    list of dict
        ``rows`` itself.
    """
    named = []  # (ra, dec, name)
    for row in rows:
        row["field_source"] = "header" if row["field"] else ""
        if row["frame_type"] != "science" or not np.isfinite(row["ra"]):
            continue
        ra, dec = row["ra"], row["dec"]
        site = next(
            (f for f in site_fields if separation_arcmin(ra, dec, f["ra"], f["dec"]) <= f["radius_arcmin"]),
            None,
        )
        if site is not None:
            row["field"], row["field_source"] = field_name(site["name"]), "site"
            continue
        if row["field"]:
            continue
        row["field_source"] = "pointing"
        for ra0, dec0, name in named:
            if separation_arcmin(ra, dec, ra0, dec0) <= radius_arcmin:
                row["field"] = name
                break
        else:
            row["field"] = field_from_pointing(ra, dec)
            named.append((ra, dec, row["field"]))
    return rows


def inspect_frame(path: Path | str, night: str, settings: IngestSettings) -> dict:
    """Read, classify and validate one raw frame.

    Parameters
    ----------
    path : pathlib.Path or str
        The raw FITS file; the first image HDU with data is used.
    night : str
        The night it belongs to (``YYYYMMDD``).
    settings : IngestSettings
        The site's header conventions and fallback values.

    Returns
    -------
    dict
        One manifest row (see ``MANIFEST_COLUMNS``).

    Raises
    ------
    FrameRejected
        With a reason code when the frame cannot be used.
    """
    path = Path(path)
    exposure = exposure_id(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", AstropyUserWarning)
            with fits.open(path, memmap=False) as hdul:
                if settings.reduced and settings.science_hdu is not None:
                    try:
                        hdu = hdul[settings.science_hdu]
                    except (KeyError, IndexError):
                        raise FrameRejected(
                            MISSING_HDU,
                            f"{path.name} has no HDU {settings.science_hdu!r} (reduced.science_hdu)",
                        ) from None
                else:
                    hdu = next((h for h in hdul if h.is_image and h.data is not None), None)
                header = (hdu or hdul[0]).header.copy()
                if hdu is not None and hdu is not hdul[0]:
                    # Keywords of the whole exposure (date, filter, object) sit in the primary.
                    merged = hdul[0].header.copy()
                    merged.update({k: v for k, v in header.items() if k not in ("", "COMMENT", "HISTORY")})
                    header = merged
                data = None if hdu is None else np.asarray(hdu.data)
    except FrameRejected:
        raise
    except Exception as error:  # noqa: BLE001 - every read failure is a quarantine reason
        raise FrameRejected(UNREADABLE, f"{path.name} cannot be read as FITS ({error})") from None

    if data is None or data.size == 0 or data.ndim != 2:
        raise FrameRejected(EMPTY, f"{path.name} has no 2-D image data")
    if np.issubdtype(data.dtype, np.floating) and not np.isfinite(data).any():
        raise FrameRejected(ALL_NAN, f"{path.name}: every pixel is NaN or infinite")

    type_key, type_value = _first(header, settings.type_keywords)
    if type_key is None and settings.reduced:
        type_key, type_value = "reduced.nights", "science"  # a reduced night holds science frames
    if type_key is None:
        keys = "/".join(settings.type_keywords)
        raise FrameRejected(MISSING_KEYWORD, f"{path.name} has none of the frame-type keywords {keys}")
    frame_type = normalise_type(type_value)
    if frame_type is None:
        raise FrameRejected(
            UNKNOWN_TYPE,
            f"{path.name}: {type_key} = {type_value!r} is not a bias, dark, flat or science frame",
        )
    if settings.reduced and frame_type != "science":
        raise FrameRejected(
            UNKNOWN_TYPE,
            f"{path.name}: {type_key} = {type_value!r} in a reduced night, which takes science frames",
        )

    exptime = _float(header, "EXPTIME", None, path)
    if exptime < 0:
        raise FrameRejected(BAD_VALUE, f"{path.name}: EXPTIME = {exptime} is negative")
    if frame_type in ("dark", "science") and exptime <= 0:
        raise FrameRejected(BAD_VALUE, f"{path.name}: a {frame_type} frame needs EXPTIME > 0, not {exptime}")
    date_obs = _date_obs(header, path)

    band = ""
    if frame_type in ("flat", "science"):
        band_key, band_value = _first(header, settings.band_keywords)
        if band_key is None:
            keys = "/".join(settings.band_keywords)
            raise FrameRejected(
                MISSING_KEYWORD, f"{path.name} is a {frame_type} frame without a filter ({keys})"
            )
        band = band_name(settings.band_map.get(str(band_value).strip(), band_value))

    field = ""
    pointing = _pointing(header)
    if frame_type == "science":
        _, field_value = _first(header, settings.field_keywords)
        if field_value is not None:
            field = field_name(field_value)
        elif pointing is None:
            keys = "/".join(settings.field_keywords)
            raise FrameRejected(
                MISSING_KEYWORD, f"{path.name} names no field ({keys}) and has no WCS to derive one"
            )

    if settings.reduced:
        # Already in calibrated units: the import reads what it needs (reduced.gain, BUNIT).
        gain = _optional_float(header, "GAIN", settings.gain or 1.0)
        read_noise = _optional_float(header, "RDNOISE", settings.read_noise or 0.0)
        saturate = _optional_float(header, "SATURATE", settings.saturate or np.inf)
    else:
        gain = _float(header, "GAIN", settings.gain, path)
        read_noise = _float(header, "RDNOISE", settings.read_noise, path)
        saturate = _float(header, "SATURATE", settings.saturate, path)
    if gain <= 0 or read_noise < 0:
        raise FrameRejected(
            BAD_VALUE, f"{path.name}: GAIN = {gain} and RDNOISE = {read_noise} must be positive"
        )

    return {
        "exposure": exposure,
        "night": night,
        "path": str(path),
        "frame_type": frame_type,
        "imagetyp": str(type_value).strip(),
        "band": band,
        "exptime": exptime,
        "date_obs": date_obs.isot,
        "mjd": date_obs.mjd,
        "field": field,
        "ra": pointing[0] if pointing else np.nan,
        "dec": pointing[1] if pointing else np.nan,
        "ny": int(data.shape[0]),
        "nx": int(data.shape[1]),
        "gain": gain,
        "read_noise": read_noise,
        "saturate": saturate,
        "biassec": settings.biassec or str(header.get("BIASSEC", "") or "").replace(" ", ""),
        "trimsec": settings.trimsec or str(header.get("TRIMSEC", "") or "").replace(" ", ""),
        "reduced": settings.reduced,
    }
