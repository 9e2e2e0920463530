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
import os
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from astrid import __version__
from astrid.io.names import header_text

if TYPE_CHECKING:
    # Hints only: Snakemake imports this module while it reads the workflow; keep it light.
    from astropy.io import fits

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
    ``imaging.align``), or None when it is not one (a function, a third-party module).

    Parameters
    ----------
    name : str
        A dotted name, with or without the leading ``astrid.``.

    Returns
    -------
    pathlib.Path or None
        The module's ``.py`` file, or its package's ``__init__.py``.
    """
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


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_nodes(tree: ast.AST):
    """Every node of ``tree`` except those under ``if TYPE_CHECKING:`` (its else branch is
    kept)."""
    todo = [tree]
    while todo:
        node = todo.pop()
        yield node
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            todo.extend(node.orelse)
            continue
        todo.extend(ast.iter_child_nodes(node))


def imported_modules(source: bytes, package: str = PACKAGE) -> set[str]:
    """Library modules that Python ``source`` imports, in any form: ``import astrid.x.y``,
    ``from astrid.x import y`` (a module or a name in one), parenthesised over several lines,
    relative to ``package``, at module level or inside functions. Imports under
    ``if TYPE_CHECKING:`` serve type hints only and never run: they are left out.

    Parameters
    ----------
    source : bytes
        Python source code.
    package : str
        The package that relative imports (``from . import x``) are resolved against.

    Returns
    -------
    set of str
        Full module names, with the packages whose ``__init__`` importing them runs.
    """
    found = set()
    for node in _runtime_nodes(ast.parse(source)):
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


def with_dependencies(modules: Iterable[str]) -> set[str]:
    """The library modules ``modules`` (full names), their packages and everything they
    import from the library, transitively.

    Parameters
    ----------
    modules : iterable of str
        Module names inside the ``astrid`` package.

    Returns
    -------
    set of str
        Full module names.
    """
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


def config_digest(params: Mapping) -> str:
    """Short hash of a JSON-serialisable mapping of the parameters a product was made with.

    Parameters
    ----------
    params : mapping
        The parameters; keys are sorted and values that JSON cannot hold are written with
        ``str``, so equal parameters always give the same hash.

    Returns
    -------
    str
        12 hex digits of the SHA-256 of the parameters' JSON text.
    """
    text = json.dumps(params, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


# The extended attribute a file's digest is kept in, with the size and modification time it
# was computed for: "<size>:<mtime_ns>:<sha256 hex>".
DIGEST_ATTRIBUTE = "user.astrid.sha256"


def file_digest(path: Path | str, length: int = 16) -> str:
    """SHA-256 of a file's bytes (first ``length`` hex digits), to name an input exactly.

    The digest is kept in the file's extended attribute ``user.astrid.sha256`` beside the
    size and modification time it was computed for, so that a master or a reference that
    every frame of a night names is read once, not once per frame (0.15 s for a 4096²
    product). A file changed since (another size or time, or a new file in its place) is
    read again; where the file system keeps no extended attributes, or the file cannot be
    written, the digest is computed every time.

    Parameters
    ----------
    path : pathlib.Path or str
        The file, read in blocks of 1 MiB.
    length : int
        Hex digits kept.

    Returns
    -------
    str
        The first ``length`` hex digits of the digest.
    """
    path = os.fspath(path)
    status = os.stat(path)
    key = f"{status.st_size}:{status.st_mtime_ns}:"
    try:
        kept = os.getxattr(path, DIGEST_ATTRIBUTE).decode()
    except (OSError, AttributeError, UnicodeDecodeError):  # none yet, or none here
        kept = ""
    if kept.startswith(key):
        return kept[len(key) :][:length]
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    try:
        os.setxattr(path, DIGEST_ATTRIBUTE, (key + digest.hexdigest()).encode())
    except (OSError, AttributeError):  # a read-only file, or a file system without them
        pass
    return digest.hexdigest()[:length]


def stamp(
    header: "fits.Header",
    code: str,
    params: Mapping,
    inputs: Iterable[tuple[str, str, Path | str]] = (),
) -> "fits.Header":
    """Write provenance into a product's FITS header.

    Parameters
    ----------
    header : astropy.io.fits.Header
        The product's primary header; changed in place.
    code : str
        :func:`library_digest` of the modules that made the product.
    params : mapping
        The parameters the product was made with (hashed into ``CFGHASH``).
    inputs : iterable of (name_key, hash_key, path)
        Input files to name (``name_key``) and pin by content (``hash_key``).

    Returns
    -------
    astropy.io.fits.Header
        ``header`` itself, with ``ASTRIDV``, ``CFGHASH`` and the input cards set.
    """
    header["ASTRIDV"] = (code, "AstrID version + library digest")
    header["CFGHASH"] = (config_digest(params), "hash of the parameters used")
    for name_key, hash_key, path in inputs:
        header[name_key] = (header_text(Path(path).name), "input file")
        header[hash_key] = (file_digest(path), "sha256 of that input (16 hex)")
    return header


# Keywords that describe an exposure and travel from product to product.
EXPOSURE_KEYWORDS = ("EXPOSURE", "NIGHT", "FIELD", "FILTER", "EXPTIME", "DATE-OBS", "MJD-OBS")


def exposure_header(header: "fits.Header") -> "fits.Header":
    """A new header with the exposure-describing keywords of ``header``.

    Parameters
    ----------
    header : astropy.io.fits.Header
        A product's or raw frame's header.

    Returns
    -------
    astropy.io.fits.Header
        The ``EXPOSURE_KEYWORDS`` that ``header`` has, with their comments.
    """
    from astropy.io import fits

    out = fits.Header()
    for key in EXPOSURE_KEYWORDS:
        if key in header:
            out[key] = (header[key], header.comments[key])
    return out
