"""Ingest: find a night's raw frames, classify them by header and validate them.

Every frame ends up in exactly one of two tables: the manifest (usable frames, one row each,
which drives the rest of the workflow) or the quarantine list (with a reason code and a
sentence a person can act on). The raw folder is only ever read.
"""

import hashlib
import logging
import re
import time
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
from astropy.io import fits
from astropy.time import Time
from astropy.utils.exceptions import AstropyUserWarning
from astropy.wcs import WCS

from astrid.names import band_name, exposure_name, field_name

log = logging.getLogger(__name__)

FRAME_TYPES = ("bias", "dark", "flat", "science")
RAW_SUFFIXES = (".fits", ".fit", ".fts", ".fits.gz", ".fit.gz", ".fts.gz", ".fits.fz")

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
NOT_A_FILE = "NOT_A_FILE"
DUPLICATE_EXPOSURE = "DUPLICATE_EXPOSURE"

MANIFEST_COLUMNS = [
    "exposure",
    "night",
    "path",
    "frame_type",
    "imagetyp",
    "band",
    "exptime",
    "date_obs",
    "mjd",
    "field",
    "ra",
    "dec",
    "ny",
    "nx",
    "gain",
    "read_noise",
    "saturate",
    "biassec",
    "trimsec",
]
QUARANTINE_COLUMNS = ["exposure", "night", "path", "frame_type", "reason_code", "reason"]
# Frames still being written when the night was ingested: read again by the next run.
WAITING_COLUMNS = ["exposure", "night", "path", "size", "modified_seconds_ago"]


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


def exposure_id(path):
    """The exposure id of a raw file: its name without the FITS suffixes, in the canonical
    form of :func:`astrid.names.exposure_name`."""
    name = Path(path).name
    for suffix in sorted(RAW_SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suffix):
            return exposure_name(name[: -len(suffix)])
    return exposure_name(Path(name).stem)


def _looks_like_fits(path):
    return not path.name.startswith(".") and path.name.lower().endswith(RAW_SUFFIXES)


def find_raw_frames(night_dir):
    """Raw FITS files directly inside ``night_dir``, sorted by name.

    Only regular files (or links to them); see :func:`find_unusable_entries` for the
    FITS-looking names that are not."""
    night_dir = Path(night_dir)
    if not night_dir.is_dir():
        raise FileNotFoundError(f"raw night folder {night_dir} does not exist")
    return sorted(p for p in night_dir.iterdir() if _looks_like_fits(p) and p.is_file())


def find_unusable_entries(night_dir):
    """(path, sentence) of each FITS-looking name in ``night_dir`` that is not a readable
    file: a dangling symbolic link, a folder, a device or pipe."""
    found = []
    for path in sorted(Path(night_dir).iterdir()):
        if not _looks_like_fits(path) or path.is_file():
            continue
        if path.is_symlink() and not path.exists():
            what = f"a symbolic link to {path.readlink()}, which does not exist"
        elif path.is_dir():
            what = "a folder, not a file"
        else:
            what = "not a regular file"
        found.append((path, f"{path.name} is {what}"))
    return found


def night_listing(night_dir, settle_seconds, now=None):
    """Digest of what the night folder holds: every FITS-looking entry's name, size and
    modification time, and whether it has settled (not modified for ``settle_seconds``).

    The ingest rule takes it as a parameter, so a night is ingested again whenever a frame
    arrives, changes, is completed in place or settles after it was seen arriving.
    """
    now = time.time() if now is None else now
    night_dir = Path(night_dir)
    digest = hashlib.sha256()
    if night_dir.is_dir():
        for path in sorted(night_dir.iterdir()):
            if not _looks_like_fits(path):
                continue
            try:
                info = path.stat()
                state = (info.st_size, info.st_mtime_ns, not 0 <= now - info.st_mtime < settle_seconds)
            except OSError:  # a dangling link
                state = ("missing",)
            digest.update(repr((path.name, *state)).encode("utf-8", "surrogateescape"))
    return digest.hexdigest()[:16]


def normalise_type(value):
    """Frame type (bias/dark/flat/science) of an IMAGETYP-like header value, or None."""
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


def _date_obs(header, path):
    date = header.get("DATE-OBS")
    if date is None:
        raise FrameRejected(MISSING_KEYWORD, f"{path.name} has no DATE-OBS keyword")
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


def pointing_field_name(ra, dec):
    """Name of an unnamed field from its pointing on a 0.1° grid: 'p310d6+00d1'."""
    return f"p{ra:05.1f}{dec:+05.1f}".replace(".", "d")


def name_fields_from_pointings(rows, radius_arcmin):
    """Give science frames without a field name the name of their pointing.

    Frames of one night within ``radius_arcmin`` of an earlier such frame share its name,
    so that small pointing offsets never split a field in two.
    """
    named = []  # (ra, dec, name)
    for row in rows:
        if row["frame_type"] != "science" or row["field"]:
            continue
        ra, dec = row["ra"], row["dec"]
        for ra0, dec0, name in named:
            separation = np.hypot((ra - ra0) * np.cos(np.radians(dec0)), dec - dec0) * 60
            if separation <= radius_arcmin:
                row["field"] = name
                break
        else:
            row["field"] = pointing_field_name(ra, dec)
            named.append((ra, dec, row["field"]))
    return rows


def inspect_frame(path, night, settings):
    """Read, classify and validate one raw frame.

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
                hdu = next((h for h in hdul if h.is_image and h.data is not None), None)
                header = (hdu or hdul[0]).header.copy()
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
    if type_key is None:
        keys = "/".join(settings.type_keywords)
        raise FrameRejected(MISSING_KEYWORD, f"{path.name} has none of the frame-type keywords {keys}")
    frame_type = normalise_type(type_value)
    if frame_type is None:
        raise FrameRejected(
            UNKNOWN_TYPE,
            f"{path.name}: {type_key} = {type_value!r} is not a bias, dark, flat or science frame",
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
        band = band_name(band_value)

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
    }


def _quarantine_row(row, code, reason):
    return {
        "exposure": row["exposure"],
        "night": row["night"],
        "path": row["path"],
        "frame_type": row.get("frame_type", ""),
        "reason_code": code,
        "reason": reason,
    }


def plan_night(rows, min_frames, use_dark):
    """Check that each frame can be calibrated; move those that cannot to quarantine.

    * Frames whose raw shape differs from the night's bias frames cannot share masters
      (``SHAPE_MISMATCH``).
    * A science frame needs a master bias, a master dark (when ``use_dark``) and a master
      flat of its band, each from at least ``min_frames`` frames (``NO_MASTER``).

    Returns
    -------
    (list of dict, list of dict)
        Manifest rows that go on, quarantine rows with reasons.
    """
    quarantined = []
    if not rows:
        return [], []
    biases = [r for r in rows if r["frame_type"] == "bias"]
    reference = biases or rows
    shape = Counter((r["ny"], r["nx"]) for r in reference).most_common(1)[0][0]
    kept = []
    for row in rows:
        if (row["ny"], row["nx"]) != shape:
            quarantined.append(
                _quarantine_row(
                    row,
                    SHAPE_MISMATCH,
                    f"{Path(row['path']).name} is {row['ny']}×{row['nx']} pixels but the night's "
                    f"calibration frames are {shape[0]}×{shape[1]}",
                )
            )
        else:
            kept.append(row)
    counts = Counter((r["frame_type"], r["band"] if r["frame_type"] == "flat" else "") for r in kept)
    go_on = []
    for row in kept:
        if row["frame_type"] == "science":
            needed = [("bias", "")] + ([("dark", "")] if use_dark else []) + [("flat", row["band"])]
            missing = [(t, b, counts[(t, b)]) for t, b in needed if counts[(t, b)] < min_frames]
            if missing:
                what = "; ".join(
                    f"{n} valid {t} frame{'s' if n != 1 else ''}{f' in band {b}' if b else ''}"
                    for t, b, n in missing
                )
                quarantined.append(
                    _quarantine_row(
                        row,
                        NO_MASTER,
                        f"{Path(row['path']).name} cannot be calibrated: the night has {what}, "
                        f"fewer than calibration.min_frames = {min_frames}",
                    )
                )
                continue
        go_on.append(row)
    return go_on, quarantined


def _quarantined(path, night, code, reason, frame_type=""):
    log.warning("quarantined %s: %s: %s", Path(path).name, code, reason)
    return {
        "exposure": exposure_id(path),
        "night": night,
        "path": str(path),
        "frame_type": frame_type,
        "reason_code": code,
        "reason": reason,
    }


def _suffix_rank(path):
    """Order among files of one exposure id: plain FITS before compressed, then by name."""
    name = Path(path).name.lower()
    return (name.endswith((".gz", ".fz")), name)


class IngestedNight(NamedTuple):
    """What :func:`ingest_night` found: usable, quarantined and still-arriving frames."""

    manifest: pd.DataFrame
    quarantine: pd.DataFrame
    waiting: pd.DataFrame


def ingest_night(night_dir, night, settings, min_frames, use_dark, now=None):
    """Classify and validate every raw frame of a night.

    A frame modified less than ``settings.settle_seconds`` before ``now`` is still being
    written: it is left for the next run and listed as waiting, neither used nor quarantined.
    Files whose names give the same exposure id (``a.fits`` and ``a.fits.gz``) are one
    exposure: the first (uncompressed, then by name) is used, the others quarantined
    ``DUPLICATE_EXPOSURE``.

    Returns
    -------
    IngestedNight
        The manifest (usable frames), the quarantine list and the frames still arriving.
    """
    now = time.time() if now is None else now
    rows, quarantined, waiting = [], [], []
    for path, reason in find_unusable_entries(night_dir):
        quarantined.append(_quarantined(path, night, NOT_A_FILE, reason))
    by_exposure = {}
    for path in find_raw_frames(night_dir):
        by_exposure.setdefault(exposure_id(path), []).append(path)
    for exposure, paths in sorted(by_exposure.items()):
        first, *others = sorted(paths, key=_suffix_rank)
        for other in others:
            quarantined.append(
                _quarantined(
                    other, night, DUPLICATE_EXPOSURE,
                    f"{other.name} and {first.name} are both exposure {exposure}: {first.name} is used",
                )  # fmt: skip
            )
        age = now - first.stat().st_mtime
        # A modification time in the future (a file server's clock ahead) counts as settled:
        # a frame that is still incomplete is then quarantined UNREADABLE, and read again
        # when it changes (see night_listing).
        if 0 <= age < settings.settle_seconds:
            log.info("%s is still arriving (modified %.1f s ago): left for the next run", first.name, age)
            waiting.append(
                {"exposure": exposure, "night": night, "path": str(first), "size": first.stat().st_size,
                 "modified_seconds_ago": round(age, 1)}  # fmt: skip
            )
            continue
        try:
            rows.append(inspect_frame(first, night, settings))
        except FrameRejected as rejected:
            quarantined.append(_quarantined(first, night, rejected.code, rejected.reason))
    rows = name_fields_from_pointings(sorted(rows, key=lambda r: r["mjd"]), settings.field_radius_arcmin)
    rows, more = plan_night(rows, min_frames, use_dark)
    for row in more:
        log.warning("quarantined %s: %s: %s", row["exposure"], row["reason_code"], row["reason"])
    quarantined.extend(more)
    manifest = pd.DataFrame(rows, columns=MANIFEST_COLUMNS).sort_values(["mjd", "exposure"])
    quarantine = pd.DataFrame(quarantined, columns=QUARANTINE_COLUMNS).sort_values(["exposure", "path"])
    waiting = pd.DataFrame(waiting, columns=WAITING_COLUMNS)
    return IngestedNight(manifest.reset_index(drop=True), quarantine.reset_index(drop=True), waiting)


def read_manifest(path):
    """Read a manifest TSV written by the ingest rule (strings kept as strings)."""
    return pd.read_csv(
        path,
        sep="\t",
        dtype={"exposure": str, "night": str, "band": str, "field": str, "biassec": str, "trimsec": str},
        keep_default_na=False,
    )
