"""The pins in requirements.txt, environment.yml and the rule env never drift apart."""

import yaml
from workflow_runs import REPO

TEST_TOOLS = {"pytest", "pytest-xdist", "aiosmtpd", "snakefmt", "ruff", "codespell"}
# Only the Snakemake that submits jobs needs its executor plugin; rule jobs do not.
SUBMIT_ONLY = {"snakemake-executor-plugin-slurm"}


def requirement_pins():
    lines = (REPO / "requirements.txt").read_text().splitlines()
    return {line.strip() for line in lines if line.strip() and not line.startswith("#")}


def pip_section(path):
    env = yaml.safe_load(path.read_text())
    for item in env["dependencies"]:
        if isinstance(item, dict) and "pip" in item:
            return set(item["pip"])
    raise AssertionError(f"{path} has no pip section")


def test_environment_yml_has_the_same_pins():
    assert pip_section(REPO / "environment.yml") == requirement_pins()


def test_rule_env_has_the_same_pins_less_test_and_submit_tools():
    expected = {pin for pin in requirement_pins() if pin.split("==")[0] not in TEST_TOOLS | SUBMIT_ONLY}
    assert pip_section(REPO / "workflow" / "envs" / "astrid.yaml") == expected


def test_every_requirement_is_pinned_and_in_the_constraints():
    constraints = {line.strip().lower() for line in (REPO / "constraints.txt").read_text().splitlines()}
    for pin in requirement_pins():
        assert "==" in pin, f"{pin} is not pinned"
        assert pin.lower() in constraints, f"{pin} is missing from constraints.txt"
