"""One raw frame read, classified by its header and validated.

A frame that cannot be used raises :class:`FrameRejected` with a reason code (the
constants below) and a sentence a person can act on.
"""

import json
import re
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from pathlib import Path

import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.time import Time
from astropy.utils.exceptions import AstropyUserWarning
from astropy.wcs import WCS

from astrid.ingest.files import NOT_A_FILE, UNSUPPORTED_FORMAT, exposure_id  # noqa: F401 - codes re-exported
from astrid.io.fitsio import exposure_header
from astrid.io.names import (
    detector_name,
    exposure_name,
    field_from_pointing,
    field_name,
    frame_band,
    separation_arcmin,
)
from astrid.io.sections import SectionError, format_section, parse_section

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
    arrive_when_complete: bool = True  # ... unless it holds every byte its headers declare
    band_map: Mapping = dataclass_field(default_factory=dict)  # header filter value → band
    fields: tuple = ()  # the site's fields by position: {name, ra, dec, radius_arcmin}
    extensions: str = "auto"  # how image HDUs make images (EXTENSION_LAYOUTS, raw_layout)
    detector_keywords: tuple = ("CCDNAME", "DETECTOR", "DETPOS", "CCDNUM")  # a mosaic's detector
    reduced: bool = False  # frames already reduced by an observatory pipeline (reduced.*)
    science_hdu: str | int | None = None  # a reduced frame's image HDU (None: the first)

    @classmethod
    def from_config(cls, ingest: Mapping, **more: object) -> "IngestSettings":
        """The settings of the config's ``ingest`` section.

        Parameters
        ----------
        ingest : mapping
            ``config["ingest"]`` (lists become tuples).
        **more
            Settings from elsewhere in the config (``reduced``, ``science_hdu``).

        Returns
        -------
        IngestSettings
        """
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in ingest.items()}, **more)


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


def _float(header, key, fallback, label):
    value = header.get(key, fallback)
    if value is None:
        raise FrameRejected(MISSING_KEYWORD, f"{label} has no {key} keyword and no default is configured")
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise FrameRejected(BAD_VALUE, f"{label}: {key} = {value!r} is not a number") from None
    if not np.isfinite(value):
        raise FrameRejected(BAD_VALUE, f"{label}: {key} = {value!r} is not finite")
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


def _date_obs(header, label):
    _, date = _first(header, DATE_KEYWORDS)
    if date is None:
        mjd = header.get("MJD-OBS")
        if isinstance(mjd, int | float) and np.isfinite(mjd):
            return Time(float(mjd), format="mjd", scale="utc")
        raise FrameRejected(MISSING_KEYWORD, f"{label} has no DATE-OBS (nor DATE-BEG or MJD-OBS) keyword")
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
            raise FrameRejected(BAD_VALUE, f"{label}: DATE-OBS = {date!r} is not a date") from None


# The telescope's pointing where a frame has no WCS (MaxIm DL, ACP, many mounts): first pair
# found. Sexagesimal RA is in hours, decimal RA in degrees.
POINTING_KEYWORDS = (("RA", "DEC"), ("OBJCTRA", "OBJCTDEC"), ("TELRA", "TELDEC"), ("RA_OBJ", "DEC_OBJ"))


def _telescope_pointing(header):
    """(ra, dec) in degrees from the telescope's pointing keywords, or None."""
    for ra_key, dec_key in POINTING_KEYWORDS:
        ra, dec = header.get(ra_key), header.get(dec_key)
        if ra is None or dec is None:
            continue
        try:
            if isinstance(ra, str) and any(c in ra.strip() for c in ": hms"):
                coord = SkyCoord(ra, str(dec), unit=(u.hourangle, u.deg))
            else:
                coord = SkyCoord(float(ra), float(dec), unit=u.deg)
        except (ValueError, TypeError):
            continue
        return float(coord.ra.deg), float(coord.dec.deg)
    return None


def _pointing(header, shape):
    """(ra, dec) in degrees of the centre of an image of ``shape`` from the header WCS, else
    from the telescope's pointing keywords (a frame solved blind later), or None."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            wcs = WCS(header)
        if wcs.has_celestial:
            ny, nx = shape
            ra, dec = wcs.celestial.all_pix2world([[nx / 2, ny / 2]], 0)[0]
            if np.isfinite(ra) and np.isfinite(dec):
                return float(ra), float(dec)
    except Exception:  # noqa: BLE001 - any broken WCS means "no pointing"
        pass
    return _telescope_pointing(header)


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
    * A mosaic's detector sees its own part of the sky: its field ends in ``-<detector>``
      and gets its own reference (only frames of the same detector share a name).

    Parameters
    ----------
    rows : list of dict
        Manifest rows (:func:`inspect_exposure`) in time order; ``field`` and
        ``field_source`` are set in place.
    radius_arcmin : float
        Largest separation, in arcminutes, of pointings that share a field.
    site_fields : iterable of mapping
        The site's fields: ``name``, ``ra``, ``dec`` (degrees) and ``radius_arcmin``.

    Returns
    -------
    list of dict
        ``rows`` itself.
    """
    named = []  # (detector, ra, dec, name)
    for row in rows:
        row["field_source"] = "header" if row["field"] else ""
        if row["frame_type"] != "science" or not np.isfinite(row["ra"]):
            row["field"] = detector_field(row["field"], row.get("detector", ""))
            continue
        ra, dec, detector = row["ra"], row["dec"], row.get("detector", "")
        site = next(
            (f for f in site_fields if separation_arcmin(ra, dec, f["ra"], f["dec"]) <= f["radius_arcmin"]),
            None,
        )
        if site is not None:
            row["field"], row["field_source"] = detector_field(field_name(site["name"]), detector), "site"
            continue
        if row["field"]:
            row["field"] = detector_field(row["field"], detector)
            continue
        row["field_source"] = "pointing"
        for detector0, ra0, dec0, name in named:
            if detector0 == detector and separation_arcmin(ra, dec, ra0, dec0) <= radius_arcmin:
                row["field"] = name
                break
        else:
            row["field"] = detector_field(field_from_pointing(ra, dec), detector)
            named.append((detector, ra, dec, row["field"]))
    return rows


def detector_field(field: str, detector: str) -> str:
    """The field of one detector of a mosaic: ``<field>-<detector>``; ``field`` itself for a
    single-detector camera (or a frame without a field).

    Parameters
    ----------
    field : str
        The canonical field name, or empty.
    detector : str
        The canonical detector name, or empty.

    Returns
    -------
    str
        A name matching ``FIELD_PATTERN``.
    """
    return field_name(f"{field}-{detector}") if field and detector else field


# How the image HDUs of a raw file are read (ingest.extensions).
EXTENSION_LAYOUTS = ("auto", "single", "amplifiers", "detectors")


@dataclass
class RawImage:
    """One image of a raw file that becomes one manifest row: the whole file, one detector
    of a mosaic, or a CCD assembled from its amplifiers."""

    label: str  # how messages name it: "x.fits" or "x.fits[CCD2]"
    header: fits.Header  # the exposure's keywords with the extension's own on top
    data: np.ndarray | None  # the pixels to validate (None for amplifiers: checked apart)
    shape: tuple = ()  # (ny, nx) of the image the calibration makes
    detector: str = ""
    hdu: str = ""  # the HDU read (EXTNAME or index); empty for the first image HDU
    amplifiers: list = dataclass_field(default_factory=list)


@dataclass
class InspectedExposure:
    """The manifest rows of one raw file and the parts of it that cannot be used."""

    rows: list
    rejected: list  # (exposure id, FrameRejected) of a mosaic's detectors that cannot be used
    detectors: list  # a mosaic's detectors in the file, usable or not; empty otherwise


def _image_indices(hdul):
    return [i for i, h in enumerate(hdul) if h.is_image and h.data is not None and h.data.ndim == 2]


def _detector_of(header, index, keywords):
    """A detector's name: its first detector keyword, else its EXTNAME, else HDU<index>."""
    _, value = _first(header, keywords)
    return detector_name(value if value is not None else header.get("EXTNAME") or f"HDU{index}")


def raw_layout(hdul: fits.HDUList, settings: IngestSettings) -> str:
    """How a raw file's image HDUs make images: ``"single"``, ``"amplifiers"`` or ``"detectors"``.

    With ``ingest.extensions: auto`` (the default) a file with one image HDU is a single
    image; several image HDUs whose detector keywords (``ingest.detector_keywords``) differ
    are a mosaic's detectors; several that all carry ``DETSEC`` and name no different
    detectors are amplifiers of one CCD; any other set is read as detectors. A reduced frame
    is always one image (its other HDUs are its variance and mask: ``reduced.*``).

    Parameters
    ----------
    hdul : astropy.io.fits.HDUList
        The open file.
    settings : IngestSettings
        ``extensions``, ``detector_keywords`` and ``reduced`` are used.

    Returns
    -------
    str
        One of ``"single"``, ``"amplifiers"``, ``"detectors"``.
    """
    if settings.reduced:
        return "single"
    if settings.extensions != "auto":
        return settings.extensions
    images = _image_indices(hdul)
    if len(images) <= 1:
        return "single"
    names = {str(_first(hdul[i].header, settings.detector_keywords)[1] or "") for i in images}
    if len(names) == len(images) and "" not in names:
        return "detectors"
    if all("DETSEC" in hdul[i].header for i in images):
        return "amplifiers"
    return "detectors"


def _amplifier_value(key, amp_header, primary, fallback, label):
    value = amp_header.get(key, primary.get(key, fallback))
    if value is None:
        setting = {"GAIN": "gain", "RDNOISE": "read_noise", "SATURATE": "saturate"}[key]
        raise FrameRejected(
            MISSING_KEYWORD, f"{label} has no {key} keyword and no default is configured (ingest.{setting})"
        )
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise FrameRejected(BAD_VALUE, f"{label}: {key} = {value!r} is not a number") from None
    if not np.isfinite(value) or (key == "GAIN" and value <= 0) or value < 0:
        raise FrameRejected(BAD_VALUE, f"{label}: {key} = {value!r} is not a usable value")
    return value


def _amplifier_section(header, key, label, default=None):
    text = str(header.get(key, "") or "").replace(" ", "")
    if not text:
        if default is None:
            raise FrameRejected(MISSING_KEYWORD, f"{label} has no {key} keyword: its pixels cannot be placed")
        return default
    try:
        return parse_section(text)
    except SectionError as error:
        raise FrameRejected(BAD_VALUE, f"{label}: {key} = {text!r}: {error}") from None


def amplifier_images(hdul: fits.HDUList, path: Path, settings: IngestSettings) -> RawImage:
    """The CCD that a file's amplifier extensions make together, validated.

    Every amplifier needs ``DETSEC`` (where its pixels land), a gain, read noise and
    saturation level (its own keywords, else the primary header's, else ``ingest.gain``,
    ``ingest.read_noise``, ``ingest.saturate``); ``DATASEC`` (default: all but ``BIASSEC``'s
    columns) must be the size of ``DETSEC``; together the ``DETSEC`` must tile a rectangle.

    Parameters
    ----------
    hdul : astropy.io.fits.HDUList
        The open file.
    path : pathlib.Path
        The file (for messages).
    settings : IngestSettings
        The fallback values.

    Returns
    -------
    RawImage
        The assembled CCD's shape and each amplifier's HDU index, name, sections, gain,
        read noise and saturation (``amplifiers``).

    Raises
    ------
    FrameRejected
        ``MISSING_KEYWORD`` or ``BAD_VALUE`` naming the extension; ``EMPTY`` or ``ALL_NAN``
        for an amplifier without pixels.
    """
    primary = hdul[0].header
    amplifiers, placed = [], []
    for index in _image_indices(hdul):
        header, data = hdul[index].header, hdul[index].data
        name = str(header.get("EXTNAME") or f"HDU{index}")
        label = f"{path.name} extension {name}"
        if data.size == 0:
            raise FrameRejected(EMPTY, f"{label} has no pixels")
        if np.issubdtype(data.dtype, np.floating) and not np.isfinite(data).any():
            raise FrameRejected(ALL_NAN, f"{label}: every pixel is NaN or infinite")
        detsec = _amplifier_section(header, "DETSEC", label)
        biassec = str(header.get("BIASSEC", "") or "").replace(" ", "")
        whole = (0, data.shape[1], 0, data.shape[0], False, False)
        if biassec:
            bias = _amplifier_section(header, "BIASSEC", label)
            whole = (0, bias.x0 if bias.x0 > 0 else data.shape[1], 0, data.shape[0], False, False)
        datasec = _amplifier_section(header, "DATASEC", label, default=parse_section(format_section(*whole)))
        if datasec.y1 > data.shape[0] or datasec.x1 > data.shape[1]:
            raise FrameRejected(BAD_VALUE, f"{label}: DATASEC lies outside its {data.shape} pixels")
        if datasec.shape != detsec.shape:
            raise FrameRejected(
                BAD_VALUE, f"{label}: DATASEC is {datasec.shape} pixels but DETSEC is {detsec.shape}"
            )
        amplifiers.append(
            {
                "hdu": index,
                "name": name,
                "datasec": format_section(datasec.x0, datasec.x1, datasec.y0, datasec.y1),
                "biassec": biassec,
                "detsec": format_section(*detsec),
                "gain": _amplifier_value("GAIN", header, primary, settings.gain, label),
                "read_noise": _amplifier_value("RDNOISE", header, primary, settings.read_noise, label),
                "saturate": _amplifier_value("SATURATE", header, primary, settings.saturate, label),
            }
        )
        placed.append(detsec)
    x0, y0 = min(s.x0 for s in placed), min(s.y0 for s in placed)
    shape = (max(s.y1 for s in placed) - y0, max(s.x1 for s in placed) - x0)
    cover = np.zeros(shape, dtype=np.uint8)
    for s in placed:
        cover[s.y0 - y0 : s.y1 - y0, s.x0 - x0 : s.x1 - x0] += 1
    if (cover != 1).any():
        raise FrameRejected(
            BAD_VALUE, f"{path.name}: the amplifiers' DETSEC overlap or leave gaps in the {shape} CCD"
        )
    return RawImage(path.name, primary.copy(), None, shape, amplifiers=amplifiers)


def raw_images(hdul: fits.HDUList, path: Path, settings: IngestSettings) -> list[RawImage]:
    """The images a raw file holds (:func:`raw_layout`).

    Parameters
    ----------
    hdul : astropy.io.fits.HDUList
        The open file.
    path : pathlib.Path
        The file (for messages).
    settings : IngestSettings
        The site's conventions (``extensions``, ``detector_keywords``, ``reduced``,
        ``science_hdu``).

    Returns
    -------
    list of RawImage
        One image (a single CCD or amplifiers assembled), or one per detector.

    Raises
    ------
    FrameRejected
        ``MISSING_HDU`` when a reduced frame has no ``reduced.science_hdu``; the reasons of
        :func:`amplifier_images`.
    """
    layout = raw_layout(hdul, settings)
    if layout == "amplifiers":
        return [amplifier_images(hdul, path, settings)]
    if layout == "detectors":
        images = []
        for index in _image_indices(hdul):
            header = exposure_header(hdul, index)
            detector = _detector_of(hdul[index].header, index, settings.detector_keywords)
            data = np.asarray(hdul[index].data)
            images.append(
                RawImage(f"{path.name}[{detector}]", header, data, data.shape, detector, str(index))
            )
        if not images:
            raise FrameRejected(EMPTY, f"{path.name} has no 2-D image data")
        return images
    if settings.reduced and settings.science_hdu is not None:
        try:
            index = hdul.index_of(settings.science_hdu)
            hdul[index]  # noqa: B018 - an index past the end raises here
        except (KeyError, IndexError):
            raise FrameRejected(
                MISSING_HDU, f"{path.name} has no HDU {settings.science_hdu!r} (reduced.science_hdu)"
            ) from None
    else:
        index = next((i for i, h in enumerate(hdul) if h.is_image and h.data is not None), 0)
    data = None if hdul[index].data is None else np.asarray(hdul[index].data)
    return [RawImage(path.name, exposure_header(hdul, index), data, () if data is None else data.shape)]


def inspect_exposure(path: Path | str, night: str, settings: IngestSettings) -> InspectedExposure:
    """Read, classify and validate one raw file: one manifest row per image it holds.

    Parameters
    ----------
    path : pathlib.Path or str
        The raw FITS file.
    night : str
        The night it belongs to (``YYYYMMDD``).
    settings : IngestSettings
        The site's header conventions and fallback values.

    Returns
    -------
    InspectedExposure
        The manifest rows (see ``MANIFEST_COLUMNS``); for a mosaic, the detectors that
        cannot be used, each with its exposure id (``<exposure>-<detector>``) and reason.

    Raises
    ------
    FrameRejected
        With a reason code when nothing of the file can be used.
    """
    path = Path(path)
    exposure = exposure_id(path)
    inspected = InspectedExposure([], [], [])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", AstropyUserWarning)
            with fits.open(path, memmap=False) as hdul:
                images = raw_images(hdul, path, settings)
    except FrameRejected:
        raise
    except Exception as error:  # noqa: BLE001 - every read failure is a quarantine reason
        raise FrameRejected(UNREADABLE, f"{path.name} cannot be read as FITS ({error})") from None
    inspected.detectors = [image.detector for image in images if image.detector]
    for image in images:
        image_exposure = exposure_name(f"{exposure}-{image.detector}") if image.detector else exposure
        try:
            inspected.rows.append(_image_row(image, path, image_exposure, night, settings))
        except FrameRejected as rejected:
            if not image.detector:
                raise
            inspected.rejected.append((image_exposure, rejected))
    return inspected


def inspect_frame(path: Path | str, night: str, settings: IngestSettings) -> dict:
    """Read, classify and validate a raw file that holds one image (a single CCD, or one
    assembled from its amplifiers).

    Parameters
    ----------
    path : pathlib.Path or str
        The raw FITS file.
    night : str
        The night it belongs to (``YYYYMMDD``).
    settings : IngestSettings
        The site's header conventions and fallback values.

    Returns
    -------
    dict
        Its manifest row (see ``MANIFEST_COLUMNS``).

    Raises
    ------
    FrameRejected
        With a reason code when the frame cannot be used.
    ValueError
        When the file is a mosaic (several detectors): see :func:`inspect_exposure`.
    """
    inspected = inspect_exposure(path, night, settings)
    if len(inspected.rows) + len(inspected.rejected) != 1:
        raise ValueError(f"{Path(path).name} holds several detectors: use inspect_exposure")
    if inspected.rejected:
        raise inspected.rejected[0][1]
    return inspected.rows[0]


def _image_row(image, path, exposure, night, settings):
    label, header, data = image.label, image.header, image.data
    if not image.amplifiers:
        if data is None or data.size == 0 or data.ndim != 2:
            raise FrameRejected(EMPTY, f"{label} has no 2-D image data")
        if np.issubdtype(data.dtype, np.floating) and not np.isfinite(data).any():
            raise FrameRejected(ALL_NAN, f"{label}: every pixel is NaN or infinite")

    type_key, type_value = _first(header, settings.type_keywords)
    if type_key is None and settings.reduced:
        type_key, type_value = "reduced.nights", "science"  # a reduced night holds science frames
    if type_key is None:
        keys = "/".join(settings.type_keywords)
        raise FrameRejected(MISSING_KEYWORD, f"{label} has none of the frame-type keywords {keys}")
    frame_type = normalise_type(type_value)
    if frame_type is None:
        raise FrameRejected(
            UNKNOWN_TYPE,
            f"{label}: {type_key} = {type_value!r} is not a bias, dark, flat or science frame",
        )
    if settings.reduced and frame_type != "science":
        raise FrameRejected(
            UNKNOWN_TYPE,
            f"{label}: {type_key} = {type_value!r} in a reduced night, which takes science frames",
        )

    exptime = _float(header, "EXPTIME", None, label)
    if exptime < 0:
        raise FrameRejected(BAD_VALUE, f"{label}: EXPTIME = {exptime} is negative")
    if frame_type in ("dark", "science") and exptime <= 0:
        raise FrameRejected(BAD_VALUE, f"{label}: a {frame_type} frame needs EXPTIME > 0, not {exptime}")
    date_obs = _date_obs(header, label)

    band = ""
    if frame_type in ("flat", "science"):
        band = frame_band(header, settings.band_keywords, settings.band_map)
        if band is None:
            keys = "/".join(settings.band_keywords)
            raise FrameRejected(MISSING_KEYWORD, f"{label} is a {frame_type} frame without a filter ({keys})")

    field = ""
    pointing = _pointing(header, image.shape)
    if frame_type == "science":
        _, field_value = _first(header, settings.field_keywords)
        if field_value is not None:
            field = field_name(field_value)
        elif pointing is None:
            keys = "/".join(settings.field_keywords)
            raise FrameRejected(
                MISSING_KEYWORD,
                f"{label} names no field ({keys}) and has neither a WCS nor pointing keywords "
                "(RA/DEC, OBJCTRA/OBJCTDEC) to derive one",
            )

    if image.amplifiers:
        # The row's figures summarise the amplifiers; the calibration uses each one's own.
        gain = float(np.median([a["gain"] for a in image.amplifiers]))
        read_noise = float(np.median([a["read_noise"] for a in image.amplifiers]))
        saturate = float(min(a["saturate"] for a in image.amplifiers))
    elif settings.reduced:
        # Already in calibrated units: the import reads what it needs (reduced.gain, BUNIT).
        gain = _optional_float(header, "GAIN", settings.gain or 1.0)
        read_noise = _optional_float(header, "RDNOISE", settings.read_noise or 0.0)
        saturate = _optional_float(header, "SATURATE", settings.saturate or np.inf)
    else:
        gain = _float(header, "GAIN", settings.gain, label)
        read_noise = _float(header, "RDNOISE", settings.read_noise, label)
        saturate = _float(header, "SATURATE", settings.saturate, label)
    if gain <= 0 or read_noise < 0:
        raise FrameRejected(BAD_VALUE, f"{label}: GAIN = {gain} and RDNOISE = {read_noise} must be positive")

    def section_keyword(override, *keys):
        if image.amplifiers:
            return ""  # each amplifier's own sections
        _, value = _first(header, keys)
        return override or str(value or "").replace(" ", "")

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
        "ny": int(image.shape[0]),
        "nx": int(image.shape[1]),
        "gain": gain,
        "read_noise": read_noise,
        "saturate": saturate,
        "biassec": section_keyword(settings.biassec, "BIASSEC"),
        # The active area: TRIMSEC, else DATASEC (the exposed pixels, as many cameras write).
        "trimsec": section_keyword(settings.trimsec, "TRIMSEC", "DATASEC"),
        "reduced": settings.reduced,
        "detector": image.detector,
        "hdu": image.hdu,
        "amplifiers": json.dumps(image.amplifiers) if image.amplifiers else "",
    }
