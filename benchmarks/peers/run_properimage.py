"""properimage 0.7.2 (a ZOGY implementation) on a benchmark pair.

Runs in its own venv (benchmarks/peers/install.sh)::

    .bench/properimage/bin/python benchmarks/peers/run_properimage.py PAIR_DIR OUT_DIR [--threads N]

Settings (shared/notes/peers.md): ``properimage.operations.subtract`` with the library
defaults, beta=True and shift=True (the README call beta=False, shift=False mis-scales the
reference), align=False (the pair is aligned), fitted_psf=True (its default: a Gaussian PSF
fitted to stars it selects itself; it is NOT given the true PSFs).

Input: the SCI planes with the sky added back (pair.json sky_ref / sky_sci), i.e. raw-like
images in electrons: properimage subtracts its own sep background and builds the variance of
S_corr from the data (+1), so it expects the sky to be in the data.

Output: its S_corr, which is not in sigma units, divided by its robust std over the frame
inside the metrics border (metrics.renormalise_score; no truth used). The factor is recorded
as ``raw_score_robust_std`` in timing.json. The timing covers subtract() alone, which
includes properimage's own source finding and PSF fitting.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time

from common import parse_args, write_outputs


class _FitLog(logging.Handler):
    """Keeps properimage's log lines about its fitted flux ratio (beta) and shift."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record):
        message = record.getMessage()
        if "beta" in message or "shift" in message:
            self.lines.append(message)


def main() -> None:
    args = parse_args("properimage subtract() with library defaults (beta=True, shift=True).")
    import metrics
    import numpy as np
    import pairs
    from properimage.operations import subtract

    fit_log = _FitLog()
    logger = logging.getLogger("properimage.operations")
    logger.setLevel(logging.INFO)
    logger.addHandler(fit_log)

    pair = pairs.load_pair(args.pair_dir)
    ref = pair.ref + pair.info["sky_ref"]
    new = pair.sci + pair.info["sky_sci"]
    # properimage keeps PSF stamps in a scratch database in the working directory.
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="properimage-") as scratch:
        os.chdir(scratch)
        try:
            t0 = time.perf_counter()
            _, _, s_corr, _ = subtract(ref=ref, new=new, align=False, beta=True, shift=True)
            elapsed = time.perf_counter() - t0
        finally:
            os.chdir(cwd)
    s_corr = np.asarray(np.ma.filled(s_corr, np.nan), dtype=np.float64)
    score, scale = metrics.renormalise_score(s_corr)
    write_outputs(
        args.out_dir,
        "properimage",
        score,
        elapsed,
        args.threads,
        "S_corr / (1.4826 MAD of S_corr inside the border)",
        raw_score_robust_std=scale,
        settings="subtract(align=False, beta=True, shift=True)",
        fit_log=fit_log.lines,
    )


if __name__ == "__main__":
    main()
