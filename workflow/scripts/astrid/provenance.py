"""Provenance: which code, which configuration and which inputs made a product.

Snakemake reruns a job when its script or params change, not when library code changes.
Each rule therefore receives ``code=library_digest(...)`` of the library modules it uses as
a param, so editing those modules reruns exactly the rules that use them; the same digest
is written into every product as ``ASTRIDV``.
"""

import hashlib
import json
import re
from functools import lru_cache
from pathlib import Path

from astrid import __version__
from astrid.names import header_text

LIBRARY_DIR = Path(__file__).resolve().parent
# Modules that every product depends on, whatever its stage.
CORE_MODULES = ("__init__", "provenance", "maskbits", "fitsio", "runtime")
_IMPORT = re.compile(r"^\s*from astrid(?:\.(\w+))? import ([\w, ]+)", re.MULTILINE)


@lru_cache(maxsize=None)
def _module_bytes(name):
    return (LIBRARY_DIR / f"{name}.py").read_bytes()


@lru_cache(maxsize=None)
def _imported_modules(name):
    """Library modules that module ``name`` imports (``from astrid[.x] import ...``)."""
    found = set()
    for module, names in _IMPORT.findall(_module_bytes(name).decode()):
        if module:
            found.add(module)
        else:
            found.update(n.strip() for n in names.split(",") if (LIBRARY_DIR / f"{n.strip()}.py").exists())
    return found


def _with_dependencies(modules):
    """The modules and everything they import from the library, transitively."""
    todo, seen = list(modules), set()
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(_imported_modules(name) - seen)
    return seen


def library_digest(*modules):
    """Short content hash of the named library modules, the core modules and every library
    module they import (found in their source), so no dependency is forgotten.

    Parameters
    ----------
    *modules : str
        Module names inside the ``astrid`` package, e.g. ``"calibrate"``.

    Returns
    -------
    str
        ``"<version>+<12 hex digits>"``; it changes whenever one of those files changes.
    """
    digest = hashlib.sha256()
    for name in sorted(_with_dependencies(set(CORE_MODULES) | set(modules))):
        digest.update(name.encode())
        digest.update(_module_bytes(name))
    return f"{__version__}+{digest.hexdigest()[:12]}"


def config_digest(params):
    """Short hash of a JSON-serialisable mapping of the parameters a product was made with."""
    text = json.dumps(params, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def file_digest(path, length=16):
    """SHA-256 of a file's bytes (first ``length`` hex digits), to name an input exactly."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:length]


def stamp(header, code, params, inputs=()):
    """Write provenance into a product's FITS header.

    Parameters
    ----------
    header : astropy.io.fits.Header
    code : str
        :func:`library_digest` of the modules that made the product.
    params : mapping
        The parameters the product was made with (hashed into ``CFGHASH``).
    inputs : iterable of (name_key, hash_key, path)
        Input files to name (``name_key``) and pin by content (``hash_key``).
    """
    header["ASTRIDV"] = (code, "AstrID version + library digest")
    header["CFGHASH"] = (config_digest(params), "hash of the parameters used")
    for name_key, hash_key, path in inputs:
        header[name_key] = (header_text(Path(path).name), "input file")
        header[hash_key] = (file_digest(path), "sha256 of that input (16 hex)")
    return header


# Keywords that describe an exposure and travel from product to product.
EXPOSURE_KEYWORDS = ("EXPOSURE", "NIGHT", "FIELD", "FILTER", "EXPTIME", "DATE-OBS", "MJD-OBS")


def exposure_header(header):
    """A new header with the exposure-describing keywords of ``header``."""
    from astropy.io import fits

    out = fits.Header()
    for key in EXPOSURE_KEYWORDS:
        if key in header:
            out[key] = (header[key], header.comments[key])
    return out
