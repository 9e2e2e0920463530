"""Seeded field catalogs (stars and galaxies with magnitudes per band), the demo's
transients, and the sources one frame sees.
"""

from typing import TYPE_CHECKING

import numpy as np
from astropy.table import Table, vstack

from astrid.sim.camera import ZEROPOINT, Camera

if TYPE_CHECKING:
    from astropy.wcs import WCS


def catalog_width(camera: Camera) -> float:
    """Side (degrees) of the sky area a field catalog covers: the frame plus a margin for
    pointing offsets and rotation.

    Parameters
    ----------
    camera : Camera
        The detector.

    Returns
    -------
    float
        1.3 times the frame's longer side, in degrees.
    """
    return 1.3 * max(camera.nx, camera.ny) * camera.pixel_scale / 3600.0


def _power_law_mags(rng, n, bright, faint, slope=0.3):
    """Magnitudes with dN/dm ∝ 10^(slope·m) between ``bright`` and ``faint``."""
    a, b = 10 ** (slope * bright), 10 ** (slope * faint)
    return np.log10(a + rng.random(n) * (b - a)) / slope


def make_field_catalog(
    name: str,
    ra: float,
    dec: float,
    width_deg: float,
    seed: int,
    star_density: float = 20000.0,
    galaxy_density: float = 5000.0,
    bright_density: float = 100.0,
) -> Table:
    """Stars and galaxies of one field, as a survey reference catalog would list them.

    Parameters
    ----------
    name : str
        Field name (``OBJECT`` in the headers).
    ra, dec : float
        Field centre in degrees.
    width_deg : float
        Side of the square area covered, in degrees.
    seed : int
        Seed; the same inputs always give the same catalog.
    star_density, galaxy_density : float
        Sources per square degree to r = 23.5 (stars, from r = 14) and r = 22.5 (galaxies).
    bright_density : float
        Stars of r = 10.5–13.5 per square degree (at least two per catalog): they saturate
        and bleed, as bright stars do in every real field.

    Returns
    -------
    astropy.table.Table
        One row per source: ``source_id``, ``kind``, ``ra``, ``dec``, ``mag_<band>`` and,
        for galaxies, Sérsic parameters (``r_eff`` in arcsec, ``sersic_n``, ``axis_ratio``,
        ``pa_deg``).
    """
    rng = np.random.default_rng([seed, sum(name.encode())])
    area = width_deg**2
    n_bright = max(2, rng.poisson(bright_density * area))
    n_star = rng.poisson(star_density * area)
    n_gal = rng.poisson(galaxy_density * area)
    kinds = np.array(["star"] * (n_bright + n_star) + ["galaxy"] * n_gal)
    n = kinds.size
    xi = (rng.random(n) - 0.5) * width_deg
    eta = (rng.random(n) - 0.5) * width_deg
    mag_r = np.concatenate(
        [
            rng.uniform(10.5, 13.5, n_bright),
            _power_law_mags(rng, n_star, 14.0, 23.5),
            _power_law_mags(rng, n_gal, 17.0, 22.5),
        ]
    )
    colour = np.where(kinds == "star", rng.normal(0.6, 0.3, n), rng.normal(0.8, 0.2, n))
    table = Table()
    table["source_id"] = [f"{name}-{i:05d}" for i in range(n)]
    table["kind"] = kinds
    table["ra"] = ra + xi / np.cos(np.radians(dec))
    table["dec"] = dec + eta
    table["mag_g"] = mag_r + colour
    table["mag_r"] = mag_r
    table["mag_i"] = mag_r - 0.4 * colour
    is_gal = kinds == "galaxy"
    table["r_eff"] = np.where(is_gal, rng.uniform(0.8, 3.0, n), 0.0)
    table["sersic_n"] = np.where(is_gal, rng.choice([1.0, 4.0], n, p=[0.7, 0.3]), 0.0)
    table["axis_ratio"] = np.where(is_gal, rng.uniform(0.35, 1.0, n), 1.0)
    table["pa_deg"] = np.where(is_gal, rng.uniform(0, 180, n), 0.0)
    table.meta.update({"FIELD": name, "RA": ra, "DEC": dec, "SEED": seed})
    return table


def make_transients(
    catalog: Table, seed: int, n_supernovae: int, n_variables: int, inner_radius_deg: float
) -> Table:
    """Transients of one field for the new night.

    Supernova-like point sources sit on galaxies, offset from the core by 0.3–1 effective
    radius; variable stars of r = 17.5–20 brighten by 0.3–1.2 mag (never to saturation,
    where no pipeline could measure them). Only sources within
    ``inner_radius_deg`` of the field centre are used, so every pointing sees them.

    Parameters
    ----------
    catalog : astropy.table.Table
        The field's catalog (:func:`make_field_catalog`).
    seed : int
        Seed; the same inputs always give the same transients.
    n_supernovae, n_variables : int
        How many of each, at most (fewer when the field has too few hosts or stars).
    inner_radius_deg : float
        Largest distance of a host or variable star from the field centre (degrees).

    Returns
    -------
    astropy.table.Table
        One row per transient: ``transient_id``, ``kind`` ("supernova" or "variable"),
        ``host_id``, ``ra``, ``dec`` (degrees), ``delta_mag_<band>`` (NaN for supernovae)
        and ``mag_<band>`` in the new night; ``meta["FIELD"]`` names the field.
    """
    rng = np.random.default_rng([seed, sum(catalog.meta["FIELD"].encode()), 11])
    ra0, dec0 = catalog.meta["RA"], catalog.meta["DEC"]
    sep = np.hypot((catalog["ra"] - ra0) * np.cos(np.radians(dec0)), catalog["dec"] - dec0)
    inner = sep < inner_radius_deg
    hosts = np.flatnonzero(inner & (catalog["kind"] == "galaxy") & (catalog["mag_r"] < 21.5))
    stars = np.flatnonzero(
        inner & (catalog["kind"] == "star") & (catalog["mag_r"] > 17.5) & (catalog["mag_r"] < 20)
    )
    rows = []
    for k, i in enumerate(rng.choice(hosts, min(n_supernovae, hosts.size), replace=False)):
        offset = rng.uniform(0.3, 1.0) * catalog["r_eff"][i] / 3600.0
        angle = rng.uniform(0, 2 * np.pi)
        mag_r = rng.uniform(18.0, 20.5)
        rows.append(
            {
                "transient_id": f"{catalog.meta['FIELD']}-SN{k:02d}",
                "kind": "supernova",
                "host_id": catalog["source_id"][i],
                "ra": catalog["ra"][i] + offset * np.cos(angle) / np.cos(np.radians(dec0)),
                "dec": catalog["dec"][i] + offset * np.sin(angle),
                "delta_mag_g": np.nan,
                "delta_mag_r": np.nan,
                "delta_mag_i": np.nan,
                "mag_g": mag_r + rng.normal(0.2, 0.1),
                "mag_r": mag_r,
                "mag_i": mag_r - 0.1,
            }
        )
    for k, i in enumerate(rng.choice(stars, min(n_variables, stars.size), replace=False)):
        brighten = rng.uniform(0.3, 1.2)
        rows.append(
            {
                "transient_id": f"{catalog.meta['FIELD']}-VAR{k:02d}",
                "kind": "variable",
                "host_id": catalog["source_id"][i],
                "ra": catalog["ra"][i],
                "dec": catalog["dec"][i],
                "delta_mag_g": -brighten,
                "delta_mag_r": -brighten,
                "delta_mag_i": -brighten,
                "mag_g": catalog["mag_g"][i] - brighten,
                "mag_r": catalog["mag_r"][i] - brighten,
                "mag_i": catalog["mag_i"][i] - brighten,
            }
        )
    table = Table(rows=rows) if rows else Table(names=["transient_id", "kind"], dtype=[str, str])
    table.meta["FIELD"] = catalog.meta["FIELD"]
    return table


def frame_sources(
    camera: Camera,
    catalog: Table,
    transients: Table,
    band: str,
    exptime: float,
    wcs: "WCS",
    night_is_new: bool,
) -> Table:
    """Sources of one exposure in its true pixel frame, with their fluxes in electrons.

    Parameters
    ----------
    camera : Camera
        The detector.
    catalog : astropy.table.Table
        The field's catalog.
    transients : astropy.table.Table
        The field's transients (:func:`make_transients`).
    band : str
        The exposure's band.
    exptime : float
        Exposure time (seconds).
    wcs : astropy.wcs.WCS
        The exposure's true WCS (pointing offset and rotation included).
    night_is_new : bool
        Whether the transients are shown (variable stars brightened, supernovae added).

    Returns
    -------
    astropy.table.Table
        ``source_id``, ``kind``, ``x``, ``y`` (0-based pixels), ``flux_e`` (electrons in
        the exposure), ``r_eff_px`` (pixels), ``sersic_n``, ``axis_ratio``, ``pa_deg``; only
        sources within 50 pixels of the frame.
    """
    x, y = wcs.all_world2pix(catalog["ra"], catalog["dec"], 0)
    mags = np.array(catalog[f"mag_{band}"], dtype=float)
    kinds = np.array(catalog["kind"], dtype="U16")
    ids = np.array(catalog["source_id"], dtype="U32")
    if night_is_new and len(transients):
        variables = transients[transients["kind"] == "variable"]
        lookup = {sid: i for i, sid in enumerate(ids)}
        for row in variables:
            mags[lookup[row["host_id"]]] = row[f"mag_{band}"]
            kinds[lookup[row["host_id"]]] = "variable"
    table = Table()
    table["source_id"] = ids
    table["kind"] = kinds
    table["x"], table["y"] = x, y
    table["flux_e"] = 10 ** (-0.4 * (mags - ZEROPOINT[band])) * exptime
    table["r_eff_px"] = np.array(catalog["r_eff"]) / camera.pixel_scale
    for name in ("sersic_n", "axis_ratio", "pa_deg"):
        table[name] = catalog[name]
    if night_is_new and len(transients):
        sne = transients[transients["kind"] == "supernova"]
        if len(sne):
            sx, sy = wcs.all_world2pix(sne["ra"], sne["dec"], 0)
            extra = Table()
            extra["source_id"] = np.array(sne["transient_id"], dtype="U32")
            extra["kind"] = np.array(["supernova"] * len(sne), dtype="U16")
            extra["x"], extra["y"] = sx, sy
            extra["flux_e"] = 10 ** (-0.4 * (np.array(sne[f"mag_{band}"]) - ZEROPOINT[band])) * exptime
            extra["r_eff_px"] = 0.0
            extra["sersic_n"], extra["axis_ratio"], extra["pa_deg"] = 0.0, 1.0, 0.0
            table = vstack([table, extra])
    inside = (table["x"] > -50) & (table["x"] < camera.nx + 50)
    inside &= (table["y"] > -50) & (table["y"] < camera.ny + 50)
    return table[inside]
