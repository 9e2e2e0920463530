"""One simulated raw night: its plan, the frames written as a camera would, and its truth."""

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.table import Table, vstack
from astropy.wcs import WCS

from astrid.sim.camera import (
    Camera,
    Segment,
    detector_maps,
    read_out,
    segment_cards,
    simulate_calibration,
    simulate_science,
)
from astrid.sim.catalogs import frame_sources, make_transients
from astrid.sim.wcs import nominal_wcs

log = logging.getLogger(__name__)


IMAGETYP = {"bias": "Bias Frame", "dark": "Dark Frame", "flat": "Flat Field", "science": "Light Frame"}


@dataclass(frozen=True)
class NightPlan:
    """What one simulated night contains."""

    night: str  # YYYYMMDD
    role: str  # "reference" (no transients) or "new"
    fields: tuple  # ((name, ra, dec), ...)
    bands: tuple = ("g", "r")
    science_per_field_band: int = 2
    science_exptime: float = 60.0
    n_bias: int = 5
    n_dark: int = 5
    dark_exptime: float = 300.0
    n_flat: int = 5
    flat_exptime: float = 5.0
    seeing_arcsec: tuple = (0.9, 1.6)
    moffat_beta: float = 3.5
    max_offset_px: float = 8.0
    max_rotation_deg: float = 0.1
    cosmic_rate: float = 5.0  # rays per second per 2048² frame
    n_supernovae: int = 5
    n_variables: int = 3
    # Add a truncated frame and a frame of unknown type; a mosaic's last science frame also
    # loses its last detector's extension, as in an interrupted transfer.
    defects: bool = True


def _header(camera, kind, band, exptime, date_obs, field_name=None):
    header = fits.Header()
    header["IMAGETYP"] = IMAGETYP[kind]
    if kind in ("flat", "science"):
        header["FILTER"] = (band, "filter band")
    header["EXPTIME"] = (exptime, "[s] exposure time")
    header["DATE-OBS"] = (date_obs.isoformat(timespec="milliseconds"), "UTC start of exposure")
    for key, (value, comment) in camera.header_cards().items():
        # A multi-extension camera writes its read-outs' cards in their extensions.
        if camera.layout == "single" or key in ("TELESCOP", "INSTRUME"):
            header[key] = (value, comment)
    if field_name:
        header["OBJECT"] = field_name
    return header


def raw_hdus(camera: Camera, readouts: list[tuple[Segment, np.ndarray]], header: fits.Header) -> fits.HDUList:
    """The HDUs of one raw file as the camera writes it.

    Parameters
    ----------
    camera : Camera
        The camera (its ``layout`` decides the file's structure).
    readouts : list of (Segment, numpy.ndarray)
        The read-outs (:func:`astrid.sim.camera.read_out`).
    header : astropy.io.fits.Header
        The exposure's keywords (type, filter, time, object) and, for a science frame,
        the nominal WCS of the focal plane.

    Returns
    -------
    astropy.io.fits.HDUList
        ``single``: one primary HDU with the image; ``quad``: the exposure's keywords and
        the WCS of the assembled CCD in the primary HDU, one image extension per amplifier;
        ``mosaic``: the exposure's keywords in the primary HDU, one image extension per
        detector with its own WCS.
    """
    if camera.layout == "single":
        return fits.HDUList([fits.PrimaryHDU(readouts[0][1], header=header)])
    primary, wcs_header = header.copy(), fits.Header()
    if camera.layout == "mosaic" and "CTYPE1" in header:
        # Each detector sees its own part of the sky: the WCS moves to its extension.
        wcs_header = WCS(header).to_header()
        for key in list(wcs_header):
            if key.startswith(("DATE", "MJD", "TIME")):  # the exposure's, not the detector's
                del wcs_header[key]
            else:
                primary.remove(key, ignore_missing=True)
    hdus = [fits.PrimaryHDU(header=primary)]
    for segment, raw in readouts:
        extension = fits.Header()
        for key, (value, comment) in segment_cards(camera, segment).items():
            extension[key] = (value, comment)
        if wcs_header:
            extension.update(wcs_header)
            extension["CRPIX1"] = wcs_header["CRPIX1"] - segment.cols.start
        hdus.append(fits.ImageHDU(raw, header=extension))
    return fits.HDUList(hdus)


def written_at(path: Path | str, header: fits.Header) -> None:
    """Date the file as the camera would have: modified when its exposure ended (a night
    on disk is ingested as a finished night, none of its frames still arriving).

    Parameters
    ----------
    path : pathlib.Path or str
        The raw file; its access and modification times are set.
    header : astropy.io.fits.Header
        Its header (``DATE-OBS`` in UTC and ``EXPTIME`` in seconds are used).
    """
    end = datetime.fromisoformat(header["DATE-OBS"]).replace(tzinfo=timezone.utc)
    stamp = (end + timedelta(seconds=float(header["EXPTIME"]))).timestamp()
    os.utime(path, (stamp, stamp))


def simulate_night(
    plan: NightPlan,
    camera: Camera,
    catalogs: Mapping[str, Table],
    out_dir: Path | str,
    truth_path: Path | str,
    seed: int,
) -> int:
    """Write one raw night (calibrations and science frames) and its truth file.

    Parameters
    ----------
    plan : NightPlan
        What the night contains.
    camera : Camera
        The detector.
    catalogs : mapping of str to astropy.table.Table
        Field name → field catalog (:func:`make_field_catalog`).
    out_dir : pathlib.Path or str
        Folder that receives the raw frames, ``<night>-<NNNN>.fits``.
    truth_path : pathlib.Path or str
        FITS file that receives the truth tables ``FRAMES``, ``SOURCES``, ``TRANSIENTS``
        and ``COSMICS``.
    seed : int
        Seed; with the same plan, camera and catalogs the frames are the same bytes.

    Returns
    -------
    int
        The number of frames written, defective ones included.
    """
    out_dir, truth_path = Path(out_dir), Path(truth_path)
    out_dir.mkdir(parents=True, exist_ok=True)
    maps = detector_maps(camera, plan.bands, seed)
    night_int = int(plan.night)
    start = datetime.strptime(plan.night, "%Y%m%d") + timedelta(hours=23)
    frames, sources_truth, cosmics_truth, transients_truth = [], [], [], []
    sequence = 0

    def next_name():
        nonlocal sequence
        sequence += 1
        return f"{plan.night}-{sequence:04d}"

    def write(name, readouts, header):
        path = out_dir / f"{name}.fits"
        raw_hdus(camera, readouts, header).writeto(path, overwrite=True)
        written_at(path, header)

    clock = start
    calibrations = [("bias", None, 0.0)] * plan.n_bias + [("dark", None, plan.dark_exptime)] * plan.n_dark
    calibrations += [("flat", band, plan.flat_exptime) for band in plan.bands for _ in range(plan.n_flat)]
    for kind, band, exptime in calibrations:
        name = next_name()
        rng = np.random.default_rng([seed, night_int, sequence])
        raw = simulate_calibration(camera, maps, kind, band, exptime, rng, plan.cosmic_rate)
        write(name, raw, _header(camera, kind, band, exptime, clock))
        frames.append(
            {
                "exposure": name,
                "kind": kind,
                "field": "",
                "band": band or "",
                "exptime": exptime,
                "fwhm_px": np.nan,
                "dx": 0.0,
                "dy": 0.0,
                "rotation_deg": 0.0,
                "defect": "",
            }
        )
        clock += timedelta(seconds=exptime + 20)

    clock = start + timedelta(hours=2)
    for field_name, ra, dec in plan.fields:
        catalog = catalogs[field_name]
        inner = 0.35 * min(camera.nx, camera.ny) * camera.pixel_scale / 3600.0
        transients = make_transients(catalog, seed, plan.n_supernovae, plan.n_variables, inner)
        if plan.role == "new" and len(transients):
            transients_truth.append(transients)
        for band in plan.bands:
            for _ in range(plan.science_per_field_band):
                name = next_name()
                rng = np.random.default_rng([seed, night_int, sequence])
                fwhm = rng.uniform(*plan.seeing_arcsec) / camera.pixel_scale
                shift = rng.uniform(-plan.max_offset_px, plan.max_offset_px, 2)
                rotation = rng.uniform(-plan.max_rotation_deg, plan.max_rotation_deg)
                true_wcs = nominal_wcs(camera, ra, dec, shift, rotation)
                sources = frame_sources(
                    camera, catalog, transients, band, plan.science_exptime, true_wcs, plan.role == "new"
                )
                raw, cosmics = simulate_science(
                    camera,
                    maps,
                    sources,
                    band,
                    plan.science_exptime,
                    fwhm,
                    plan.moffat_beta,
                    rng,
                    plan.cosmic_rate,
                )
                header = _header(camera, "science", band, plan.science_exptime, clock, field_name)
                header.update(nominal_wcs(camera, ra, dec).to_header())
                header["AIRMASS"] = round(float(rng.uniform(1.05, 1.6)), 3)
                write(name, raw, header)
                src = sources.copy(copy_data=False)
                src["exposure"] = name
                sources_truth.append(src)
                cosmics["exposure"] = name
                cosmics_truth.append(cosmics)
                frames.append(
                    {
                        "exposure": name,
                        "kind": "science",
                        "field": field_name,
                        "band": band,
                        "exptime": plan.science_exptime,
                        "fwhm_px": fwhm,
                        "dx": shift[0],
                        "dy": shift[1],
                        "rotation_deg": rotation,
                        "defect": "",
                    }
                )
                clock += timedelta(seconds=plan.science_exptime + 30)

    if plan.defects and camera.layout == "mosaic" and frames[-1]["kind"] == "science":
        last = out_dir / f"{frames[-1]['exposure']}.fits"
        with fits.open(last, mode="update") as hdul:
            del hdul[-1]
        written_at(last, fits.getheader(last))
        frames[-1]["defect"] = "lost_extension"

    if plan.defects:
        # A frame whose transfer was cut off, and a focus frame nobody should process.
        name = next_name()
        header = _header(camera, "science", plan.bands[0], plan.science_exptime, clock, plan.fields[0][0])
        path = out_dir / f"{name}.fits"
        fits.PrimaryHDU(np.zeros((camera.ny, camera.nx + camera.overscan), np.uint16), header=header).writeto(
            path, overwrite=True
        )
        with open(path, "r+b") as handle:
            handle.truncate(path.stat().st_size // 3)
        written_at(path, header)
        frames.append(
            {
                "exposure": name,
                "kind": "science",
                "field": plan.fields[0][0],
                "band": plan.bands[0],
                "exptime": plan.science_exptime,
                "fwhm_px": np.nan,
                "dx": 0.0,
                "dy": 0.0,
                "rotation_deg": 0.0,
                "defect": "truncated",
            }
        )
        name = next_name()
        header = _header(camera, "science", plan.bands[0], 2.0, clock, plan.fields[0][0])
        header["IMAGETYP"] = "Focus"
        rng = np.random.default_rng([seed, night_int, sequence])
        write(name, read_out(camera, maps, np.zeros((camera.ny, camera.nx)), rng, 0.0), header)
        frames.append(
            {
                "exposure": name,
                "kind": "focus",
                "field": plan.fields[0][0],
                "band": plan.bands[0],
                "exptime": 2.0,
                "fwhm_px": np.nan,
                "dx": 0.0,
                "dy": 0.0,
                "rotation_deg": 0.0,
                "defect": "unknown_type",
            }
        )

    hdus = [fits.PrimaryHDU()]
    hdus[0].header["NIGHT"] = plan.night
    hdus[0].header["ROLE"] = plan.role
    hdus[0].header["SEED"] = seed
    tables = {
        "FRAMES": Table(rows=frames),
        "SOURCES": vstack(sources_truth) if sources_truth else Table(),
        "TRANSIENTS": vstack(transients_truth, metadata_conflicts="silent")
        if transients_truth
        else Table({"transient_id": np.array([], "U32")}),
        "COSMICS": vstack(cosmics_truth) if cosmics_truth else Table(),
    }
    for name, table in tables.items():
        hdus.append(fits.table_to_hdu(table))
        hdus[-1].name = name
    truth_path.parent.mkdir(parents=True, exist_ok=True)
    fits.HDUList(hdus).writeto(truth_path, overwrite=True)
    log.info("night %s: %d frames written to %s", plan.night, sequence, out_dir)
    return sequence
