"""A night folder's raw files: which are frames, their exposure ids, and a digest of
the folder that changes whenever a frame arrives, changes or settles.

Light on purpose (no astropy): the workflow calls :func:`night_listing` while it plans.
"""

import hashlib
import re
import time
from pathlib import Path

from astrid.io.names import exposure_name

# What AstrID reads: plain FITS, gzip-compressed FITS and tile-compressed FITS (fpack).
RAW_SUFFIXES = (".fits", ".fit", ".fts", ".fits.gz", ".fit.gz", ".fts.gz", ".fits.fz", ".fit.fz", ".fts.fz")
# A name with a FITS extension anywhere (x.fits, x.fits.bz2, x.FIT.fz) is a frame to account
# for: read, or quarantined with the reason it is not.
_FITS_NAME = re.compile(r"\.(fits?|fts)(\.|$)", re.IGNORECASE)

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


def night_listing(night_dir: Path | str, settle_seconds: float, now: float | None = None) -> str:
    """Digest of what the night folder holds: every FITS-looking entry's name, size and
    modification time, and whether it has settled (not modified for ``settle_seconds``).

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
                state = (info.st_size, info.st_mtime_ns, not 0 <= now - info.st_mtime < settle_seconds)
            except OSError:  # a dangling link
                state = ("missing",)
            digest.update(repr((path.name, *state)).encode("utf-8", "surrogateescape"))
    return digest.hexdigest()[:16]
