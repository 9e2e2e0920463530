"""Planning a run: nights and their roles, oldest-first scheduling, the reference index,
catalogs, the products asked for, the champion resolved once."""

import pytest
import yaml
from workflow_runs import REPO

from astrid.pipeline import planning


@pytest.fixture
def config():
    return yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def rows(night, *science, frame_type="science"):
    """Manifest rows: (exposure, mjd, field, band) per science frame."""
    return [
        {"exposure": e, "night": night, "frame_type": frame_type, "mjd": str(m), "field": f, "band": b}
        for e, m, f, b in science
    ]


def test_the_demo_plans_its_three_nights_and_trains_on_the_new_one(config):
    nights = planning.plan_nights(config)
    assert nights.all == ["20261101", "20261127", "20261128"]
    assert nights.reference == ["20261101"] and nights.difference == ["20261127", "20261128"]
    assert nights.training == ["20261127"]


def test_a_site_plans_every_night_folder_and_its_reference_nights(config, tmp_path):
    for night in ("20261126", "20261127", "notanight", "2026112"):
        (tmp_path / night).mkdir()
    config.update(raw_dir=str(tmp_path), demo={**config["demo"], "enabled": False})
    config["reference"]["nights"] = ["20261001"]
    nights = planning.plan_nights(config)
    assert nights.all == ["20261001", "20261126", "20261127"]
    assert nights.difference == nights.training == ["20261126", "20261127"]
    config["raw_dir"] = str(tmp_path / "missing")
    with pytest.raises(planning.PlanningError, match="config key 'raw_dir'"):
        planning.plan_nights(config)


def test_a_demo_that_cannot_train_or_writes_elsewhere_is_refused(config):
    planning.check_demo(config)
    assert planning.too_few_training_frames(config) is None
    small = {**config, "demo": {**config["demo"], "fields": config["demo"]["fields"][:1], "bands": ["r"]}}
    assert "raise demo.new_exposures" in planning.too_few_training_frames(small)
    with pytest.raises(planning.PlanningError, match="demo.enabled is true"):
        planning.check_demo({**config, "raw_dir": "/data/raw"})


def test_new_frames_are_chosen_oldest_first_and_frames_already_done_stay():
    manifests = {
        "20261127": rows("20261127", ("b", 2.0, "F", "r"), ("c", 3.0, "F", "r"))
        + rows("20261127", ("flat", 0.5, "", "r"), frame_type="flat"),
        "20261128": rows("20261128", ("d", 4.0, "F", "r"), ("a", 1.0, "F", "r")),
    }
    done = {planning.calibrated_path("20261128", "d")}
    assert planning.choose_exposures(manifests, done, 2) == {"20261127": ["b"], "20261128": ["a", "d"]}
    assert planning.choose_exposures(manifests, set(), 10) == {"20261127": ["b", "c"], "20261128": ["a", "d"]}


def test_references_are_built_from_the_reference_nights_per_field_and_band(tmp_path):
    manifest = rows("20261101", ("r1", 1.0, "F01", "r"), ("g1", 2.0, "F01", "g"), ("r2", 3.0, "F02", "r"))
    index = planning.reference_index(
        {"20261101": {r["exposure"]: r for r in manifest}}, {"20261101": ["r1", "g1", "r2"]}, ["20261101"]
    )
    assert index == {
        ("F01", "r"): ["results/calibrated/20261101/r1.fits"],
        ("F01", "g"): ["results/calibrated/20261101/g1.fits"],
        ("F02", "r"): ["results/calibrated/20261101/r2.fits"],
    }
    row = {"field": "F01", "band": "r", "ra": "150.0", "dec": "2.0"}
    assert planning.reference_path(row, None) == "results/references/F01/r.fits"


def test_a_supplied_template_is_used_as_it_is_imported_or_matched_by_position_and_band(tmp_path):
    import numpy as np
    from astropy.io import fits
    from astropy.table import Table
    from astropy.wcs import WCS

    from astrid.imaging.templates import supplied_templates
    from astrid.io.names import frame_band

    row = {"field": "F01", "band": "r", "ra": "150.0", "dec": "2.0"}
    # A file <field>_<band>.fits in the reference layout is the reference itself.
    layout = [fits.PrimaryHDU(), *(fits.ImageHDU(name=n) for n in ("SCI", "VAR", "MASK", "PSF"))]
    fits.HDUList([*layout, fits.table_to_hdu(Table({"x": [1.0]}))]).writeto(tmp_path / "F01_r.fits")
    with fits.open(tmp_path / "F01_r.fits", mode="update") as hdul:
        hdul[-1].name = "STARS"
    assert planning.reference_path(row, str(tmp_path)) == str(tmp_path / "F01_r.fits")
    # Under that name but a plain image (or unreadable), it is imported.
    (tmp_path / "F01_r.fits").write_bytes(b"")
    assert planning.reference_path(row, str(tmp_path)) == "results/templates/F01/r.fits"
    assert planning.template_source(row, str(tmp_path)) == str(tmp_path / "F01_r.fits")
    (tmp_path / "F01_r.fits").unlink()
    # Under any name, a plain image serves the fields whose pointing falls on it, in its band.
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval, wcs.wcs.crpix, wcs.wcs.cdelt = [150.0, 2.0], [50.5, 50.5], [-1 / 360, 1 / 360]
    header = wcs.to_header()
    header["FILTER"] = "SDSS r'"
    fits.PrimaryHDU(np.zeros((100, 100), np.float32), header).writeto(tmp_path / "survey cut-out.fits")
    fits.PrimaryHDU(np.zeros((100, 100), np.float32)).writeto(tmp_path / "no_wcs.fits")
    templates, skipped = supplied_templates(tmp_path, lambda h: frame_band(h, ("FILTER",), {"SDSS r'": "r"}))
    assert [t.band for t in templates] == ["r"]
    assert skipped == [f"{tmp_path / 'no_wcs.fits'}: no celestial WCS in its image header"]
    assert planning.reference_path(row, str(tmp_path), templates) == "results/templates/F01/r.fits"
    assert planning.template_source(row, str(tmp_path), templates) == str(tmp_path / "survey cut-out.fits")
    elsewhere = {**row, "ra": "150.3"}  # 0.3° east: off the 16.7′ image
    assert planning.reference_path(elsewhere, str(tmp_path), templates) == "results/references/F01/r.fits"
    other_band = {**row, "band": "g"}
    assert planning.reference_path(other_band, str(tmp_path), templates) == "results/references/F01/g.fits"


def test_a_fields_catalog_is_its_own_file_the_demos_or_a_cut_of_the_site_catalog(config, tmp_path):
    config["reference"]["catalog_dir"] = str(tmp_path)
    assert planning.field_catalog("F01", config) == [f"{tmp_path}/F01.ecsv"]  # the demo makes it
    config["demo"]["enabled"] = False
    assert planning.field_catalog("F01", config) == []  # no file: no MissingInputException
    (tmp_path / "F01.parquet").write_text("")
    assert planning.field_catalog("F01", config) == [f"{tmp_path}/F01.parquet"]  # any format
    config["reference"]["catalog"] = "resources/catalogs/site/refcat2.parquet"
    assert planning.field_catalog("F01", config) == [f"{tmp_path}/F01.parquet"]  # its own file first
    assert planning.field_catalog("F02", config) == ["results/catalogs/F02.ecsv"]  # cut from the site's
    assert planning.field_catalog("M31-CCD2", config, "CCD2") == ["results/catalogs/M31-CCD2.ecsv"]
    config["reference"].update(catalog_dir=None, catalog=None)
    assert planning.field_catalog("F01", config) == []  # catalogs switched off
    config["reference"]["fetch"]["archive"] = "gaia_dr3"
    assert planning.field_catalog("F01", config) == ["results/catalogs/fetched/F01.ecsv"]  # from VizieR
    config["reference"]["colour_terms"] = {"r": 0.05, "i": "none"}
    assert planning.catalog_reading(config, "r")["colour_term"] == 0.05
    assert planning.catalog_reading(config, "i")["colour_term"] is None
    assert planning.catalog_reading(config, "g")["colour_term"] == "fit"


def test_a_mosaics_detectors_have_their_own_masters_catalog_and_training_frames(config, tmp_path):
    assert planning.master_paths("20261127", True) == {
        "bias": "results/masters/20261127/bias.fits",
        "dark": "results/masters/20261127/dark.fits",
    }
    assert planning.master_paths("20261127", False, "CCD2") == {
        "bias": "results/masters/20261127/CCD2/bias.fits"
    }
    assert planning.flat_path("20261127", "r", "CCD2") == "results/masters/20261127/CCD2/flat_r.fits"
    nights = planning.plan_nights(config)
    targets = planning.night_targets(nights, {}, detectors={"20261127": ["CCD1", "CCD2"]})
    assert (
        "results/qa/20261127/CCD1/masters.png" in targets and "results/qa/20261127/masters.png" not in targets
    )
    assert "results/qa/20261101/masters.png" in targets
    # A detector's field uses its field's catalog.
    config["demo"]["enabled"] = False
    config["reference"]["catalog_dir"] = str(tmp_path)
    (tmp_path / "M31-A.ecsv").write_text("")
    (tmp_path / "M31.ecsv").write_text("")
    assert planning.field_catalog("M31-CCD2", config, "CCD2") == [f"{tmp_path}/M31.ecsv"]
    assert planning.field_catalog("M31-A", config) == [f"{tmp_path}/M31-A.ecsv"]  # a field named so
    # Two detectors make two training frames of each exposure.
    config["demo"].update(enabled=True, fields=config["demo"]["fields"][:1], bands=["r"], new_exposures=2)
    assert planning.too_few_training_frames(config) is not None
    config["demo"]["camera"] = "mosaic"
    assert planning.too_few_training_frames(config) is None


def test_a_run_asks_for_alerts_only_where_frames_were_differenced(config):
    nights = planning.plan_nights(config)
    targets = planning.night_targets(nights, {"20261127": ["e1"], "20261128": []})
    assert "results/scored/20261127/e1.ecsv" in targets and "results/alerts/20261127/delivery.tsv" in targets
    assert not any(t.startswith(("results/alerts/20261128", "results/scored/20261128")) for t in targets)
    assert not any("20261101/difference" in t for t in targets)  # a reference night
    assert "results/models/realbogus/retraining.json" in targets
    assert "results/models/realbogus/retraining.json" not in planning.night_targets(nights, {})


def test_the_champion_is_resolved_once_and_inherited_by_jobs():
    calls = []

    def resolve():
        calls.append(1)
        return 3, "0123456789abcdef0123"

    assert planning.champion_at_start({}, resolve) == (3, "0123456789abcdef0123")
    assert planning.champion_at_start({"ASTRID_CHAMPION": "2:ffff"}, resolve) == (2, "ffff")
    assert planning.champion_at_start({"ASTRID_CHAMPION": ":"}, resolve) is None
    assert calls == [1]
    assert planning.exported_model(3, "0123456789abcdef0123") == "results/models/realbogus/v3-0123456789ab.pt"


def test_the_demo_plan_gives_each_night_its_role_and_frames(config):
    demo = config["demo"]
    assert planning.demo_plan(demo, "20261101")["role"] == "reference"
    new = planning.demo_plan(demo, "20261127")
    assert new["role"] == "new" and new["science_per_field_band"] == demo["new_exposures"]
    assert planning.demo_plan(demo, "20261128")["science_per_field_band"] == demo["followup_exposures"]


def pointing_rows(night, *frames):
    """Manifest rows named from their pointings: (exposure, mjd, ra, dec) per frame."""
    return [
        {
            "exposure": e,
            "night": night,
            "frame_type": "science",
            "mjd": str(m),
            "ra": str(ra),
            "dec": str(dec),
            "field": "",
            "field_source": "pointing",
        }
        for e, m, ra, dec in frames
    ]


def test_the_same_sky_keeps_one_field_name_across_nights_and_grid_boundaries():
    """Night 1 points at Dec +0.149 (cell +00d1), night 2 half an arcminute north, at
    +0.158 (cell +00d2): one field, named by night 1's first frame; another patch of sky a
    degree away is another field."""
    manifests = {
        "20261127": pointing_rows("20261127", ("a", 1.0, 310.61, 0.149), ("b", 1.1, 310.612, 0.150)),
        "20261128": pointing_rows("20261128", ("c", 2.0, 310.61, 0.158), ("d", 2.1, 311.61, 0.158)),
    }
    names = planning.field_names(manifests, radius_arcmin=3.0)
    assert names[("20261127", "a")] == names[("20261127", "b")] == names[("20261128", "c")] == "p310d6+00d1"
    assert names[("20261128", "d")] == "p311d6+00d2"
    # Alone, night 2 would have named it after its own cell; with night 1 it cannot.
    assert planning.field_names({"20261128": manifests["20261128"]}, 3.0)[("20261128", "c")] == "p310d6+00d2"
