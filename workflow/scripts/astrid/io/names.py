"""Names that are safe everywhere AstrID uses them: exposure ids, field, band and detector names.

Every exposure id, field and band name is made canonical once, at ingest, so that no name
can crash a run later: it is a valid Snakemake wildcard value (``EXPOSURE_PATTERN``,
``FIELD_PATTERN`` and ``BAND_PATTERN`` are the workflow's wildcard constraints), a valid
file name on every file system (ASCII, no separators, bounded length) and unique.

The canonical form of a text:

1. accents are folded to ASCII (``é`` → ``e``) and every run of other characters outside the
   allowed set becomes one ``_``; leading and trailing punctuation is dropped;
2. a name that had to be changed (exposure ids only) or that is longer than its limit is cut
   and ends in ``-`` (``_`` for bands) plus 8 hex digits of the SHA-256 of the original text, so two different
   originals never share a name and the same original always gets the same one.

A name that is already canonical is kept as it is (``20261127-0001`` stays itself). Field and
band names are not given the hash when only their punctuation changed: ``M 31`` and ``M_31``
are the same field to an observer.
"""

import hashlib
import math
import re
import unicodedata
from collections.abc import Mapping, Sequence

# The longest canonical names, in characters: a product path
# (results/training/samples/<night>/<exposure>.fits) stays far below any file-name limit.
MAX_EXPOSURE_LENGTH = 64
MAX_FIELD_LENGTH = 48
MAX_BAND_LENGTH = 16

# Characters of each kind of name after the first, which is a letter or digit.
_EXPOSURE_CHARACTERS = "A-Za-z0-9_.+-"
_FIELD_CHARACTERS = "A-Za-z0-9_+-"
_BAND_CHARACTERS = "A-Za-z0-9_"


def _pattern(characters, max_length):
    return f"[A-Za-z0-9][{characters}]{{0,{max_length - 1}}}"


# The workflow's wildcard constraints (rules/common.smk): every canonical name matches.
EXPOSURE_PATTERN = _pattern(_EXPOSURE_CHARACTERS, MAX_EXPOSURE_LENGTH)
FIELD_PATTERN = _pattern(_FIELD_CHARACTERS, MAX_FIELD_LENGTH)
BAND_PATTERN = _pattern(_BAND_CHARACTERS, MAX_BAND_LENGTH)
# A mosaic's detector names a folder of masters (results/masters/<night>/<detector>/), and
# ends its exposure ids and field names (<exposure>-<detector>, <field>-<detector>).
DETECTOR_PATTERN = BAND_PATTERN

_HASH_LENGTH = 8


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()[:_HASH_LENGTH]


def canonical_name(text: str, characters: str, max_length: int, *, hash_when_changed: bool) -> str:
    """The canonical form of ``text`` (see the module's description).

    Parameters
    ----------
    text : str
        The original name (a file name without its suffix, an OBJECT or FILTER value).
    characters : str
        The allowed characters, as the inside of a regular-expression character class.
    max_length : int
        Longest result, hash included.
    hash_when_changed : bool
        End a name that had to be changed in ``-<hash>`` (keeps changed names unique).

    Returns
    -------
    str
        A name matching ``_pattern(characters, max_length)``; never empty.
    """
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    name = re.sub(f"[^{characters}]+", "_", folded)
    name = re.sub(r"^[^A-Za-z0-9]+|[^A-Za-z0-9]+$", "", name)
    needs_hash = not name or len(name) > max_length or (hash_when_changed and name != text)
    if not needs_hash:
        return name
    keep = max_length - _HASH_LENGTH - 1
    stem = re.sub(r"[^A-Za-z0-9]+$", "", name[:keep])
    separator = "-" if characters.endswith("-") else "_"  # bands take no '-'
    return f"{stem}{separator}{_hash(text)}" if stem else f"x{_hash(text)}"


def exposure_name(stem: str) -> str:
    """The canonical exposure id of a raw file name without its FITS suffixes.

    ``"frame é 1"`` → ``"frame_e_1-<hash>"``; ``"20261127-0001"`` stays itself.

    Parameters
    ----------
    stem : str
        The raw file's name without its FITS suffixes.

    Returns
    -------
    str
        A name matching ``EXPOSURE_PATTERN``, with ``-<hash>`` when it had to be changed.
    """
    return canonical_name(stem, _EXPOSURE_CHARACTERS, MAX_EXPOSURE_LENGTH, hash_when_changed=True)


def field_name(value: str) -> str:
    """The canonical field name of an OBJECT/FIELD header value (``"M 31"`` → ``"M_31"``).

    Parameters
    ----------
    value : str
        The header value; any other type is converted with ``str``, and surrounding spaces
        are dropped.

    Returns
    -------
    str
        A name matching ``FIELD_PATTERN``.
    """
    return canonical_name(str(value).strip(), _FIELD_CHARACTERS, MAX_FIELD_LENGTH, hash_when_changed=False)


def band_name(value: str) -> str:
    """The canonical band of a FILTER value: ``"r'"`` → ``"r"``, ``"Open/Clear"`` →
    ``"Open_Clear"``.

    Parameters
    ----------
    value : str
        The header value; any other type is converted with ``str``, and surrounding spaces
        are dropped.

    Returns
    -------
    str
        A name matching ``BAND_PATTERN``.
    """
    return canonical_name(str(value).strip(), _BAND_CHARACTERS, MAX_BAND_LENGTH, hash_when_changed=False)


def detector_name(value: str) -> str:
    """The canonical name of a mosaic's detector (``CCDNAME`` / ``EXTNAME`` value):
    ``"N 6"`` → ``"N_6"``.

    Parameters
    ----------
    value : str
        The header value; any other type is converted with ``str``.

    Returns
    -------
    str
        A name matching ``DETECTOR_PATTERN``.
    """
    return band_name(value)


def header_text(text: str) -> str:
    """``text`` as a FITS header value can hold it (printable ASCII): other characters are
    written as Python escapes, so ``frame é 1.fits`` is ``frame \\xe9 1.fits``, still naming
    the one file.

    Parameters
    ----------
    text : str
        Any text, typically a file name.

    Returns
    -------
    str
        Printable ASCII only.
    """
    escaped = text.encode("ascii", "backslashreplace").decode("ascii")
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in escaped)


def field_from_pointing(ra: float, dec: float) -> str:
    """Name of a field known only by its pointing, on a 0.1° grid: ``p310d6+00d1``.

    Parameters
    ----------
    ra, dec : float
        The pointing in degrees.

    Returns
    -------
    str
        A canonical field name.
    """
    return f"p{ra:05.1f}{dec:+05.1f}".replace(".", "d")


def separation_arcmin(ra1: float, dec1: float, ra2: float, dec2: float) -> float:
    """Angular distance between two positions (degrees in), in arcminutes (haversine:
    right across RA 0/360 and near the poles).

    Parameters
    ----------
    ra1, dec1, ra2, dec2 : float
        The two positions in degrees.

    Returns
    -------
    float
    """
    ra1, dec1, ra2, dec2 = map(math.radians, (ra1, dec1, ra2, dec2))
    h = math.sin((dec2 - dec1) / 2) ** 2 + math.cos(dec1) * math.cos(dec2) * math.sin((ra2 - ra1) / 2) ** 2
    return math.degrees(2 * math.asin(min(1.0, math.sqrt(h)))) * 60


def frame_band(header: Mapping, band_keywords: Sequence[str], band_map: Mapping) -> str | None:
    """The canonical band of a header's filter keyword, or None where it names none.

    Parameters
    ----------
    header : mapping
        A frame's (or a supplied template's) header.
    band_keywords : sequence of str
        Filter keywords, the first present and not blank wins (``ingest.band_keywords``).
    band_map : mapping
        Header value → band (``ingest.band_map``), before :func:`band_name`.

    Returns
    -------
    str or None
    """
    for key in band_keywords:
        value = header.get(key)
        if value is not None and str(value).strip() != "":
            return band_name(band_map.get(str(value).strip(), value))
    return None
