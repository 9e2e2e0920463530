"""Static checks of the workflow: lint, formatting, dry-runs with each profile."""

import subprocess
import sys
from pathlib import Path

import pytest
from slurm import SMALL_NIGHT, SMALL_NIGHT_SCORED, SMALL_NIGHT_TARGETS  # tests/support
from workflow_runs import REPO, jobs_in_dry_run, snakemake


def test_snakemake_lint_is_clean():
    result = snakemake("--lint")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Congratulations, your workflow is in a good condition!" in result.stdout + result.stderr


def test_snakefmt_check_is_clean():
    result = subprocess.run(
        [sys.executable, "-m", "snakefmt", "--check", "workflow"], cwd=REPO, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


LINTED = ["workflow", "tests", "benchmarks", "tools"]  # as make lint


@pytest.mark.parametrize("check", [["check"], ["format", "--check"]], ids=["lint", "format"])
def test_ruff_is_clean(check):
    result = subprocess.run(
        [sys.executable, "-m", "ruff", *check, *LINTED], cwd=REPO, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout


def test_no_formatting_is_switched_off_without_a_reason():
    files = subprocess.run(
        ["git", "ls-files", "*.py"], cwd=REPO, capture_output=True, text=True
    ).stdout.split()
    bare = [
        f"{name}:{number}"
        for name in files
        if (REPO / name).exists()
        for number, line in enumerate((REPO / name).read_text().splitlines(), start=1)
        if line.rstrip().endswith(("# fmt: skip", "# fmt: off"))
    ]
    assert not bare, f"fmt: skip/off without a reason after it: {bare}"


def test_the_public_api_has_type_hints_and_numpydoc_docstrings():
    """tools/check_api.py: every public library function is typed and documented with its
    Parameters and Returns, and every rule script names its inputs, outputs and settings."""
    result = subprocess.run([sys.executable, "tools/check_api.py"], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:]


def test_the_api_checker_finds_what_is_missing(tmp_path):
    sys.path.insert(0, str(REPO / "tools"))
    import check_api

    (tmp_path / "astrid").mkdir()
    (tmp_path / "astrid" / "m.py").write_text(
        '''"""A module."""


def typed(a: int, b: float) -> float:
    """Sum.

    Parameters
    ----------
    a, b : number

    Returns
    -------
    float
    """
    return a + b


def untyped(a, b: int):
    """No sections."""
    return a


def _private(a):
    return a
'''
    )
    problems = check_api.library_problems(tmp_path / "astrid")
    assert problems == [
        "astrid/m.py:18: untyped: no type hint for a",
        "astrid/m.py:18: untyped: no return type hint",
        "astrid/m.py:18: untyped: docstring has no Parameters section",
    ]


def test_no_misspellings():
    files = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True).stdout.split()
    result = subprocess.run(
        [str(Path(sys.executable).parent / "codespell"), *[f for f in files if (REPO / f).exists()]],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout


PROFILES = sorted(p.parent.name for p in (REPO / "profiles").glob("*/config.yaml"))


def test_dry_run_with_each_profile(tmp_path):
    assert {"default", "test", "slurm", "slurm_local"} <= set(PROFILES)
    for profile in PROFILES:
        result = snakemake("-n", "--profile", str(REPO / "profiles" / profile), workdir=tmp_path)
        assert result.returncode == 0, f"{profile}: {result.stderr[-2000:]}"
        assert "simulate_night" in result.stdout and "ingest_night" in result.stdout


def test_slurm_profiles_route_gpu_rules_and_keep_the_site_out_of_the_rules():
    import yaml

    rules = "\n".join(p.read_text() for p in (REPO / "workflow" / "rules").glob("*.smk"))
    for name in PROFILES:
        if not name.startswith("slurm"):
            continue
        text = (REPO / "profiles" / name / "config.yaml").read_text()
        profile = yaml.safe_load(text)
        assert profile["executor"] == "slurm", name
        assert "slurm_account" not in text, f"{name}: accounts come from SBATCH_ACCOUNT, never a profile"
        assert profile["retries"] >= 1, f"{name}: memory grows only on a retry"
        for rule, resources in profile["set-resources"].items():
            assert f"rule {rule}:" in rules or f"checkpoint {rule}:" in rules, f"{name}: no rule {rule}"
            assert not ("gres" in resources and ("gpu" in resources or "gpu_model" in resources)), (
                f"{name}: {rule} asks for GPUs with both gres and gpu"
            )
        routed = {rule for rule, res in profile["set-resources"].items() if res.get("slurm_partition")}
        assert {"train_realbogus", "decide_retraining", "score_candidates"} <= routed, name
        for assignment in profile["groups"]:
            rule, _ = assignment.split("=")
            assert f"rule {rule}:" in rules, f"{name}: grouped rule {rule} does not exist"
    # Sites live in profiles: no rule names a partition, an account or a GPU model.
    for word in ("slurm_partition", "slurm_account", "gpu_model", "gres"):
        assert word not in rules, word


@pytest.mark.parametrize(
    "targets, ingested, groups_planned",
    [
        ([], None, False),
        (SMALL_NIGHT_TARGETS, None, False),
        (SMALL_NIGHT_TARGETS, "20261127", False),
        (SMALL_NIGHT_SCORED, None, True),
    ],
    ids=["default-target", "slurm-test-targets", "new-night-ingested-first", "per-frame-targets"],
)
def test_no_group_job_is_planned_before_the_nights_are_ingested(tmp_path, targets, ingested, groups_planned):
    """Snakemake 9 reuses a group job it planned before a checkpoint when the checkpoint
    adds members to that group, and then loses the new members: the run ends early or
    stops with a KeyError (profiles/README.md). The workflow plans no per-frame job until
    every night of the run is ingested, so with the default target, or nightly targets,
    nothing grouped exists before the ingest checkpoints, also once the new night is
    ingested and the reference night is not (the order that failed); per-frame targets
    bring the fault back, as the README warns."""
    import yaml

    (tmp_path / "night.yaml").write_text(SMALL_NIGHT)
    if ingested:
        manifest = f"results/manifest/{ingested}.tsv"
        args = [
            manifest,
            "--profile",
            str(REPO / "profiles" / "test"),
            "--configfile",
            str(tmp_path / "night.yaml"),
        ]
        result = snakemake(*args, workdir=tmp_path)
        assert result.returncode == 0 and (tmp_path / manifest).exists(), result.stderr[-2000:]
    for name in ("slurm", "slurm_local"):
        profile = REPO / "profiles" / name
        grouped = {a.split("=")[0] for a in yaml.safe_load((profile / "config.yaml").read_text())["groups"]}
        # Targets first: --configfile takes every word after it.
        args = [*targets, "-n", "--profile", str(profile), "--configfile", str(tmp_path / "night.yaml")]
        result = snakemake(*args, workdir=tmp_path)
        assert result.returncode == 0, f"{name}: {result.stderr[-2000:]}"
        planned = jobs_in_dry_run(result.stdout)
        assert "ingest_night" in planned, planned
        assert bool(grouped & set(planned)) == groups_planned, f"{name}: {sorted(grouped & set(planned))}"


def test_every_rule_has_a_log_and_a_benchmark_or_is_cached_and_its_portable_resources():
    import re

    cached = set()
    for path in sorted((REPO / "workflow" / "rules").glob("*.smk")):
        text = path.read_text()
        for block in re.split(r"\n(?=(?:rule|checkpoint) )", text)[1:]:
            name = block.split()[1].rstrip(":")
            assert "\n    log:" in block, f"rule {name} has no log"
            # Snakemake refuses a benchmark on a rule cached between workflows.
            if '\n    cache: "omit-software"' in block:
                cached.add(name)
                assert "\n    benchmark:" not in block, name
            else:
                assert "\n    benchmark:" in block, f"rule {name} has no benchmark"
            if "\n    resources:" in block:
                assert "runtime=" in block, f"rule {name} has resources but no runtime"
    assert cached == {"combine_bias", "combine_dark", "combine_flat", "build_reference"}
