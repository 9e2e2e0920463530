"""DAG construction and dry-run time of one night of 100, 1,000 and 10,000 science frames.

    .venv/bin/python benchmarks/dag_scale.py [--sizes 100 1000 10000] [--repeat N]
        [--json OUT.json] [--profile 1000 --profile-out prof.out] [--snakefile PATH]

Target (README): ``snakemake -n`` of a 10,000-frame night in 30 s or less on 2 cores, and a
time that grows no worse than linearly with the number of frames.

For each size a temporary working folder gets a generated night, no pixels needed:

* ``raw/<night>/`` with every frame the manifest names as an empty file;
* ``results/manifest/<night>.tsv`` and ``results/quarantine/<night>.tsv`` in the ingest
  rule's format (``astrid.ingest.MANIFEST_COLUMNS`` / ``QUARANTINE_COLUMNS``, tab-separated
  as ``ingest_night.py`` writes them), newer than the raw folder and every file of the
  workflow so that the ``ingest_night`` checkpoint counts as done and the DAG is built
  from the manifest (the script stops if the dry-run plans to ingest again);
* 11 bias, 11 dark and 7 flats per band, and two quarantined frames (a focus frame and a
  truncated one), as a real night has;
* science frames spread round-robin over fields and bands (``--fields``, default
  min(100, max(5, N // 20)), times 2 bands: 100 fields x 2 bands at 10,000), in time order;
* references: a reference night of 3 frames per field and band, calibrated and coadded in
  the same run (``--reference night``, the default), or supplied templates
  ``templates/<field>_<band>.fits`` (``--reference templates``);
* a config (``demo.enabled: false``, the nights, ``max_observations`` above the frame count).

The real/bogus champion is given in ``ASTRID_CHAMPION`` (``--champion``, default
``1:benchmark``: an operational night with a champion; ``:`` plans the first training
instead), ``MLFLOW_TRACKING_URI`` points to a sqlite file inside the temporary folder and
``ASTRID_DATABASE_URL`` is removed, so neither the user's MLflow store nor their object
database is read.

Each run is ``python -m snakemake -n --cores 2 --quiet rules`` in the working folder
(``--directory``) with the repository as current folder (so its ``profiles/default``
applies, as for a user), timed end to end through ``measure.py`` (wall and CPU time; peak
RSS of the child from ``os.wait4``); the planned jobs come from its "Job stats" table.
Sizes run interleaved, ``--repeat`` times each (default 3 below 10,000 and 1 at 10,000);
printed per size: median wall and CPU time, seconds per 1,000 jobs, peak RSS and the growth
of the time against the growth of the frame count (exponent 1 = linear). On a shared
machine the CPU time is the steadier number.

``--profile N`` also runs the dry-run of size N once under cProfile and prints where the
time went: Snakemake's stages (parsing, creating jobs, input functions, postprocessing,
printing), the workflow's own functions as Snakemake calls them, and the top functions by
own time. ``--snakefile`` measures a copy of the workflow (copy ``workflow/`` and
``config/`` together: the Snakefile reads ``../config/config.yaml``), for trying an
optimisation without touching the repository's.
"""

import argparse
import csv
import datetime
import json
import math
import os
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "workflow" / "scripts"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from measure import measure  # noqa: E402

from astrid.ingest.night import MANIFEST_COLUMNS, QUARANTINE_COLUMNS  # noqa: E402

NIGHT = "20261127"
REFERENCE_NIGHT = "20261101"
BANDS = ("g", "r")
SHAPE = (2048, 2080)  # raw rows x columns: 2048 active + a 32-column overscan strip
DETECTOR = {
    "ny": SHAPE[0],
    "nx": SHAPE[1],
    "gain": 1.5,
    "read_noise": 5.0,
    "saturate": 65000.0,
    "biassec": f"[2049:{SHAPE[1]},1:{SHAPE[0]}]",
    "trimsec": f"[1:2048,1:{SHAPE[0]}]",
}
N_BIAS, N_DARK, N_FLAT = 11, 11, 7
REFERENCE_PER_FIELD_BAND = 3


def mjd_of(night):
    """MJD at the night's local evening (00:00 UT of the next day)."""
    day = datetime.date(int(night[:4]), int(night[4:6]), int(night[6:])) + datetime.timedelta(days=1)
    return float((day - datetime.date(1858, 11, 17)).days)


def isot(mjd):
    moment = datetime.datetime(1858, 11, 17) + datetime.timedelta(days=mjd)
    return moment.isoformat(timespec="milliseconds")


def field_names(n_fields):
    return [f"F{i:03d}" for i in range(n_fields)]


def field_centre(index):
    """A 10 x 10 grid of pointings 1 degree apart."""
    return 150.0 + (index % 10), 2.0 + (index // 10)


def night_rows(night, raw_dir, science):
    """Manifest rows of one night: calibration frames at dusk, then ``science``, a list of
    (field index, field, band), spread evenly over 10 hours."""
    start = mjd_of(night) - 0.05
    rows = []

    def add(exposure, frame_type, imagetyp, mjd, band="", exptime=0.0, field="", ra="", dec=""):
        rows.append(
            {
                "exposure": exposure,
                "night": night,
                "path": f"{raw_dir}/{night}/{exposure}.fits",
                "frame_type": frame_type,
                "imagetyp": imagetyp,
                "band": band,
                "exptime": exptime,
                "date_obs": isot(mjd),
                "mjd": mjd,
                "field": field,
                "ra": ra,
                "dec": dec,
                **DETECTOR,
            }
        )

    calibrations = [("bias", "BIAS", "", 0.0)] * N_BIAS + [("dark", "DARK", "", 300.0)] * N_DARK
    calibrations += [("flat", "FLAT", band, 5.0) for band in BANDS for _ in range(N_FLAT)]
    for i, (frame_type, imagetyp, band, exptime) in enumerate(calibrations):
        add(f"cal{night}_{i:04d}", frame_type, imagetyp, start + i * 0.0005, band, exptime)
    step = 10 / 24 / max(len(science), 1)
    for i, (index, field, band) in enumerate(science):
        ra, dec = field_centre(index)
        add(f"sci{night}_{i:05d}", "science", "OBJECT", mjd_of(night) + i * step, band, 60.0, field, ra, dec)
    rows.sort(key=lambda row: (row["mjd"], row["exposure"]))
    return rows


def write_night(root, night, science, not_before):
    """Raw files, manifest and quarantine list of one night under ``root``, dated after
    ``not_before`` (and after the raw folder)."""
    raw = root / "raw" / night
    raw.mkdir(parents=True)
    rows = night_rows(night, "raw", science)
    quarantined = [
        (
            f"focus{night}",
            "",
            "UNKNOWN_TYPE",
            "IMAGETYP = 'FOCUS' is not a bias, dark, flat or science frame",
        ),
        (
            f"trunc{night}",
            "science",
            "SHAPE_MISMATCH",
            "1024x2080 pixels but the calibration frames are 2048x2080",
        ),
    ]
    for row in rows:
        (root / row["path"]).touch()
    for exposure, *_ in quarantined:
        (raw / f"{exposure}.fits").touch()
    for folder, columns, table in (
        ("manifest", MANIFEST_COLUMNS, rows),
        (
            "quarantine",
            QUARANTINE_COLUMNS,
            [
                dict(zip(QUARANTINE_COLUMNS, (q[0], night, f"raw/{night}/{q[0]}.fits", *q[1:]), strict=True))
                for q in quarantined
            ],
        ),
    ):
        path = root / "results" / folder / f"{night}.tsv"
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", newline="") as handle:
            writer = csv.DictWriter(handle, columns, delimiter="\t", lineterminator="\n")
            writer.writeheader()
            writer.writerows(table)
    # The checkpoint's outputs must be newer than its input (the raw folder) and its script,
    # or Snakemake plans to ingest the night again and builds only the jobs up to there.
    later = max(raw.stat().st_mtime, not_before) + 60
    for folder in ("manifest", "quarantine"):
        os.utime(root / "results" / folder / f"{night}.tsv", (later, later))
    return len(rows) + len(quarantined)


def make_workdir(root, n_science, n_fields, reference, not_before):
    """A working folder with a generated night of ``n_science`` science frames, its
    manifests dated after ``not_before``; returns the number of raw files written."""
    fields = field_names(n_fields)
    pairs = [(i, field, band) for i, field in enumerate(fields) for band in BANDS]
    science = [pairs[i % len(pairs)] for i in range(n_science)]
    n_files = write_night(root, NIGHT, science, not_before)
    nights = [NIGHT]
    templates = None
    if reference == "night":
        n_files += write_night(root, REFERENCE_NIGHT, pairs * REFERENCE_PER_FIELD_BAND, not_before)
        nights.insert(0, REFERENCE_NIGHT)
    else:
        templates = root / "templates"
        templates.mkdir()
        for _, field, band in pairs:
            (templates / f"{field}_{band}.fits").touch()
    config = {
        "raw_dir": "raw",
        "nights": nights,
        "max_observations": n_science + len(pairs) * REFERENCE_PER_FIELD_BAND + 1,
        "demo": {"enabled": False},
        "reference": {
            "nights": [REFERENCE_NIGHT] if reference == "night" else [],
            "templates_dir": str(templates) if templates else None,
        },
    }
    (root / "config.yaml").write_text(json.dumps(config, indent=2) + "\n")  # JSON is YAML
    return n_files


def job_stats(text):
    """{rule: count} of the "Job stats" table of a dry-run's output, and the total."""
    counts, inside = {}, False
    for line in text.splitlines():
        if line.startswith("Job stats:"):
            counts, inside = {}, True
            continue
        if inside:
            parts = line.split()
            if len(parts) == 2 and parts[1].isdigit():
                counts[parts[0]] = int(parts[1])
            elif counts and not parts:
                inside = False
    total = counts.pop("total", sum(counts.values()))
    return counts, total


def environment(root, champion):
    env = dict(os.environ)
    env.pop("ASTRID_DATABASE_URL", None)
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{root / 'mlflow' / 'mlflow.db'}"
    env["ASTRID_CHAMPION"] = champion
    return env


def snakemake_command(root, snakefile, quiet, python_args=()):
    command = [sys.executable, *python_args, "-m", "snakemake", "-s", str(snakefile)]
    command += ["--directory", str(root), "--configfile", str(root / "config.yaml")]
    command += ["-n", "--cores", "2"] + (["--quiet", "rules"] if quiet else [])
    return command


def dry_run(root, snakefile, champion, quiet, timeout, python_args=()):
    """One timed dry-run; the result of ``measure`` plus the planned jobs."""
    log = root / f"dry-run-{time.monotonic_ns()}.log"
    command = snakemake_command(root, snakefile, quiet, python_args)
    result = measure(command, log=log, timeout=timeout, cwd=REPO, env=environment(root, champion))
    text = log.read_text(errors="replace")
    if result["returncode"] != 0:
        raise RuntimeError(f"dry-run failed ({result['returncode']}): {' '.join(command)}\n{text[-3000:]}")
    result["rules"], result["jobs"] = job_stats(text)
    if not result["jobs"]:
        raise RuntimeError(f"no 'Job stats' table in the dry-run's output:\n{text[-3000:]}")
    if "ingest_night" in result["rules"]:
        raise RuntimeError(
            f"the dry-run plans to ingest the night again, so its DAG stops there:\n{text[-3000:]}"
        )
    return result


def summarise(sizes, runs):
    """Rows of the printed table, with the growth between successive sizes."""
    rows, previous = [], None
    for n in sizes:
        walls = [r["wall_s"] for r in runs[n]]
        row = {
            "frames": n,
            "jobs": runs[n][0]["jobs"],
            "runs": len(walls),
            "median_wall_s": round(statistics.median(walls), 2),
            "min_wall_s": round(min(walls), 2),
            "median_cpu_s": round(statistics.median(r["user_s"] + r["sys_s"] for r in runs[n]), 2),
            "s_per_1000_jobs": round(1000 * statistics.median(walls) / runs[n][0]["jobs"], 3),
            "peak_rss_mb": max(r["max_rss_mb"] for r in runs[n]),
            "rules": runs[n][0]["rules"],
        }
        if previous:
            size_ratio = n / previous["frames"]
            wall_ratio = row["median_wall_s"] / previous["median_wall_s"]
            row["growth"] = round(wall_ratio, 2)
            row["size_growth"] = round(size_ratio, 2)
            row["exponent"] = round(math.log(wall_ratio) / math.log(size_ratio), 2)
        rows.append(row)
        previous = row
    return rows


def print_table(rows):
    print(
        f"{'frames':>7} {'jobs':>7} {'runs':>4} {'median s':>9} {'min s':>7} {'CPU s':>7} {'s/1k jobs':>9} "
        f"{'RSS MB':>7} {'growth':>14} {'exponent':>8}"
    )
    for row in rows:
        growth = f"x{row['growth']} / x{row['size_growth']:g}" if "growth" in row else "-"
        exponent = f"{row['exponent']:.2f}" if "exponent" in row else "-"
        print(
            f"{row['frames']:>7,} {row['jobs']:>7,} {row['runs']:>4} {row['median_wall_s']:>9.2f} "
            f"{row['min_wall_s']:>7.2f} {row['median_cpu_s']:>7.2f} {row['s_per_1000_jobs']:>9.3f} {row['peak_rss_mb']:>7.0f} "
            f"{growth:>14} {exponent:>8}"
        )
    print("growth: median time / frame count against the previous size; exponent 1 = linear")


# Where a dry-run spends its time: (label, end of the file name, function), cumulative
# times, nested as indented.
STAGES = (
    ("parse the Snakefile (includes, parse-time code)", "snakemake/workflow.py", "include"),
    ("build the DAG", "snakemake/workflow.py", "_build_dag"),
    ("  create jobs, resolve their inputs", "snakemake/dag.py", "update"),
    ("    input/params/resources functions, via Snakemake", "snakemake/rules.py", "apply_input_function"),
    ("      inspect.signature of those functions", "snakemake/common/__init__.py", "get_function_params"),
    ("  postprocess (needrun, checks)", "snakemake/dag.py", "postprocess"),
    ("    script source check per job", "snakemake/dag.py", "process_job"),
    ("    needrun / mtimes", "snakemake/dag.py", "update_needrun"),
    ("schedule and print the jobs", "scheduling/job_scheduler.py", "schedule"),
    ("  Job.log_info per job", "snakemake/jobs.py", "log_info"),
    ("    resources evaluated for printing", "snakemake/jobs.py", "resources"),
)


def _is_workflow_code(func):
    filename = func[0]
    return filename.endswith((".smk", "Snakefile")) or "/astrid/" in filename


def print_profile(path, top):
    """Time per stage of the dry-run, the workflow's own functions, and the top functions
    by own time."""
    stats = pstats.Stats(str(path)).stats
    total = max(entry[3] for entry in stats.values())
    print(f"\nWhere the time went (cumulative s of {total:.1f} s under cProfile):")
    for label, filename, name in STAGES:
        # Recursive functions (update, update_needrun) appear under one key per line;
        # the outermost call's cumulative time is the largest.
        found = [e[3] for f, e in stats.items() if f[0].endswith(filename) and f[2] == name]
        if found:
            print(f"  {max(found):7.2f}  {100 * max(found) / total:4.0f} %  {label}")

    # Time inside the workflow's code (.smk functions and the astrid library) entered from
    # Snakemake, i.e. not counting the calls between its own functions twice.
    entered = {}
    for func, (*_, callers) in stats.items():
        if _is_workflow_code(func) and func[2] != "<module>":
            from_outside = [v for c, v in callers.items() if not _is_workflow_code(c)]
            if from_outside:
                entered[func] = (sum(v[3] for v in from_outside), sum(v[1] for v in from_outside))
    inside = sum(t for t, _ in entered.values())
    print(
        f"  {inside:7.2f}  {100 * inside / total:4.0f} %  workflow functions called by Snakemake (all of them)"
    )
    for func, (seconds, calls) in sorted(entered.items(), key=lambda item: -item[1][0])[:top]:
        if seconds >= 0.01:
            print(f"           {seconds:7.2f} {calls:>9,}  {func[2]}  ({Path(func[0]).name}:{func[1]})")

    print(f"\nTop {top} functions by own time:")
    ranked = sorted(stats.items(), key=lambda item: -item[1][2])[:top]
    for (filename, line, name), (_, calls, own, cumulative, _) in ranked:
        where = f"{filename.split('site-packages/')[-1]}:{line}" if line else filename
        print(f"  {own:7.2f} {cumulative:8.2f} {calls:>10,}  {name}  ({where})")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10000], help="science frames")
    parser.add_argument(
        "--repeat", type=int, default=None, help="runs per size (default: 3 below 10,000, 1 from 10,000)"
    )
    parser.add_argument("--fields", type=int, default=None, help="fields (default min(100, max(5, N // 20)))")
    parser.add_argument("--reference", choices=("night", "templates"), default="night")
    parser.add_argument("--champion", default="1:benchmark", help="ASTRID_CHAMPION ('version:run', ':' none)")
    parser.add_argument("--verbose-jobs", action="store_true", help="print every job (no --quiet rules)")
    parser.add_argument("--snakefile", type=Path, default=REPO / "workflow" / "Snakefile")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds before a dry-run is killed")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument(
        "--profile", type=int, default=None, metavar="N", help="profile the dry-run of size N"
    )
    parser.add_argument("--profile-out", type=Path, default=None, help="keep the cProfile output here")
    parser.add_argument("--top", type=int, default=25, help="functions listed from the profile")
    parser.add_argument(
        "--keep",
        type=Path,
        default=None,
        help="make the working folders here (not yet holding them) and keep them",
    )
    args = parser.parse_args()
    sizes = sorted(set(args.sizes))

    with tempfile.TemporaryDirectory(prefix="astrid-dag-") as tmp:
        base = args.keep or Path(tmp)
        # Newer than every file of the workflow (its scripts are the checkpoint's code).
        not_before = max([time.time()] + [p.stat().st_mtime for p in args.snakefile.parent.rglob("*")])
        roots = {}
        for n in sizes + ([args.profile] if args.profile and args.profile not in sizes else []):
            roots[n] = base / f"n{n}"
            n_fields = args.fields or min(100, max(5, n // 20))
            start = time.perf_counter()
            n_files = make_workdir(roots[n], n, n_fields, args.reference, not_before)
            print(
                f"night of {n:,} science frames ({n_fields} fields x {len(BANDS)} bands, {n_files:,} raw "
                f"files) made in {time.perf_counter() - start:.1f} s",
                flush=True,
            )

        repeats = {n: args.repeat or (3 if n < 10000 else 1) for n in sizes}
        runs = {n: [] for n in sizes}
        for round_ in range(max(repeats.values())):
            for n in sizes:
                if round_ < repeats[n]:
                    result = dry_run(
                        roots[n], args.snakefile, args.champion, not args.verbose_jobs, args.timeout
                    )
                    runs[n].append(result)
                    print(
                        f"  N={n:,}: {result['jobs']:,} jobs, {result['wall_s']:.2f} s "
                        f"(CPU {result['user_s'] + result['sys_s']:.2f} s), "
                        f"{result['max_rss_mb']:.0f} MB",
                        flush=True,
                    )
        rows = summarise(sizes, runs)
        print()
        print_table(rows)
        print("\njobs per rule at the largest size:")
        for rule, count in sorted(rows[-1]["rules"].items(), key=lambda item: -item[1]):
            print(f"  {count:>7,}  {rule}")

        profile = None
        if args.profile:
            out = args.profile_out or base / "dag.prof"
            result = dry_run(
                roots[args.profile],
                args.snakefile,
                args.champion,
                not args.verbose_jobs,
                args.timeout,
                python_args=("-m", "cProfile", "-o", str(out)),
            )
            print(f"\nprofiled dry-run of N={args.profile:,}: {result['wall_s']:.2f} s under cProfile")
            print_profile(out, args.top)
            profile = {"frames": args.profile, "wall_s": result["wall_s"], "path": str(out)}

        if args.json:
            record = {
                "snakefile": str(args.snakefile),
                "reference": args.reference,
                "champion": args.champion,
                "cores": os.cpu_count(),
                "sizes": rows,
                "runs": {str(n): runs[n] for n in sizes},
                "profile": profile,
            }
            args.json.write_text(json.dumps(record, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
