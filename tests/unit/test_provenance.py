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
