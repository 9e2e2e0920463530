"""Where the tests find the repository and the real data, and how they run the workflow."""

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("ASTRID_SHARED", REPO.parent / "shared")).resolve()
REAL = SHARED / "data" / "real"


def snakemake(*args, workdir=None, timeout=900, env=None):
    """Run Snakemake on the repository's workflow (in ``workdir`` if given, with environment
    ``env`` if given); return the completed process."""
    command = [sys.executable, "-m", "snakemake", "-s", str(REPO / "workflow" / "Snakefile")]
    if workdir is not None:
        command += ["--directory", str(workdir)]
    return subprocess.run(
        command + list(args), cwd=REPO, capture_output=True, text=True, timeout=timeout, env=env
    )


def jobs_in_dry_run(output):
    """Rule name → job count from the 'Job stats' table of a dry-run."""
    table = output.split("Job stats:")[1].split("total")[0]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M)}
