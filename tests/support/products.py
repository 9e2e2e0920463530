"""Two results/ folders compared product by product, less what legitimately differs between
two runs: timing files, MLflow run ids, and content hashes (compared on their own by
:func:`content_hashes`). Used by the kill-and-resume test (tests/e2e/test_interrupt.py) and
to show that a refactoring changed no product:

    python tests/support/products.py RUN_A RUN_B [--code-changed]

``--code-changed`` also leaves out the code digest (``ASTRIDV``), which names the library's
bytes and so changes with any edit of it, and the header checksums that cover it (the data
checksums, ``DATASUM``, are still compared).
"""

import argparse
import fnmatch
import json
import re
import sys
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.table import Table

# What legitimately differs between two runs, and is left out of the comparison (FITS
# CHECKSUM and DATASUM cards are not: astrid.fitsio.write_atomic writes them with a fixed
# comment, so the same content has the same bytes):
# - files that record when or how long something ran: Snakemake's marker in each
#   directory() output (its modification time is the point) and the per-rule wall time and
#   memory table and figure made from the benchmark files.
# - the model's history (qa/model.tsv and .png): when each version was registered and
#   each retraining decision made, from each folder's own MLflow store; and each night's
#   latency table and figure (qa/<night>/latency.tsv, .png): when each frame's first alert
#   was written.
TIMING_FILES = {
    ".snakemake_timestamp",
    "qa/operations.tsv",
    "qa/operations.png",
    "qa/model.tsv",
    "qa/model.png",
    "latency.tsv",
    "latency.png",
    "report.html",  # the report embeds the timing figures above
}
# - the ingest's memory of each raw file (manifest/<night>.inspected.json), keyed by the
#   files' modification times: a cache, not a product.
INGEST_MEMORY = re.compile(r"^manifest/[0-9]{8}\.inspected\.json$")
# - MLflow run ids (uuid4) and the store's address: two stores never share them. They are
#   checked within each folder instead (test_each_store_holds_one_training_run...).
RUN_ID_KEYS = {"run_id", "champion_run_id", "tracking_uri", "RBRUNID"}
# Content hashes of files (the sha256 of a product's bytes) are compared on their own
# (test_content_hashes_...), so that a failure there names the hash and not every product
# that records it:
# - provenance keywords (RAWSHA, MBIASSHA, CALSHA, REFSHA, ALNSHA, DIFSHA...) in FITS
#   headers and the tables' meta, and the packets' reference_sha256;
# - the training set's version (a hash of its sample files' sha256) and where it shows:
#   dataset_version / champion_dataset in JSON and the exported model, the manifest's
#   "version" and file name, and the drift figure's "training set <version>" label.
HASH_KEYWORDS = ["*SHA"]
HASH_FIELDS = {"sha256", "reference_sha256", "dataset_version", "champion_dataset"}
# - the keys of the alerts' ledger entries (alerts/<night>/frames/<exposure>/entry.json,
#   astrid.alerts.night): hashes of the frame's input files (whose bytes name the MLflow
#   run) and of the run's context, which names the object database by its creation time.
LEDGER_KEYS = {"digest", "key"}
LEDGER_ENTRY = re.compile(r"^alerts/[0-9]{8}/frames/[^/]+/entry\.json$")
DATASET_FILE = re.compile(r"^training/datasets/[0-9a-f]{12}\.json$")
# Exported models are named by version and MLflow run (v1-<12 hex>.pt): compared by version.
EXPORTED_MODEL = re.compile(r"^(models/realbogus/v[0-9]+)-[0-9a-f]{12}(\.pt|\.json)$")
SHOWS_DATASET_VERSION = re.compile(r"^qa/[0-9]{8}/realbogus\.png$")
# Every table of the object database, less the columns that record when a row was
# written (written_mjd, delivered_mjd, applied_mjd: the clock's MJD).
OBJECT_QUERIES = {
    "objects": "SELECT * FROM objects",
    "detections": "SELECT * FROM detections",
    "forced_photometry": "SELECT * FROM forced_photometry",
    "alerts": "SELECT alert_id, candidate_id, object_id, night, packet FROM alerts",
    "deliveries": "SELECT alert_id, channel, status, attempts, last_error FROM deliveries",
    "schema_migrations": "SELECT version FROM schema_migrations",
}


# The code digest (the library's bytes), and the header checksum that covers it: compared
# only when the code is the same. DATASUM, the data's checksum, is always compared.
CODE_KEYWORDS = ["ASTRIDV", "CHECKSUM"]


def product_files(workdir):
    """Relative path → file of everything under results/, hidden files included."""
    root = workdir / "results"
    return {str(p.relative_to(root)): p for p in root.rglob("*") if p.is_file()}


def comparable_products(workdir):
    """Name → file of the products to compare: the training-set manifest under a name
    without its version, no timing files, no MLflow artifacts (kept in folders named by
    run id), no temporary files (see test_no_partial_files_are_left_behind)."""
    products = {}
    for relative, path in product_files(workdir).items():
        if Path(relative).name in TIMING_FILES or relative in TIMING_FILES or INGEST_MEMORY.match(relative):
            continue
        if relative.startswith("mlflow/") or ".tmp" in Path(relative).name:
            continue
        relative = DATASET_FILE.sub("training/datasets/<version>.json", relative)
        products[EXPORTED_MODEL.sub(r"\1-<run>\2", relative)] = path
    return products


def fits_differences(path_a, path_b):
    try:
        diff = fits.FITSDiff(str(path_a), str(path_b), ignore_keywords=HASH_KEYWORDS, rtol=0.0, atol=0.0)
    except (OSError, TypeError, ValueError):  # not readable as FITS (the demo's truncated frame)
        return [] if path_a.read_bytes() == path_b.read_bytes() else ["bytes differ (unreadable FITS)"]
    return [] if diff.identical else [diff.report()[-3000:]]


def is_hash_keyword(key):
    return any(fnmatch.fnmatch(key, pattern) for pattern in HASH_KEYWORDS)


def table_differences(path_a, path_b):
    ta, tb = (Table.read(p, format="ascii.ecsv") for p in (path_a, path_b))
    found = []
    skip = RUN_ID_KEYS
    meta_a, meta_b = (
        {k: v for k, v in t.meta.items() if k not in skip and not is_hash_keyword(k)} for t in (ta, tb)
    )
    keys = sorted(k for k in set(meta_a) | set(meta_b) if meta_a.get(k) != meta_b.get(k))
    found += [f"meta {k}: {meta_a.get(k)!r} vs {meta_b.get(k)!r}" for k in keys]
    if ta.colnames != tb.colnames or len(ta) != len(tb):
        return found + [f"columns × rows {ta.colnames}×{len(ta)} vs {tb.colnames}×{len(tb)}"]
    for name in ta.colnames:
        ca, cb = np.asarray(ta[name]), np.asarray(tb[name])
        if not np.array_equal(ca, cb, equal_nan=ca.dtype.kind == "f"):
            rows = np.flatnonzero(ca != cb)[:3]
            found.append(f"column {name}: rows {list(rows)}: {list(ca[rows])} vs {list(cb[rows])}")
    return found


def without(value, keys):
    """``value`` (JSON or an Avro record) without the dict entries named in ``keys``."""
    if isinstance(value, dict):
        return {k: without(v, keys) for k, v in value.items() if k not in keys}
    if isinstance(value, list):
        return [without(v, keys) for v in value]
    return value


def json_differences(relative, path_a, path_b):
    keys = RUN_ID_KEYS | HASH_FIELDS
    if relative.startswith("training/"):
        keys = keys | {"version"}  # a training-set manifest: "version" is the set's hash
    if LEDGER_ENTRY.match(relative):
        keys = keys | LEDGER_KEYS
    ja, jb = (without(json.loads(p.read_text()), keys) for p in (path_a, path_b))
    if ja == jb:
        return []
    return [f"{json.dumps(ja, sort_keys=True)[:1500]}\n vs\n{json.dumps(jb, sort_keys=True)[:1500]}"]


def avro_differences(path_a, path_b):
    import fastavro

    def packets(path):
        with open(path, "rb") as handle:
            reader = fastavro.reader(handle)
            return reader.writer_schema, [without(r, HASH_FIELDS) for r in reader]

    (schema_a, records_a), (schema_b, records_b) = packets(path_a), packets(path_b)
    found = [] if schema_a == schema_b else ["writer schema"]
    if len(records_a) != len(records_b):
        return found + [f"{len(records_a)} vs {len(records_b)} records"]
    for ra, rb in zip(records_a, records_b, strict=True):
        for key in sorted(k for k in set(ra) | set(rb) if ra.get(k) != rb.get(k)):
            if isinstance(ra.get(key), dict) and isinstance(rb.get(key), dict):
                sub = sorted(k for k in ra[key] if ra[key][k] != rb[key].get(k))
                found.append(f"{key}: {[(k, ra[key][k], rb[key].get(k)) for k in sub]}")
            else:
                found.append(f"field {key}")
    return found


def model_differences(path_a, path_b):
    """The exported bundles: weights exactly, every other entry but run id and data set."""
    import torch

    ma, mb = (torch.load(p, map_location="cpu", weights_only=False) for p in (path_a, path_b))
    found = [] if set(ma) == set(mb) else [f"entries {sorted(ma)} vs {sorted(mb)}"]
    for key in sorted(set(ma) & set(mb) - RUN_ID_KEYS - HASH_FIELDS):
        va, vb = ma[key], mb[key]
        if key == "state_dict":
            same = set(va) == set(vb) and all(torch.equal(va[n], vb[n]) for n in va)
        elif isinstance(va, torch.Tensor | np.ndarray):
            same = np.array_equal(np.asarray(va), np.asarray(vb))
        else:
            same = repr(va) == repr(vb)
        if not same:
            found.append(f"entry {key}")
    return found


def database_differences(path_a, path_b):
    """The object database's tables, row by row, less the columns that record when a row
    was written (see OBJECT_QUERIES)."""
    import sqlite3

    found = []
    for table, query in OBJECT_QUERIES.items():
        with sqlite3.connect(path_a) as a, sqlite3.connect(path_b) as b:
            rows_a, rows_b = sorted(a.execute(query).fetchall()), sorted(b.execute(query).fetchall())
        if rows_a != rows_b:
            found.append(f"table {table}: {len(rows_a)} vs {len(rows_b)} rows, differing")
    return found


def differences(relative, path_a, path_b):
    """What differs between one product of A and of B (beyond the exclusions above)."""
    suffix = Path(relative).suffix
    if suffix == ".fits":
        return fits_differences(path_a, path_b)
    if suffix == ".ecsv":
        return table_differences(path_a, path_b)
    if suffix == ".json":
        return json_differences(relative, path_a, path_b)
    if suffix == ".avro":
        return avro_differences(path_a, path_b)
    if suffix == ".pt":
        return model_differences(path_a, path_b)
    if suffix == ".sqlite":
        return database_differences(path_a, path_b)
    if SHOWS_DATASET_VERSION.match(relative):
        return []
    # TSV tables, HTML summaries, PNG figures: byte for byte.
    return [] if path_a.read_bytes() == path_b.read_bytes() else ["bytes differ"]


def content_hashes(workdir):
    """(product, key) → value of every content hash in the products (see HASH_FIELDS)."""
    hashes = {}
    for name, path in comparable_products(workdir).items():
        if path.suffix == ".fits":
            with fits.open(path) as hdul:
                for hdu in hdul:
                    hashes.update({(name, k): v for k, v in hdu.header.items() if is_hash_keyword(k)})
        elif path.suffix == ".ecsv":
            meta = Table.read(path, format="ascii.ecsv").meta
            hashes.update({(name, k): v for k, v in meta.items() if is_hash_keyword(k)})
    training = json.loads((workdir / "results" / "models" / "realbogus" / "training.json").read_text())
    hashes[("models/realbogus/training.json", "dataset_version")] = training["dataset_version"]
    return hashes


def compare(run_a, run_b, code_changed=False):
    """(names only in A, names only in B, {name: differences}) of two working folders."""
    if code_changed:
        HASH_KEYWORDS.extend(k for k in CODE_KEYWORDS if k not in HASH_KEYWORDS)
    a, b = comparable_products(Path(run_a)), comparable_products(Path(run_b))
    found = {
        name: problems
        for name in sorted(set(a) & set(b))
        if (problems := differences(name, a[name], b[name]))
    }
    return sorted(set(a) - set(b)), sorted(set(b) - set(a)), found


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run_a", type=Path)
    parser.add_argument("run_b", type=Path)
    parser.add_argument("--code-changed", action="store_true", help="leave out the code digest (ASTRIDV)")
    args = parser.parse_args(argv)
    only_a, only_b, found = compare(args.run_a, args.run_b, args.code_changed)
    total = len(comparable_products(args.run_a))
    for name in only_a:
        print(f"only in {args.run_a}: {name}")
    for name in only_b:
        print(f"only in {args.run_b}: {name}")
    for name, problems in found.items():
        print(f"{name}:\n  " + "\n  ".join(problems))
    print(f"{total} products compared: {len(found)} differ, {len(only_a)} only in A, {len(only_b)} only in B")
    return 1 if found or only_a or only_b else 0


if __name__ == "__main__":
    sys.exit(main())
