"""A night folder's raw files: which are frames, their exposure ids, whether each has
finished arriving, and a digest of the folder that changes whenever a frame arrives,
changes or settles.

Light on purpose (no astropy): the workflow calls :func:`night_listing` while it plans.
"""

import hashlib
import math
import os
import re
import time
from pathlib import Path

from astrid.io.names import exposure_name

# What AstrID reads: plain FITS, gzip-compressed FITS and tile-compressed FITS (fpack).
RAW_SUFFIXES = (".fits", ".fit", ".fts", ".fits.gz", ".fit.gz", ".fts.gz", ".fits.fz", ".fit.fz", ".fts.fz")
# A name with a FITS extension anywhere (x.fits, x.fits.bz2, x.FIT.fz) is a frame to account
# for: read, or quarantined with the reason it is not.
_FITS_NAME = re.compile(r"\.(fits?|fts)(\.|$)", re.IGNORECASE)

# FITS files are made of 2880-byte blocks; a file whose headers declare its whole length
# (plain and tile-compressed FITS, not gzip) can be seen to be complete.
FITS_BLOCK = 2880
_DECLARED_SUFFIXES = tuple(s for s in RAW_SUFFIXES if not s.endswith(".gz"))
_HEADER_KEYS = ("SIMPLE", "XTENSION", "BITPIX", "NAXIS", "PCOUNT", "GCOUNT", "GROUPS", "NEXTEND")

# Reason codes of entries that are not frames AstrID reads (see astrid.ingest.classify).
NOT_A_FILE = "NOT_A_FILE"
UNSUPPORTED_FORMAT = "UNSUPPORTED_FORMAT"


def exposure_id(path: Path | str) -> str:
    """The exposure id of a raw file: its name without the FITS suffixes, in the canonical
    form of :func:`astrid.names.exposure_name`.

    Parameters
    ----------
    path : pathlib.Path or str
        The raw file (only its name is used).

    Returns
    -------
    str
        The canonical exposure id.
    """
    name = Path(path).name
    for suffix in sorted(RAW_SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suffix):
            return exposure_name(name[: -len(suffix)])
    return exposure_name(Path(name).stem)


def looks_like_fits(path: Path) -> bool:
    """Whether a folder entry's name is that of a FITS file (hidden files are not).

    Parameters
    ----------
    path : pathlib.Path
        The entry.

    Returns
    -------
    bool
    """
    return not path.name.startswith(".") and _FITS_NAME.search(path.name) is not None


def _readable(path):
    return path.name.lower().endswith(RAW_SUFFIXES)


def find_raw_frames(night_dir: Path | str) -> list[Path]:
    """Raw FITS files directly inside ``night_dir``, sorted by name.

    Only regular files (or links to them); see :func:`find_unusable_entries` for the
    FITS-looking names that are not.

    Parameters
    ----------
    night_dir : pathlib.Path or str
        The night's raw folder.

    Returns
    -------
    list of pathlib.Path
        Files with a FITS suffix (``RAW_SUFFIXES``), hidden files aside.

    Raises
    ------
    FileNotFoundError
        When ``night_dir`` is not a folder.
    """
    night_dir = Path(night_dir)
    if not night_dir.is_dir():
        raise FileNotFoundError(f"raw night folder {night_dir} does not exist")
    return sorted(p for p in night_dir.iterdir() if looks_like_fits(p) and _readable(p) and p.is_file())


def find_unusable_entries(night_dir: Path | str) -> list[tuple[Path, str, str]]:
    """Each FITS-looking name in ``night_dir`` that is not a frame AstrID reads: a dangling
    symbolic link, a folder, a device or pipe (``NOT_A_FILE``), or a file compressed in a way
    it does not read (``UNSUPPORTED_FORMAT``, e.g. ``x.fits.bz2``).

    Parameters
    ----------
    night_dir : pathlib.Path or str
        The night's raw folder.

    Returns
    -------
    list of (pathlib.Path, str, str)
        Each entry, its reason code and a sentence saying what it is, sorted by name.
    """
    found = []
    for path in sorted(Path(night_dir).iterdir()):
        if not looks_like_fits(path) or (path.is_file() and _readable(path)):
            continue
        if path.is_file():
            code = UNSUPPORTED_FORMAT
            what = f"not a format AstrID reads: it reads {', '.join(RAW_SUFFIXES)}"
        elif path.is_symlink() and not path.exists():
            code, what = NOT_A_FILE, f"a symbolic link to {path.readlink()}, which does not exist"
        elif path.is_dir():
            code, what = NOT_A_FILE, "a folder, not a file"
        else:
            code, what = NOT_A_FILE, "not a regular file"
        found.append((path, code, f"{path.name} is {what}"))
    return found


def _header_values(handle, offset: int, size: int) -> tuple[dict, int] | None:
    """The structural keywords of the header starting at ``offset`` (``NAXISn`` included)
    and its length in bytes; None when it does not end (``END``) before ``size``."""
    values, length = {}, 0
    handle.seek(offset)
    while offset + length + FITS_BLOCK <= size:
        block = handle.read(FITS_BLOCK)
        length += FITS_BLOCK
        for start in range(0, FITS_BLOCK, 80):
            card = block[start : start + 80].decode("ascii", "replace")
            key = card[:8].rstrip()
            if key == "END":
                return values, length
            if card[8:10] == "= " and (key in _HEADER_KEYS or key.startswith("NAXIS")):
                values.setdefault(key, card[10:].split("/")[0].strip())
    return None


def _data_bytes(values: dict) -> int:
    """Bytes of an HDU's data, unpadded (FITS standard 4.4.1)."""
    axes = [int(values[f"NAXIS{i}"]) for i in range(1, int(values.get("NAXIS", "0")) + 1)]
    if not axes:
        return 0
    if values.get("GROUPS") == "T" and axes[0] == 0:  # random groups
        axes = axes[1:]
    gcount, pcount = int(values.get("GCOUNT", "1")), int(values.get("PCOUNT", "0"))
    return abs(int(values["BITPIX"])) // 8 * gcount * (pcount + math.prod(axes))


def declared_complete(path: Path | str) -> bool:
    """Whether a FITS file holds every byte its headers declare: each HDU's header and its
    padded data, ending exactly at the end of the file. A frame written in place by a
    camera or a copy is then complete, and need not wait ``settle_seconds``.

    A file whose primary header holds no data is complete only when it also says how many
    extensions it has (``NEXTEND``) and has that many: a mosaic whose next detector is not
    written yet must not count. Gzip-compressed files, and anything that does not read as
    FITS, are never declared complete (they wait to settle instead).

    Parameters
    ----------
    path : pathlib.Path or str
        The file (only its headers are read).

    Returns
    -------
    bool
    """
    path = Path(path)
    if not path.name.lower().endswith(_DECLARED_SUFFIXES):
        return False
    offset, extensions, primary = 0, 0, None
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            while offset < size:
                found = _header_values(handle, offset, size)
                if found is None:
                    return False
                values, length = found
                if primary is None:
                    if values.get("SIMPLE") != "T":
                        return False
                    primary = values
                elif "XTENSION" in values:
                    extensions += 1
                else:
                    return False
                data = _data_bytes(values)
                offset += length + math.ceil(data / FITS_BLOCK) * FITS_BLOCK
    except (OSError, ValueError, KeyError):
        return False
    if primary is None or offset != size:
        return False
    if "NEXTEND" in primary:
        return extensions == int(primary["NEXTEND"])
    return _data_bytes(primary) > 0


def has_arrived(path: Path, modified: float, settle_seconds: float, now: float, when_complete: bool) -> bool:
    """Whether a raw file has finished arriving: not modified for ``settle_seconds``, or,
    with ``when_complete``, :func:`declared_complete` at once. A modification time in the
    future (a file server's clock ahead) counts as settled.

    Parameters
    ----------
    path : pathlib.Path
        The file.
    modified : float
        Its modification time, seconds since the epoch.
    settle_seconds : float
        ``ingest.settle_seconds``.
    now : float
        The time to compare with, seconds since the epoch.
    when_complete : bool
        ``ingest.arrive_when_complete``: false for a camera that writes a file at its full
        length first and fills it in afterwards.

    Returns
    -------
    bool
    """
    if not 0 <= now - modified < settle_seconds:
        return True
    return when_complete and declared_complete(path)


def night_listing(
    night_dir: Path | str, settle_seconds: float, now: float | None = None, when_complete: bool = True
) -> str:
    """Digest of what the night folder holds: every FITS-looking entry's name, size and
    modification time, and whether it has arrived (:func:`has_arrived`).

    The ingest rule takes it as a parameter, so a night is ingested again whenever a frame
    arrives, changes, is completed in place or settles after it was seen arriving.

    Parameters
    ----------
    night_dir : pathlib.Path or str
        The night's raw folder; a missing folder gives the digest of nothing.
    settle_seconds : float
        Seconds without modification after which a file counts as complete.
    now : float, optional
        The time to compare with, in seconds since the epoch; the current time when None.
    when_complete : bool
        Whether a file :func:`declared_complete` has arrived before it settles.

    Returns
    -------
    str
        16 hex digits of a SHA-256.
    """
    now = time.time() if now is None else now
    night_dir = Path(night_dir)
    digest = hashlib.sha256()
    if night_dir.is_dir():
        for path in sorted(night_dir.iterdir()):
            if not looks_like_fits(path):
                continue
            try:
                info = path.stat()
                arrived = has_arrived(path, info.st_mtime, settle_seconds, now, when_complete)
                state = (info.st_size, info.st_mtime_ns, arrived)
            except OSError:  # a dangling link
                state = ("missing",)
            digest.update(repr((path.name, *state)).encode("utf-8", "surrogateescape"))
    return digest.hexdigest()[:16]
