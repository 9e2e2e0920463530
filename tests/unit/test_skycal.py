"""Reference catalogs in the formats sites have, proper motions, and zero-point fits."""

import numpy as np
import pytest
from astropy.table import Table
from workflow_runs import SHARED

from astrid.skycal.catalogs import CatalogError, at_epoch, colour, cut_to_frames, read_catalog
from astrid.skycal.photometry import PhotometryError, fit_zero_point

REAL_CATALOGS = SHARED / "data" / "real" / "catalogs" / "ey_uma_field"


def _stars(n=50, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(150.0, 150.2, n), rng.uniform(2.1, 2.3, n), rng.uniform(12, 19, n), rng


def test_gaia_dr3_parquet_is_read_with_its_epoch_proper_motions_and_flux_errors(tmp_path):
    ra, dec, g, _ = _stars()
    table = Table(
        {
            "source_id": np.arange(len(ra)),
            "ra": ra,
            "dec": dec,
            "pmra": np.full(len(ra), 12.0),
            "pmdec": np.full(len(ra), -5.0),
            "ref_epoch": np.full(len(ra), 2016.0),
            "phot_g_mean_mag": g,
            "phot_g_mean_flux_over_error": np.full(len(ra), 200.0),
            "phot_bp_mean_mag": g + 0.4,
            "phot_rp_mean_mag": g - 0.5,
        }
    )
    table.write(tmp_path / "gaia.parquet")
    catalog = read_catalog(tmp_path / "gaia.parquet")
    assert catalog.meta["FORMAT"] == "gaia_dr3"
    np.testing.assert_allclose(catalog["ra"], ra)
    np.testing.assert_allclose(catalog["mag_G"], g)
    np.testing.assert_allclose(catalog["err_G"], 1.0857 / 200.0)
    assert np.all(catalog["epoch"] == 2016.0) and np.all(catalog["pm_ra"] == 12.0)
    values, name = colour(catalog, "G")
    assert name == "BP-RP"
    np.testing.assert_allclose(values, 0.9)


@pytest.mark.parametrize(
    ("names", "suffix"),
    [
        (
            {"ra": "RA_ICRS", "dec": "DE_ICRS", "pmra": "pmRA", "r": "rmag", "dr": "e_rmag", "g": "gmag"},
            ".fits",
        ),
        ({"ra": "ra", "dec": "dec", "pmra": "pmra", "r": "r", "dr": "dr", "g": "g"}, ".ecsv"),
    ],
)
def test_refcat2_is_read_from_vizier_and_native_column_names(tmp_path, names, suffix):
    ra, dec, r, _ = _stars()
    table = Table(
        {
            names["ra"]: ra,
            names["dec"]: dec,
            names["pmra"]: np.zeros(len(ra)),
            names["g"]: r + 0.6,
            names["r"]: r,
            names["dr"]: np.full(len(ra), 0.01),
            "rcontrib": np.ones(len(ra), int),
        }
    )
    path = tmp_path / f"refcat2{suffix}"
    table.write(path)
    catalog = read_catalog(path)
    assert catalog.meta["FORMAT"] == "refcat2"
    assert np.all(catalog["epoch"] == 2015.5)
    np.testing.assert_allclose(catalog["mag_r"], r)
    np.testing.assert_allclose(catalog["err_r"], 0.01)
    np.testing.assert_allclose(colour(catalog, "r")[0], 0.6)


def test_any_other_catalog_is_read_through_a_column_mapping(tmp_path):
    ra, dec, v, _ = _stars()
    Table({"RAdeg": ra, "DEdeg": dec, "Vmag": v}).write(tmp_path / "site.csv", format="ascii.csv")
    with pytest.raises(CatalogError, match="site.csv: not a catalog format AstrID knows.*RAdeg"):
        read_catalog(tmp_path / "site.csv")
    catalog = read_catalog(tmp_path / "site.csv", columns={"ra": "RAdeg", "dec": "DEdeg", "mag_V": "Vmag"})
    np.testing.assert_allclose(catalog["mag_V"], v)
    assert np.all(catalog["pm_ra"] == 0) and np.all(catalog["epoch"] == 2000.0)
    with pytest.raises(
        CatalogError, match="site.csv: reference.catalog_columns names columns it lacks: rmag"
    ):
        read_catalog(tmp_path / "site.csv", columns={"ra": "RAdeg", "dec": "DEdeg", "mag_r": "rmag"})


def test_bad_catalog_files_are_named_with_their_problem(tmp_path):
    (tmp_path / "broken.ecsv").write_text("# %ECSV 1.0\n# ---\nnot a table {")
    with pytest.raises(CatalogError, match="broken.ecsv: not a readable catalog table"):
        read_catalog(tmp_path / "broken.ecsv")
    with pytest.raises(CatalogError, match="missing.fits: no such catalog file"):
        read_catalog(tmp_path / "missing.fits")
    Table({"ra": ["10:00:00"], "dec": ["+02:00:00"], "mag_r": [15.0]}).write(tmp_path / "hms.ecsv")
    with pytest.raises(CatalogError, match="hms.ecsv: column 'ra' is not numeric"):
        read_catalog(tmp_path / "hms.ecsv")
    Table({"ra": [10.0], "dec": [2.0], "flux": [1.0]}).write(tmp_path / "nomag.ecsv")
    with pytest.raises(CatalogError, match="nomag.ecsv: not a catalog format"):
        read_catalog(tmp_path / "nomag.ecsv")


def test_proper_motion_moves_a_star_to_the_observation_date():
    catalog = Table(
        {
            "ra": [150.0, 150.0],
            "dec": [0.0, 60.0],
            "pm_ra": [0.0, 1000.0],
            "pm_dec": [1000.0, 0.0],
            "epoch": [2016.0, 2016.0],
            "mag_r": [12.0, 12.0],
        }
    )
    moved = at_epoch(catalog, "2026-01-01T00:00:00")
    years = 10.0  # 2026-01-01T00:00 is J2026.0 to a few 1e-8 yr (26 × 365.25 days after J2000)
    assert moved["dec"][0] * 3600 == pytest.approx(years, abs=1e-5)  # 1″/yr north
    # 1″/yr of great circle at Dec 60° is 2″/yr of RA.
    assert (moved["ra"][1] - 150.0) * 3600 == pytest.approx(2 * years, abs=1e-4)
    assert np.all(moved["epoch"] == pytest.approx(2026.0, abs=0.01))


def test_a_fields_cut_keeps_the_rows_on_its_frames_plus_the_margin():
    from astropy.wcs import WCS

    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval, wcs.wcs.crpix = [150.0, 2.0], [50.5, 50.5]
    wcs.wcs.cdelt = [-1 / 3600, 1 / 3600]  # 1″ pixels: a 100″ square
    catalog = Table(
        {
            "ra": [150.0, 150.0, 150.0, 150.0, 330.0],
            "dec": [2.0, 2.0 + 49 / 3600, 2.0 + 100 / 3600, 2.0 + 200 / 3600, -2.0],
            "mag_r": [15.0] * 5,
        }
    )
    # Inside, at the edge, 50″ beyond it (within a 1′ margin), 150″ beyond, the far side.
    assert list(cut_to_frames(catalog, [(wcs, (100, 100))], margin_arcmin=1.0)["dec"]) == list(
        catalog["dec"][:3]
    )
    assert len(cut_to_frames(catalog, [(wcs, (100, 100))], margin_arcmin=0.0)) == 2


@pytest.mark.real_data
def test_the_real_refcat2_and_apass_extracts_are_recognised():
    if not REAL_CATALOGS.exists():
        pytest.skip(f"real catalogs not found at {REAL_CATALOGS} (../shared/data/real)")
    refcat = read_catalog(REAL_CATALOGS / "all_refcat2_ey_uma.ecsv")
    apass = read_catalog(REAL_CATALOGS / "all_apass_ey_uma.ecsv")
    assert (refcat.meta["FORMAT"], len(refcat)) == ("refcat2", 187)
    assert (apass.meta["FORMAT"], len(apass)) == ("apass", 54)
    # EY UMa itself: Gaia DR2 1015789765851950336, r = 15.24.
    ey = np.argmin(np.hypot((refcat["ra"] - 135.5865) * np.cos(np.radians(49.82)), refcat["dec"] - 49.8192))
    assert refcat["mag_r"][ey] == pytest.approx(15.24, abs=0.01)
    assert {"mag_g", "mag_r", "mag_i", "mag_z", "mag_G"} <= set(refcat.colnames)
    assert {"mag_B", "mag_V", "mag_g", "mag_r", "mag_i"} <= set(apass.colnames)


def _calibration_stars(n, zeropoint, k, seed):
    rng = np.random.default_rng(seed)
    colours = rng.uniform(0.1, 1.5, n)
    cat = rng.uniform(13, 18, n)
    inst_err = 0.005 + 0.02 * 10 ** (0.4 * (cat - 18))
    cat_err = np.full(n, 0.01)
    inst = cat - zeropoint - k * (colours - np.median(colours)) + rng.normal(0, np.hypot(inst_err, cat_err))
    return inst, inst_err, cat, cat_err, colours


def test_a_zero_point_and_colour_term_are_recovered_within_their_errors():
    pulls_zp, pulls_k = [], []
    for seed in range(200):
        inst, inst_err, cat, cat_err, colours = _calibration_stars(60, 25.3, 0.12, seed)
        fit = fit_zero_point(inst, inst_err, cat, cat_err, colours, "g-r")
        assert fit.colour_reference == pytest.approx(np.median(colours))
        pulls_zp.append((fit.zeropoint - 25.3) / fit.error)
        pulls_k.append((fit.colour_term - 0.12) / fit.colour_term_error)
    # Errors are honest: the pulls have unit spread and no bias.
    assert np.std(pulls_zp) == pytest.approx(1.0, abs=0.15)
    assert np.std(pulls_k) == pytest.approx(1.0, abs=0.15)
    assert abs(np.mean(pulls_zp)) < 0.2


def test_variable_stars_and_blends_are_rejected_and_the_scatter_is_absorbed():
    inst, inst_err, cat, cat_err, colours = _calibration_stars(80, 25.3, 0.0, 7)
    inst[:8] -= 0.6  # eight stars brighter than the catalog says: variables, blends
    fit = fit_zero_point(inst, inst_err, cat, cat_err, colours, "g-r")
    assert not fit.kept[:8].any() and fit.n_rejected >= 8
    assert fit.zeropoint == pytest.approx(25.3, abs=3 * fit.error)
    # A systematic scatter no error bar carries widens the zero point's error to match it.
    rng = np.random.default_rng(3)
    noisy = inst[8:] + rng.normal(0, 0.05, len(inst) - 8)
    wide = fit_zero_point(noisy, inst_err[8:], cat[8:], cat_err[8:], colours[8:], "g-r")
    assert wide.intrinsic_scatter == pytest.approx(0.05, abs=0.015)
    assert wide.error > fit.error


def test_a_fixed_colour_term_and_too_few_stars():
    inst, inst_err, cat, cat_err, colours = _calibration_stars(30, 24.0, 0.2, 1)
    fixed = fit_zero_point(inst, inst_err, cat, cat_err, colours, "g-r", colour_term=0.2)
    assert fixed.colour_term == 0.2 and fixed.colour_term_error == 0.0
    assert fixed.zeropoint == pytest.approx(24.0, abs=3 * fixed.error)
    plain = fit_zero_point(inst, inst_err, cat, cat_err)
    assert plain.colour_name == "" and plain.colour_term == 0.0
    with pytest.raises(PhotometryError, match="too few catalog stars for a zero point: 4 usable, need 5"):
        fit_zero_point(inst[:4], inst_err[:4], cat[:4], cat_err[:4])
