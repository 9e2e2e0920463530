"""Provenance: which code, which configuration and which inputs made a product.

Snakemake reruns a job when its script or params change, not when library code changes.
Each rule therefore receives ``code=script_digest("<rule script>")`` as a param: a hash of
every library module that the rule's script imports, found by parsing the imports (``ast``:
any form, parenthesised or dotted, at any depth) and following them transitively. Editing
a module reruns exactly the rules whose scripts reach it; the same digest is written into
every product as ``ASTRIDV``.
"""

import ast
import hashlib
import json
from functools import lru_cache
from pathlib import Path

from astrid import __version__
from astrid.io.names import header_text

PACKAGE = "astrid"
LIBRARY_DIR = Path(__file__).resolve().parents[1]  # the astrid package
SCRIPTS_DIR = LIBRARY_DIR.parent  # workflow/scripts: one script per rule
# Modules that every product depends on, whatever its stage.
CORE_MODULES = (
    "astrid",
    "astrid.io.provenance",
    "astrid.io.maskbits",
    "astrid.io.fitsio",
    "astrid.pipeline.runtime",
)


def module_file(name: str) -> Path | None:
    """The source file of library module ``name`` (``astrid.imaging.align`` or
    ``imaging.align``), or None when it is not one (a function, a third-party module)."""
    parts = _full_name(name).split(".")[1:]
    base = LIBRARY_DIR.joinpath(*parts)
    for candidate in (base / "__init__.py", base.with_suffix(".py") if parts else None):
        if candidate is not None and candidate.is_file():
            return candidate
    return None


def _full_name(name: str) -> str:
    return name if name == PACKAGE or name.startswith(f"{PACKAGE}.") else f"{PACKAGE}.{name}"


def _with_parents(name: str) -> set[str]:
    """``astrid.imaging.align`` and the packages whose ``__init__`` importing it runs."""
    parts = name.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts) + 1)}


@lru_cache(maxsize=None)
def _module_bytes(name: str) -> bytes:
    return module_file(name).read_bytes()


def imported_modules(source: bytes, package: str = PACKAGE) -> set[str]:
    """Library modules that Python ``source`` imports, in any form: ``import astrid.x.y``,
    ``from astrid.x import y`` (a module or a name in one), parenthesised over several lines,
    relative to ``package``, at module level or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            if (name == PACKAGE or name.startswith(f"{PACKAGE}.")) and module_file(name):
                found |= _with_parents(name)
    return found


@lru_cache(maxsize=None)
def _imports_of(name: str) -> frozenset:
    path = module_file(name)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    return frozenset(imported_modules(_module_bytes(name), package))


def with_dependencies(modules) -> set[str]:
    """The library modules ``modules`` (full names), their packages and everything they
    import from the library, transitively."""
    todo, seen = [m for name in modules for m in _with_parents(_full_name(name))], set()
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(_imports_of(name) - seen)
    return seen


def library_digest(*modules: str) -> str:
    """Short content hash of the named library modules, the core modules and every library
    module they import, so no dependency is forgotten.

    Parameters
    ----------
    *modules : str
        Module names inside the ``astrid`` package, e.g. ``"calibrate.masters"``.

    Returns
    -------
    str
        ``"<version>+<12 hex digits>"``; it changes whenever one of those files changes.
    """
    digest = hashlib.sha256()
    for name in sorted(with_dependencies(set(CORE_MODULES) | {_full_name(m) for m in modules})):
        digest.update(name.encode())
        digest.update(_module_bytes(name))
    return f"{__version__}+{digest.hexdigest()[:12]}"


def script_digest(rule_script: str) -> str:
    """:func:`library_digest` of every library module that a rule's script imports.

    Parameters
    ----------
    rule_script : str
        The script's name in ``workflow/scripts`` without ``.py`` (the rule's name).

    Returns
    -------
    str
        As :func:`library_digest`.
    """
    source = (SCRIPTS_DIR / f"{rule_script}.py").read_bytes()
    return library_digest(*sorted(imported_modules(source)))


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
