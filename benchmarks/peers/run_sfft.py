"""sfft 1.7.3 (sparse-field flavour, CPU) on a benchmark pair.

Runs in its own venv (benchmarks/peers/install.sh)::

    .bench/sfft/bin/python benchmarks/peers/run_sfft.py PAIR_DIR OUT_DIR [--threads N]

Settings (shared/notes/peers.md, as in sfft's own sparse-field test script):

1. Each image, with the sky added back (raw-like, electrons), is sky-subtracted by sfft's
   SExtractor-based ``SEx_SkySubtract.SSS`` (BACK_SIZE 64, BACK_FILTERSIZE 3, DETECT_THRESH 1.5),
   which also writes the effective saturation ESATUR (no pixel saturates in a benchmark pair:
   SATURATE is set to 1e9).
2. ``Easy_SparsePacket.ESP`` with ForceConv='REF' (the reference, with the sharper PSF, is
   convolved: DIFF = SCI - K (x) REF), KerHWRatio=2, KerPolyOrder=2, BGPolyOrder=0,
   ConstPhotRatio=True, BACKEND_4SUBTRACT='Numpy', NUM_CPU_THREADS_4SUBTRACT=--threads, and
   its automatic (Hough) star selection. GAIN is 1 (electrons).

sfft shells out to SExtractor as ``sex``; install.sh puts a ``sex`` link in this venv's bin,
which is added to PATH here.

Output: sfft returns a difference image, which is turned into a score in sigma units by
metrics.score_from_difference with the pair's science PSF (the difference has the science
PSF), the pair's VAR planes, and sfft's own matching kernel realised at the image centre. The
timing covers steps 1 and 2 (sky subtraction, SExtractor source selection, kernel solution
and subtraction), not the score computation.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

from common import parse_args, write_outputs

SATURATE = 1.0e9
ESP_SETTINGS = dict(
    ForceConv="REF",
    KerHWRatio=2.0,
    KerPolyOrder=2,
    BGPolyOrder=0,
    ConstPhotRatio=True,
    BACKEND_4SUBTRACT="Numpy",
    GAIN_KEY="GAIN",
    SATUR_KEY="ESATUR",
    VERBOSE_LEVEL=1,
)


def write_raw_like(path: Path, data, sky: float) -> None:
    """Primary-HDU FITS of data + sky with the header keys sfft/SExtractor read."""
    from astropy.io import fits

    hdu = fits.PrimaryHDU((data + sky).astype("float32"))
    hdu.header["GAIN"] = 1.0
    hdu.header["SATURATE"] = SATURATE
    hdu.writeto(path, overwrite=True)


def main() -> None:
    args = parse_args("sfft sparse-field subtraction, Numpy (CPU) backend.")
    os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
    import metrics
    import numpy as np
    import pairs
    from astropy.io import fits
    from sfft.EasySparsePacket import Easy_SparsePacket
    from sfft.utils.SExSkySubtract import SEx_SkySubtract
    from sfft.utils.SFFTSolutionReader import Realize_MatchingKernel

    pair = pairs.load_pair(args.pair_dir)
    with tempfile.TemporaryDirectory(prefix="sfft-") as scratch:
        tmp = Path(scratch)
        for which, data, sky in (
            ("ref", pair.ref, pair.info["sky_ref"]),
            ("sci", pair.sci, pair.info["sky_sci"]),
        ):
            write_raw_like(tmp / f"{which}.fits", data, sky)

        t0 = time.perf_counter()
        for which in ("ref", "sci"):
            SEx_SkySubtract.SSS(
                FITS_obj=str(tmp / f"{which}.fits"),
                FITS_skysub=str(tmp / f"{which}.skysub.fits"),
                SATUR_KEY="SATURATE",
                ESATUR_KEY="ESATUR",
                BACK_SIZE=64,
                BACK_FILTERSIZE=3,
                DETECT_THRESH=1.5,
                VERBOSE_LEVEL=0,
                MDIR=scratch,
            )
        t_sky = time.perf_counter() - t0
        Easy_SparsePacket.ESP(
            FITS_REF=str(tmp / "ref.skysub.fits"),
            FITS_SCI=str(tmp / "sci.skysub.fits"),
            FITS_DIFF=str(tmp / "diff.fits"),
            FITS_Solution=str(tmp / "solution.fits"),
            NUM_CPU_THREADS_4SUBTRACT=args.threads,
            **ESP_SETTINGS,
        )
        elapsed = time.perf_counter() - t0

        diff = fits.getdata(tmp / "diff.fits").astype(np.float64)
        n = pair.info["size"]
        # sfft's arrays are transposed (its x is the first axis): realise the kernel at the
        # centre (FORTRAN-style 1-based coordinates) and transpose it back to image (row, col).
        kernel = (
            Realize_MatchingKernel(np.array([[n / 2 + 0.5, n / 2 + 0.5]]))
            .FromFITS(str(tmp / "solution.fits"))[0]
            .T
        )

    score = metrics.score_from_difference(diff, pair.sci_var, pair.ref_var, pair.psf_sci, kernel)
    write_outputs(
        args.out_dir,
        "sfft",
        score,
        elapsed,
        args.threads,
        "(D conv P_sci) / predicted noise with sfft's kernel",
        sky_subtraction_s=round(t_sky, 3),
        kernel_sum=float(kernel.sum()),
        kernel_shape=list(kernel.shape),
        esp_settings=ESP_SETTINGS,
    )


if __name__ == "__main__":
    main()
