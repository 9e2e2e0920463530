"""Plumbing shared by the peer runners (run_*.py), which each run in their own virtualenv.

A runner is called as ``python run_X.py PAIR_DIR OUT_DIR [--threads N]`` and writes
``OUT_DIR/score.fits`` (a score image in sigma units, see benchmarks/metrics.py) and
``OUT_DIR/timing.json`` (``subtraction_s``: wall seconds of the subtraction itself, without
imports and file I/O, plus tool-specific details).

``parse_args`` must be called BEFORE numpy is imported: it caps the BLAS/OpenMP/numba thread
pools at --threads through the environment, which those libraries read at import time. It
also puts benchmarks/ on sys.path so that ``pairs`` and ``metrics`` can be imported (they
need only numpy, scipy and astropy, present in every peer venv).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent.parent
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")


def parse_args(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("pair_dir", type=Path, help="directory written by benchmarks/pairs.py")
    parser.add_argument("out_dir", type=Path, help="where score.fits and timing.json go")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads for the tool (default 1)")
    args = parser.parse_args()
    for name in THREAD_VARIABLES:
        os.environ[name] = str(args.threads)
    if str(BENCH_DIR) not in sys.path:
        sys.path.insert(0, str(BENCH_DIR))
    args.out_dir.mkdir(parents=True, exist_ok=True)
    return args


def write_outputs(
    out_dir: Path, tool: str, score, subtraction_s: float, threads: int, normalisation: str, **details
):
    """Write score.fits (float32, primary HDU) and timing.json for one tool run."""
    import numpy as np
    from astropy.io import fits

    header = fits.Header()
    header["TOOL"] = tool
    header["BUNIT"] = "sigma"
    header["NORMLSN"] = normalisation[:68]
    fits.PrimaryHDU(np.asarray(score, dtype=np.float32), header=header).writeto(
        out_dir / "score.fits", overwrite=True
    )
    timing = {
        "tool": tool,
        "subtraction_s": round(subtraction_s, 3),
        "threads": threads,
        "normalisation": normalisation,
        **details,
    }
    (out_dir / "timing.json").write_text(json.dumps(timing, indent=2, default=float) + "\n")
    print(f"{tool}: subtraction {subtraction_s:.2f} s -> {out_dir / 'score.fits'}")
