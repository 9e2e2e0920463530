# Shared helpers: nights, the manifest that drives the DAG, scheduling, provenance params.
import csv
import json
import os
from functools import lru_cache
from pathlib import Path

from snakemake.exceptions import WorkflowError

from astrid.names import BAND_PATTERN, EXPOSURE_PATTERN, FIELD_PATTERN
from astrid.provenance import library_digest


wildcard_constraints:
    night=r"[0-9]{8}",
    version=r"[0-9]+",
    run=r"[0-9a-f]{12}",
    # Canonical names (astrid.names): ingest makes every exposure, field and band match.
    exposure=EXPOSURE_PATTERN,
    band=BAND_PATTERN,
    field=FIELD_PATTERN,


# --- portable resources: what a job needs; profiles (profiles/*) map them onto a site.

# Minutes one per-frame job (calibrate, align, subtract, detect, score a 4096² frame) may
# take on a cluster. Each takes seconds on 2 cores (a 4096² subtraction about 6 s,
# alignment about 7 s): 15 minutes leaves room for slow nodes and busy file systems, never
# past the processing timeout that stops a hung frame. Grouped frame jobs add theirs up.
FRAME_RUNTIME = min(15, config["processing_timeout_minutes"])


def grows_on_retry(mem_mb):
    """mem_mb of a rule: its usual need on the first attempt, twice that on the second...
    A cluster that killed a job at its memory limit gets the retry (profiles set
    `retries`) with more; run locally, the first attempt is the only one."""
    return lambda wildcards, attempt: mem_mb * attempt


DEMO = config["demo"]
DEMO_RAW = "results/demo/raw"
CALIBRATION = config["calibration"]

if DEMO["enabled"] and config["raw_dir"] != DEMO_RAW:
    raise ValueError(
        f"config key 'raw_dir' is {config['raw_dir']!r} but demo.enabled is true: the demo "
        f"writes its frames to {DEMO_RAW}. Set demo.enabled: false to process your own frames."
    )


# The real/bogus training splits whole frames three ways (training_set.assign_splits): a demo
# whose new night has fewer frames could never train its first model. Say so before any job.
if DEMO["enabled"] and not config["realbogus"]["training_nights"]:
    _demo_frames = DEMO["new_exposures"] * len(DEMO["fields"]) * len(DEMO["bands"])
    if _demo_frames < 3:
        raise WorkflowError(
            f"the demo's new night has {_demo_frames} science frame(s) (demo.new_exposures × "
            "fields × bands); training the real/bogus model needs at least 3 (train, validation "
            "and test frames): raise demo.new_exposures"
        )


def configured_nights():
    """Nights of this run: config 'nights', else the demo's, else every YYYYMMDD folder."""
    if config["nights"]:
        return list(config["nights"])
    if DEMO["enabled"]:
        nights = [DEMO["reference_night"], DEMO["new_night"], DEMO["followup_night"]]
        return [night for night in nights if night]
    raw = Path(config["raw_dir"])
    if not raw.is_dir():
        raise ValueError(f"config key 'raw_dir': folder {raw} does not exist")
    return sorted(
        p.name
        for p in raw.iterdir()
        if p.is_dir() and p.name.isdigit() and len(p.name) == 8
    )


REFERENCE = config["reference"]
REFERENCE_NIGHTS = REFERENCE["nights"] or (
    [DEMO["reference_night"]] if DEMO["enabled"] else []
)
DEMO_CATALOGS = "results/demo/catalogs"
CATALOG_DIR = REFERENCE["catalog_dir"] or (DEMO_CATALOGS if DEMO["enabled"] else None)
# Reference nights are ingested and calibrated too, whatever the list of nights says.
NIGHTS = sorted(set(configured_nights()) | set(REFERENCE_NIGHTS))


def raw_night_dir(wildcards):
    return f"{DEMO_RAW if DEMO['enabled'] else config['raw_dir']}/{wildcards.night}"


def raw_night_listing(wildcards):
    """Every frame's name, size, time and whether it has settled (ingest.settle_seconds):
    a frame that arrives, is completed in place or settles after it was seen arriving makes
    the night be ingested again. The demo's nights are written whole by their rule."""
    if DEMO["enabled"]:
        return ""
    from astrid.ingest import (
        night_listing,
    )  # astropy, pandas: only when a night is ingested

    return night_listing(raw_night_dir(wildcards), config["ingest"]["settle_seconds"])


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


def manifest_rows(night):
    return _manifest(night)[0]


def frames_of(night, frame_type, band=None):
    return [
        row
        for row in manifest_rows(night)
        if row["frame_type"] == frame_type and (band is None or row["band"] == band)
    ]


def manifest_row(night, exposure):
    row = _manifest(night)[1].get(exposure)
    if row is None:
        raise ValueError(f"exposure {exposure} is not in the manifest of night {night}")
    return row


# Science frames already calibrated when this run started: they stay targets, and at most
# max_observations new ones (oldest first) join them. Taken once, at parse time, so that the
# choice does not move while the run creates files.
CALIBRATED_AT_START = {str(p) for p in Path("results/calibrated").glob("*/*.fits")}


def calibrated_path(night, exposure):
    return f"results/calibrated/{night}/{exposure}.fits"


def scheduled_exposures(night):
    """Science exposures of ``night`` to calibrate in this run (see max_observations)."""
    # Every night's manifest is needed (and waited for) before the oldest-first choice.
    versions = tuple((n, _manifest_version(n)) for n in NIGHTS)
    return _schedule(versions).get(night, [])


@lru_cache(maxsize=None)
def _schedule(versions):
    """Night → exposures chosen for this run, computed once per set of manifest versions."""
    pending, done = [], set()
    for n, _ in versions:
        for row in frames_of(n, "science"):
            key = (float(row["mjd"]), n, row["exposure"])
            if calibrated_path(n, row["exposure"]) in CALIBRATED_AT_START:
                done.add(key)
            else:
                pending.append(key)
    chosen = done | set(sorted(pending)[: config["max_observations"]])
    schedule = {}
    for _, n, exposure in sorted(chosen):
        schedule.setdefault(n, []).append(exposure)
    return schedule


def master_bands(night):
    """Bands of the night that have science frames to calibrate."""
    return sorted({manifest_row(night, e)["band"] for e in scheduled_exposures(night)})


def differenced_exposures(night):
    """Science exposures of ``night`` to difference: none on a reference night."""
    return [] if night in REFERENCE_NIGHTS else scheduled_exposures(night)


def reference_path(night, exposure):
    """The reference of an exposure's field and band: a supplied template, else built."""
    row = manifest_row(night, exposure)
    if REFERENCE["templates_dir"]:
        supplied = (
            Path(REFERENCE["templates_dir"]) / f"{row['field']}_{row['band']}.fits"
        )
        if supplied.exists():
            return str(supplied)
    return f"results/references/{row['field']}/{row['band']}.fits"


def reference_frames(wildcards):
    """Calibrated frames of the reference nights for one field and band."""
    versions = tuple((n, _manifest_version(n)) for n in NIGHTS)
    return list(_reference_index(versions).get((wildcards.field, wildcards.band), []))


@lru_cache(maxsize=None)
def _reference_index(versions):
    """(field, band) → calibrated frames of the reference nights, built once, not per job."""
    index = {}
    for night in REFERENCE_NIGHTS:
        for exposure in scheduled_exposures(night):
            row = manifest_row(night, exposure)
            index.setdefault((row["field"], row["band"]), []).append(
                calibrated_path(night, exposure)
            )
    return index


def reference_catalog(wildcards):
    """The field's catalog, if there is one: a site's file in catalog_dir, or the demo's
    (made by a rule). A field without one still gets its reference, on the header WCS with
    instrumental magnitudes; the reference and every alert of the field say so."""
    if not CATALOG_DIR:
        return []
    path = f"{CATALOG_DIR}/{wildcards.field}.ecsv"
    made_by_demo = CATALOG_DIR == DEMO_CATALOGS and any(
        f["name"] == wildcards.field for f in DEMO["fields"]
    )
    return [path] if made_by_demo or os.path.exists(path) else []


def night_products(wildcards):
    products = []
    for night in NIGHTS:
        products += [
            f"results/qa/{night}/summary.html",
            f"results/qa/{night}/calibration.png",
            f"results/qa/{night}/masters.png",
        ]
        if night not in REFERENCE_NIGHTS:
            products += [
                f"results/qa/{night}/difference.png",
                f"results/qa/{night}/candidates.png",
            ]
            scored = [
                f"results/scored/{night}/{exposure}.ecsv"
                for exposure in differenced_exposures(night)
            ]
            if scored:
                products += scored + [
                    f"results/drift/{night}.json",
                    f"results/qa/{night}/realbogus.png",
                    f"results/alerts/{night}/delivery.tsv",
                    f"results/qa/{night}/alerts.png",
                    f"results/qa/{night}/latency.tsv",
                ]
    # The daily retraining check, once there is anything scored to check.
    if any(differenced_exposures(night) for night in DIFFERENCE_NIGHTS):
        products.append(f"{MODEL_DIR}/retraining.json")
        products.append("results/qa/model.png")
    return products


# --- the real/bogus model (rules/realbogus.smk, score.smk, drift.smk)

REALBOGUS = config["realbogus"]
DIFFERENCE_NIGHTS = [n for n in NIGHTS if n not in REFERENCE_NIGHTS]
# The demo trains on its new night; the follow-up night stays unseen (the drift check's case).
TRAINING_NIGHTS = REALBOGUS["training_nights"] or (
    [DEMO["new_night"]] if DEMO["enabled"] else DIFFERENCE_NIGHTS
)
MODEL_DIR = "results/models/realbogus"


def demo_truth(wildcards):
    return [f"results/demo/truth/{wildcards.night}.fits"] if DEMO["enabled"] else []


def training_samples(nights):
    return [
        f"results/training/samples/{night}/{exposure}.fits"
        for night in nights
        for exposure in differenced_exposures(night)
    ]


def dataset_manifest(wildcards):
    from astrid.training_set import resolve_manifest

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
    return {**REALBOGUS["training"], "seed": REALBOGUS["seed"]}


def _champion_at_start():
    """The champion (version, run id) when this workflow started, resolved once, or None.

    The answer travels to every job (local or SLURM) in ASTRID_CHAMPION, so all of them
    score with the same model even if another run promotes a new one meanwhile. Read only:
    the exported file is named by version and run (exported_model), so an export left by
    another model store is never mistaken for this one's and nothing needs removing.
    """
    known = os.environ.get("ASTRID_CHAMPION")
    if known is None:
        from astrid.lifecycle import ARCHITECTURE  # scipy, astropy: 1 s; only here
        from astrid.registry import champion, tracking_uri

        # A champion of another network (from before an upgrade) cannot score: the run
        # then trains a model of this code's network first, as with no champion.
        version, run_id = champion(
            tracking_uri(), REALBOGUS["model_name"], ARCHITECTURE
        )
        known = f"{version or ''}:{run_id or ''}"
        # Internal, not the user's: set here in the main process, inherited by the jobs.
        os.environ.setdefault("ASTRID_CHAMPION", known)
    version, run_id = known.split(":")
    return (int(version), run_id) if version else None


CHAMPION_AT_START = _champion_at_start()


def exported_model(version, run_id):
    """The file a registered version is exported to: its version and the start of its
    MLflow run id (two model stores can both have a version 1)."""
    return f"{MODEL_DIR}/v{version}-{run_id[:12]}.pt"


def champion_model(wildcards):
    """The exported champion the scores are made with; with no champion yet, the model
    that the first training promotes."""
    if CHAMPION_AT_START is not None:
        return exported_model(*CHAMPION_AT_START)
    with open(checkpoints.train_realbogus.get().output[0]) as handle:
        decision = json.load(handle)
    if decision["champion_after"] is None:
        raise WorkflowError(
            f"no real/bogus model passed the gate: {decision['reason']} "
            f"(see {checkpoints.train_realbogus.get().output[0]})"
        )
    return exported_model(decision["champion_after"], decision["run_id"])


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
    """How many alerts earlier runs failed to deliver (0 without a database yet). Read only:
    reading the workflow writes nothing."""
    from astrid.objects import DATABASE_ENV, connect, default_path

    if not os.environ.get(DATABASE_ENV) and not default_path().exists():
        return 0
    db = connect(read_only=True)
    try:
        return db.execute(
            "SELECT count(*) FROM deliveries WHERE status = 'failed'"
        ).fetchone()[0]
    except Exception as error:  # SQLite's or PostgreSQL's "no such table"
        if "deliveries" in str(error):  # no schema yet
            return 0
        raise
    finally:
        db.close()


# --- the demo (rules/demo.smk)


def demo_field(wildcards):
    return next(f for f in DEMO["fields"] if f["name"] == wildcards.field)


def demo_plan(wildcards):
    role = (
        "new"
        if wildcards.night in (DEMO["new_night"], DEMO["followup_night"])
        else "reference"
    )
    exposures = {
        DEMO["reference_night"]: DEMO["reference_exposures"],
        DEMO["new_night"]: DEMO["new_exposures"],
    }.get(wildcards.night, DEMO["followup_exposures"])
    return {
        "night": wildcards.night,
        "role": role,
        "fields": [[f["name"], f["ra"], f["dec"]] for f in DEMO["fields"]],
        "bands": DEMO["bands"],
        "science_per_field_band": exposures,
        "n_bias": DEMO["calibration_frames"],
        "n_dark": DEMO["calibration_frames"],
        "n_flat": DEMO["calibration_frames"],
        "defects": DEMO["defects"],
    }


# --- calibration (rules/calibrate.smk)


MASTER_KEYS = ("min_frames", "clip_sigma", "overscan_smoothing_rows")


def calibration_params(*keys):
    """Only the calibration settings a rule uses, so a change reruns just those rules."""
    return {key: CALIBRATION[key] for key in MASTER_KEYS + keys}


def manifest_frames(frame_type):
    """Manifest rows of the night's frames of one type (and of the rule's band, if any)."""

    def rows(wildcards):
        return frames_of(wildcards.night, frame_type, wildcards.get("band"))

    return rows


def raw_paths(frame_type):
    """Raw files of the night's frames of one type (and band): the rule's inputs."""

    def paths(wildcards):
        return [row["path"] for row in manifest_frames(frame_type)(wildcards)]

    return paths


def science_masters(wildcards):
    band = manifest_row(wildcards.night, wildcards.exposure)["band"]
    masters = {
        "bias": f"results/masters/{wildcards.night}/bias.fits",
        "flat": f"results/masters/{wildcards.night}/flat_{band}.fits",
    }
    if CALIBRATION["use_dark"]:
        masters["dark"] = f"results/masters/{wildcards.night}/dark.fits"
    return masters
