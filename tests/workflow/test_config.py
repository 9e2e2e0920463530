"""The configuration: schema and config.yaml agree, and bad config stops a run early."""

import pytest
import yaml
from workflow_runs import REPO, snakemake

from astrid.pipeline.config import ConfigError, check_config, config_problems

SCHEMA_PATH = REPO / "workflow" / "schemas" / "config.schema.yaml"


@pytest.fixture(scope="module")
def schema():
    return yaml.safe_load(SCHEMA_PATH.read_text())


@pytest.fixture(scope="module")
def shipped_config():
    return yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def leaves(schema, path=()):
    for name, spec in schema.get("properties", {}).items():
        if spec.get("type") == "object" and "properties" in spec:
            yield from leaves(spec, path + (name,))
        else:
            yield path + (name,), spec


def test_every_schema_leaf_has_a_description_and_a_default(schema):
    for path, spec in leaves(schema):
        assert spec.get("description"), f"{'.'.join(path)} has no description"
        assert "default" in spec, f"{'.'.join(path)} has no default"


def test_config_yaml_holds_exactly_the_schema_defaults(schema, shipped_config):
    for path, spec in leaves(schema):
        value = shipped_config
        for key in path:
            assert key in value, f"config/config.yaml lacks {'.'.join(path)}"
            value = value[key]
        assert value == spec["default"], (
            f"{'.'.join(path)}: config.yaml {value!r} ≠ schema {spec['default']!r}"
        )
    assert config_problems(shipped_config, schema) == []


def test_config_readme_explains_every_key(schema):
    readme = (REPO / "config" / "README.md").read_text()
    for path, _ in leaves(schema):
        assert f"`{'.'.join(path)}`" in readme, f"config/README.md does not explain {'.'.join(path)}"


def test_problems_name_their_keys(schema, shipped_config):
    config = yaml.safe_load(yaml.safe_dump(shipped_config))
    config["max_observationz"] = 3
    config["calibration"]["min_frames"] = 0
    config["calibration"]["cosmic_rays"]["sigclp"] = 4
    problems = config_problems(config, schema)
    assert "config key 'max_observationz': unknown key (a typo?)" in problems
    assert "config key 'calibration.cosmic_rays.sigclp': unknown key (a typo?)" in problems
    assert any(
        p.startswith("config key 'calibration.min_frames': 0 is less than the minimum of 1") for p in problems
    )
    with pytest.raises(ConfigError, match="max_observationz"):
        check_config(config, SCHEMA_PATH)


@pytest.mark.parametrize(
    "overlay, message",
    [
        ("max_observationz: 3\n", "config key 'max_observationz': unknown key"),
        (
            "processing_timeout_minutes: -5\n",
            "config key 'processing_timeout_minutes': -5 is less than or equal to the minimum of 0",
        ),
        (
            "calibration:\n  cosmic_rays:\n    sigfrac: 3\n",
            "config key 'calibration.cosmic_rays.sigfrac': 3 is greater than the maximum of 1",
        ),
    ],
)
def test_bad_config_stops_the_run_before_any_job(tmp_path, overlay, message):
    (tmp_path / "bad.yaml").write_text(overlay)
    result = snakemake("--cores", "1", "--configfile", str(tmp_path / "bad.yaml"), workdir=tmp_path)
    assert result.returncode != 0
    assert message in result.stdout + result.stderr
    assert not (tmp_path / "results").exists()


def test_demo_raw_dir_cannot_point_elsewhere(tmp_path):
    (tmp_path / "c.yaml").write_text("raw_dir: /data/raw\n")
    result = snakemake("-n", "--configfile", str(tmp_path / "c.yaml"), workdir=tmp_path)
    assert result.returncode != 0
    assert "demo.enabled is true" in result.stdout + result.stderr


ENVIRONMENTS = sorted((REPO / "config" / "environments").glob("*.yaml"))


def test_there_are_dev_staging_and_production_overlays():
    assert [p.stem for p in ENVIRONMENTS] == ["dev", "production", "staging"]


@pytest.mark.parametrize("overlay", ENVIRONMENTS, ids=lambda p: p.stem)
def test_each_environment_overlay_passes_the_schema_and_plans_a_night(tmp_path, overlay):
    """Snakemake deep-merges the overlay over the base config and checks it against the schema."""
    settings = yaml.safe_load(overlay.read_text())
    args = ["-n", "--configfile", str(overlay)]
    if not settings.get("demo", {}).get("enabled", True):
        (tmp_path / "raw" / "20261127").mkdir(parents=True)  # the site's raw folder, one night
        args += ["--config", f"raw_dir={tmp_path / 'raw'}"]
    result = snakemake(*args, workdir=tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-2000:]
    assert "ingest_night" in output or "simulate_night" in output


def test_make_run_with_an_environment_runs_the_overlay_that_the_e2e_test_runs():
    """`make run ASTRID_ENV=dev` (README) passes config/environments/dev.yaml to Snakemake
    for the run and for the report; tests/e2e runs that same file to the end."""
    import subprocess

    printed = subprocess.run(
        ["make", "-n", "run", "ASTRID_ENV=dev"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout
    runs = [line for line in printed.splitlines() if "/snakemake " in line]
    assert len(runs) == 2, printed
    for line in runs:
        assert "--profile profiles/default --configfile config/environments/dev.yaml" in line
    assert runs[1].endswith("--report results/report.html")
