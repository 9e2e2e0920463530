"""A small demo night on a real SLURM (Debian's slurmctld, slurmd and munge on this machine)
through `--profile profiles/slurm_local` and Snakemake's SLURM executor.

Proof comes from SLURM's own records: every rule log names the SLURM job it ran in (see
astrid.runtime.where_running), and that job is in the controller's job-completion file
with its partition. The cluster is started by tools/local-slurm/start (or reused when
.ci/run already started it); without root or the packages the test says why and skips.
The night is started when the session begins (tests/conftest.py): it spends most
of its time waiting on SLURM, so it runs beside the rest of the suite.
"""

import re

import pytest
import yaml
from slurm import completed_jobs  # tests/support, on the path through conftest
from workflow_runs import REPO

pytestmark = pytest.mark.slow

PROFILE = REPO / "profiles" / "slurm_local"


@pytest.fixture(scope="module")
def night_on_slurm(slurm_night):
    """(workdir, job-completion file, output) of the night, once it has ended."""
    output, returncode = slurm_night.wait()
    assert returncode == 0, output[-6000:]
    return slurm_night.workdir, slurm_night.jobcomp, output


def gpu_rules():
    profile = yaml.safe_load((PROFILE / "config.yaml").read_text())
    return {rule for rule, res in profile["set-resources"].items() if res.get("slurm_partition") == "gpu"}


def declared_local_rules():
    """The Snakefile's localrules: run by the driving Snakemake, never submitted."""
    text = (REPO / "workflow" / "Snakefile").read_text()
    block = text.split("localrules:")[1].split("\n\n")[0]
    return set(re.findall(r"^\s+(\w+),", block, re.M))


def rule_logs(workdir):
    """(rule, log path, first line) of every rule log this run wrote."""
    for path in sorted((workdir / "logs").rglob("*.log")):
        parts = path.relative_to(workdir / "logs").parts  # <rule>/... or <rule>.log
        rule = parts[0] if len(parts) > 1 else path.stem
        if rule in ("slurm", "cron"):
            continue
        first = path.read_text().splitlines()[:1]
        yield rule, path, first[0] if first else ""


def test_the_night_completes_on_slurm(night_on_slurm):
    workdir, _, _ = night_on_slurm
    scored = sorted((workdir / "results" / "scored" / "20261127").glob("*.ecsv"))
    assert len(scored) == 3
    assert (workdir / "results" / "alerts" / "20261127" / "alerts.tsv").exists()


def test_every_submitted_job_ran_in_slurm_and_gpu_rules_on_the_gpu_partition(night_on_slurm):
    workdir, jobcomp, result = night_on_slurm
    records = completed_jobs(jobcomp)
    local_rules = declared_local_rules()
    seen = {}
    for rule, path, first in rule_logs(workdir):
        if rule in local_rules:
            assert "SLURM job" not in first, f"{path}: a local rule ran in SLURM"
            continue
        match = re.search(r"SLURM job (\d+) step (\S+) partition (\S+)", first)
        assert match, f"{path} did not run in a SLURM job: {first!r}"
        job, _, partition = match.groups()
        assert job in records, f"{path}: SLURM job {job} is not in the job-completion file {jobcomp}"
        assert records[job]["JobState"] == "COMPLETED", records[job]
        assert records[job]["Partition"] == partition
        seen.setdefault(rule, set()).add(partition)
    assert {"train_realbogus", "score_candidates"} <= set(seen)
    for rule in gpu_rules() & set(seen):
        assert seen[rule] == {"gpu"}, f"{rule} ran on {seen[rule]}"
    for rule in set(seen) - gpu_rules():
        assert seen[rule] == {"cpu"}, f"{rule} ran on {seen[rule]}"
    assert {"ingest_night", "calibrate_exposure", "subtract_reference", "detect_candidates"} <= set(seen)


def test_short_per_frame_jobs_share_slurm_jobs(night_on_slurm):
    workdir, _, _ = night_on_slurm
    jobs_of = {}
    for rule, _, first in rule_logs(workdir):
        match = re.search(r"SLURM job (\d+)", first)
        if match:
            jobs_of.setdefault(rule, []).append(match.group(1))
    # Three new frames: align, subtract, detect and samples of each in groups of four frames.
    frame_rules = ("align_exposure", "subtract_reference", "detect_candidates", "make_training_samples")
    frame_jobs = {job for rule in frame_rules for job in jobs_of[rule]}
    assert sum(len(jobs_of[rule]) for rule in frame_rules) == 12
    assert len(frame_jobs) == 1, f"12 per-frame jobs ran in SLURM jobs {sorted(frame_jobs)}"
    assert len(set(jobs_of["calibrate_exposure"])) < len(jobs_of["calibrate_exposure"])
