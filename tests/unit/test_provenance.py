"""Provenance: the code digest follows the library modules a rule really uses."""

import pytest

from astrid.io import provenance


def test_digest_covers_modules_imported_by_the_named_ones():
    def deps(*modules):
        return provenance.with_dependencies(set(modules))

    assert {"astrid.imaging.sources"} <= deps("imaging.detect")
    assert {f"astrid.imaging.{m}" for m in ("align", "psf", "sources", "zogy")} <= deps("imaging.difference")
    assert "astrid.astrometry.registration" in deps("imaging.difference")
    assert "astrid.calibrate.science" in deps("report.calibration")
    assert "astrid.imaging.sources" not in deps("ingest.night")


def test_parenthesised_dotted_relative_and_nested_imports_are_all_found():
    source = b"""
from astrid.realbogus.inject import (
    inject_point_sources,
    make_injections,
)
import astrid.imaging.zogy
from astrid.imaging import psf
from . import drift


def later():
    from astrid.alerts.objects import connect  # inside a function: still a dependency


if TYPE_CHECKING:
    from astrid.ops.monitor.status import Check  # a hint only: not a dependency
"""
    found = provenance.imported_modules(source, package="astrid.realbogus")
    expected = {
        "astrid.realbogus.inject",
        "astrid.imaging.zogy",
        "astrid.imaging.psf",
        "astrid.realbogus.drift",
        "astrid.alerts.objects",
    }
    assert expected <= found
    assert {
        "astrid",
        "astrid.imaging",
        "astrid.realbogus",
        "astrid.alerts",
    } <= found  # their __init__ run too
    assert not any(name.endswith(("inject_point_sources", "connect")) for name in found)  # names, not modules
    assert not any(name.startswith("astrid.ops") for name in found)


def test_editing_inject_reruns_the_training_set_and_not_the_calibration(monkeypatch):
    """training_set imports inject in parentheses over several lines: the regex it replaced
    missed that, so an edited inject.py left the training-set, lifecycle and drift jobs as they were."""
    rules = (
        "make_training_samples",
        "build_training_set",
        "train_realbogus",
        "check_drift",
        "calibrate_exposure",
    )
    before = {rule: provenance.script_digest(rule) for rule in rules}
    original = provenance._module_bytes

    def edited(name):
        return original(name) + (b"# edited\n" if name == "astrid.realbogus.inject" else b"")

    monkeypatch.setattr(provenance, "_module_bytes", edited)
    after = {rule: provenance.script_digest(rule) for rule in rules}
    changed = {rule for rule in rules if after[rule] != before[rule]}
    assert changed == {"make_training_samples", "build_training_set", "train_realbogus", "check_drift"}


def test_every_rule_script_imports_only_library_modules_that_exist():
    for script in sorted(provenance.SCRIPTS_DIR.glob("*.py")):
        digest = provenance.script_digest(script.stem)
        assert digest.startswith("0.") and len(digest.split("+")[1]) == 12, script.name


def test_a_product_written_again_later_has_the_same_bytes_and_valid_checksums(tmp_path):
    import hashlib
    import time
    import warnings

    import numpy as np
    from astropy.io import fits

    from astrid.io.fitsio import write_atomic

    def product():
        image = fits.ImageHDU(np.arange(64, dtype=np.float32).reshape(8, 8), name="SCI")
        return fits.HDUList([fits.PrimaryHDU(), image])

    write_atomic(product(), tmp_path / "first.fits")
    time.sleep(1.1)  # astropy's own checksum comment carries the time to the second
    write_atomic(product(), tmp_path / "second.fits")
    digests = {hashlib.sha256(p.read_bytes()).hexdigest() for p in tmp_path.glob("*.fits")}
    assert len(digests) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # astropy warns on a checksum that does not verify
        with fits.open(tmp_path / "first.fits", checksum=True) as hdul:
            assert all(hdu._checksum_valid and hdu._datasum_valid for hdu in hdul)


def test_a_product_is_whole_or_absent(tmp_path):
    import pytest

    from astrid.io.fitsio import atomic_output

    target = tmp_path / "table.tsv"
    target.write_text("old\n")
    with pytest.raises(RuntimeError):
        with atomic_output(target) as tmp:
            tmp.write_text("half of the new")
            raise RuntimeError("killed midway")
    assert target.read_text() == "old\n" and list(tmp_path.iterdir()) == [target]
    with atomic_output(target) as tmp:
        assert tmp.suffix == ".tsv" and tmp.parent == tmp_path  # same folder: an atomic rename
        tmp.write_text("new\n")
    assert target.read_text() == "new\n" and list(tmp_path.iterdir()) == [target]


def test_a_killed_jobs_temporary_file_goes_when_its_product_is_written_again(tmp_path):
    from astrid.io.fitsio import atomic_output

    # SIGKILL leaves no chance to clean up: the job's temporary file stays, under its pid.
    stale = tmp_path / ".20261127-0010.tmp11810.fits"
    stale.write_bytes(b"half a difference image")
    other = tmp_path / ".20261127-0011.tmp11811.fits"  # another product's: not touched
    other.write_bytes(b"another job's")
    with atomic_output(tmp_path / "20261127-0010.fits") as tmp:
        tmp.write_bytes(b"the whole difference image")
    assert sorted(p.name for p in tmp_path.iterdir()) == [other.name, "20261127-0010.fits"]


def test_a_file_digest_is_kept_beside_the_file_and_read_again_when_the_file_changes(tmp_path):
    import hashlib
    import os

    from astrid.io.provenance import DIGEST_ATTRIBUTE, file_digest

    path = tmp_path / "master.fits"
    path.write_bytes(b"A" * 3_000_000)
    assert file_digest(path) == hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    try:
        kept = os.getxattr(path, DIGEST_ATTRIBUTE).decode()
    except OSError as error:
        pytest.skip(f"{tmp_path} keeps no extended attributes ({error}): the digest is computed each time")
    status = path.stat()
    assert kept == f"{status.st_size}:{status.st_mtime_ns}:{hashlib.sha256(path.read_bytes()).hexdigest()}"
    # The kept digest is what a second reader gets: the file is not read again...
    os.setxattr(path, DIGEST_ATTRIBUTE, f"{status.st_size}:{status.st_mtime_ns}:{'0' * 64}".encode())
    assert file_digest(path) == "0" * 16
    # ...until the file changes: same size, new bytes, a new modification time.
    path.write_bytes(b"B" * 3_000_000)
    os.utime(path, ns=(status.st_atime_ns, status.st_mtime_ns + 1))
    assert file_digest(path) == hashlib.sha256(path.read_bytes()).hexdigest()[:16]
