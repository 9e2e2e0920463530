"""A real single-node SLURM on this machine for tests and benchmarks (tools/local-slurm).

    with local_slurm() as jobcomp: ...      # path of the controller's job-completion file

Reuses a running cluster of ours (ClusterName astrid-local, e.g. started by .ci/run) and
leaves it running; otherwise starts one in a temporary folder and stops it afterwards.
Raises :class:`SlurmUnavailable` with the reason when there is none to use.
"""

import os
import re
import shutil
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path

from nights import small_night

from astrid.io.fitsio import atomic_output

REPO = Path(__file__).resolve().parents[2]
START, STOP = REPO / "tools" / "local-slurm" / "start", REPO / "tools" / "local-slurm" / "stop"
CLUSTER_NAME = "astrid-local"


class SlurmUnavailable(Exception):
    pass


def running_config():
    """The answering controller's config (``scontrol show config``) as a dict, or None."""
    if not shutil.which("scontrol"):
        return None
    try:
        done = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        return None
    if done.returncode:
        return None
    return dict(re.findall(r"^(\w+)\s+=\s+(.*?)\s*$", done.stdout, re.M))


@contextmanager
def local_slurm():
    running = running_config()
    if running and running.get("ClusterName") == CLUSTER_NAME:
        yield Path(running["JobCompLoc"])
        return
    if running:
        raise SlurmUnavailable(f"a controller of cluster {running.get('ClusterName')} answers here: not ours")
    if os.geteuid() != 0:
        raise SlurmUnavailable("starting a local SLURM needs root (munged runs as munge, slurmd as root)")
    if not Path("/usr/sbin/slurmctld").exists() and not shutil.which("slurmctld"):
        raise SlurmUnavailable(
            "SLURM is not installed (.ci/run installs slurmctld slurmd slurm-client munge)"
        )
    state = Path(tempfile.mkdtemp(prefix="astrid-slurm-"))
    started = subprocess.run([str(START), str(state)], capture_output=True, text=True, timeout=120)
    if started.returncode:
        raise SlurmUnavailable(f"tools/local-slurm/start failed: {started.stderr.strip()[-500:]}")
    try:
        yield state / "jobcomp.txt"
    finally:
        subprocess.run([str(STOP), str(state)], capture_output=True, timeout=120)


def completed_jobs(jobcomp):
    """SLURM job id → its job-completion record (JobState, Partition, NodeList, ...)."""
    records = {}
    if Path(jobcomp).exists():
        for line in Path(jobcomp).read_text().splitlines():
            fields = dict(re.findall(r"(\w+)=(\S*)", line))
            records[fields["JobId"]] = fields
    return records


# The small night of tests/cluster/test_slurm.py and benchmarks/slurm_overhead.py: 512²,
# one field and band, 3 reference and 3 new frames, a short training (min_f1_score 0: the
# gate must not decide whether there is anything to score).
SMALL_NIGHT = small_night(
    extra="""align:
  max_rms_px: 1.0
realbogus:
  injection: {per_megapixel: 200.0, min_separation: 20.0}
  samples: {passes: 2}
  training: {epochs: 4, batch_size: 32}
  min_f1_score: 0.0
""",
)
# Its alerts: every stage from ingest to alerts and both GPU rules (training, scoring),
# without the daily drift check and the report's summaries. Only nightly products are
# named: a per-frame file of a night not yet ingested, named as a target, plants its group
# job before the checkpoint, and Snakemake then loses jobs of that group (profiles/README.md).
SMALL_NIGHT_TARGETS = ["results/alerts/20261127/alerts.tsv"]
SMALL_NIGHT_SCORED = [f"results/scored/20261127/20261127-{n:04d}.ecsv" for n in (10, 11, 12)]


def night_command(workdir, profile, targets=()):
    """Snakemake on the repository's workflow for SMALL_NIGHT in ``workdir``, and its
    environment (its own MLflow store and object database)."""
    import sys

    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "night.yaml").write_text(SMALL_NIGHT)
    env = {key: value for key, value in os.environ.items() if key != "ASTRID_CHAMPION"}
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{workdir}/mlflow.db"
    env["ASTRID_DATABASE_URL"] = f"sqlite:///{workdir}/objects.sqlite"
    command = [
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        str(REPO / "workflow" / "Snakefile"),
        "--directory",
        str(workdir),
        *targets,
        "--profile",
        str(profile),
        "--configfile",
        str(workdir / "night.yaml"),
    ]
    return command, env


class BackgroundNight:
    """SMALL_NIGHT through profiles/slurm_local, started now and waited for later: it spends
    most of its time waiting on SLURM, so the test suite starts it when the session begins
    (tests/conftest.py) and runs the rest beside it."""

    def __init__(self):
        from contextlib import ExitStack

        self.skip_reason = None
        self.process = None
        self._stack = ExitStack()
        try:
            self.jobcomp = self._stack.enter_context(local_slurm())
        except SlurmUnavailable as reason:
            self.skip_reason = str(reason)
            return
        self.workdir = Path(tempfile.mkdtemp(prefix="astrid-slurm-night-"))
        self.command, self.env = night_command(
            self.workdir, REPO / "profiles" / "slurm_local", SMALL_NIGHT_TARGETS
        )
        self.log = self.workdir / "snakemake.out"
        with open(self.log, "w") as out:
            self.process = subprocess.Popen(
                self.command, cwd=REPO, env=self.env, stdout=out, stderr=subprocess.STDOUT
            )

    def missing_products(self):
        return missing_products(self.workdir)

    def wait(self, timeout=1800):
        """(output, return code) once the run has ended; a run that ended with products
        missing counts as failed (returned as 1, with the missing ones in the output)."""
        try:
            returncode = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            return self.log.read_text(), None
        return night_outcome(self.workdir, self.log, returncode)

    def share(self, path):
        """Describe the night in ``path`` (JSON) for another process (a pytest-xdist worker,
        through :class:`SharedNight`); its return code goes into RETURNCODE in its folder
        when it ends."""
        import json
        import threading

        facts = {"skip_reason": self.skip_reason}
        if self.process is not None:
            facts.update(workdir=str(self.workdir), jobcomp=str(self.jobcomp), log=str(self.log))

            def record_returncode():
                returncode = self.process.wait()
                with atomic_output(self.workdir / RETURNCODE) as partial:
                    partial.write_text(str(returncode))

            threading.Thread(target=record_returncode, daemon=True).start()
        with atomic_output(path) as partial:
            partial.write_text(json.dumps(facts))

    def stop(self):
        """Stop a run still going (SIGINT: Snakemake then cancels its SLURM jobs), and the
        cluster if this started it."""
        import signal

        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
        elif self.process is not None and self.process.returncode == 0 and not self.missing_products():
            shutil.rmtree(self.workdir, ignore_errors=True)  # kept only when something went wrong
        self._stack.close()


RETURNCODE = "returncode"


class SharedNight:
    """A worker's view of the BackgroundNight that pytest-xdist's controller started and
    shared (:meth:`BackgroundNight.share`): the same ``skip_reason``, ``workdir``,
    ``jobcomp`` and ``wait``; the controller stops it when the session ends."""

    def __init__(self, facts):
        self.skip_reason = facts["skip_reason"]
        if not self.skip_reason:
            self.workdir, self.jobcomp, self.log = (Path(facts[key]) for key in ("workdir", "jobcomp", "log"))

    @classmethod
    def find(cls, path, timeout=120):
        """The night described in ``path``, or None when none was started (its file does
        not appear within ``timeout`` seconds)."""
        import json
        import time

        deadline = time.monotonic() + timeout
        while not Path(path).exists():
            if time.monotonic() > deadline:
                return None
            time.sleep(1)
        return cls(json.loads(Path(path).read_text()))

    def wait(self, timeout=1800):
        """As :meth:`BackgroundNight.wait`; (output, None) if it has not ended in ``timeout``
        seconds (the controller then stops it with the session)."""
        import time

        deadline = time.monotonic() + timeout
        while not (self.workdir / RETURNCODE).exists():
            if time.monotonic() > deadline:
                return self.log.read_text(), None
            time.sleep(2)
        return night_outcome(self.workdir, self.log, int((self.workdir / RETURNCODE).read_text()))


def missing_products(workdir):
    return [t for t in SMALL_NIGHT_TARGETS + SMALL_NIGHT_SCORED if not (workdir / t).exists()]


def night_outcome(workdir, log, returncode):
    """(output, return code) of an ended night; products missing after a return code 0
    count as a failure (1, with the missing ones in the output)."""
    output = log.read_text()
    missing = missing_products(workdir)
    if returncode == 0 and missing:
        return f"{output}\n=== ended without an error but {missing} are missing\n", 1
    return output, returncode
