"""A night's frames into two tables, plus the frames still arriving.

Every frame ends up in exactly one of the manifest (usable frames, one row each, which
drives the rest of the workflow), the quarantine list (with a reason code and a sentence)
or, while it is still being written, the waiting list. The raw folder is only ever read.
"""

import hashlib
import json
import logging
import time
from collections import Counter
from collections.abc import Mapping, MutableMapping
from dataclasses import replace
from pathlib import Path
from typing import NamedTuple

import pandas as pd

from astrid.ingest.classify import (
    DUPLICATE_EXPOSURE,
    MISSING_HDU,
    NO_MASTER,
    SHAPE_MISMATCH,
    FrameRejected,
    IngestSettings,
    InspectedExposure,
    inspect_exposure,
    name_fields_from_pointings,
)
from astrid.ingest.files import exposure_id, find_raw_frames, find_unusable_entries, has_arrived
from astrid.io.fitsio import atomic_output
from astrid.io.names import exposure_name

log = logging.getLogger(__name__)

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
    "reduced",
    "field_source",
    "detector",
    "hdu",
    "amplifiers",
]
QUARANTINE_COLUMNS = ["exposure", "night", "path", "frame_type", "reason_code", "reason"]
# Frames still being written when the night was ingested: read again by the next run.
WAITING_COLUMNS = ["exposure", "night", "path", "size", "modified_seconds_ago"]


def _quarantine_row(row, code, reason):
    return {
        "exposure": row["exposure"],
        "night": row["night"],
        "path": row["path"],
        "frame_type": row.get("frame_type", ""),
        "reason_code": code,
        "reason": reason,
    }


def plan_night(rows: list[dict], min_frames: int, use_dark: bool) -> tuple[list[dict], list[dict]]:
    """Check that each frame can be calibrated; move those that cannot to quarantine.

    * Frames whose raw shape differs from the night's bias frames cannot share masters
      (``SHAPE_MISMATCH``).
    * A science frame needs a master bias, a master dark (when ``use_dark``) and a master
      flat of its band, each from at least ``min_frames`` frames (``NO_MASTER``).
    * Each detector of a mosaic has its own masters: the checks are made per detector.

    Parameters
    ----------
    rows : list of dict
        Manifest rows of the night's usable frames.
    min_frames : int
        Fewest frames a master is made of (``calibration.min_frames``).
    use_dark : bool
        Whether science frames need a master dark (``calibration.use_dark``).

    Returns
    -------
    (list of dict, list of dict)
        Manifest rows that go on, quarantine rows with reasons.
    """
    quarantined = []
    # A reduced frame (reduced.nights) needs no master: nothing to check.
    reduced = [r for r in rows if r.get("reduced")]
    rows = [r for r in rows if not r.get("reduced")]
    detectors = sorted({r.get("detector", "") for r in rows})
    if len(detectors) > 1:
        planned = [
            _plan_detector([r for r in rows if r.get("detector", "") == d], min_frames, use_dark)
            for d in detectors
        ]
        return [r for go, _ in planned for r in go] + reduced, [q for _, stop in planned for q in stop]
    go_on, quarantined = _plan_detector(rows, min_frames, use_dark)
    return go_on + reduced, quarantined


def _plan_detector(rows, min_frames, use_dark):
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


def read_single_images_as_detectors(
    inspected: Mapping[Path, InspectedExposure], night: str, settings: IngestSettings
) -> dict[Path, InspectedExposure]:
    """In a night of mosaic files, read a file that holds a single image as the detector its
    header names (a mosaic file that lost extensions in transfer), so that it joins that
    detector's frames and its missing detectors are named (:func:`missing_detectors`).

    Parameters
    ----------
    inspected : mapping of pathlib.Path to InspectedExposure
        The night's files as read (:func:`astrid.ingest.classify.inspect_exposure`).
    night : str
        The night.
    settings : IngestSettings
        With ``extensions`` other than ``auto``, nothing is read again.

    Returns
    -------
    dict of pathlib.Path to InspectedExposure
        ``inspected``, those files read again where their image names one of the night's
        detectors.
    """
    detectors = {d for exposure in inspected.values() for d in exposure.detectors}
    if not detectors or settings.extensions != "auto" or settings.reduced:
        return dict(inspected)
    as_detectors = replace(settings, extensions="detectors")
    result = {}
    for path, exposure in inspected.items():
        if not exposure.detectors:
            try:
                again = inspect_exposure(path, night, as_detectors)
            except FrameRejected:
                again = None
            if again is not None and set(again.detectors) <= detectors:
                exposure = again
        result[path] = exposure
    return result


def missing_detectors(by_file: Mapping[str, set], night: str) -> list[dict]:
    """Quarantine rows for the detectors a mosaic's file lacks that the night's other files
    have (an extension lost in transfer, or a detector switched off): the detectors present
    are processed, the missing one is named.

    Parameters
    ----------
    by_file : mapping of str to set of str
        Each mosaic file's path → the detectors it holds (usable or not).
    night : str
        The night.

    Returns
    -------
    list of dict
        ``MISSING_HDU`` quarantine rows, one per missing detector of a file.
    """
    every = set().union(*by_file.values()) if by_file else set()
    quarantined = []
    for path, detectors in sorted(by_file.items()):
        for detector in sorted(every - detectors):
            exposure = exposure_name(f"{exposure_id(path)}-{detector}")
            reason = (
                f"{Path(path).name} has no extension for detector {detector}, which the night's "
                f"other frames have: its other detectors are processed"
            )
            quarantined.append(_quarantined(path, night, MISSING_HDU, reason, exposure=exposure))
    return quarantined


def _quarantined(path, night, code, reason, frame_type="", exposure=None):
    log.warning("quarantined %s: %s: %s", Path(path).name, code, reason)
    return {
        "exposure": exposure or exposure_id(path),
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


def _file_key(path: Path) -> str | None:
    """A file's path, size and modification time; None when it is gone."""
    try:
        info = path.stat()
    except OSError:
        return None
    return f"{path}|{info.st_size}|{info.st_mtime_ns}"


def _plain(value):
    """A numpy scalar as the Python value JSON writes; anything else as its text, as the
    manifest's TSV writes it."""
    return value.item() if hasattr(value, "item") else str(value)


def inspect_remembered(
    path: Path, night: str, settings: IngestSettings, memory: MutableMapping | None
) -> InspectedExposure:
    """:func:`~astrid.ingest.classify.inspect_exposure`, or what it found when the same
    file (path, size, modification time) was read by an earlier ingest of the night.

    Parameters
    ----------
    path : pathlib.Path
        The raw file.
    night : str
        The night.
    settings : IngestSettings
        The settings the memory was made with (the caller keeps one memory per settings).
    memory : mutable mapping or None
        File key → what was found, JSON-safe (:func:`load_inspections`); a file read now
        is added. None: read every file.

    Returns
    -------
    InspectedExposure

    Raises
    ------
    FrameRejected
        As the file was, when it was read.
    """
    key = None if memory is None else _file_key(path)
    if key is None:
        return inspect_exposure(path, night, settings)
    if key not in memory:
        try:
            found = inspect_exposure(path, night, settings)
            entry = {
                "rows": found.rows,
                "detectors": found.detectors,
                "rejected": [[part, error.code, error.reason] for part, error in found.rejected],
            }
        except FrameRejected as error:
            entry = {"unusable": [error.code, error.reason]}
        # Read back as a later ingest would, so that a file remembered and one read now
        # give the same manifest.
        memory[key] = json.loads(json.dumps(entry, default=_plain))
    entry = memory[key]
    if "unusable" in entry:
        raise FrameRejected(*entry["unusable"])
    return InspectedExposure(
        rows=[dict(row) for row in entry["rows"]],
        rejected=[(part, FrameRejected(code, reason)) for part, code, reason in entry["rejected"]],
        detectors=list(entry["detectors"]),
    )


def load_inspections(path: Path | str, salt: str) -> dict:
    """The memory of an earlier ingest of a night (:func:`inspect_remembered`): empty when
    there is none, it is unreadable, or it was made with another ``salt``.

    Parameters
    ----------
    path : pathlib.Path or str
        Its file (``results/manifest/<night>.inspected.json``; removing it only costs the
        next ingest the reading of every frame).
    salt : str
        What the memory is valid for: the ingest code's digest and its settings.

    Returns
    -------
    dict
    """
    try:
        kept = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(kept, dict) or kept.get("salt") != salt:
        return {}
    return dict(kept.get("files", {}))


def save_inspections(path: Path | str, salt: str, memory: Mapping) -> None:
    """Write a night's memory (:func:`load_inspections`) atomically.

    Parameters
    ----------
    path : pathlib.Path or str
        Its file.
    salt : str
        As for :func:`load_inspections`.
    memory : mapping
        File key → what was found.
    """
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps({"salt": salt, "files": dict(memory)}))


def inspection_salt(code: str, settings: IngestSettings) -> str:
    """16 hex digits naming the ingest code and settings a memory is valid for.

    Parameters
    ----------
    code : str
        The ingest rule's code digest.
    settings : IngestSettings

    Returns
    -------
    str
    """
    return hashlib.sha256(f"{code}|{settings!r}".encode()).hexdigest()[:16]


def ingest_night(
    night_dir: Path | str,
    night: str,
    settings: IngestSettings,
    min_frames: int,
    use_dark: bool,
    now: float | None = None,
    memory: MutableMapping | None = None,
) -> IngestedNight:
    """Classify and validate every raw frame of a night.

    A frame modified less than ``settings.settle_seconds`` before ``now`` is still being
    written, unless it is :func:`~astrid.ingest.files.declared_complete` (and
    ``settings.arrive_when_complete``): it is left for the next run and listed as waiting,
    neither used nor quarantined.
    Files whose names give the same exposure id (``a.fits`` and ``a.fits.gz``) are one
    exposure: the first (uncompressed, then by name) is used, the others quarantined
    ``DUPLICATE_EXPOSURE``.

    Parameters
    ----------
    night_dir : pathlib.Path or str
        The night's raw folder (only read).
    night : str
        The night (``YYYYMMDD``).
    settings : IngestSettings
        The site's header conventions.
    min_frames : int
        Fewest frames a master is made of (:func:`plan_night`).
    use_dark : bool
        Whether science frames need a master dark (:func:`plan_night`).
    now : float, optional
        The time of ingest in seconds since the epoch; the current time when None.
    memory : mutable mapping, optional
        What earlier ingests of the night found in each file (:func:`inspect_remembered`):
        a frame already read is not read again, so a follower's ingest stays short as the
        night grows. Left holding the files of the folder only.

    Returns
    -------
    IngestedNight
        The manifest (usable frames), the quarantine list and the frames still arriving.
    """
    now = time.time() if now is None else now
    rows, quarantined, waiting = [], [], []
    inspected = {}  # path → InspectedExposure
    looked_at = []  # the files read (or remembered) this time
    for path, code, reason in find_unusable_entries(night_dir):
        quarantined.append(_quarantined(path, night, code, reason))
    by_exposure = {}
    for path in find_raw_frames(night_dir):
        by_exposure.setdefault(exposure_id(path), []).append(path)
    for exposure, paths in sorted(by_exposure.items()):
        first, *others = sorted(paths, key=_suffix_rank)
        for other in others:
            quarantined.append(
                _quarantined(
                    other,
                    night,
                    DUPLICATE_EXPOSURE,
                    f"{other.name} and {first.name} are both exposure {exposure}: {first.name} is used",
                )
            )
        modified = first.stat().st_mtime
        age = now - modified
        # A modification time in the future (a file server's clock ahead) counts as settled:
        # a frame that is still incomplete is then quarantined UNREADABLE, and read again
        # when it changes (see night_listing).
        if not has_arrived(first, modified, settings.settle_seconds, now, settings.arrive_when_complete):
            log.info("%s is still arriving (modified %.1f s ago): left for the next run", first.name, age)
            waiting.append(
                {
                    "exposure": exposure,
                    "night": night,
                    "path": str(first),
                    "size": first.stat().st_size,
                    "modified_seconds_ago": round(age, 1),
                }
            )
            continue
        looked_at.append(first)
        try:
            inspected[first] = inspect_remembered(first, night, settings, memory)
        except FrameRejected as rejected:
            quarantined.append(_quarantined(first, night, rejected.code, rejected.reason))
    if memory is not None:
        for key in set(memory) - {_file_key(path) for path in looked_at}:
            del memory[key]
    inspected = read_single_images_as_detectors(inspected, night, settings)
    mosaic_files = {}  # path → the detectors it holds
    for path, exposure in inspected.items():
        rows.extend(exposure.rows)
        for part, rejected in exposure.rejected:
            quarantined.append(_quarantined(path, night, rejected.code, rejected.reason, exposure=part))
        if exposure.detectors:
            mosaic_files[str(path)] = set(exposure.detectors)
    quarantined.extend(missing_detectors(mosaic_files, night))
    rows = name_fields_from_pointings(
        sorted(rows, key=lambda r: r["mjd"]), settings.field_radius_arcmin, settings.fields
    )
    rows, more = plan_night(rows, min_frames, use_dark)
    for row in more:
        log.warning("quarantined %s: %s: %s", row["exposure"], row["reason_code"], row["reason"])
    quarantined.extend(more)
    manifest = pd.DataFrame(rows, columns=MANIFEST_COLUMNS).sort_values(["mjd", "exposure"])
    quarantine = pd.DataFrame(quarantined, columns=QUARANTINE_COLUMNS).sort_values(["exposure", "path"])
    waiting = pd.DataFrame(waiting, columns=WAITING_COLUMNS)
    return IngestedNight(manifest.reset_index(drop=True), quarantine.reset_index(drop=True), waiting)


def read_manifest(path: Path | str) -> pd.DataFrame:
    """Read a manifest TSV written by the ingest rule (strings kept as strings).

    Parameters
    ----------
    path : pathlib.Path or str
        The manifest file.

    Returns
    -------
    pandas.DataFrame
        One row per frame, ``MANIFEST_COLUMNS``; exposure, night, band, field and the
        sections stay text (``"0001"`` is not read as 1) and an empty value is ``""``, not NaN.
    """
    return pd.read_csv(
        path,
        sep="\t",
        dtype={
            "exposure": str,
            "night": str,
            "band": str,
            "field": str,
            "biassec": str,
            "trimsec": str,
            "detector": str,
            "hdu": str,
            "amplifiers": str,
        },
        keep_default_na=False,
    )
