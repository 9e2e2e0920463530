"""A field's reference catalog fetched once from VizieR (astroquery), where the machine is
online and ``reference.fetch.archive`` asks for it.

The cone covers the field's frames and templates plus ``reference.catalog_margin_arcmin``;
the rows are written in AstrID's own catalog layout (``ra``, ``dec``, proper motions, epoch,
``mag_<band>``, ``err_<band>``), so that they are read like any site file. Nothing needs the
network: a fetch that fails (offline, archive down, no rows) writes a catalog without rows
that says why, and the field keeps instrumental magnitudes with that reason.
"""

from dataclasses import dataclass
from pathlib import Path

import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord
from astropy.table import Table
from astropy.wcs import WCS

from astrid.skycal.catalogs import FETCH_ERROR, CatalogError, catalog_layout, write_catalog


@dataclass(frozen=True)
class Archive:
    """A VizieR catalog and how its columns read (a format of :func:`read_catalog`, or a
    column mapping with the positions' epoch)."""

    vizier: str
    format: str = "auto"
    columns: tuple[tuple[str, str], ...] = ()
    epoch: float | None = None


ARCHIVES = {
    "gaia_dr3": Archive(
        "I/355/gaiadr3",
        columns=(
            ("ra", "RA_ICRS"),
            ("dec", "DE_ICRS"),
            ("pm_ra", "pmRA"),
            ("pm_dec", "pmDE"),
            ("mag_G", "Gmag"),
            ("err_G", "e_Gmag"),
            ("mag_BP", "BPmag"),
            ("err_BP", "e_BPmag"),
            ("mag_RP", "RPmag"),
            ("err_RP", "e_RPmag"),
        ),
        epoch=2016.0,
    ),
    "refcat2": Archive("J/ApJ/867/105/refcat2", format="refcat2"),
    "apass": Archive("II/336/apass9", format="apass"),
}


class FetchError(Exception):
    """The archive could not be asked, or gave no rows; the message says which and why."""


def cone_of(footprints: list[tuple[WCS, tuple[int, int]]], margin_arcmin: float) -> tuple[SkyCoord, float]:
    """The cone that covers images and a margin around them.

    Parameters
    ----------
    footprints : list of (astropy.wcs.WCS, (int, int))
        Each image's celestial WCS and shape (those without a celestial WCS are skipped).
    margin_arcmin : float
        Added to the radius (pointing errors, proper motions).

    Returns
    -------
    centre : astropy.coordinates.SkyCoord
    radius_arcmin : float

    Raises
    ------
    FetchError
        When no image has a celestial WCS.
    """
    corners = []
    for wcs, (ny, nx) in footprints:
        if wcs.has_celestial:
            ra, dec = wcs.celestial.all_pix2world([0, nx - 1, 0, nx - 1], [0, 0, ny - 1, ny - 1], 0)
            corners.append(SkyCoord(ra, dec, unit="deg"))
    if not corners:
        raise FetchError("no frame of the field has a celestial WCS to place the cone")
    points = SkyCoord(
        np.concatenate([c.ra.deg for c in corners]), np.concatenate([c.dec.deg for c in corners]), unit="deg"
    )
    centre = SkyCoord(points.cartesian.mean(), representation_type="cartesian").spherical
    centre = SkyCoord(centre.lon, centre.lat)
    return centre, float(points.separation(centre).max().arcmin) + margin_arcmin


def to_catalog_layout(table: Table, archive: str) -> Table:
    """An archive's rows in AstrID's catalog layout.

    Parameters
    ----------
    table : astropy.table.Table
        Rows as VizieR returns them.
    archive : str
        A key of :data:`ARCHIVES`.

    Returns
    -------
    astropy.table.Table
        As :func:`astrid.skycal.catalogs.read_catalog` returns.
    """
    spec = ARCHIVES[archive]
    return catalog_layout(table, f"VizieR {spec.vizier}", spec.format, dict(spec.columns) or None, spec.epoch)


def fetch_catalog(archive: str, centre: SkyCoord, radius_arcmin: float, timeout: float) -> Table:
    """Ask VizieR for an archive's rows in a cone.

    Parameters
    ----------
    archive : str
        A key of :data:`ARCHIVES`.
    centre : astropy.coordinates.SkyCoord
    radius_arcmin : float
    timeout : float
        Seconds to wait for VizieR.

    Returns
    -------
    astropy.table.Table
        The rows in AstrID's layout (:func:`to_catalog_layout`).

    Raises
    ------
    FetchError
        Offline, archive unreachable or slow, or no rows in the cone.
    """
    from astroquery.vizier import Vizier  # needs the network only when called

    spec = ARCHIVES[archive]
    where = f"{archive} ({spec.vizier}) within {radius_arcmin:.1f}′ of {centre.to_string('decimal')}"
    try:
        found = Vizier(columns=["**"], row_limit=-1, timeout=timeout).query_region(
            centre, radius=radius_arcmin * u.arcmin, catalog=spec.vizier
        )
    except Exception as error:  # noqa: BLE001 - requests, astroquery and socket errors alike
        raise FetchError(f"could not fetch {where}: {type(error).__name__}: {error}") from None
    if not len(found) or not len(found[0]):
        raise FetchError(f"no rows of {where}")
    try:
        return to_catalog_layout(found[0], archive)
    except CatalogError as error:
        raise FetchError(f"{where}: {error}") from None


def write_fetch_failure(path: Path | str, reason: str) -> None:
    """A catalog without rows whose ``FETCHERR`` says why; reading it raises
    :class:`astrid.skycal.catalogs.CatalogError` with that reason.

    Parameters
    ----------
    path : pathlib.Path or str
        The fetched catalog's path.
    reason : str
        Why the fetch failed.
    """
    empty = Table({"ra": np.zeros(0), "dec": np.zeros(0)}, meta={FETCH_ERROR: reason})
    write_catalog(empty, path)
