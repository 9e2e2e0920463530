"""Per-job overhead of running a night through SLURM, grouped and not, against local execution.

    .venv/bin/python benchmarks/slurm_overhead.py [--ungrouped] [--json OUT.json]

The same small demo night (SMALL_NIGHT of tests/support/slurm.py, which
tests/cluster/test_slurm.py runs: 512², 3 reference and 3 new frames, a short training) runs
from scratch in fresh folders, the whole night with its drift check and summaries:

* local: ``--profile profiles/test`` (2 cores, Snakemake's local executor);
* slurm grouped: ``--profile profiles/slurm_local`` on the real single-node SLURM of
  tools/local-slurm (started here, or reused when running);
* slurm ungrouped (``--ungrouped``): the same profile without its groups.

Printed per run: wall time, Snakemake jobs, SLURM jobs (from the controller's
job-completion file) and the overhead per SLURM job, (wall − local wall) / SLURM jobs:
what a job costs in submission, the two Snakemake start-ups inside it (batch step and
srun step) and the executor's status polling.
"""

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "support"))

from slurm import SlurmUnavailable, completed_jobs, local_slurm, night_command  # noqa: E402


def ungrouped_profile(folder):
    """profiles/slurm_local without groups, written to ``folder``."""
    profile = yaml.safe_load((REPO / "profiles" / "slurm_local" / "config.yaml").read_text())
    for key in ("groups", "group-components"):
        profile.pop(key)
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(profile))
    return folder


def run_night(profile, workdir, jobcomp=None):
    """Run the whole small night (with its drift check and report summaries)."""
    command, env = night_command(workdir, profile)
    before = set(completed_jobs(jobcomp)) if jobcomp else set()
    start = time.perf_counter()
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, env=env, timeout=3600)
    wall = time.perf_counter() - start
    output = done.stdout + done.stderr
    if done.returncode:
        raise SystemExit(f"{profile} failed:\n{output[-3000:]}")
    steps = re.findall(r"(\d+) of (\d+) steps \(100%\) done", output)
    time.sleep(2)  # the last job's completion record
    slurm_jobs = len(set(completed_jobs(jobcomp)) - before) if jobcomp else 0
    return {
        "wall_s": round(wall, 1),
        "snakemake_jobs": int(steps[-1][1]) if steps else None,
        "slurm_jobs": slurm_jobs,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ungrouped", action="store_true", help="also run without the profile's groups")
    parser.add_argument("--json", type=Path, help="write the results here too")
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="astrid-slurm-bench-"))
    try:
        with local_slurm() as jobcomp:
            results = {"local": run_night(REPO / "profiles" / "test", root / "local")}
            results["slurm grouped"] = run_night(REPO / "profiles" / "slurm_local", root / "grouped", jobcomp)
            if args.ungrouped:
                profile = ungrouped_profile(root / "ungrouped_profile")
                results["slurm ungrouped"] = run_night(profile, root / "ungrouped", jobcomp)
    except SlurmUnavailable as reason:
        raise SystemExit(f"no local SLURM: {reason}") from None
    local = results["local"]["wall_s"]
    print(f"{'run':<16} {'wall s':>7} {'jobs':>5} {'SLURM jobs':>10} {'× local':>8} {'s per SLURM job':>16}")
    for name, r in results.items():
        extra = (r["wall_s"] - local) / r["slurm_jobs"] if r["slurm_jobs"] else 0.0
        r["overhead_s_per_slurm_job"] = round(extra, 1)
        print(
            f"{name:<16} {r['wall_s']:>7.1f} {r['snakemake_jobs'] or 0:>5} {r['slurm_jobs']:>10} "
            f"{r['wall_s'] / local:>8.2f} {extra:>16.1f}"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
