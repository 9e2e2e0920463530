"""Fetching a field's catalog from VizieR: the cone its frames need, the archives' rows in
AstrID's layout, and a fetch without the network that says why and costs only magnitudes."""

import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.table import Table
from astropy.wcs import WCS
from workflow_runs import SHARED

from astrid.skycal.catalogs import CatalogError, read_catalog, read_field_catalog
from astrid.skycal.fetch import FetchError, cone_of, fetch_catalog, to_catalog_layout, write_fetch_failure

REAL_CATALOGS = SHARED / "data" / "real" / "catalogs" / "ey_uma_field"


def _wcs(ra, dec, scale_arcsec):
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval, wcs.wcs.crpix = [ra, dec], [500.5, 500.5]
    wcs.wcs.cdelt = [-scale_arcsec / 3600, scale_arcsec / 3600]
    return wcs


def test_the_cone_covers_every_frame_and_the_margin():
    # Two 1000² frames of 0.6″ pixels (10′ each), 5′ apart in Dec.
    frames = [(_wcs(150.0, 2.0, 0.6), (1000, 1000)), (_wcs(150.0, 2.0 + 5 / 60, 0.6), (1000, 1000))]
    centre, radius = cone_of(frames, margin_arcmin=2.0)
    assert centre.ra.deg == pytest.approx(150.0, abs=1e-6)
    assert centre.dec.deg == pytest.approx(2.0 + 2.5 / 60, abs=1e-4)
    # The farthest corner: 5′ across, 7.5′ up: 9.0′, plus the margin.
    assert radius == pytest.approx(np.hypot(5.0, 7.5) + 2.0, abs=0.02)
    with pytest.raises(FetchError, match="no frame of the field has a celestial WCS"):
        cone_of([(WCS(naxis=2), (10, 10))], 2.0)


@pytest.mark.real_data
def test_vizier_rows_of_each_archive_come_in_astrids_layout():
    if not REAL_CATALOGS.exists():
        pytest.skip(f"real catalogs not found at {REAL_CATALOGS} (../shared/data/real)")
    # The shared extracts are VizieR's own rows of RefCat2 and APASS.
    refcat = to_catalog_layout(Table.read(REAL_CATALOGS / "all_refcat2_ey_uma.ecsv"), "refcat2")
    apass = to_catalog_layout(Table.read(REAL_CATALOGS / "all_apass_ey_uma.ecsv"), "apass")
    assert len(refcat) == 187 and refcat["epoch"][0] == 2015.5 and "mag_r" in refcat.colnames
    assert len(apass) == 54 and "mag_V" in apass.colnames
    # Gaia DR3 as VizieR names its columns (I/355/gaiadr3): epoch 2016.0, mas/yr.
    gaia = Table(
        {
            "RA_ICRS": [135.5865],
            "DE_ICRS": [49.8192],
            "pmRA": [-12.0],
            "pmDE": [3.0],
            "Gmag": [15.1],
            "e_Gmag": [0.003],
            "BPmag": [15.5],
            "e_BPmag": [0.01],
            "RPmag": [14.6],
            "e_RPmag": [0.01],
        }
    )
    layout = to_catalog_layout(gaia, "gaia_dr3")
    assert layout["epoch"][0] == 2016.0 and layout["pm_ra"][0] == -12.0 and layout["mag_G"][0] == 15.1


def test_a_fetch_that_cannot_reach_the_archive_says_why_and_the_field_keeps_instrumental_magnitudes(tmp_path):
    centre = SkyCoord(135.59, 49.82, unit="deg")
    try:
        rows = fetch_catalog("refcat2", centre, 3.0, timeout=10)
    except FetchError as error:  # this machine has no network (CI has none but its registries)
        reason = str(error)
        assert reason.startswith(
            "could not fetch refcat2 (J/ApJ/867/105/refcat2) within 3.0′ of 135.59 49.82"
        )
    else:  # online: the rows around EY UMa, in AstrID's layout
        assert len(rows) > 10 and "mag_r" in rows.colnames
        return
    path = tmp_path / "fetched" / "EY_UMA.ecsv"
    write_fetch_failure(path, f"field EY_UMA: {reason}")
    with pytest.raises(CatalogError, match="EY_UMA.ecsv: field EY_UMA: could not fetch refcat2"):
        read_catalog(path)
    catalog, note = read_field_catalog([str(path)], {})
    assert catalog is None and "could not fetch refcat2" in note
