"""AstrID deployed as Snakemake recommends: used as a module from a fresh folder, as
`snakedeploy deploy-workflow` writes it (its Snakefile template, config/ and profiles/
copied), plans the demo night. Nothing in the workflow or the library may assume that the
working folder is the repository or that a .venv sits beside it.

snakedeploy itself fetches the workflow from GitHub, which this machine cannot reach; the
folder below is what it writes, with the module's source given as a local path instead of
``github("<owner>/astrid", path="workflow/Snakefile", tag=...)``.
"""

import shutil

from workflow_runs import REPO, jobs_in_dry_run

# snakedeploy 0.17's use_module template, plus the run lock (a module's onstart is not run).
DEPLOYED_SNAKEFILE = """from snakemake.utils import min_version

min_version("6.10.0")


configfile: "config/config.yaml"


module astrid:
    snakefile:
        "{snakefile}"
    config:
        config


use rule * from astrid


onstart:
    from astrid.pipeline import runlock

    runlock.hold()
"""


def deploy(folder):
    (folder / "workflow").mkdir(parents=True)
    (folder / "workflow" / "Snakefile").write_text(
        DEPLOYED_SNAKEFILE.format(snakefile=REPO / "workflow" / "Snakefile")
    )
    shutil.copytree(REPO / "config", folder / "config")
    shutil.copytree(REPO / "profiles", folder / "profiles")
    return folder


def test_a_deployed_workflow_plans_the_demo_night_from_its_own_folder(tmp_path):
    import subprocess
    import sys

    folder = deploy(tmp_path / "site")
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--cores", "1"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    jobs = jobs_in_dry_run(result.stdout)
    assert jobs["simulate_night"] == 3 and jobs["ingest_night"] == 3 and jobs["all"] == 1
    assert not (folder / "results").exists()  # reading it wrote nothing
