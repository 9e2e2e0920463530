"""Provenance: the code digest follows the library modules a rule really uses."""

from astrid import provenance


def test_digest_covers_modules_imported_by_the_named_ones():
    assert {"sources"} <= provenance._with_dependencies({"detect"})
    assert {"align", "psf", "sources", "astrometry", "zogy"} <= provenance._with_dependencies({"difference"})
    assert {"calibrate"} <= provenance._with_dependencies({"qa"})
    assert "sources" not in provenance._with_dependencies({"ingest"})


def test_editing_a_dependency_changes_only_the_digests_that_use_it(monkeypatch):
    detect_before = provenance.library_digest("detect")
    ingest_before = provenance.library_digest("ingest")
    original = provenance._module_bytes("sources")

    def edited(name):
        text = (provenance.LIBRARY_DIR / f"{name}.py").read_bytes()
        return original + b"# edited\n" if name == "sources" else text

    monkeypatch.setattr(provenance, "_module_bytes", edited)
    assert provenance.library_digest("detect") != detect_before
    assert provenance.library_digest("ingest") == ingest_before


def test_a_product_written_again_later_has_the_same_bytes_and_valid_checksums(tmp_path):
    import hashlib
    import time
    import warnings

    import numpy as np
    from astropy.io import fits

    from astrid.fitsio import write_atomic

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

    from astrid.fitsio import atomic_output

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
