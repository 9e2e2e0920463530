"""A night killed mid-run and started again ends with the products of an uninterrupted run;
a second Snakemake on a working folder that is in use is refused.

Two fresh working folders process the same small demo night (512², one field, one band, a
two-epoch model), each with its own MLflow store and object database. A runs undisturbed.
B is killed with SIGKILL (Snakemake and every job, as a power loss or `scancel` would)
right after its first difference image appears, then started again the way a user would.
Every product under results/ of A and B is then compared: FITS data and headers exactly,
tables, JSON, Avro packets, models, figures; and the object database and the MLflow store
of each. Content hashes of files (provenance keywords, the training set's version) are
compared on their own.

While A runs, a second Snakemake on A's folder must stop at Snakemake's directory lock,
say so, and leave A to finish.
"""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
from astropy.io import fits
from astropy.table import Table
from nights import small_night
from products import OBJECT_QUERIES, comparable_products, content_hashes, differences, product_files
from workflow_runs import REPO, snakemake

pytestmark = pytest.mark.slow

# The smallest night that goes through every stage: the model needs three new frames (one
# each for its train, validation and test splits); two reference frames make a template.
# min_f1_score 0: the gate must not decide whether there are scores to compare.
NIGHT = small_night(
    reference_exposures=2,
    defects=False,
    extra="""align:
  max_rms_px: 1.0
realbogus:
  min_f1_score: 0.0
  injection: {per_megapixel: 200.0, min_separation: 20.0}
  samples: {passes: 1, spoiled_passes: 1}
  training: {epochs: 2, batch_size: 16}
""",
)
PROFILE = REPO / "profiles" / "test"
NIGHT_ID = "20261127"
RUN_TIMEOUT = 900  # s: one run of this night takes about two minutes on 2 busy cores
LOCKED = "Directory cannot be locked"


def stores(workdir):
    """The environment of a run in ``workdir``: its own MLflow store and object database."""
    env = {key: value for key, value in os.environ.items() if key != "ASTRID_CHAMPION"}
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{workdir / 'mlflow.db'}"
    env["ASTRID_DATABASE_URL"] = f"sqlite:///{workdir / 'objects.sqlite'}"
    return env


def night_args(workdir, *args):
    return ("--profile", str(PROFILE), "--configfile", str(workdir / "night.yaml"), *args)


def run_night(workdir, *args, timeout=RUN_TIMEOUT):
    """Snakemake on ``workdir`` to the end (as conftest.snakemake); result and wall seconds."""
    start = time.monotonic()
    result = snakemake(*night_args(workdir, *args), workdir=workdir, timeout=timeout, env=stores(workdir))
    return result, time.monotonic() - start


class Background:
    """Snakemake on ``workdir`` in the background, in a process group of its own so that
    a SIGKILL reaches it and every job it started at once."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.output = workdir / "snakemake.out"
        command = [sys.executable, "-m", "snakemake", "-s", str(REPO / "workflow" / "Snakefile")]
        command += ["--directory", str(workdir), *night_args(workdir)]
        with open(self.output, "w") as log:
            self.process = subprocess.Popen(
                command,
                cwd=REPO,
                env=stores(workdir),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def running(self):
        return self.process.poll() is None

    def tail(self):
        return self.output.read_text()[-4000:]

    def wait_for(self, pattern, timeout=RUN_TIMEOUT):
        """The first path under the folder matching ``pattern``, waiting while it runs."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = sorted(self.workdir.glob(pattern))
            if found:
                return found[0]
            if not self.running():
                pytest.fail(f"run ended (rc {self.process.returncode}) before {pattern}:\n{self.tail()}")
            time.sleep(0.1)
        pytest.fail(f"no {pattern} after {timeout} s:\n{self.tail()}")

    def kill(self):
        """SIGKILL to Snakemake and all its jobs; reaped."""
        if self.running():
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.process.wait(timeout=60)

    def finish(self, timeout=RUN_TIMEOUT):
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"run did not finish in {timeout} s:\n{self.tail()}")
        return self.process.returncode


def incomplete_outputs(workdir):
    """Outputs Snakemake had marked as being written (.snakemake/incomplete), decoded."""
    from base64 import urlsafe_b64decode

    folder = workdir / ".snakemake" / "incomplete"
    names = []
    for marker in folder.rglob("*") if folder.is_dir() else []:
        if marker.is_file():
            try:
                names.append(urlsafe_b64decode(marker.name).decode())
            except ValueError:
                names.append(marker.name)
    return sorted(names)


def partial_files(root):
    """Temporary files of interrupted atomic writes (.<name>.tmp<pid>) under ``root``."""
    return sorted(str(p.relative_to(root)) for p in root.rglob(".*") if ".tmp" in p.name)


@pytest.fixture(scope="module")
def nights(tmp_path_factory):
    """Run A (undisturbed, with a second Snakemake tried on it meanwhile) and run B (killed
    after its first difference image, then started again) at the same time."""
    started = time.monotonic()
    a, b = tmp_path_factory.mktemp("uninterrupted"), tmp_path_factory.mktemp("interrupted")
    for workdir in (a, b):
        (workdir / "night.yaml").write_text(NIGHT)
    facts = {"a": a, "b": b}
    runs = []
    try:
        runs.append(first := Background(a))
        runs.append(killed := Background(b))

        # A second Snakemake on A's folder while A holds its lock and runs jobs.
        first.wait_for(".snakemake/locks/*.output.lock")
        first.wait_for("resources/catalogs/*.ecsv")
        facts["second"], facts["second_s"] = run_night(a, timeout=300)
        facts["a_running_after_second"] = first.running()

        # SIGKILL to B and its jobs at its first difference image (written atomically:
        # its appearance means one subtraction finished; other jobs are mid-way).
        facts["kill_point"] = killed.wait_for(f"results/difference/{NIGHT_ID}/*.fits").name
        killed.kill()
        facts["killed_at_ns"] = time.time_ns()
        facts["killed_rc"] = killed.process.returncode
        facts["locks_after_kill"] = sorted(p.name for p in (b / ".snakemake" / "locks").glob("*"))
        facts["incomplete_after_kill"] = incomplete = incomplete_outputs(b)
        # Outputs in place (renamed into place by the job) whose job Snakemake had not yet
        # seen finish: the case its incomplete markers exist for.
        facts["in_place_but_incomplete"] = [out for out in incomplete if (b / out).is_file()]
        facts["partial_after_kill"] = partial_files(b / "results")
        facts["done_at_kill"] = {
            relative: path.stat().st_mtime_ns
            for relative, path in product_files(b).items()
            if f"results/{relative}" not in incomplete
            and ".tmp" not in relative
            and not any(f"results/{relative}".startswith(f"{out}/") for out in incomplete)
        }

        # Started again as a user would: the same command; Snakemake refuses, naming the
        # stale lock and --unlock; the user unlocks and gives the same command again.
        facts["restart"], _ = run_night(b)
        if facts["restart"].returncode != 0:
            facts["unlock"], _ = run_night(b, "--unlock")
            facts["resumed"], _ = run_night(b)
        else:
            facts["resumed"] = facts["restart"]
        facts["incomplete_after_resume"] = incomplete_outputs(b)

        facts["a_rc"] = first.finish()
        facts["a_output"] = first.tail()
        wall = time.monotonic() - started
        print(
            f"\ninterrupt fixture: {wall:.0f} s; killed at {facts['kill_point']}; incomplete then: "
            f"{incomplete}; partial files: {facts['partial_after_kill']}; locks: {facts['locks_after_kill']}"
        )
        yield facts
    finally:
        for run in runs:
            run.kill()


def output_of(result):
    return result.stdout + result.stderr


# --- two runs at once


def test_a_second_run_on_a_folder_in_use_is_refused_and_the_first_finishes(nights):
    """Snakemake's own directory lock: the second run stops with its message, the first
    is not disturbed (its products are the reference the resumed night is compared with)."""
    second = nights["second"]
    assert second.returncode != 0, output_of(second)[-3000:]
    assert LOCKED in output_of(second), output_of(second)[-3000:]
    # Refused after parsing the workflow and building the DAG, before any job: seconds,
    # not the minutes a run takes.
    assert nights["second_s"] < 90, nights["second_s"]
    assert "Finished jobid" not in output_of(second)
    # The refusal happened while A was running, and A went on to the end.
    assert nights["a_running_after_second"]
    assert nights["a_rc"] == 0, nights["a_output"]
    assert "100%) done" in nights["a_output"]


# --- killed and resumed


def test_a_killed_run_must_be_unlocked_before_it_is_started_again(nights):
    """SIGKILL leaves Snakemake's lock files (.snakemake/locks); the same command then
    stops at once, saying the folder is locked and that --unlock removes a lock left by a
    kill signal. After --unlock the same command finishes the night."""
    assert nights["killed_rc"] == -signal.SIGKILL
    assert nights["locks_after_kill"], "no lock files left by the killed run"
    restart = output_of(nights["restart"])
    assert nights["restart"].returncode != 0, "a stale lock no longer stops the restart:\n" + restart[-3000:]
    assert LOCKED in restart and "kill signal" in restart and "--unlock" in restart, restart[-3000:]
    assert "Finished jobid" not in restart
    assert nights["unlock"].returncode == 0, output_of(nights["unlock"])[-3000:]
    resumed = output_of(nights["resumed"])
    assert nights["resumed"].returncode == 0, resumed[-3000:]
    assert "100%) done" in resumed


def test_products_finished_before_the_kill_are_kept(nights):
    """The resume does not redo what was finished (and registered) before the kill."""
    assert nights["done_at_kill"], "nothing was finished before the kill"
    after = product_files(nights["b"])
    redone = sorted(r for r, stamp in nights["done_at_kill"].items() if after[r].stat().st_mtime_ns != stamp)
    assert not redone, f"finished before the kill, yet redone: {redone}"


def test_outputs_in_place_at_the_kill_are_whole(nights):
    """Snakemake (9.27) checks its incomplete markers only for the jobs it plans before the
    first checkpoint (dag.check_incomplete); the per-frame jobs join the plan after the
    ingest_night checkpoint, so an output in place at the kill whose job Snakemake had not
    seen finish is kept by the resume, and its marker stays. Every product is written to a
    temporary file and renamed into place (astrid.fitsio.atomic_output), so such an output
    is whole: it opens and its checksums verify (and the comparisons below find it equal
    to the uninterrupted night's)."""
    import warnings

    b = nights["b"]
    assert nights["incomplete_after_kill"], "the kill found no job running: nothing was interrupted"
    for out in nights["in_place_but_incomplete"]:
        path = b / out
        if path.suffix == ".fits":
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # a checksum that does not verify warns
                with fits.open(path, checksum=True) as hdul:
                    assert all(hdu._checksum_valid and hdu._datasum_valid for hdu in hdul), out
        elif path.suffix == ".ecsv":
            Table.read(path, format="ascii.ecsv")  # a cut-off ECSV fails to parse


def test_no_partial_files_are_left_behind(nights):
    """Writes are atomic (a temporary file renamed into place): a killed job may leave its
    temporary file, which should not stay among the products once the night is done."""
    left = partial_files(nights["b"] / "results")
    assert not left, (
        f"temporary files left after the resume: {left} (at the kill: {nights['partial_after_kill']})"
    )


def test_the_resumed_night_has_the_same_files(nights):
    names_a, names_b = set(comparable_products(nights["a"])), set(comparable_products(nights["b"]))
    assert names_a == names_b, {
        "only in A": sorted(names_a - names_b),
        "only in B": sorted(names_b - names_a),
    }


# Each product folder under results/ on its own, so that a failure names the stage.
PRODUCTS = [
    "demo",
    "manifest",
    "quarantine",
    "waiting",
    "masters",
    "calibrated",
    "references",
    "aligned",
    "difference",
    "candidates",
    "cutouts",
    "training",
    "models",
    "scored",
    "drift",
    "alerts",
    "qa",
]


def test_every_product_folder_is_compared(nights):
    folders = {p.name for p in (nights["a"] / "results").iterdir() if p.is_dir()}
    assert folders - {"mlflow"} == set(PRODUCTS)


@pytest.mark.parametrize("product", PRODUCTS)
def test_the_resumed_night_has_the_same_products(nights, product):
    a, b = comparable_products(nights["a"]), comparable_products(nights["b"])
    compared, found = 0, {}
    for name in sorted(a):
        if name.startswith(f"{product}/") and name in b:
            compared += 1
            if problems := differences(name, a[name], b[name]):
                found[name] = problems
    assert compared, f"no {product} products to compare"
    assert not found, "\n".join(f"{name}:\n  " + "\n  ".join(p) for name, p in found.items())


def test_content_hashes_do_not_depend_on_the_time_of_writing(nights):
    """The provenance hashes and the training set's version are sha256 of files' bytes:
    equal content must give equal bytes, so astropy's time-stamped checksum comment is not
    used (astrid.fitsio.write_atomic), and the resumed night records the same hashes."""
    a, b = content_hashes(nights["a"]), content_hashes(nights["b"])
    assert a.keys() == b.keys()
    differing = {key: (a[key], b[key]) for key in sorted(a) if a[key] != b[key]}
    assert not differing, (
        f"{len(differing)} of {len(a)} content hashes differ, e.g. {list(differing.items())[:6]}"
    )


def rows(database, query):
    with sqlite3.connect(database) as connection:
        return sorted(connection.execute(query).fetchall())


@pytest.mark.parametrize("table", sorted(OBJECT_QUERIES))
def test_the_object_database_holds_the_same_rows(nights, table):
    query = OBJECT_QUERIES[table]
    assert rows(nights["a"] / "objects.sqlite", query) == rows(nights["b"] / "objects.sqlite", query)


def test_each_store_holds_the_starter_and_one_trained_model_version(nights):
    """The interrupted folder registered the starter and trained once, like the other, and
    every product names the champion's run in its own store (this night is too small for
    its own model to beat the starter, so the gate may keep the starter)."""
    for workdir in (nights["a"], nights["b"]):
        store = workdir / "mlflow.db"
        versions = rows(store, "SELECT name, version, run_id FROM model_versions ORDER BY version")
        assert [(name, version) for name, version, _ in versions] == [
            ("astrid-realbogus", 1),
            ("astrid-realbogus", 2),
        ], versions
        runs = {version: run_id for _, version, run_id in versions}
        statuses = rows(store, "SELECT status FROM runs")
        assert all(status == ("FINISHED",) for status in statuses), statuses
        training = json.loads((workdir / "results" / "models" / "realbogus" / "training.json").read_text())
        assert (training["run_id"], training["version"], training["champion_before"]) == (runs[2], 2, 1)
        champion = training["champion_after"]
        assert training["champion_run_id"] == runs[champion], training["reason"]
        exported = json.loads(
            (
                workdir / "results" / "models" / "realbogus" / f"v{champion}-{runs[champion][:12]}.json"
            ).read_text()
        )
        assert exported["run_id"] == runs[champion]
        for path in sorted((workdir / "results" / "scored" / NIGHT_ID).glob("*.ecsv")):
            meta = Table.read(path, format="ascii.ecsv").meta
            assert (meta["RBRUNID"], meta["RBVERS"]) == (runs[champion], champion), path.name
    # MLflow names runs at random: the count and states are what must agree.
    runs_a, runs_b = (rows(w / "mlflow.db", "SELECT status FROM runs") for w in (nights["a"], nights["b"]))
    assert runs_a == runs_b
