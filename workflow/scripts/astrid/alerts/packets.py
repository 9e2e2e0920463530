"""Alert packets: Avro records of a scored candidate with its cutouts, under a versioned schema.

The schema lives beside this module, ``schemas/astrid_alert_v<major>_<minor>.avsc``; every
packet carries its version. A change that breaks readers (a field removed or retyped) needs a
new schema file and version; adding a field with a default does not.
"""

import gzip
import hashlib
import io
import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from astrid import __version__

if TYPE_CHECKING:
    from astropy.table import Row, Table
    from astropy.wcs import WCS

    from astrid.alerts.objects import Database

SCHEMA_VERSION = "1.2"
SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"  # package data: travels with the library
AB_NJY_ZEROPOINT = 31.4  # AB magnitude of 1 nJy


def schema_path(version: str = SCHEMA_VERSION) -> Path:
    """Where the schema file of a version is.

    Parameters
    ----------
    version : str
        Schema version, ``<major>.<minor>``.

    Returns
    -------
    pathlib.Path
        ``schemas/astrid_alert_v<major>_<minor>.avsc`` beside this module.
    """
    return SCHEMA_DIR / f"astrid_alert_v{version.replace('.', '_')}.avsc"


def load_schema(version: str = SCHEMA_VERSION) -> dict:
    """The parsed Avro schema of ``version``.

    Parameters
    ----------
    version : str
        Schema version, ``<major>.<minor>``.

    Returns
    -------
    dict
        The schema, parsed by fastavro.
    """
    import fastavro

    return fastavro.parse_schema(json.loads(schema_path(version).read_text()))


def alert_id(candidate_id: str) -> int:
    """Deterministic 63-bit alert id of a candidate: a rerun gives the same id.

    Parameters
    ----------
    candidate_id : str
        The candidate's id.

    Returns
    -------
    int
        The alert id, from 0 to 2**63 - 1 (the first 63 bits of the id's SHA-256).
    """
    return int.from_bytes(hashlib.sha256(candidate_id.encode()).digest()[:8], "big") >> 1


def _finite(value):
    value = float(value)
    return value if np.isfinite(value) else None


def midpoint_mjd_tai(meta: dict) -> float:
    """MJD (TAI) of the exposure's midpoint from MJD-OBS (UTC start) and EXPTIME.

    Parameters
    ----------
    meta : dict
        The frame's metadata: ``MJD-OBS`` (days), ``EXPTIME`` (seconds, 0 when absent) and
        ``TIMESYS`` (the time scale of MJD-OBS, UTC when absent).

    Returns
    -------
    float
        The midpoint's MJD in TAI (days).
    """
    import astropy.units as u
    from astropy.time import Time

    start = Time(float(meta["MJD-OBS"]), format="mjd", scale=str(meta.get("TIMESYS", "utc")).lower())
    return float((start + 0.5 * float(meta.get("EXPTIME", 0.0)) * u.s).tai.mjd)


def detection_record(row: "Row", meta: dict) -> dict:
    """The ``detection`` record of one scored candidate row and its table's metadata.

    Fluxes in nJy and AB magnitudes need the reference's catalog zero point; a field without
    one gets them as null, ``photometry_calibrated`` false and its fluxes in electrons.

    Parameters
    ----------
    row : astropy.table.Row
        The candidate's row of the scored table (fluxes in reference electrons).
    meta : dict
        The scored table's metadata (exposure, field, band, times, zero point ``REFZP``,
        real/bogus model).

    Returns
    -------
    dict
        The record, as the schema's ``detection``.
    """
    to_njy = njy_per_electron(meta)
    calibrated = bool(np.isfinite(to_njy))
    return {
        "candidate_id": str(row["candidate_id"]),
        "exposure": str(meta["EXPOSURE"]),
        "night": str(meta.get("NIGHT", "")),
        "field": str(meta["FIELD"]),
        "band": str(meta["FILTER"]),
        "midpoint_mjd_tai": midpoint_mjd_tai(meta),
        "exposure_time": float(meta.get("EXPTIME", 0.0)),
        "ra": float(row["ra"]),
        "dec": float(row["dec"]),
        "x": float(row["x"]),
        "y": float(row["y"]),
        "snr": float(row["snr"]),
        "is_positive": bool(row["flux"] > 0),
        "psf_flux": _finite(row["flux"] * to_njy),
        "psf_flux_err": _finite(row["flux_err"] * to_njy),
        "mag": _finite(row["mag"]) if calibrated else None,
        "mag_err": _finite(row["mag_err"]),
        "limiting_mag": _finite(meta.get("LIMMAG", np.nan)) if calibrated else None,
        "zeropoint_err": _finite(meta.get("REFZPERR", np.nan)) if calibrated else None,
        "colour_term": _finite(meta.get("ZPCLRTM", np.nan)) if calibrated else None,
        "colour_name": str(meta["ZPCLRNM"]) if calibrated and meta.get("ZPCLRNM", "none") != "none" else None,
        "colour_reference": _finite(meta.get("ZPCLR0", np.nan)) if calibrated else None,
        "photometry_calibrated": calibrated,
        "psf_flux_electrons": _finite(row["flux"]),
        "psf_flux_electrons_err": _finite(row["flux_err"]),
        "mag_instrumental": _finite(-2.5 * np.log10(row["flux"])) if row["flux"] > 0 else None,
        "limiting_flux_electrons": _finite(meta.get("LIMFLUX", np.nan)),
        "rb_score": float(row["rb_score"]),
        "rb_model": str(meta["RBMODEL"]),
        "rb_model_version": int(meta["RBVERS"]),
        "rb_threshold": float(meta["RBTHRESH"]),
        "reference_id": str(meta.get("REFFILE", "")),
        "reference_sha256": str(meta.get("REFSHA", "")),
        "fwhm": float(row["fwhm"]),
        "elongation": float(row["elongation"]),
        "neg_frac": float(row["neg_frac"]),
        "n_masked": int(row["n_masked"]),
        "dist_ref_source": _finite(row["dist_ref_source"]),
        "is_dipole": bool(row["is_dipole"]),
        "dipole_min": float(row["dipole_min"]),
    }


def cutout_record(image: np.ndarray, wcs: "WCS", x: float, y: float, name: str) -> dict:
    """A cutout as gzip-compressed FITS whose WCS places it on the sky.

    ``image`` is the square stamp centred on the candidate's peak pixel (the rounded
    ``x, y``), ``wcs`` the WCS of the full reference grid.

    Parameters
    ----------
    image : numpy.ndarray
        The square stamp.
    wcs : astropy.wcs.WCS
        The WCS of the full reference grid.
    x, y : float
        The candidate's position on the reference grid (pixels, 0-based).
    name : str
        The file name, without ``.fits.gz``.

    Returns
    -------
    dict
        The schema's ``cutout``: ``file_name`` and ``stamp_data`` (gzip-compressed FITS bytes).
    """
    from astropy.io import fits

    half = image.shape[-1] // 2
    x0, y0 = int(round(x)) - half, int(round(y)) - half
    header = wcs.deepcopy()
    header.wcs.crpix = header.wcs.crpix - np.array([x0, y0])
    hdu = fits.PrimaryHDU(np.asarray(image, np.float32), header=header.to_header())
    hdu.header["CUTX0"] = (x0, "x of the first pixel on the reference grid")
    hdu.header["CUTY0"] = (y0, "y of the first pixel on the reference grid")
    buffer = io.BytesIO()
    hdu.writeto(buffer)
    return {"file_name": f"{name}.fits.gz", "stamp_data": gzip.compress(buffer.getvalue(), mtime=0)}


def build_packet(
    row: "Row",
    meta: dict,
    cutouts: np.ndarray,
    wcs: "WCS",
    object_id: str | None = None,
    prv_detections: list[dict] | None = None,
    prv_nondetections: list[dict] | None = None,
) -> dict:
    """One alert packet: the candidate, its history and its science/template/difference cutouts.

    Parameters
    ----------
    row : astropy.table.Row
        The candidate's row of the scored table.
    meta : dict
        The scored table's metadata.
    cutouts : numpy.ndarray
        The candidate's stamps, shape (3, size, size): science, template, difference.
    wcs : astropy.wcs.WCS
        The WCS of the full reference grid.
    object_id : str or None
        The object the candidate belongs to.
    prv_detections, prv_nondetections : list of dict or None
        The object's earlier detections and non-detections, as the schema's records; None
        when there are none.

    Returns
    -------
    dict
        The packet, as the schema (:data:`SCHEMA_VERSION`) describes it.
    """
    detection = detection_record(row, meta)
    stem = detection["candidate_id"]
    science, template, difference = cutouts
    return {
        "schema_version": SCHEMA_VERSION,
        "alert_id": alert_id(stem),
        "publisher": f"AstrID {__version__}",
        "object_id": object_id,
        "candidate": detection,
        "prv_detections": prv_detections,
        "prv_nondetections": prv_nondetections,
        "cutout_science": cutout_record(science, wcs, row["x"], row["y"], f"{stem}_science"),
        "cutout_template": cutout_record(template, wcs, row["x"], row["y"], f"{stem}_template"),
        "cutout_difference": cutout_record(difference, wcs, row["x"], row["y"], f"{stem}_difference"),
    }


def write_packet(path: Path | str, packet: dict, schema: dict | None = None) -> None:
    """Write one packet as an Avro object container file (the writer schema embedded).

    Written to a temporary file beside ``path``, then renamed: a reader never sees half a
    packet.

    Parameters
    ----------
    path : pathlib.Path or str
        The file to write; its folder is created.
    packet : dict
        The packet (:func:`build_packet`), validated against the schema.
    schema : dict or None
        The parsed schema; None for the current one (:func:`load_schema`).
    """
    import fastavro

    schema = schema or load_schema()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.tmp")
    with open(partial, "wb") as handle:
        fastavro.writer(handle, schema, [packet], validator=True)
    partial.replace(path)


def read_packets(path: Path | str) -> list[dict]:
    """The packets of an Avro file, read with plain fastavro.

    Parameters
    ----------
    path : pathlib.Path or str
        The Avro file.

    Returns
    -------
    list of dict
        Its packets, in order.
    """
    import fastavro

    with open(path, "rb") as handle:
        return list(fastavro.reader(handle))


def njy_per_electron(meta: dict) -> float:
    """The flux in nJy of one reference electron, from the reference's zero point.

    Parameters
    ----------
    meta : dict
        The scored table's metadata; ``REFZP`` is the AB magnitude of one reference electron.

    Returns
    -------
    float
        nJy per reference electron; nan without a zero point.
    """
    zeropoint = float(meta.get("REFZP", np.nan))
    return 10 ** (-0.4 * (zeropoint - AB_NJY_ZEROPOINT)) if np.isfinite(zeropoint) else np.nan


def _previous(row):
    return {
        "candidate_id": row["candidate_id"],
        "exposure": row["exposure"],
        "band": row["band"],
        "midpoint_mjd_tai": row["mjd"],
        "ra": row["ra"],
        "dec": row["dec"],
        "psf_flux": row["flux"],
        "psf_flux_err": row["flux_err"],
        "mag": row["mag"],
        "mag_err": row["mag_err"],
        "snr": row["snr"],
        "rb_score": row["rb_score"],
        "rb_model_version": row["rb_model_version"],
    }


def _nondetection(row):
    exposure, mjd, band, flux, flux_err, limiting_mag = row
    return {
        "exposure": exposure,
        "midpoint_mjd_tai": mjd,
        "band": band,
        "psf_flux": flux,
        "psf_flux_err": flux_err,
        "limiting_mag": limiting_mag,
    }


def forced_rows(
    meta: dict, difference_path: Path | str, targets: list[tuple[str, float, float]], detected: set[str]
) -> list[tuple]:
    """Forced photometry of one frame at objects' positions, as rows for
    :func:`astrid.alerts.objects.record_forced`: the matched-filter flux (nJy), its error and
    the frame's limiting magnitude; objects outside the frame have no row. Only the objects'
    pixels are read from the difference.

    Parameters
    ----------
    meta : dict
        The frame's scored-table metadata (``EXPOSURE``, ``FILTER``, ``LIMMAG``, times and
        photometric calibration).
    difference_path : pathlib.Path or str
        The frame's difference (FITS with ``DIFF``, ``SCORE`` and ``VAR`` extensions).
    targets : list of (str, float, float)
        Object id, RA and Dec (degrees).
    detected : set of str
        The objects detected in this frame.

    Returns
    -------
    list of tuple
        (object_id, exposure, mjd, band, flux, flux_err, limiting_mag, detected).
    """
    from astropy.io import fits
    from astropy.wcs import WCS

    from astrid.alerts import objects

    if not targets:
        return []
    ids, ra, dec = zip(*targets, strict=True)
    with fits.open(difference_path) as hdul:
        wcs = WCS(hdul["DIFF"].header)
        x, y = wcs.all_world2pix(np.asarray(ra), np.asarray(dec), 0)
        flux, error, inside = objects.forced_fluxes(
            hdul["SCORE"].data, hdul["VAR"].data, float(hdul[0].header["FLUXSCAL"]), x, y
        )
    scale = njy_per_electron(meta)
    limit = _finite(meta.get("LIMMAG", np.nan))
    exposure, mjd, band = str(meta["EXPOSURE"]), midpoint_mjd_tai(meta), str(meta["FILTER"])
    return [
        (object_id, exposure, mjd, band, _finite(f * scale), _finite(e * scale), limit, object_id in detected)
        for object_id, f, e, ok in zip(ids, flux, error, inside, strict=True)
        if ok
    ]


def alert_frame(
    db: "Database",
    table: "Table",
    cutouts: np.ndarray,
    difference_path: Path | str,
    packet_dir: Path | str,
    radius_arcsec: float = 1.5,
    history_days: float = 30.0,
    earlier: Iterable[tuple[dict, Path | str]] = (),
) -> list[dict]:
    """Associate one scored frame's real candidates, record forced photometry of the field's
    other objects, and write one packet per real candidate (atomically, named by its
    deterministic id; a rerun rewrites it identical).

    An object first seen in this frame is measured in the night's earlier frames of its
    field too (``earlier``; forced photometry before its discovery), so that its first
    packet carries the night's non-detections before it, whether the night runs frame by
    frame or at once.

    Returns one summary dict per alert of the frame; :func:`emit_alerts` then emits them.

    Parameters
    ----------
    db : Database
        The object database.
    table : astropy.table.Table
        The frame's scored candidates, with its metadata.
    cutouts : numpy.ndarray
        The candidates' stamps, shape (n, 3, size, size), in the table's order.
    difference_path : pathlib.Path or str
        The frame's difference (FITS with ``DIFF``, ``SCORE`` and ``VAR`` extensions).
    packet_dir : pathlib.Path or str
        Where the packets are written.
    radius_arcsec : float
        Association radius (arcseconds).
    history_days : float
        How far back a packet's history goes (days).
    earlier : iterable of (dict, pathlib.Path or str)
        Metadata and difference of the night's frames before this one.

    Returns
    -------
    list of dict
        One summary per alert (real candidate), with its packet's path.
    """
    from astropy.io import fits
    from astropy.wcs import WCS

    from astrid.alerts import objects

    meta = table.meta
    field = str(meta["FIELD"])
    real = [i for i in range(len(table)) if bool(table["rb_real"][i])]
    records = [detection_record(table[i], meta) for i in real]
    detections = [
        {
            "candidate_id": r["candidate_id"],
            "exposure": r["exposure"],
            "night": r["night"],
            "band": r["band"],
            "mjd": r["midpoint_mjd_tai"],
            "ra": r["ra"],
            "dec": r["dec"],
            "flux": r["psf_flux"],
            "flux_err": r["psf_flux_err"],
            "mag": r["mag"],
            "mag_err": r["mag_err"],
            "snr": r["snr"],
            "rb_score": r["rb_score"],
            "rb_model_version": r["rb_model_version"],
        }
        for r in records
    ]
    associated = objects.associate(db, detections, field, radius_arcsec)
    detected_objects = {object_id for _, object_id, _ in associated}
    new_objects = {object_id for _, object_id, created in associated if created}

    # Forced photometry at every other object of the field: non-detections with their limit;
    # a new object's also in the night's earlier frames of its field.
    field_objects = objects.objects_in_field(db, field)
    rows = forced_rows(meta, difference_path, field_objects, detected_objects)
    discovered = [target for target in field_objects if target[0] in new_objects]
    for earlier_meta, earlier_difference in earlier:
        if discovered and str(earlier_meta["FIELD"]) == field:
            rows += forced_rows(earlier_meta, earlier_difference, discovered, set())
    objects.record_forced(db, rows)

    summaries = []
    packet_dir = Path(packet_dir)
    wcs = WCS(fits.getheader(difference_path, "DIFF")) if real else None
    for index, record, (candidate_id, object_id, _) in zip(real, records, associated, strict=True):
        identifier = alert_id(candidate_id)
        path = packet_dir / f"{identifier}.avro"
        previous, missing = objects.history(db, object_id, record["midpoint_mjd_tai"], history_days)
        packet = build_packet(
            table[index],
            meta,
            cutouts[index],
            wcs,
            object_id,
            [_previous(p) for p in previous] or None,
            [_nondetection(n) for n in missing] or None,
        )
        write_packet(path, packet)
        summaries.append(
            {
                "alert_id": identifier,
                "object_id": object_id,
                "new_object": not previous,  # its first detection (the same on every rerun)
                "candidate_id": candidate_id,
                "night": record["night"],
                "exposure": record["exposure"],
                "field": record["field"],
                "band": record["band"],
                "mjd": record["midpoint_mjd_tai"],
                "ra": record["ra"],
                "dec": record["dec"],
                "mag": record["mag"],
                "snr": record["snr"],
                "rb_score": record["rb_score"],
                "packet": str(path),
                "n_previous": len(previous),
                "n_nondetections": len(missing),
            }
        )
    return summaries


def emit_alerts(db: "Database", summaries: list[dict], record: Callable[[list[dict]], None]) -> list[dict]:
    """Emit a night's alerts, all in one transaction, exactly once.

    Each alert not emitted before gets its row in the ``alerts`` table (what delivery
    sends) and ``first_emitted`` true in its summary; one emitted by an earlier run gets
    false. ``record(summaries)`` — which writes the night's alert table — runs inside the
    transaction, before the commit: a run killed before the commit emitted nothing, and
    its rerun emits (and records as first emitted) every alert of the night. Packets are
    written before (:func:`alert_frame`), so a row never points to a missing packet.

    Returns ``summaries``.

    Parameters
    ----------
    db : Database
        The object database.
    summaries : list of dict
        The night's alert summaries (:func:`alert_frame`).
    record : callable
        Records the summaries (writes the night's alert table) inside the transaction.

    Returns
    -------
    list of dict
        ``summaries``, each with ``first_emitted`` set.
    """
    from astrid.alerts import objects

    db.begin_write()
    try:
        now = objects.now_mjd()
        for summary in summaries:
            inserted = db.execute(
                "INSERT INTO alerts (alert_id, candidate_id, object_id, night, packet, written_mjd)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (alert_id) DO NOTHING",
                (
                    summary["alert_id"],
                    summary["candidate_id"],
                    summary["object_id"],
                    summary["night"],
                    summary["packet"],
                    now,
                ),
            ).rowcount
            summary["first_emitted"] = bool(inserted)
        record(summaries)
        db.commit()
    except BaseException:
        db.rollback()
        raise
    return summaries


# Columns of a night's alert table (alerts.tsv), one row per alert.
SUMMARY_FIELDS = (
    "alert_id",
    "object_id",
    "new_object",
    "first_emitted",
    "candidate_id",
    "exposure",
    "field",
    "band",
    "mjd",
    "ra",
    "dec",
    "mag",
    "snr",
    "rb_score",
    "n_previous",
    "n_nondetections",
    "packet",
)


def describe_packet(path: Path | str) -> dict:
    """The summary dict of a written packet (what delivery channels send).

    Parameters
    ----------
    path : pathlib.Path or str
        The packet's Avro file, holding one packet.

    Returns
    -------
    dict
        Alert and object ids, ``new_object``, band, MJD (TAI), RA and Dec (degrees), AB
        magnitude (None when uncalibrated), S/N and real/bogus score.
    """
    (packet,) = read_packets(path)
    c = packet["candidate"]
    return {
        "alert_id": packet["alert_id"],
        "object_id": packet["object_id"],
        "new_object": not packet["prv_detections"],
        "band": c["band"],
        "mjd": c["midpoint_mjd_tai"],
        "ra": c["ra"],
        "dec": c["dec"],
        "mag": c["mag"],
        "snr": c["snr"],
        "rb_score": c["rb_score"],
    }
