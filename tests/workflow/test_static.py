"""Static checks of the workflow: lint, formatting, dry-runs with each profile."""

import subprocess
import sys

from conftest import REPO, snakemake


def test_snakemake_lint_is_clean():
    result = snakemake("--lint")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Congratulations, your workflow is in a good condition!" in result.stdout + result.stderr


def test_snakefmt_check_is_clean():
    result = subprocess.run(
        [sys.executable, "-m", "snakefmt", "--check", "workflow"], cwd=REPO, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_ruff_is_clean():
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "workflow", "tests"], cwd=REPO, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout


def test_dry_run_with_each_profile(tmp_path):
    for profile in ("profiles/default", "profiles/test"):
        result = snakemake("-n", "--profile", str(REPO / profile), workdir=tmp_path)
        assert result.returncode == 0, result.stderr
        assert "simulate_night" in result.stdout and "ingest_night" in result.stdout


def test_every_rule_has_a_log_and_a_benchmark():
    import re

    for path in sorted((REPO / "workflow" / "rules").glob("*.smk")):
        text = path.read_text()
        for block in re.split(r"\n(?=(?:rule|checkpoint) )", text)[1:]:
            name = block.split()[1].rstrip(":")
            assert "\n    log:" in block, f"rule {name} has no log"
            assert "\n    benchmark:" in block, f"rule {name} has no benchmark"
