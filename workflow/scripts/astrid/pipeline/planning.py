"""Planning a run: which nights, which exposures, which references, which products.

Plain functions of the configuration and of the nights' manifests (rows as dicts, as the
ingest rule writes them), so that the workflow's input functions (``rules/common.smk``)
only ask Snakemake for the manifests and pass them here, and every choice is unit-tested.
Product paths are relative to the working folder, as the rules write them.
"""

import math
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from astrid.imaging.templates import SuppliedTemplate


DEMO_RAW = "results/demo/raw"
CATALOGS = "resources/catalogs"  # the default reference.catalog_dir; the demo writes there too
CUT_CATALOGS = "results/catalogs"  # fields cut from a site-wide reference.catalog
CATALOG_SUFFIXES = (".ecsv", ".fits", ".fit", ".parquet", ".csv")
MODEL_DIR = "results/models/realbogus"
# The real/bogus training splits whole frames three ways (train, validation, test).
MIN_TRAINING_FRAMES = 3

Row = Mapping[str, str]


class PlanningError(ValueError):
    """The configuration cannot give a night to process; the message names the key."""


@dataclass(frozen=True)
class Nights:
    """The nights of a run and their roles.

    Attributes
    ----------
    all : list of str
        Every night ingested and calibrated, reference nights included, sorted.
    reference : list of str
        Nights whose frames build the references; they are not differenced.
    difference : list of str
        The other nights: differenced, scored and alerted.
    training : list of str
        Nights whose frames make the real/bogus training set.
    """

    all: list
    reference: list
    difference: list
    training: list


def check_demo(config: Mapping) -> None:
    """Refuse a demo configuration that cannot run, before any job.

    Parameters
    ----------
    config : mapping
        The workflow's configuration (schema defaults filled in).

    Raises
    ------
    PlanningError
        The demo would write elsewhere than ``raw_dir``.
    """
    if config["demo"]["enabled"] and config["raw_dir"] != DEMO_RAW:
        raise PlanningError(
            f"config key 'raw_dir' is {config['raw_dir']!r} but demo.enabled is true: the demo "
            f"writes its frames to {DEMO_RAW}. Set demo.enabled: false to process your own frames."
        )


def too_few_training_frames(config: Mapping) -> str | None:
    """Why the demo could never train its first real/bogus model, or None: its new night
    has fewer frames than the training set's three whole-frame splits need.

    Parameters
    ----------
    config : mapping
        The workflow's configuration.

    Returns
    -------
    str or None
        A sentence naming the keys to change.
    """
    demo = config["demo"]
    detectors = 2 if demo.get("camera") == "mosaic" else 1  # a mosaic's detectors are frames of their own
    frames = demo["new_exposures"] * len(demo["fields"]) * len(demo["bands"]) * detectors
    if demo["enabled"] and not config["realbogus"]["training_nights"] and frames < MIN_TRAINING_FRAMES:
        return (
            f"the demo's new night has {frames} science frame(s) (demo.new_exposures × fields × "
            f"bands{' × 2 detectors' if detectors == 2 else ''}); training the real/bogus model needs at least {MIN_TRAINING_FRAMES} (train, "
            "validation and test frames): raise demo.new_exposures"
        )
    return None


def night_folders(raw_dir: str | os.PathLike) -> list[str]:
    """The ``YYYYMMDD`` folders under ``raw_dir``, sorted.

    Parameters
    ----------
    raw_dir : str or os.PathLike
        The folder of raw nights.

    Returns
    -------
    list of str
        Names of the sub-folders made of 8 digits.

    Raises
    ------
    PlanningError
        When ``raw_dir`` is not a folder.
    """
    raw = Path(raw_dir)
    if not raw.is_dir():
        raise PlanningError(f"config key 'raw_dir': folder {raw} does not exist")
    return sorted(p.name for p in raw.iterdir() if p.is_dir() and p.name.isdigit() and len(p.name) == 8)


def plan_nights(config: Mapping) -> Nights:
    """The nights of this run: config ``nights``, else the demo's, else every night folder
    under ``raw_dir``; reference nights are always among them.

    Parameters
    ----------
    config : mapping
        The workflow's configuration.

    Returns
    -------
    Nights
    """
    demo = config["demo"]
    if config["nights"]:
        chosen = list(config["nights"])
    elif demo["enabled"]:
        chosen = [n for n in (demo["reference_night"], demo["new_night"], demo["followup_night"]) if n]
    else:
        chosen = night_folders(config["raw_dir"])
    reference = list(config["reference"]["nights"]) or ([demo["reference_night"]] if demo["enabled"] else [])
    nights = sorted(set(chosen) | set(reference))
    difference = [n for n in nights if n not in reference]
    # The demo trains on its new night; the follow-up night stays unseen (the drift check's case).
    training = list(config["realbogus"]["training_nights"]) or (
        [demo["new_night"]] if demo["enabled"] else difference
    )
    return Nights(nights, reference, difference, training)


def is_reduced(night: str, config: Mapping) -> bool:
    """Whether a night's frames were reduced by an observatory pipeline already
    (``reduced.nights``, ``reduced.all_nights``): imported, not calibrated from raw.

    Parameters
    ----------
    night : str
    config : mapping
        The workflow's configuration.

    Returns
    -------
    bool
    """
    reduced = config["reduced"]
    return bool(reduced["all_nights"]) or night in reduced["nights"]


def raw_dir(config: Mapping) -> str:
    """Where the raw night folders are: the demo's, or ``raw_dir``.

    Parameters
    ----------
    config : mapping
        The workflow's configuration.

    Returns
    -------
    str
        The folder, as configured.
    """
    return DEMO_RAW if config["demo"]["enabled"] else config["raw_dir"]


def calibrated_path(night: str, exposure: str) -> str:
    """The calibrated product of an exposure.

    Parameters
    ----------
    night : str
        The night (``YYYYMMDD``).
    exposure : str
        The exposure id.

    Returns
    -------
    str
        ``results/calibrated/<night>/<exposure>.fits``.
    """
    return f"results/calibrated/{night}/{exposure}.fits"


def choose_exposures(manifests: Mapping[str, Iterable[Row]], done: set, max_observations: int) -> dict:
    """Night → science exposures to process in this run, oldest first.

    Exposures already calibrated when the run started (``done``, paths as
    :func:`calibrated_path` gives them) stay chosen; at most ``max_observations`` others join
    them, oldest (by MJD) first, the rest waiting for the next run.

    Parameters
    ----------
    manifests : mapping of str to iterable of mapping
        Each night's manifest rows.
    done : set of str
        Calibrated products present when the run started.
    max_observations : int
        New science frames per run.

    Returns
    -------
    dict of str to list of str
    """
    pending, chosen = [], set()
    for night, rows in manifests.items():
        for row in rows:
            if row["frame_type"] != "science":
                continue
            key = (float(row["mjd"]), night, row["exposure"])
            (chosen.add if calibrated_path(night, row["exposure"]) in done else pending.append)(key)
    chosen |= set(sorted(pending)[:max_observations])
    schedule = {}
    for _, night, exposure in sorted(chosen):
        schedule.setdefault(night, []).append(exposure)
    return schedule


def field_names(manifests: Mapping[str, Iterable[Row]], radius_arcmin: float) -> dict:
    """Fields named from pointings, made one name per patch of sky across every night.

    Ingest names a pointing within its night; a later night's frames of the same sky could
    round onto another 0.1° grid cell, and then never find the reference an earlier night
    built. Here the frames named from pointings (``field_source`` "pointing") of all the
    nights are taken oldest first, and each takes the name of the first earlier frame within
    ``radius_arcmin``, or its own pointing's: the same sky keeps the name of its first frame,
    whatever grid boundary later pointings straddle.

    Parameters
    ----------
    manifests : mapping of str to iterable of mapping
        Each night's manifest rows.
    radius_arcmin : float
        ``ingest.field_radius_arcmin``.

    Returns
    -------
    dict of (str, str) to str
        (night, exposure) → field, for the frames named from pointings.
    """
    from astrid.io.names import field_from_pointing, separation_arcmin

    frames = sorted(
        (float(row["mjd"]), night, row["exposure"], float(row["ra"]), float(row["dec"]))
        for night, rows in manifests.items()
        for row in rows
        if row.get("field_source") == "pointing"
    )
    named, names = [], {}
    for _, night, exposure, ra, dec in frames:
        name = next((n for r, d, n in named if separation_arcmin(ra, dec, r, d) <= radius_arcmin), None)
        if name is None:
            name = field_from_pointing(ra, dec)
            named.append((ra, dec, name))
        names[(night, exposure)] = name
    return names


def reference_index(
    manifests: Mapping[str, Mapping[str, Row]], schedule: Mapping, reference_nights: Iterable
) -> dict:
    """(field, band) → calibrated frames of the reference nights that build its reference.

    Parameters
    ----------
    manifests : mapping of str to mapping of str to mapping
        Each night's manifest rows by exposure.
    schedule : mapping of str to list of str
        :func:`choose_exposures`.
    reference_nights : iterable of str
        The nights whose frames build references.

    Returns
    -------
    dict of (str, str) to list of str
    """
    index = {}
    for night in reference_nights:
        for exposure in schedule.get(night, []):
            row = manifests[night][exposure]
            index.setdefault((row["field"], row["band"]), []).append(calibrated_path(night, exposure))
    return index


def template_source(
    row: Row, templates_dir: str | None, supplied: Sequence["SuppliedTemplate"] = ()
) -> str | None:
    """The plain image an exposure's reference is imported from, or None.

    Parameters
    ----------
    row : mapping
        The exposure's manifest row (``field``, ``band``, ``ra``, ``dec``).
    templates_dir : str or None
        ``reference.templates_dir``.
    supplied : sequence of SuppliedTemplate
        The folder's plain images (:func:`astrid.imaging.templates.supplied_templates`).

    Returns
    -------
    str or None
        ``<field>_<band>.fits`` of the folder where it is not in AstrID's reference layout,
        else the first supplied template of the band that covers the exposure's pointing.
    """
    # astropy is imported only where a templates folder has something: planning runs on
    # every parse of the workflow, which should stay quick.
    if templates_dir:
        named = Path(templates_dir) / f"{row['field']}_{row['band']}.fits"
        if named.exists():
            from astrid.imaging.templates import is_reference_product

            return None if is_reference_product(named) else str(named)
    if not supplied:
        return None
    try:
        ra, dec = float(row["ra"]), float(row["dec"])
    except (KeyError, TypeError, ValueError):
        return None
    if not (math.isfinite(ra) and math.isfinite(dec)):
        return None
    from astrid.imaging.templates import template_for

    template = template_for(supplied, ra, dec, row["band"])
    return template.path if template else None


def reference_path(row: Row, templates_dir: str | None, supplied: Sequence["SuppliedTemplate"] = ()) -> str:
    """The reference of an exposure's field and band: supplied, imported, else built.

    Parameters
    ----------
    row : mapping
        The exposure's manifest row (``field``, ``band``, ``ra``, ``dec``).
    templates_dir : str or None
        Folder of supplied templates: ``<field>_<band>.fits`` in AstrID's reference layout,
        or plain images (:mod:`astrid.imaging.templates`).
    supplied : sequence of SuppliedTemplate
        The folder's plain images.

    Returns
    -------
    str
        The supplied reference-layout file if it exists; else
        ``results/templates/<field>/<band>.fits`` (imported) where a plain template serves the
        exposure; else ``results/references/<field>/<band>.fits`` (built).
    """
    source = template_source(row, templates_dir, supplied)
    if templates_dir and source is None:
        named = Path(templates_dir) / f"{row['field']}_{row['band']}.fits"
        if named.exists():  # in the reference layout (template_source says so)
            return str(named)
    if source:
        return f"results/templates/{row['field']}/{row['band']}.fits"
    return f"results/references/{row['field']}/{row['band']}.fits"


def catalog_dir(config: Mapping) -> str | None:
    """The field catalogs' folder: ``reference.catalog_dir`` (by default
    ``resources/catalogs``, where the demo writes its own), or None.

    Parameters
    ----------
    config : mapping
        The workflow's configuration.

    Returns
    -------
    str or None
        The folder, or None when the site has switched catalogs off.
    """
    return config["reference"]["catalog_dir"]


def field_catalog(field: str, config: Mapping, detector: str = "") -> list[str]:
    """The field's catalog, if there is one, first found: a site's file
    ``<catalog_dir>/<field>.<ecsv|fits|fit|parquet|csv>``, the demo's (made by a rule in the
    same folder), the field's cut from the site-wide ``reference.catalog`` (made by a
    rule in ``results/catalogs/``), or its rows fetched from VizieR where
    ``reference.fetch.archive`` is set (``results/catalogs/fetched/``). A field without one
    still gets its reference, on the header WCS with instrumental magnitudes, and every
    product of the field says so. A mosaic's detector field (``<field>-<detector>``) uses its
    field's file, or a cut of its own.

    Parameters
    ----------
    field : str
        The field name.
    config : mapping
        The workflow's configuration.
    detector : str
        The detector whose field it is, or empty.

    Returns
    -------
    list of str
        One path, or an empty list when the field has no catalog (a list, so that it can be
        a rule's input either way).
    """
    folder = catalog_dir(config)
    name = field[: -len(detector) - 1] if detector and field.endswith(f"-{detector}") else field
    if folder:
        for suffix in CATALOG_SUFFIXES:
            if os.path.exists(f"{folder}/{name}{suffix}"):
                return [f"{folder}/{name}{suffix}"]
        demo = config["demo"]
        if demo["enabled"] and any(f["name"] == name for f in demo["fields"]):
            return [f"{folder}/{name}.ecsv"]
    if config["reference"].get("catalog"):
        return [f"{CUT_CATALOGS}/{field}.ecsv"]
    if config["reference"]["fetch"]["archive"]:
        return [f"{CUT_CATALOGS}/fetched/{field}.ecsv"]
    return []


def catalog_reading(config: Mapping, band: str | None = None) -> dict:
    """How a rule reads the field catalogs, and the band's colour term: the
    ``reference.catalog_*`` and ``reference.colour_terms`` keys, for a rule's params.

    Parameters
    ----------
    config : mapping
        The workflow's configuration.
    band : str, optional
        The band whose colour term is wanted.

    Returns
    -------
    dict
        ``format``, ``columns``, ``epoch`` (for :func:`astrid.skycal.catalogs.read_catalog`)
        and, with a band, ``colour_term`` ("fit", a number, or None for none).
    """
    reference = config["reference"]
    reading = {
        "format": reference.get("catalog_format", "auto"),
        "columns": dict(reference.get("catalog_columns") or {}),
        "epoch": reference.get("catalog_epoch"),
    }
    if band is not None:
        term = (reference.get("colour_terms") or {}).get(band, "fit")
        reading["colour_term"] = None if term == "none" else term
    return reading


def detector_dir(detector: str) -> str:
    """The ``detector_dir`` wildcard of a detector: empty for a single-detector camera (its
    products keep their paths), ``/<detector>`` for one detector of a mosaic.

    Parameters
    ----------
    detector : str
        The canonical detector name, or empty.

    Returns
    -------
    str
    """
    return f"/{detector}" if detector else ""


def master_paths(night: str, use_dark: bool, detector: str = "") -> dict[str, str]:
    """The master bias (and dark) of a night; flats are per band (:func:`flat_path`).

    Parameters
    ----------
    night : str
        The night (``YYYYMMDD``).
    use_dark : bool
        Whether a master dark is made (``calibration.use_dark``).
    detector : str
        A mosaic's detector (its masters are its own), or empty.

    Returns
    -------
    dict of str to str
        ``"bias"`` (and ``"dark"``) → path of the master, in
        ``results/masters/<night>[/<detector>]/``.
    """
    folder = f"results/masters/{night}{detector_dir(detector)}"
    masters = {"bias": f"{folder}/bias.fits"}
    if use_dark:
        masters["dark"] = f"{folder}/dark.fits"
    return masters


def flat_path(night: str, band: str, detector: str = "") -> str:
    """The master flat of a night in one band.

    Parameters
    ----------
    night : str
        The night (``YYYYMMDD``).
    band : str
        The canonical band name.
    detector : str
        A mosaic's detector, or empty.

    Returns
    -------
    str
        ``results/masters/<night>[/<detector>]/flat_<band>.fits``.
    """
    return f"results/masters/{night}{detector_dir(detector)}/flat_{band}.fits"


def night_targets(
    nights: Nights,
    differenced: Mapping[str, list],
    reduced: Iterable = (),
    detectors: Mapping[str, Iterable[str]] | None = None,
) -> list[str]:
    """Every product a run asks for: each night's summaries (and master frames, where the
    night was calibrated from raw: per detector of a mosaic), and each differenced night's
    scores, drift, alerts and latency; the daily retraining check once anything is scored.

    Parameters
    ----------
    nights : Nights
    differenced : mapping of str to list of str
        The exposures differenced per night (empty on reference nights).
    reduced : iterable of str
        Nights whose frames were reduced already: they have no master frames.
    detectors : mapping of str to iterable of str, optional
        A mosaic's detectors per night (a night not in it: a single detector).

    Returns
    -------
    list of str
    """
    products = []
    for night in nights.all:
        products += [f"results/qa/{night}/summary.html", f"results/qa/{night}/calibration.png"]
        if night not in reduced:
            for detector in (detectors or {}).get(night) or [""]:
                products.append(f"results/qa/{night}{detector_dir(detector)}/masters.png")
        if night in nights.reference:
            continue
        products += [f"results/qa/{night}/difference.png", f"results/qa/{night}/candidates.png"]
        scored = [f"results/scored/{night}/{exposure}.ecsv" for exposure in differenced.get(night, [])]
        if scored:
            products += scored + [
                f"results/drift/{night}.json",
                f"results/qa/{night}/realbogus.png",
                f"results/alerts/{night}/delivery.tsv",
                f"results/qa/{night}/alerts.png",
                f"results/qa/{night}/latency.tsv",
            ]
    if any(differenced.get(night) for night in nights.difference):
        products += [f"{MODEL_DIR}/retraining.json", "results/qa/model.png"]
    return products


def demo_plan(demo: Mapping, night: str) -> dict:
    """What the demo's telescope observes on ``night`` (the simulator's night plan).

    Parameters
    ----------
    demo : mapping
        The ``demo`` section of the configuration.
    night : str
        One of the demo's nights (``YYYYMMDD``).

    Returns
    -------
    dict
        The fields of :class:`astrid.sim.night.NightPlan` that the configuration sets:
        ``night``, ``role`` ("new" or "reference"), ``fields`` ([name, ra, dec] lists),
        ``bands``, ``science_per_field_band``, ``n_bias``, ``n_dark``, ``n_flat``, ``defects``.
    """
    role = "new" if night in (demo["new_night"], demo["followup_night"]) else "reference"
    exposures = {
        demo["reference_night"]: demo["reference_exposures"],
        demo["new_night"]: demo["new_exposures"],
    }
    return {
        "night": night,
        "role": role,
        "fields": [[f["name"], f["ra"], f["dec"]] for f in demo["fields"]],
        "bands": demo["bands"],
        "science_per_field_band": exposures.get(night, demo["followup_exposures"]),
        "n_bias": demo["calibration_frames"],
        "n_dark": demo["calibration_frames"],
        "n_flat": demo["calibration_frames"],
        "defects": demo["defects"],
    }


CHAMPION_ENV = "ASTRID_CHAMPION"


def champion_at_start(environ: Mapping, resolve: Callable[[], tuple]) -> tuple | None:
    """(version, run id) of the real/bogus champion when the run started, or None.

    Resolved once, by ``resolve()`` (which asks the model registry), unless ``environ``
    already carries the answer in ``ASTRID_CHAMPION`` (``"<version>:<run id>"``, empty
    for none): the workflow's main process sets it, and every job it starts inherits it, so
    all of them score with the same model even if another run promotes a new one meanwhile.

    Parameters
    ----------
    environ : mapping
        The process environment.
    resolve : callable
        Returns (version, run id), each None when there is no champion.

    Returns
    -------
    tuple of (int, str) or None
    """
    known = environ.get(CHAMPION_ENV)
    if known is None:
        version, run_id = resolve()
        known = f"{version or ''}:{run_id or ''}"
    version, run_id = known.split(":")
    return (int(version), run_id) if version else None


def exported_model(version: int, run_id: str) -> str:
    """The file a registered model version is exported to: its version and the start of
    its MLflow run id (two model stores can both have a version 1).

    Parameters
    ----------
    version : int
        The registered model version.
    run_id : str
        Its MLflow run id (the first 12 characters are used).

    Returns
    -------
    str
        ``results/models/realbogus/v<version>-<run id[:12]>.pt``.
    """
    return f"{MODEL_DIR}/v{version}-{run_id[:12]}.pt"


def starter_model_path(configured: str | None, repository: Path | str) -> str | None:
    """The starter model file ``realbogus.starter_model`` names, None when it names none or
    the file does not exist (not a reason to stop a night: the site's own model is trained
    as before). A relative path is looked up in the working folder, then in the workflow's
    repository, which ships one.

    Parameters
    ----------
    configured : str or None
        The configured path; empty or None for no starter model.
    repository : pathlib.Path or str
        The workflow's repository (the folder holding ``workflow/``).

    Returns
    -------
    str or None
    """
    if not configured:
        return None
    path = Path(configured)
    if not path.is_absolute() and not path.exists() and (Path(repository) / path).exists():
        path = Path(repository) / path
    return str(path) if path.is_file() else None
