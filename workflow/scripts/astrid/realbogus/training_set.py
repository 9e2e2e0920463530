"""Labelled candidates for the real/bogus classifier, and the versioned dataset built of them.

Each differenced frame yields samples of both classes, all of them real detections of the
pipeline with their 63×63 cutout triplets:

* ``fake`` (real, label 1): point sources injected into the aligned science frame before
  subtraction, S/N log-uniform over the configured range, on galaxies, on stars (a variable
  brightening) and on neither;
* ``residual`` (bogus): candidates of the frame's own subtraction that match no injection
  and no known transient — residuals of bright and saturated stars, edges, noise;
* ``cosmic_ray``, ``hot_pixel``, ``bad_column`` (bogus): unmasked artefacts put into the
  frame beside the fakes;
* ``misaligned``, ``psf_mismatch`` (bogus): new detections of deliberately spoiled
  subtractions (the science frame shifted by a fraction of a pixel; a PSF of the wrong width).

The dataset is a manifest listing the per-frame sample files with their SHA-256 and the
split each frame belongs to (whole frames, so no frame leaks across splits); its version is
the hash of that content.
"""

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from astropy.io import fits
from astropy.table import Table, vstack
from scipy import ndimage
from scipy.spatial import cKDTree

from astrid.imaging.detect import DetectSettings, find_candidates
from astrid.imaging.difference import subtract_aligned
from astrid.imaging.sources import point_like
from astrid.io.fitsio import ImageProduct, atomic_output
from astrid.realbogus.inject import (
    InjectionSettings,
    add_artefacts,
    add_point_sources,
    extended_sources,
    fake_fluxes,
    injection_sites,
)

if TYPE_CHECKING:
    from astropy.wcs import WCS

    from astrid.imaging.reference import Reference

LABEL_KINDS = {
    "fake": 1,
    "residual": 0,
    "cosmic_ray": 0,
    "hot_pixel": 0,
    "bad_column": 0,
    "misaligned": 0,
    "psf_mismatch": 0,
}
SPLITS = ("train", "validation", "test")


class DatasetError(Exception):
    """A dataset version cannot be found or no longer matches its files."""


@dataclass(frozen=True)
class SampleSettings:
    """Choices of the sample generation; each has a ``realbogus.samples.*`` config key."""

    passes: int = 5  # injection passes per frame
    match_radius: float = 2.0  # pixels between a candidate and what was injected
    spoiled_passes: int = 2  # pairs of misaligned and PSF-mismatched subtractions per frame
    max_shift_px: float = 2.0  # misaligned pass: shift of the science frame, up to this
    psf_scale: float = 1.4  # psf_mismatch pass: PSF width wrong by up to this factor (or 1/it)
    max_per_spoiled_pass: int = 200  # bogus samples kept from each spoiled subtraction


def _near(points, others, radius):
    """True for each of ``points`` (k, 2) within ``radius`` of any of ``others``."""
    points, others = np.asarray(points, float).reshape(-1, 2), np.asarray(others, float).reshape(-1, 2)
    if not len(points) or not len(others):
        return np.zeros(len(points), bool), np.zeros(len(points), int)
    distance, index = cKDTree(others).query(points)
    return distance <= radius, index


def _xy(table):
    return np.column_stack([np.asarray(table["x"], float), np.asarray(table["y"], float)])


def _label(table, kind, pass_number, injected_snr=None, host=None):
    table = table.copy()
    table["kind"] = np.full(len(table), kind, dtype="U12")
    table["label"] = np.full(len(table), LABEL_KINDS[kind], dtype=np.int8)
    table["pass"] = np.full(len(table), pass_number, dtype=np.int16)
    table["injected_snr"] = np.nan if injected_snr is None else injected_snr
    table["on_galaxy"] = False if host is None else np.asarray(host) == "galaxy"
    table["on_star"] = False if host is None else np.asarray(host) == "star"
    return table


def rescaled_psf(psf: np.ndarray, factor: float) -> np.ndarray:
    """``psf`` widened (factor > 1) or narrowed, recentred and normalised to unit sum.

    Parameters
    ----------
    psf : numpy.ndarray
        A centred PSF stamp.
    factor : float
        Ratio of the new width to the old.

    Returns
    -------
    numpy.ndarray
        The rescaled stamp, of the same shape.
    """
    size = psf.shape[0]
    centre = (size - 1) / 2
    coords = np.indices(psf.shape, dtype=float)
    coords = centre + (coords - centre) / factor
    out = np.clip(ndimage.map_coordinates(psf, coords, order=3, mode="constant"), 0, None)
    return out / out.sum()


def frame_samples(
    new: ImageProduct,
    aligned_header: fits.Header,
    reference: "Reference",
    *,
    detect_settings: DetectSettings,
    flux_error: float,
    rng: np.random.Generator,
    injection: InjectionSettings | None = None,
    samples: SampleSettings = SampleSettings(),
    known_xy: np.ndarray = (),
    renormalise: bool = False,
) -> tuple:
    """Labelled candidates of one aligned frame, and their cutouts.

    Parameters
    ----------
    new : astrid.io.fitsio.ImageProduct
        The aligned frame (background-subtracted, on the reference grid) with its ``psf``.
    aligned_header : astropy.io.fits.Header
        Its header, with the alignment keys (FLXRATIO, BKGRMS, ALNRMS, FWHM).
    reference : astrid.imaging.reference.Reference
    detect_settings : astrid.imaging.detect.DetectSettings
    flux_error : float
        ``difference.flux_error`` of the workflow's subtraction.
    rng : numpy.random.Generator
    injection : InjectionSettings, optional
        The fakes and artefacts put into the frame.
    samples : SampleSettings
        Injection passes and spoiled subtractions.
    known_xy : (k, 2) array
        Pixel positions of known real transients: candidates there are never labelled.
    renormalise : bool
        ``difference.renormalise`` of the workflow's subtraction.

    Returns
    -------
    (Table, numpy.ndarray)
        One row per sample (candidate columns plus ``kind, label, pass, injected_snr,
        on_galaxy, on_star``) and the (n, 3, size, size) cutouts.
    """
    psf_new = new.psf
    injection = injection or InjectionSettings()
    exposure = aligned_header["EXPOSURE"]
    fwhm = aligned_header["FWHM"]

    def detect(product, psf=psf_new):
        diff = subtract_aligned(
            replace(product, psf=psf),
            reference,
            aligned_header,
            flux_error=flux_error,
            renormalise=renormalise,
        )
        table, cutouts = find_candidates(
            diff, product.data, reference, fwhm=fwhm, exposure=exposure, settings=detect_settings
        )
        return diff, table, cutouts

    base_diff, base, base_cutouts = detect(new)
    keep = ~_near(_xy(base), known_xy, 3.0)[0]
    tables, cutouts = [_label(base[keep], "residual", 0)], [base_cutouts[keep]]
    usable = ~base_diff.bad
    galaxies = extended_sources(reference.stars, fwhm)
    # Stars a variable may brighten on: point sources without a candidate of their own (a
    # star whose subtraction already leaves a residual would mislabel that residual).
    stars = reference.stars
    if len(stars):
        stars = point_like(stars)
        stars = stars[~_near(_xy(stars), _xy(base), 3.0)[0]]
    sub = base_diff.subtraction
    taken = np.asarray(known_xy, float).reshape(-1, 2)
    for pass_number in range(1, samples.passes + 1):
        sites, hosts = injection_sites(
            usable.shape, usable, galaxies, injection, rng, taken=taken, stars=stars
        )
        flux, snr = fake_fluxes(
            sites, sub.score_std, sub.flux_scale, aligned_header["FLXRATIO"], injection, rng
        )
        artefact_sites, _ = injection_sites(
            usable.shape,
            usable,
            galaxies[:0],
            replace(
                injection,
                per_megapixel=injection.artefacts_per_megapixel,
                galaxy_fraction=0.0,
                star_fraction=0.0,
            ),
            rng,
            taken=np.vstack([taken, sites]),
        )
        data, variance = new.data.copy(), new.variance.copy()
        add_point_sources(data, variance, psf_new, sites[:, 0], sites[:, 1], flux, rng)
        artefacts = add_artefacts(data, artefact_sites, aligned_header["BKGRMS"], rng)
        _, found, found_cutouts = detect(replace(new, data=data, variance=variance))
        xy = _xy(found)
        is_fake, which = _near(xy, sites, samples.match_radius)
        is_artefact, which_artefact = _near(xy, artefact_sites, 3.0)
        is_artefact &= ~is_fake
        tables.append(_label(found[is_fake], "fake", pass_number, snr[which[is_fake]], hosts[which[is_fake]]))
        cutouts.append(found_cutouts[is_fake])
        found_kind = np.full(len(found), "", dtype="U12")  # no artefact at all where no room
        found_kind[is_artefact] = np.asarray(artefacts["kind"])[which_artefact[is_artefact]]
        for kind in ("cosmic_ray", "hot_pixel", "bad_column"):
            chosen = found_kind == kind
            tables.append(_label(found[chosen], kind, pass_number))
            cutouts.append(found_cutouts[chosen])

    spoiled = []
    for _ in range(samples.spoiled_passes):
        angle = rng.uniform(0, 2 * np.pi)
        shift = rng.uniform(0.3, samples.max_shift_px) * np.array([np.sin(angle), np.cos(angle)])
        shifted = ndimage.shift(new.data, shift, order=3, mode="nearest").astype(np.float32)
        spoiled.append(("misaligned", replace(new, data=shifted), psf_new))
        factor = rng.uniform(1.1, samples.psf_scale) ** rng.choice([-1, 1])
        spoiled.append(("psf_mismatch", new, rescaled_psf(psf_new, factor)))
    for pass_number, (kind, product, psf) in enumerate(spoiled, start=samples.passes + 1):
        _, found, found_cutouts = detect(product, psf)
        xy = _xy(found)
        fresh = ~_near(xy, _xy(base), 3.0)[0] & ~_near(xy, known_xy, 3.0)[0]
        index = np.flatnonzero(fresh)[: samples.max_per_spoiled_pass]
        tables.append(_label(found[index], kind, pass_number))
        cutouts.append(found_cutouts[index])
    table = vstack(tables, metadata_conflicts="silent")
    table.meta = {"EXPOSURE": exposure, "FWHM": fwhm}
    return table, np.concatenate(cutouts).astype(np.float32)


SAMPLE_COLUMNS = (
    ("kind", "U12"),
    ("label", np.int8),
    ("pass", np.int16),
    ("injected_snr", float),
    ("on_galaxy", bool),
    ("on_star", bool),
)


def frame_seed(seed: int, exposure: str) -> int:
    """The seed of one frame's injections: fixed by the run's seed and the frame alone, so a
    frame gets the same samples whichever other frames the run has.

    Parameters
    ----------
    seed : int
        The run's seed.
    exposure : str
        The frame's exposure id.

    Returns
    -------
    int
        The frame's seed, in [0, 2³²).
    """
    return int(hashlib.sha256(f"{seed}:{exposure}".encode()).hexdigest()[:8], 16)


def known_transients_xy(truth_path: Path | str | None, wcs: "WCS") -> np.ndarray:
    """(k, 2) pixel positions on ``wcs`` of the transients in a simulated night's truth file
    (none without one): candidates there are real and never labelled bogus.

    Parameters
    ----------
    truth_path : pathlib.Path or str or None
        The night's truth file (its ``TRANSIENTS`` table, ``ra`` and ``dec`` in degrees), or
        None for a real night.
    wcs : astropy.wcs.WCS
        The frame's (the reference's) WCS.

    Returns
    -------
    numpy.ndarray
        Zero-based pixel positions (x, y) of the transients, (0, 2) without any.
    """
    if truth_path is None:
        return np.zeros((0, 2))
    transients = Table.read(truth_path, hdu="TRANSIENTS")
    if not len(transients):
        return np.zeros((0, 2))
    return np.column_stack(wcs.all_world2pix(transients["ra"], transients["dec"], 0))


def empty_samples(table: Table) -> Table:
    """``table`` (an empty candidate table: a frame without samples) with the sample columns.

    Parameters
    ----------
    table : astropy.table.Table
        The candidate table; it is copied, not changed.

    Returns
    -------
    astropy.table.Table
        The copy, with each of ``kind, label, pass, injected_snr, on_galaxy, on_star`` it
        lacked.
    """
    table = table.copy()
    for name, dtype in SAMPLE_COLUMNS:
        if name not in table.colnames:
            table[name] = np.zeros(len(table), dtype)
    return table


def write_samples(path: Path | str, table: Table, cutouts: np.ndarray, header: fits.Header) -> None:
    """Samples of one frame: the cutout cube (primary) and the SAMPLES table.

    Parameters
    ----------
    path : pathlib.Path or str
        The FITS file, written atomically.
    table : astropy.table.Table
        One row per sample (:func:`frame_samples`); its meta is not written.
    cutouts : numpy.ndarray
        The (n, 3, size, size) cutouts, written as float32.
    header : astropy.io.fits.Header
        Header of the primary HDU (``EXPOSURE`` and ``NIGHT`` are read by
        :func:`build_manifest`).
    """
    from astrid.io.fitsio import write_atomic

    primary = fits.PrimaryHDU(cutouts.astype(np.float32), header=header)
    primary.header["PLANES"] = ("science,reference,difference", "axis 2 of the cube")
    samples = fits.table_to_hdu(Table(table, meta={}))
    samples.name = "SAMPLES"
    write_atomic(fits.HDUList([primary, samples]), path)


def read_samples(path: Path | str) -> tuple[Table, np.ndarray]:
    """Samples of one frame as :func:`write_samples` wrote them.

    Parameters
    ----------
    path : pathlib.Path or str
        The FITS file.

    Returns
    -------
    (astropy.table.Table, numpy.ndarray)
        The SAMPLES table and the float32 (n, 3, size, size) cutouts.
    """
    with fits.open(path) as hdul:
        return Table(hdul["SAMPLES"].data), np.asarray(hdul[0].data, np.float32)


def sha256(path: Path | str) -> str:
    """SHA-256 of a file's content, read a mebibyte at a time.

    Parameters
    ----------
    path : pathlib.Path or str
        The file.

    Returns
    -------
    str
        The digest, in hexadecimal (64 characters).
    """
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def assign_splits(
    exposures: Iterable[str], validation_split: float, test_split: float, seed: int
) -> dict[str, str]:
    """Whole frames to train / validation / test, in a seeded order independent of listing.

    With three frames or more, validation and test get at least one frame each.

    Parameters
    ----------
    exposures : Iterable of str
        The frames' exposure ids (duplicates count once).
    validation_split, test_split : float
        Fractions of the frames in the validation and test splits.
    seed : int
        Seed of the order.

    Returns
    -------
    dict
        Exposure id → ``train``, ``validation`` or ``test``.
    """
    exposures = sorted(set(exposures))
    order = sorted(exposures, key=lambda e: hashlib.sha256(f"{seed}:{e}".encode()).hexdigest())
    n = len(order)
    n_test = max(1, round(test_split * n)) if n >= 3 else 0
    n_val = max(1, round(validation_split * n)) if n >= 3 else 0
    splits = {}
    for i, exposure in enumerate(order):
        splits[exposure] = "test" if i < n_test else "validation" if i < n_test + n_val else "train"
    return splits


def build_manifest(
    sample_paths: Iterable[Path | str], validation_split: float, test_split: float, seed: int
) -> dict:
    """The dataset manifest of per-frame sample files (their hashes, counts and splits).

    Parameters
    ----------
    sample_paths : Iterable of pathlib.Path or str
        The per-frame sample files (:func:`write_samples`).
    validation_split, test_split : float
        Fractions of the frames with samples in the validation and test splits
        (:func:`assign_splits`).
    seed : int
        Seed of the split assignment.

    Returns
    -------
    dict
        ``version`` (12 hex digits: the hash of the files, their splits and the settings),
        ``seed``, ``validation_split``, ``test_split``, ``files``, ``frames`` (path, hash,
        night, exposure, sample and real counts, split of each file), ``counts`` (frames,
        samples and real samples of each split) and ``nights``.
    """
    rows = []
    for path in sorted(map(str, sample_paths)):
        header = fits.getheader(path, 0)
        with fits.open(path) as hdul:
            labels = np.asarray(hdul["SAMPLES"].data["label"])
        rows.append(
            {
                "path": path,
                "sha256": sha256(path),
                "night": str(header.get("NIGHT", "")),
                "exposure": str(header["EXPOSURE"]),
                "samples": int(len(labels)),
                "real": int(labels.sum()),
            }
        )
    # Only frames with samples are dealt into the splits: a frame that gave none (it failed
    # to align) would otherwise leave a split empty. It is listed under train, adding nothing.
    with_samples = [row["exposure"] for row in rows if row["samples"]]
    splits = assign_splits(with_samples, validation_split, test_split, seed)
    for row in rows:
        row["split"] = splits.get(row["exposure"], "train")
    content = {
        "seed": seed,
        "validation_split": validation_split,
        "test_split": test_split,
        "files": [{k: row[k] for k in ("path", "sha256", "split")} for row in rows],
    }
    version = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:12]
    counts = {
        split: {
            "frames": sum(r["split"] == split for r in rows),
            "samples": sum(r["samples"] for r in rows if r["split"] == split),
            "real": sum(r["real"] for r in rows if r["split"] == split),
        }
        for split in SPLITS
    }
    return {
        "version": version,
        **content,
        "frames": rows,
        "counts": counts,
        "nights": sorted({row["night"] for row in rows}),
    }


def write_manifest(manifest: dict, path: Path | str, archive_dir: Path | str) -> None:
    """Write the manifest to ``path`` and keep a copy ``<archive_dir>/<version>.json``.

    Parameters
    ----------
    manifest : dict
        The manifest (:func:`build_manifest`).
    path : pathlib.Path or str
        The JSON file, written atomically.
    archive_dir : pathlib.Path or str
        Folder of every dataset version's manifest.
    """
    text = json.dumps(manifest, indent=2, sort_keys=True)
    for target in (Path(path), Path(archive_dir) / f"{manifest['version']}.json"):
        with atomic_output(target) as tmp:
            tmp.write_text(text)


def resolve_manifest(version: str, latest_path: Path | str, archive_dir: Path | str) -> Path:
    """The manifest path of ``version`` ('latest' or a 12-hex version id).

    Parameters
    ----------
    version : str
        ``latest`` or a dataset version.
    latest_path : pathlib.Path or str
        The latest manifest (not checked to exist).
    archive_dir : pathlib.Path or str
        Folder of every dataset version's manifest.

    Returns
    -------
    pathlib.Path
        The manifest's path.

    Raises
    ------
    DatasetError
        No manifest of ``version`` is archived.
    """
    if version == "latest":
        return Path(latest_path)
    path = Path(archive_dir) / f"{version}.json"
    if not path.exists():
        known = sorted(p.stem for p in Path(archive_dir).glob("*.json"))
        raise DatasetError(
            f"dataset version {version!r} not found in {archive_dir} (known: {', '.join(known) or 'none'})"
        )
    return path


def load_split(manifest: dict, split: str) -> tuple[Table, np.ndarray]:
    """Samples table and cutouts of one split, each file checked against its hash.

    Parameters
    ----------
    manifest : dict
        The dataset (:func:`build_manifest`).
    split : str
        ``train``, ``validation`` or ``test``.

    Returns
    -------
    (astropy.table.Table, numpy.ndarray)
        The split's samples, with the ``exposure`` of each, and their cutouts.

    Raises
    ------
    DatasetError
        A file is missing or has changed since the dataset was built, or the split has no
        frames or lacks a class.
    """
    tables, cutouts = [], []
    for row in manifest["frames"]:
        if row["split"] != split:
            continue
        if not Path(row["path"]).exists():
            raise DatasetError(f"dataset {manifest['version']}: {row['path']} is missing")
        if sha256(row["path"]) != row["sha256"]:
            raise DatasetError(
                f"dataset {manifest['version']}: {row['path']} changed since the dataset was built"
                " (rebuild it, or pin dataset_version to a newer one)"
            )
        table, cube = read_samples(row["path"])
        table["exposure"] = row["exposure"]
        tables.append(table)
        cutouts.append(cube)
    if not tables:
        raise DatasetError(
            f"dataset {manifest['version']} has no frames in its {split} split: it needs at least three "
            "frames (one each for train, validation and test); add nights to realbogus.training_nights"
        )
    table = vstack(tables, metadata_conflicts="silent")
    labels = set(np.asarray(table["label"]).astype(int)) if len(table) else set()
    if labels != {0, 1}:
        frames = ", ".join(row["path"] for row in manifest["frames"] if row["split"] == split)
        raise DatasetError(
            f"dataset {manifest['version']}: its {split} split ({frames}) holds {len(table)} samples, "
            f"{int(np.sum(np.asarray(table['label']) == 1)) if len(table) else 0} of them real: a split "
            "needs both classes (frames that failed to align give none; see their make_training_samples logs)"
        )
    return table, np.concatenate(cutouts)
