"""Side-by-side differencing benchmark: make pairs, run each tool, score, summarise.

    .venv/bin/python benchmarks/run_benchmark.py --size 1024 --seeds 1 2 3 4 5 \
        --tools bare_zogy properimage sfft --work /tmp/bench

For every (size, seed): pairs.py writes WORK/pairs/s<size>_seed<seed>/; each tool's runner
runs in its own venv through measure.py (one at a time, never in parallel) into
WORK/runs/s<size>_seed<seed>/<tool>/ (score.fits, timing.json, run.log, measure.json,
metrics.json). The pooled summary per tool and size goes to WORK/summary.json and
WORK/summary.md. Tools whose python is missing (peer not installed) are skipped with a note.

Adding a tool (e.g. AstrID's own ZOGY): a runner with the interface of peers/common.py
(``python RUNNER PAIR_DIR OUT_DIR --threads N`` writing score.fits in sigma units and
timing.json) and one line in TOOLS.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import numpy as np
from astropy.io import fits

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))
import measure  # noqa: E402
import metrics  # noqa: E402
import pairs  # noqa: E402

# tool name -> (python of its venv, runner), both relative to the repo root
TOOLS = {
    "astrid": (".venv/bin/python", "benchmarks/run_astrid.py"),
    "bare_zogy": (".venv/bin/python", "benchmarks/peers/run_bare_zogy.py"),
    "properimage": (".bench/properimage/bin/python", "benchmarks/peers/run_properimage.py"),
    "sfft": (".bench/sfft/bin/python", "benchmarks/peers/run_sfft.py"),
}


def run_tool(tool: str, pair_dir: Path, out_dir: Path, threads: int, timeout: float) -> dict:
    """Run one tool on one pair under measure.py and score it; returns the run's record."""
    python, runner = (REPO / p for p in TOOLS[tool])
    if not python.exists():
        return {"tool": tool, "status": f"skipped: {python} missing (run benchmarks/peers/install.sh)"}
    out_dir.mkdir(parents=True, exist_ok=True)
    cmd = [str(python), str(runner), str(pair_dir), str(out_dir), "--threads", str(threads)]
    usage = measure.measure(cmd, log=out_dir / "run.log", timeout=timeout)
    (out_dir / "measure.json").write_text(json.dumps(usage, indent=2) + "\n")
    if usage["returncode"] != 0:
        why = "timed out" if usage["timed_out"] else f"exit {usage['returncode']}"
        return {"tool": tool, "status": f"failed ({why}), see {out_dir / 'run.log'}", **usage}
    timing = json.loads((out_dir / "timing.json").read_text())
    score = fits.getdata(out_dir / "score.fits").astype(np.float64)
    result = metrics.evaluate(score, pairs.load_pair(pair_dir, images=False))
    (out_dir / "metrics.json").write_text(json.dumps(result, indent=2) + "\n")
    print(metrics.format_report(f"{tool} {pair_dir.name}", result), flush=True)
    return {
        "tool": tool,
        "status": "ok",
        "wall_s": usage["wall_s"],
        "max_rss_mb": usage["max_rss_mb"],
        "subtraction_s": timing["subtraction_s"],
        "metrics": result,
    }


def pool(records: list[dict]) -> dict:
    """Pooled summary of one tool's successful runs at one size."""
    ok = [r for r in records if r["status"] == "ok"]
    if not ok:
        return {"runs": 0, "status": records[0]["status"] if records else "no runs"}
    bins = {}
    for r in ok:
        for row in r["metrics"]["completeness"]:
            b = bins.setdefault((row["snr_lo"], row["snr_hi"]), {"injected": 0, "recovered": 0, "ideal": 0.0})
            for key in b:
                b[key] += row[key]
    total = {key: sum(b[key] for b in bins.values()) for key in ("injected", "recovered", "ideal")}
    return {
        "runs": len(ok),
        "median_wall_s": statistics.median(r["wall_s"] for r in ok),
        "median_subtraction_s": statistics.median(r["subtraction_s"] for r in ok),
        "median_max_rss_mb": statistics.median(r["max_rss_mb"] for r in ok),
        "median_noise_ratio": statistics.median(r["metrics"]["noise_ratio"] for r in ok),
        "median_measured_over_injected_snr": statistics.median(
            r["metrics"]["measured_over_injected_snr"] for r in ok
        ),
        "recovered": total["recovered"],
        "injected": total["injected"],
        "ideal": round(total["ideal"], 1),
        "false_positives": sum(r["metrics"]["false_positives"] for r in ok),
        "false_positives_near_bright_stars": sum(
            r["metrics"]["false_positives_near_bright_stars"] for r in ok
        ),
        "negative_detections": sum(r["metrics"]["negative_detections"] for r in ok),
        "completeness": [
            {"snr": f"{lo:g}-{hi:g}", **{k: round(v, 1) for k, v in b.items()}}
            for (lo, hi), b in sorted(bins.items())
        ],
    }


def summary_markdown(summary: dict) -> str:
    """The pooled summary as Markdown tables, one block per size."""
    lines = []
    for size, tools in summary.items():
        lines += [
            f"## {size}x{size}",
            "",
            "| tool | runs | wall s | subtraction s | peak RSS MB | noise ratio | meas/inj S/N "
            "| recovered / injected (ideal) | false pos. (near bright stars) | neg. detections |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for tool, s in tools.items():
            if not s["runs"]:
                lines.append(f"| {tool} | 0 | {s['status']} |||||||")
                continue
            lines.append(
                f"| {tool} | {s['runs']} | {s['median_wall_s']:.1f} | {s['median_subtraction_s']:.2f} "
                f"| {s['median_max_rss_mb']:.0f} | {s['median_noise_ratio']:.3f} "
                f"| {s['median_measured_over_injected_snr']:.3f} | {s['recovered']} / {s['injected']} ({s['ideal']}) "
                f"| {s['false_positives']} ({s['false_positives_near_bright_stars']}) | {s['negative_detections']} |"
            )
        ran = {tool: s for tool, s in tools.items() if s["runs"]}
        if ran:
            bins = next(iter(ran.values()))["completeness"]
            lines += [
                "",
                "Recovered / injected (ideal) per optimal-S/N bin, seeds pooled:",
                "",
                "| tool | " + " | ".join(f"S/N {row['snr']}" for row in bins) + " |",
                "|---|" + "---|" * len(bins),
            ]
            for tool, s in ran.items():
                cells = [
                    f"{int(r['recovered'])}/{int(r['injected'])} ({r['ideal']})" for r in s["completeness"]
                ]
                lines.append(f"| {tool} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, nargs="+", default=[1024])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1])
    parser.add_argument("--tools", nargs="+", default=list(TOOLS), choices=list(TOOLS))
    parser.add_argument("--work", type=Path, required=True, help="folder for pairs, runs and the summary")
    parser.add_argument(
        "--n-inject",
        type=int,
        default=None,
        help="transients per pair (default 50 per 2048^2, scaled with area)",
    )
    parser.add_argument("--threads", type=int, default=1, help="threads per tool (default 1)")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per tool run (default 1800)")
    args = parser.parse_args(argv)

    records: dict[int, dict[str, list]] = {}
    for size in args.size:
        for seed in args.seeds:
            name = f"s{size}_seed{seed}"
            pair_dir = args.work / "pairs" / name
            pairs.make_pair(pairs.PairConfig(size=size, seed=seed, n_inject=args.n_inject), pair_dir)
            for tool in args.tools:
                record = run_tool(
                    tool, pair_dir, args.work / "runs" / name / tool, args.threads, args.timeout
                )
                if record["status"] != "ok":
                    print(f"{tool} {name}: {record['status']}", flush=True)
                records.setdefault(size, {}).setdefault(tool, []).append(record)

    summary = {size: {tool: pool(recs) for tool, recs in tools.items()} for size, tools in records.items()}
    (args.work / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    text = summary_markdown(summary)
    (args.work / "summary.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
