"""Master calibrations and reference templates are shared between runs and sites through
Snakemake's between-workflow cache (`--cache`, $SNAKEMAKE_OUTPUT_CACHE): a second site's run
of the same nights takes them from the cache instead of building them again."""

import os
import re

import pytest
from astropy.io import fits
from nights import small_night
from workflow_runs import REPO, snakemake

pytestmark = pytest.mark.slow

NIGHT = small_night(new_exposures=1)
CACHED = [
    "results/masters/20261101/bias.fits",
    "results/masters/20261101/dark.fits",
    "results/masters/20261101/flat_r.fits",
    "results/references/F01/r.fits",
]


def run_site(workdir, cache):
    workdir.mkdir()
    (workdir / "night.yaml").write_text(NIGHT)
    result = snakemake(
        "results/references/F01/r.fits",
        "--profile",
        str(REPO / "profiles" / "test"),
        "--configfile",
        str(workdir / "night.yaml"),
        "--cache",  # every rule marked for caching
        workdir=workdir,
        env={**os.environ, "SNAKEMAKE_OUTPUT_CACHE": str(cache)},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout + result.stderr


def ran(output, rule):
    return len(re.findall(rf"^(?:local)?rule {rule}:", output, re.M))


def test_a_second_site_takes_masters_and_references_from_the_cache(tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    first = run_site(tmp_path / "site_a", cache)
    for rule in ("combine_bias", "combine_dark", "combine_flat", "build_reference"):
        assert ran(first, rule) == 1, rule
    assert len(list(cache.iterdir())) == len(CACHED)

    second = run_site(tmp_path / "site_b", cache)
    for path in CACHED:
        assert f"Symlinking output file {path} from cache" in second, path
        a, b = tmp_path / "site_a" / path, tmp_path / "site_b" / path
        assert b.is_symlink() and b.resolve().parent == cache.resolve()
        with fits.open(a) as one, fits.open(b) as other:
            assert (one[1].data == other[1].data).all()
    # The second site built none of them: their job logs (touched by Snakemake) stay empty.
    for rule in ("combine_bias", "combine_dark", "combine_flat", "build_reference"):
        logs = list((tmp_path / "site_b" / "logs" / rule).rglob("*.log"))
        assert logs and all(log.stat().st_size == 0 for log in logs), rule
        assert next((tmp_path / "site_a" / "logs" / rule).rglob("*.log")).stat().st_size > 0
    assert len(list(cache.iterdir())) == len(CACHED)
