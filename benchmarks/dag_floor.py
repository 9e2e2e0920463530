"""Snakemake's own floor for a night's dry-run: a generated workflow with the same shape
as AstrID's, and nothing of AstrID's code in it.

    .venv/bin/python benchmarks/dag_floor.py [--frames 10000] [--rules 6 4 2 1]
        [--variants bare directives] [--repeat 1] [--json OUT.json]

dag_scale.py measures AstrID's dry-run of a 10,000-frame night at about 100 s against a
target of 30 s. How much of that is the workflow and how much Snakemake's cost per job?
Here each size runs a Snakefile written for the purpose: ``--frames`` science frames, each
going through a chain of ``--rules`` per-frame rules (AstrID has six: calibrate, align,
subtract, detect, training samples, score), every one reading the previous one's output
and the frame's reference (an input function, as AstrID's ``reference_path``), and a
``rule all`` asking for the last one. Two variants of each rule:

* ``bare``: input, output and a ``shell:`` command, nothing else;
* ``directives``: as AstrID's per-frame rules: a ``script:``, ``log:``, ``benchmark:``,
  ``threads``, ``resources`` (``mem_mb`` growing with the attempt, ``runtime``) and
  ``params`` (a settings dict and a code digest).

No outputs exist, so every job is planned; each dry-run is ``python -m snakemake -n --cores
2 --quiet rules`` timed by ``measure.py``. Printed per variant and chain length: jobs,
median wall and CPU time, ms per job, and the frames a 30 s dry-run could plan at that
cost.
"""

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dag_scale import job_stats  # noqa: E402
from measure import measure  # noqa: E402

STAGES = ("calibrate", "align", "subtract", "detect", "samples", "score")
TARGET_S = 30.0

HEADER = """\
FRAMES = [f"sci{{i:05d}}" for i in range({frames})]
REFERENCE = {{frame: f"ref/F{{i % 200:03d}}.fits" for i, frame in enumerate(FRAMES)}}


def reference_path(wildcards):
    return REFERENCE[wildcards.exposure]


def grows_on_retry(mem_mb):
    return lambda wildcards, attempt: mem_mb * attempt


rule all:
    input:
        expand("{last}/{{exposure}}.out", exposure=FRAMES),
"""

RULE_HEAD = """
rule {name}:
    input:
        previous="{previous}/{{exposure}}.{extension}",
        reference=reference_path,
    output:
        "{name}/{{exposure}}.out",
"""
BARE = (
    RULE_HEAD
    + """\
    shell:
        "touch {{output}}"
"""
)
DIRECTIVES = (
    RULE_HEAD
    + """\
    log:
        "logs/{name}/{{exposure}}.log",
    benchmark:
        "benchmarks/{name}/{{exposure}}.tsv"
    threads: 2
    resources:
        mem_mb=grows_on_retry(2000),
        runtime=30,
    params:
        settings={{"threshold": 5.0, "box": 128, "mode": "zogy"}},
        code="0123456789abcdef",
    script:
        "step.py"
"""
)


def write_workflow(root, frames, n_rules, variant):
    """Snakefile, script and inputs (raw frames, references) of one generated workflow."""
    root.mkdir(parents=True)
    chain = STAGES[:n_rules]
    text = HEADER.format(frames=frames, last=chain[-1])
    template = BARE if variant == "bare" else DIRECTIVES
    previous, extension = "raw", "fits"
    for name in chain:
        text += template.format(name=name, previous=previous, extension=extension)
        previous, extension = name, "out"
    (root / "Snakefile").write_text(text)
    (root / "step.py").write_text("from pathlib import Path\nPath(snakemake.output[0]).touch()\n")
    for folder, names in (
        ("raw", (f"sci{i:05d}" for i in range(frames))),
        ("ref", (f"F{i:03d}" for i in range(200))),
    ):
        (root / folder).mkdir()
        for name in names:
            (root / folder / f"{name}.fits").touch()


def dry_run(root, timeout):
    log = root / "dry-run.log"
    command = [sys.executable, "-m", "snakemake", "-s", "Snakefile", "-n", "--cores", "2", "--quiet", "rules"]
    result = measure(command, log=log, timeout=timeout, cwd=root)
    text = log.read_text(errors="replace")
    if result["returncode"] != 0:
        raise RuntimeError(f"dry-run in {root} failed ({result['returncode']}):\n{text[-3000:]}")
    result["rules"], result["jobs"] = job_stats(text)
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=10000)
    parser.add_argument(
        "--rules", type=int, nargs="+", default=[6, 4, 2, 1], help="per-frame rules in the chain"
    )
    parser.add_argument(
        "--variants", nargs="+", choices=("bare", "directives"), default=["bare", "directives"]
    )
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    cases = [(variant, n) for variant in args.variants for n in args.rules]
    results = {case: [] for case in cases}
    with tempfile.TemporaryDirectory(prefix="astrid-dag-floor-") as tmp:
        for variant, n in cases:
            write_workflow(Path(tmp) / f"{variant}-{n}", args.frames, n, variant)
        for _ in range(args.repeat):  # interleaved
            for variant, n in cases:
                result = dry_run(Path(tmp) / f"{variant}-{n}", args.timeout)
                results[(variant, n)].append(result)
                print(
                    f"  {variant:>10} {n} rules: {result['jobs']:,} jobs in {result['wall_s']:.1f} s",
                    flush=True,
                )

    print(f"\n{args.frames:,} frames, median of {args.repeat}:")
    print(
        f"{'variant':>10} {'rules':>5} {'jobs':>7} {'wall s':>7} {'CPU s':>7} {'ms/job':>7} {'frames in 30 s':>15}"
    )
    rows = []
    for variant, n in cases:
        runs = results[(variant, n)]
        wall = statistics.median(r["wall_s"] for r in runs)
        cpu = statistics.median(r["user_s"] + r["sys_s"] for r in runs)
        jobs = runs[0]["jobs"]
        per_job_ms = 1000 * wall / jobs
        frames_in_target = int(args.frames * TARGET_S / wall)
        rows.append(
            {
                "variant": variant,
                "rules": n,
                "jobs": jobs,
                "wall_s": round(wall, 2),
                "cpu_s": round(cpu, 2),
                "ms_per_job": round(per_job_ms, 3),
                "frames_in_30_s": frames_in_target,
            }
        )
        print(
            f"{variant:>10} {n:>5} {jobs:>7,} {wall:>7.1f} {cpu:>7.1f} {per_job_ms:>7.2f} {frames_in_target:>15,}"
        )
    if args.json:
        args.json.write_text(json.dumps({"frames": args.frames, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
