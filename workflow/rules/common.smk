# What the rules share: wildcard constraints, portable resources, and the input functions
# that ask Snakemake for the nights' manifests (the ingest checkpoint) and pass them to the
# planning library (astrid.pipeline.planning), where every choice is made and tested.
import csv
import json
import os
from functools import lru_cache
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.logging import logger

from astrid.ingest.files import night_listing
from astrid.io.names import (
    BAND_PATTERN,
    DETECTOR_PATTERN,
    EXPOSURE_PATTERN,
    FIELD_PATTERN,
    frame_band,
)
from astrid.io.provenance import script_digest
from astrid.pipeline import planning


wildcard_constraints:
    night=r"[0-9]{8}",
    version=r"[0-9]+",
    run=r"[0-9a-f]{12}",
    # Canonical names (astrid.io.names): ingest makes every exposure, field and band match.
    exposure=EXPOSURE_PATTERN,
    band=BAND_PATTERN,
    field=FIELD_PATTERN,
    # Empty for a single-detector camera; a slash and the detector's name for one detector
    # of a mosaic, whose masters are its own (planning.detector_dir).
    detector_dir=f"(/{DETECTOR_PATTERN})?",


# --- portable resources: what a job needs; profiles (profiles/*) map them onto a site.

# Minutes one per-frame job (calibrate, align, subtract, detect, score a 4096² frame) may
# take on a cluster. Each takes seconds on 2 cores (a 4096² subtraction about 6 s,
# alignment about 7 s): 15 minutes leaves room for slow nodes and busy file systems, never
# past the processing timeout that stops a hung frame. Grouped frame jobs add theirs up.
FRAME_RUNTIME = min(15, config["processing_timeout_minutes"])


# Priority of the rules between a raw frame and its alert: when jobs wait for cores, these
# go first, and the training samples, drift checks and summaries after them.
ALERT_PATH = 10


def grows_on_retry(mem_mb):
    """mem_mb of a rule: its usual need on the first attempt, twice that on the second...
    A cluster that killed a job at its memory limit gets the retry (profiles set
    `retries`) with more; run locally, the first attempt is the only one."""
    return lambda wildcards, attempt: mem_mb * attempt


DEMO = config["demo"]
CALIBRATION = config["calibration"]
REFERENCE = config["reference"]
DEMO_CATALOGS = REFERENCE["catalog_dir"] or planning.CATALOGS
REALBOGUS = config["realbogus"]

planning.check_demo(config)
_NIGHTS = planning.plan_nights(config)
NIGHTS = _NIGHTS.all
REFERENCE_NIGHTS = _NIGHTS.reference
DIFFERENCE_NIGHTS = _NIGHTS.difference
TRAINING_NIGHTS = _NIGHTS.training
MODEL_DIR = planning.MODEL_DIR


def is_reduced(night):
    """Whether the night's frames are reduced already (reduced.nights, reduced.all_nights)."""
    return planning.is_reduced(night, config)


def raw_night_dir(wildcards):
    return f"{planning.raw_dir(config)}/{wildcards.night}"


def raw_night_listing(wildcards):
    """Every frame's name, size, time and whether it has arrived (complete, or settled:
    ingest.settle_seconds, ingest.arrive_when_complete): a frame that arrives, is completed
    in place or settles after it was seen arriving makes the night be ingested again. The
    demo's nights are written whole by their rule."""
    if DEMO["enabled"]:
        return ""
    ingest = config["ingest"]
    return night_listing(
        raw_night_dir(wildcards),
        ingest["settle_seconds"],
        when_complete=ingest["arrive_when_complete"],
    )


@lru_cache(maxsize=None)
def _read_manifest(path, mtime):
    """The manifest's rows and an index by exposure (cached: input functions call often)."""
    with open(path, newline="") as handle:
        rows = tuple(csv.DictReader(handle, delimiter="\t"))
    return rows, {row["exposure"]: row for row in rows}


# Nights whose ingest checkpoint is done in this run: it does not run again, so asking
# Snakemake once is enough (each ask expands the rule's output, ~80 us, on every call of
# every input function).
_INGESTED = {}


def _manifest_version(night):
    """(path, mtime) of a night's manifest; waits for the ingest checkpoint of that night."""
    path = _INGESTED.get(night)
    if path is None:
        path = _INGESTED[night] = checkpoints.ingest_night.get(
            night=night
        ).output.manifest
    return path, os.path.getmtime(path)


def _manifest(night):
    """Rows of a night's manifest and their index by exposure."""
    return _read_manifest(*_manifest_version(night))


def _all_manifests():
    """Every night's manifest version (waiting for every night's ingest)."""
    return tuple((n, _manifest_version(n)) for n in NIGHTS)


def frames_of(night, frame_type, band=None, detector=""):
    return [
        row
        for row in _manifest(night)[0]
        if row["frame_type"] == frame_type
        and (band is None or row["band"] == band)
        and row.get("detector", "") == detector
    ]


def night_detectors(night):
    """A mosaic's detectors in the night (empty for a single-detector camera)."""
    return sorted({row.get("detector", "") for row in _manifest(night)[0]} - {""})


def wildcard_detector(wildcards):
    """The detector a rule's ``detector_dir`` wildcard names ("" for a single detector)."""
    return wildcards.get("detector_dir", "").lstrip("/")


def manifest_row(night, exposure):
    """The manifest row of an exposure, its field named across nights where it was named
    from its pointing (planning.field_names)."""
    row = _manifest(night)[1].get(exposure)
    if row is None:
        raise ValueError(f"exposure {exposure} is not in the manifest of night {night}")
    if row.get("field_source") == "pointing":
        field = _field_names(_all_manifests()).get((night, exposure), row["field"])
        if field != row["field"]:
            row = {**row, "field": field}
    return row


@lru_cache(maxsize=None)
def _field_names(versions):
    """(night, exposure) → field of the frames named from pointings, once per manifest set."""
    manifests = {night: _read_manifest(*version)[0] for night, version in versions}
    return planning.field_names(manifests, config["ingest"]["field_radius_arcmin"])


# Science frames already calibrated when this run started: they stay targets, and at most
# max_observations new ones (oldest first) join them. Taken once, at parse time, so that the
# choice does not move while the run creates files.
CALIBRATED_AT_START = {str(p) for p in Path("results/calibrated").glob("*/*.fits")}


@lru_cache(maxsize=None)
def _schedule(versions):
    """Night → exposures chosen for this run, once per set of manifest versions."""
    manifests = {night: _read_manifest(*version)[0] for night, version in versions}
    return planning.choose_exposures(
        manifests, CALIBRATED_AT_START, config["max_observations"]
    )


def scheduled_exposures(night):
    """Science exposures of ``night`` to calibrate in this run (see max_observations)."""
    return _schedule(_all_manifests()).get(night, [])


def master_bands(night, detector=""):
    """Bands of the night that have science frames to calibrate (on one detector)."""
    rows = [manifest_row(night, e) for e in scheduled_exposures(night)]
    return sorted({row["band"] for row in rows if row.get("detector", "") == detector})


def differenced_exposures(night):
    """Science exposures of ``night`` to difference: none on a reference night."""
    return [] if night in REFERENCE_NIGHTS else scheduled_exposures(night)


@lru_cache(maxsize=None)
def _supplied_templates():
    """The plain templates of reference.templates_dir, read once per run; the files that
    cannot serve are named in the run's log."""
    folder = REFERENCE["templates_dir"]
    if not folder or not Path(folder).is_dir():
        return ()
    from astrid.imaging.templates import supplied_templates  # astropy: only when needed

    ingest = config["ingest"]
    templates, skipped = supplied_templates(
        folder,
        lambda header: frame_band(header, ingest["band_keywords"], ingest["band_map"]),
    )
    for reason in skipped:
        logger.warning(f"supplied template not used: {reason}")
    return tuple(templates)


def reference_path(night, exposure):
    """The reference of an exposure's field and band: supplied, imported, else built."""
    return planning.reference_path(
        manifest_row(night, exposure), REFERENCE["templates_dir"], _supplied_templates()
    )


def _field_rows(field, band=None):
    """Manifest rows of the science exposures of a field (in a band) on every night."""
    rows = (
        manifest_row(night, exposure)
        for night in NIGHTS
        for exposure in scheduled_exposures(night)
    )
    return [
        row
        for row in rows
        if row["field"] == field and (band is None or row["band"] == band)
    ]


def template_image(wildcards):
    """The plain template (and its weight and mask files) a field's reference is imported
    from."""
    for row in _field_rows(wildcards.field, wildcards.band):
        source = planning.template_source(
            row, REFERENCE["templates_dir"], _supplied_templates()
        )
        if source:
            from astrid.imaging.templates import sidecar_paths

            return {"image": source, "planes": sidecar_paths(source)}
    raise WorkflowError(
        f"no supplied template covers field {wildcards.field} in band {wildcards.band}"
    )


def field_templates(wildcards):
    """The plain templates serving a field, in any band (they widen its catalog's cut)."""
    sources = {
        planning.template_source(row, REFERENCE["templates_dir"], _supplied_templates())
        for row in _field_rows(wildcards.field)
    }
    return sorted(sources - {None})


@lru_cache(maxsize=None)
def _reference_index(versions):
    """(field, band) → calibrated frames of the reference nights, built once, not per job."""
    manifests = {
        night: {
            exposure: manifest_row(night, exposure)
            for exposure in _read_manifest(*version)[1]
        }
        for night, version in versions
    }
    return planning.reference_index(manifests, _schedule(versions), REFERENCE_NIGHTS)


def reference_frames(wildcards):
    """Calibrated frames of the reference nights for one field and band."""
    index = _reference_index(_all_manifests())
    return list(index.get((wildcards.field, wildcards.band), []))


@lru_cache(maxsize=None)
def _field_detectors(versions):
    """field → detector of a mosaic's detector fields (<field>-<detector>)."""
    return {
        manifest_row(night, row["exposure"])["field"]: row["detector"]
        for night, version in versions
        for row in _read_manifest(*version)[0]
        if row.get("detector") and row["frame_type"] == "science"
    }


def reference_catalog(wildcards):
    detector = _field_detectors(_all_manifests()).get(wildcards.field, "")
    return planning.field_catalog(wildcards.field, config, detector)


def field_reference_frames(wildcards):
    """Calibrated frames of the reference nights for one field, every band."""
    index = _reference_index(_all_manifests())
    return sorted(
        {
            p
            for (field, _), paths in index.items()
            if field == wildcards.field
            for p in paths
        }
    )


def night_products(wildcards):
    differenced = {night: differenced_exposures(night) for night in NIGHTS}
    return planning.night_targets(
        _NIGHTS,
        differenced,
        [n for n in NIGHTS if is_reduced(n)],
        {night: night_detectors(night) for night in NIGHTS},
    )


# --- the real/bogus model (rules/realbogus.smk, score.smk, drift.smk)


def demo_truth(wildcards):
    return [f"results/demo/truth/{wildcards.night}.fits"] if DEMO["enabled"] else []


def training_samples(nights):
    return [
        f"results/training/samples/{night}/{exposure}.fits"
        for night in nights
        for exposure in differenced_exposures(night)
    ]


def dataset_manifest(wildcards):
    from astrid.realbogus.training_set import resolve_manifest

    return str(
        resolve_manifest(
            REALBOGUS["dataset_version"],
            "results/training/dataset.json",
            "results/training/datasets",
        )
    )


def lifecycle_settings():
    keys = ("model_name", "experiment", "threshold", "target_fpr", "min_f1_score")
    return {key: REALBOGUS[key] for key in keys}


def training_settings():
    """The network's training choices (``TrainSettings``); ``from_starter`` goes as its own param."""
    choices = {k: v for k, v in REALBOGUS["training"].items() if k != "from_starter"}
    return {**choices, "seed": REALBOGUS["seed"]}


@lru_cache(maxsize=1)
def _starter_model():
    path = planning.starter_model_path(
        REALBOGUS["starter_model"], Path(workflow.basedir).parent
    )
    if path is None and REALBOGUS["starter_model"]:
        # Not a reason to stop the night: the site's own model is trained as before.
        logger.warning(
            f"realbogus.starter_model: {REALBOGUS['starter_model']} does not exist; going "
            "without a starter model (`make starter-model` trains one; an empty value "
            "silences this)"
        )
    return path or []


def starter_model(wildcards):
    """The starter model registered as champion when the store has none (its path; [] when
    the config names none or it is missing). A relative path is looked up in the working
    directory, then in the workflow's own repository (which ships one)."""
    return _starter_model()


def _resolve_champion():
    # scipy, astropy: 1 s; only when no job has inherited the answer
    from astrid.realbogus.scoring import ARCHITECTURE
    from astrid.realbogus.registry import champion, tracking_uri

    # A champion of another network (from before an upgrade) cannot score: the run then
    # trains a model of this code's network first, as with no champion.
    return champion(tracking_uri(), REALBOGUS["model_name"], ARCHITECTURE)


# Read only: the exported file is named by version and run (planning.exported_model), so
# an export left by another model store is never mistaken for this one's.
CHAMPION_AT_START = planning.champion_at_start(os.environ, _resolve_champion)
# Internal, not the user's: set in the main process, inherited by every job it starts.
os.environ.setdefault(
    planning.CHAMPION_ENV, ":".join(map(str, CHAMPION_AT_START or ("", "")))
)


def champion_model(wildcards):
    """The exported champion the scores are made with; with no champion yet, the model
    that the first training promotes; none when no model could be trained (nothing to
    learn from: then only frames without candidates can be scored)."""
    if CHAMPION_AT_START is not None:
        return planning.exported_model(*CHAMPION_AT_START)
    if problem := planning.too_few_training_frames(config):
        raise WorkflowError(problem)
    with open(checkpoints.train_realbogus.get().output[0]) as handle:
        decision = json.load(handle)
    if decision["champion_after"] is not None:
        # The starter model may stay champion: its run is not this training's.
        run = decision.get("champion_run_id") or decision["run_id"]
        return planning.exported_model(decision["champion_after"], run)
    if decision["run_id"] is None:
        return []  # nothing to learn from
    raise WorkflowError(
        f"no real/bogus model passed the gate: {decision['reason']} "
        f"(see {checkpoints.train_realbogus.get().output[0]})"
    )


# --- objects and alerts (rules/alerts.smk)


def night_files(kind, night, extension):
    return [
        f"results/{kind}/{night}/{exposure}.{extension}"
        for exposure in differenced_exposures(night)
    ]


def previous_night_alerts(wildcards):
    earlier = [
        n for n in DIFFERENCE_NIGHTS if n < wildcards.night and differenced_exposures(n)
    ]
    return [f"results/alerts/{earlier[-1]}/alerts.tsv"] if earlier else []


def undelivered_alerts():
    """How many alerts earlier runs failed to deliver (read only: reading the workflow
    writes nothing); a change makes the delivery job run again."""
    from astrid.alerts.delivery import count_failed

    return count_failed()


# --- the demo (rules/demo.smk)


def demo_field(wildcards):
    return next(f for f in DEMO["fields"] if f["name"] == wildcards.field)


def demo_plan(wildcards):
    return planning.demo_plan(DEMO, wildcards.night)


# --- calibration (rules/calibrate.smk)


MASTER_KEYS = ("min_frames", "clip_sigma", "overscan_smoothing_rows")


def calibration_params(*keys):
    """Only the calibration settings a rule uses, so a change reruns just those rules."""
    return {key: CALIBRATION[key] for key in MASTER_KEYS + keys}


def manifest_frames(frame_type):
    """Manifest rows of the night's frames of one type (and of the rule's band, if any)."""

    def rows(wildcards):
        return frames_of(
            wildcards.night,
            frame_type,
            wildcards.get("band"),
            wildcard_detector(wildcards),
        )

    return rows


def raw_paths(frame_type):
    """Raw files of the night's frames of one type (and band): the rule's inputs."""

    def paths(wildcards):
        return [row["path"] for row in manifest_frames(frame_type)(wildcards)]

    return paths


def reduced_settings(night, exposure):
    """The reduced.* settings that import a reduced frame; None for a raw frame."""
    if manifest_row(night, exposure).get("reduced") != "True":
        return None
    return {
        k: v for k, v in config["reduced"].items() if k not in ("all_nights", "nights")
    }


def night_masters(wildcards):
    """The master bias (and dark) of the rule's night (and detector)."""
    return planning.master_paths(
        wildcards.night, CALIBRATION["use_dark"], wildcard_detector(wildcards)
    )


def science_masters(wildcards):
    """The masters a science frame is calibrated with: bias, dark and its band's flat (of
    its detector); none for a reduced frame, which is imported as it is."""
    row = manifest_row(wildcards.night, wildcards.exposure)
    if row.get("reduced") == "True":
        return {}
    detector = row.get("detector", "")
    return {
        **planning.master_paths(wildcards.night, CALIBRATION["use_dark"], detector),
        "flat": planning.flat_path(wildcards.night, row["band"], detector),
    }
