"""From shutter close to alert: latency per frame, keeping up with a stream, and night
throughput, on simulated 4096² frames, for this checkout and (``--before REV``) an earlier
one side by side in one run.

    .venv/bin/python benchmarks/latency.py [--size 4096] [--frames 5] [--stream-minutes 10]
        [--cadence 30] [--before REV] [--work DIR] [--json OUT.json] [--no-throughput]

For each code version, a fresh site (``tests/support/nights.stream_site``): a reference
night of 3 frames, whose references a batch run builds, and tonight's calibration frames in
the night folder; the starter model is the champion. Then, with that version's follower
(``python -m astrid.ops.follow`` as ``make follow`` runs it, with ``profiles/default``,
looking every 0.5 s; the site's ``ingest.settle_seconds`` is 1 s):

1. **latency**: one warm-up frame lands (it also pays for tonight's masters, reported
   apart), then ``--frames`` frames land one at a time, each after the previous one's alert
   run ended. Per frame: landing → its scores written and landing → its alerts delivered
   (the run's delivery table written), and the seconds of each alert-path rule from the
   rule benchmark files; what remains of the wall time is Snakemake's and the processes'
   overhead (start, planning, ingest, settling, polling).
2. **keep-up**: frames land every ``--cadence`` seconds for ``--stream-minutes``; per
   frame the latency to delivery; p50, p95, the largest backlog (frames landed and not yet
   delivered) and whether latency grows over the stream (last third / first third).
3. **night throughput**: the warm-up and timed frames processed again from scratch by one
   batch run of the whole night (``snakemake`` with the site config, everything a night
   makes; the stream's frames are moved aside first): frames per hour on this machine, and
   each rule's share of the job seconds. The retraining check of that batch may retrain
   (it did in the run the README quotes), which then dominates the figure.

The follower itself trains nothing: training is the nightly batch's, off the alert path.
``--before`` checks out REV into a git worktree under the work folder.
"""

import argparse
import csv
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "workflow" / "scripts"), str(REPO / "tests" / "support")]

from nights import stream_site  # noqa: E402

from astrid.ops.follow import snakemake_command  # noqa: E402

NIGHT = "20261127"
PER_FRAME_RULES = (
    "calibrate_exposure",
    "align_exposure",
    "subtract_reference",
    "detect_candidates",
    "score_candidates",
)
PER_NIGHT_RULES = ("ingest_night", "write_alerts", "deliver_alerts")


def rule_seconds(site: Path, rule: str, name: str) -> float | None:
    """Wall seconds of one job from its benchmark file (None when it did not run)."""
    path = site / "benchmarks" / "rules" / rule / NIGHT / f"{name}.tsv"
    if not path.exists():
        path = site / "benchmarks" / "rules" / rule / f"{name}.tsv"
    if not path.exists():
        return None
    with open(path) as handle:
        return float(next(csv.DictReader(handle, delimiter="\t"))["s"])


class Watch:
    """Times at which each frame's scores and alerts appeared, seen by polling."""

    def __init__(self, site: Path, follower: subprocess.Popen):
        self.site, self.follower, self.landed, self.scored, self.delivered = site, follower, {}, {}, {}
        self.delivery = site / "results" / "alerts" / NIGHT / "delivery.tsv"
        self.stopping = False
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        seen = None
        while not self.stopping:
            now = time.time()
            for exposure in list(self.landed):
                if exposure not in self.scored:
                    if (self.site / "results" / "scored" / NIGHT / f"{exposure}.ecsv").exists():
                        self.scored[exposure] = now
            stamp = self.delivery.stat().st_mtime if self.delivery.exists() else None
            if stamp != seen and stamp is not None:
                seen = stamp
                for exposure, when in list(self.scored.items()):
                    if exposure not in self.delivered and stamp >= when - 1.0:
                        self.delivered[exposure] = now
            time.sleep(0.1)

    def land(self, source: Path):
        shutil.copy(source, self.site / "raw" / NIGHT / source.name)
        self.landed[source.stem] = time.time()

    def wait(self, exposures, timeout):
        deadline = time.time() + timeout
        while any(e not in self.delivered for e in exposures):
            if time.time() > deadline:
                raise SystemExit(f"no alerts for {set(exposures) - set(self.delivered)} in {timeout} s")
            if self.follower.poll() is not None:
                log = (self.site / "follow.log").read_text()[-3000:]
                raise SystemExit(f"the follower ended ({self.follower.returncode}):\n{log}")
            time.sleep(0.2)

    def latency(self, exposure, until="delivered"):
        return getattr(self, until)[exposure] - self.landed[exposure]


def percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def run_version(label: str, code: Path, work: Path, args) -> dict:
    """Latency, keep-up and throughput of one code version on its own fresh site."""
    site = work / label
    if site.exists():
        shutil.rmtree(site)
    n_stream = max(1, int(args.stream_minutes * 60 // args.cadence))
    print(
        f"[{label}] simulating the site: {args.size}² frames, 1 + {args.frames} + {n_stream} tonight",
        flush=True,
    )
    arriving = stream_site(site, args.size, 1 + args.frames + n_stream)
    code_env = {"PYTHONPATH": str(code / "workflow" / "scripts")}
    env = {**os.environ, **code_env}
    snakefile = code / "workflow" / "Snakefile"
    profile = code / "profiles" / "default"
    config = site / "site.yaml"

    def snakemake(*targets):
        command = snakemake_command(targets, profile, [config], sys.executable, snakefile)
        done = subprocess.run(command, cwd=site, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"[{label}] {' '.join(command)} failed:\n{done.stderr[-3000:]}")

    started = time.time()
    snakemake("results/references/F01/r.fits")
    subprocess.run(
        [
            sys.executable,
            "-c",
            "from astrid.ops.follow import ensure_champion; from astrid.pipeline.config "
            "import load_config; import sys; from pathlib import Path; "
            f"ensure_champion(load_config([{str(config)!r}]), Path({str(code)!r}))",
        ],
        cwd=site,
        env={**env, "PYTHONPATH": str(REPO / "workflow" / "scripts")},
        check=True,
    )
    print(f"[{label}] references and champion ready in {time.time() - started:.0f} s", flush=True)

    log = open(site / "follow.log", "w")  # noqa: SIM115 - closed below
    # The version's own follower, so that how it sees a frame arrive is measured too.
    follower = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "astrid.ops.follow",
            "--configfile",
            str(config),
            "--profile",
            str(profile),
            "--night",
            NIGHT,
            "--poll-seconds",
            "0.5",
        ],
        cwd=site,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    watch = Watch(site, follower)
    result = {"label": label, "code": str(code), "size": args.size}
    try:
        warm, frames, stream = arriving[0], arriving[1 : 1 + args.frames], arriving[1 + args.frames :]
        watch.land(warm)
        watch.wait([warm.stem], 900)
        result["warm_up_s"] = watch.latency(warm.stem)
        print(f"[{label}] warm-up frame (tonight's masters too): {result['warm_up_s']:.1f} s", flush=True)
        rows = []
        for source in frames:
            watch.land(source)
            watch.wait([source.stem], 900)
            time.sleep(1.5)  # the run's last jobs and its end
            stages = {rule: rule_seconds(site, rule, source.stem) or 0.0 for rule in PER_FRAME_RULES}
            stages.update({rule: rule_seconds(site, rule, NIGHT) or 0.0 for rule in PER_NIGHT_RULES})
            row = {
                "exposure": source.stem,
                "to_scores_s": watch.latency(source.stem, "scored"),
                "to_alerts_s": watch.latency(source.stem),
                **stages,
            }
            row["overhead_s"] = row["to_alerts_s"] - sum(stages.values())
            rows.append(row)
            print(
                f"[{label}] {source.stem}: alerts {row['to_alerts_s']:.1f} s, scores {row['to_scores_s']:.1f} s",
                flush=True,
            )
        result["latency"] = rows
        stream_started = time.time()
        for number, source in enumerate(stream):
            while time.time() < stream_started + number * args.cadence:
                time.sleep(0.1)
            watch.land(source)
        watch.wait([s.stem for s in stream], 1800)
        latencies = [watch.latency(s.stem) for s in stream]
        backlog = 0
        for source in stream:
            at = watch.landed[source.stem]
            backlog = max(
                backlog, sum(1 for s in stream if watch.landed[s.stem] <= at < watch.delivered[s.stem])
            )
        third = max(1, len(latencies) // 3)
        result["keep_up"] = {
            "frames": len(stream),
            "cadence_s": args.cadence,
            "latencies_s": latencies,
            "p50_s": statistics.median(latencies),
            "p95_s": percentile(latencies, 95),
            "max_backlog": backlog,
            "growth": statistics.mean(latencies[-third:]) / statistics.mean(latencies[:third]),
        }
        print(
            f"[{label}] keep-up: p50 {result['keep_up']['p50_s']:.1f} s, p95 {result['keep_up']['p95_s']:.1f} s",
            flush=True,
        )
    finally:
        watch.stopping = True
        follower.send_signal(signal.SIGTERM)
        follower.wait(timeout=300)
        log.close()
    if args.throughput:
        result["throughput"] = night_throughput(site, [warm, *frames], stream, snakemake)
    return result


def night_throughput(site: Path, frames, stream, snakemake) -> dict:
    """The timed frames processed again from scratch by one batch run of the whole night
    (the stream's frames moved out of the night folder first)."""
    aside = site / "stream-aside"
    aside.mkdir()
    for source in stream:
        (site / "raw" / NIGHT / source.name).rename(aside / source.name)
    for folder in (
        "calibrated",
        "aligned",
        "difference",
        "candidates",
        "cutouts",
        "scored",
        "training/samples",
    ):
        shutil.rmtree(site / "results" / folder / NIGHT, ignore_errors=True)
    shutil.rmtree(site / "benchmarks" / "rules", ignore_errors=True)
    started = time.time()
    snakemake()
    wall = time.time() - started
    shares = {}
    for path in (site / "benchmarks" / "rules").rglob("*.tsv"):
        rule = path.relative_to(site / "benchmarks" / "rules").parts[0].removesuffix(".tsv")
        with open(path) as handle:
            shares[rule] = shares.get(rule, 0.0) + float(next(csv.DictReader(handle, delimiter="\t"))["s"])
    done = len(list((site / "results" / "scored" / NIGHT).glob("*.ecsv")))
    return {"frames": done, "wall_s": wall, "frames_per_hour": 3600 * done / wall, "rule_seconds": shares}


def section(title: str, labels: list[str]) -> list[str]:
    """A section's title and the head of its table, one column per code version."""
    return ["", f"## {title}", "", "| | " + " | ".join(labels) + " |", "|---|" + "---|" * len(labels)]


def report(results: list[dict]) -> str:
    labels = [r["label"] for r in results]
    lines = section("Latency (one frame at a time; median of the frames)", labels)

    def median_of(key):
        return [statistics.median(row[key] for row in r["latency"]) for r in results]

    for key, name in [
        ("to_alerts_s", "landing → alerts delivered (s)"),
        ("to_scores_s", "landing → scores (s)"),
    ]:
        lines.append(f"| {name} | " + " | ".join(f"{v:.1f}" for v in median_of(key)) + " |")
    for rule in (*PER_FRAME_RULES, *PER_NIGHT_RULES, "overhead_s"):
        lines.append(f"| {rule} | " + " | ".join(f"{v:.1f}" for v in median_of(rule)) + " |")
    lines.append(
        "| warm-up frame, with tonight's masters (s) | "
        + " | ".join(f"{r['warm_up_s']:.1f}" for r in results)
        + " |"
    )
    lines += section("Keeping up (a frame every cadence seconds)", labels)
    for key, fmt in [
        ("frames", "{}"),
        ("cadence_s", "{}"),
        ("p50_s", "{:.1f}"),
        ("p95_s", "{:.1f}"),
        ("max_backlog", "{}"),
        ("growth", "{:.2f}"),
    ]:
        lines.append(f"| {key} | " + " | ".join(fmt.format(r["keep_up"][key]) for r in results) + " |")
    if not all("throughput" in r for r in results):
        lines += ["", "Night throughput: not measured (--no-throughput)."]
        return "\n".join(lines + targets(results[-1]))
    lines += section("Night throughput (one batch run of the warm-up and timed frames)", labels)
    lines.append("| frames | " + " | ".join(str(r["throughput"]["frames"]) for r in results) + " |")
    lines.append(
        "| frames per hour | "
        + " | ".join(f"{r['throughput']['frames_per_hour']:.0f}" for r in results)
        + " |"
    )
    rules = sorted({rule for r in results for rule in r["throughput"]["rule_seconds"]})
    for rule in rules:
        cells = []
        for r in results:
            seconds = r["throughput"]["rule_seconds"]
            total = sum(seconds.values())
            cells.append(f"{seconds.get(rule, 0):.0f} s ({100 * seconds.get(rule, 0) / total:.0f} %)")
        lines.append(f"| {rule} | " + " | ".join(cells) + " |")
    if len(results) == 2:
        a, b = results
        ratio = statistics.median(r["to_alerts_s"] for r in a["latency"]) / statistics.median(
            r["to_alerts_s"] for r in b["latency"]
        )
        lines += ["", f"Latency ratio {a['label']} / {b['label']}: {ratio:.2f}"]
    return "\n".join(lines + targets(results[-1]))


def targets(after: dict) -> list[str]:
    """The issue's targets, met or not, for the last version measured."""
    latency = statistics.median(r["to_alerts_s"] for r in after["latency"])
    keeps_up = after["keep_up"]["p95_s"] <= 60 and after["keep_up"]["growth"] < 1.5
    return [
        "",
        f"Targets ({after['label']}): latency ≤ 20 s: {'met' if latency <= 20 else 'NOT met'}; "
        f"keep-up p95 ≤ 60 s with no growing backlog: {'met' if keeps_up else 'NOT met'}",
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--frames", type=int, default=5, help="frames timed one at a time")
    parser.add_argument("--stream-minutes", type=float, default=10.0)
    parser.add_argument("--cadence", type=float, default=30.0, help="seconds between frames of the stream")
    parser.add_argument("--before", help="a git revision to measure side by side (a worktree is made)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/astrid-latency"))
    parser.add_argument("--json", type=Path)
    parser.add_argument(
        "--no-throughput",
        dest="throughput",
        action="store_false",
        help="leave out the batch run of the night (its retraining takes most of an hour)",
    )
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    versions = []
    if args.before:
        tree = args.work / "before-code"
        if tree.exists():
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)], check=False)
        # A work folder removed by hand leaves its worktree registered: forget it first.
        subprocess.run(["git", "-C", str(REPO), "worktree", "prune"], check=True)
        subprocess.run(
            ["git", "-C", str(REPO), "worktree", "add", "--detach", str(tree), args.before], check=True
        )
        versions.append((f"before ({args.before})", tree))
    versions.append(("after (this checkout)", REPO))
    results = []
    for label, code in versions:
        results.append(run_version(label.split()[0], code, args.work, args))
    print(report(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
