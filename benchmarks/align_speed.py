"""Time AstrID's alignment of one frame onto its reference at a given size.

    .venv/bin/python benchmarks/align_speed.py --size 4096

The frame is a benchmark pair's science image, rotated by 0.1° and shifted by (23.4, −17.8)
pixels, with a header WCS that knows nothing of that; the reference is the pair's reference
image. Prints the time of ``align_to_reference`` (star finding, registration, resampling of
image, variance and mask, background, PSF and flux scale) and its parts, and the registration
error against the known transform.
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from astropy.wcs import WCS

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "workflow" / "scripts"), str(REPO / "benchmarks")]

import pairs  # noqa: E402

from astrid.astrometry.registration import Registration  # noqa: E402
from astrid.imaging.align import AlignSettings, align_to_reference, resample  # noqa: E402
from astrid.imaging.psf import empirical_psf  # noqa: E402
from astrid.imaging.reference import Reference  # noqa: E402
from astrid.imaging.sources import background, find_stars, psf_stars  # noqa: E402
from astrid.io.fitsio import ImageProduct  # noqa: E402


def tan_wcs(size):
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [150.0, 2.0]
    wcs.wcs.crpix = [size / 2, size / 2]
    wcs.wcs.cdelt = [-0.4 / 3600, 0.4 / 3600]
    return wcs


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--threads", type=int, default=2, help="workers of align_to_reference (default 2)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        pairs.main(["--size", str(args.size), "--seed", "7", "--out", folder])
        pair = pairs.load_pair(folder)
    ref = pair.ref.astype(np.float32)
    no_mask = np.zeros(ref.shape, np.uint16)
    theta = np.radians(0.1)
    truth = Registration(
        np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]]),
        np.array([23.4, -17.8]),
        0,
        0.0,
        "truth",
    )
    # The frame as the telescope saw it: the science image moved by the inverse of truth.
    frame, frame_var, frame_mask = resample(
        pair.sci.astype(np.float32), pair.sci_var.astype(np.float32), no_mask, truth.inverse(), ref.shape
    )
    sky, rms = background(ref, None)
    stars = find_stars(ref - sky, pair.ref_var, no_mask, background_rms=rms)
    reference = Reference(
        ref - sky,
        pair.ref_var.astype(np.float32),
        no_mask,
        empirical_psf(ref - sky, psf_stars(stars)),
        tan_wcs(args.size),
        stars,
        np.nan,
        rms,
    )
    start = time.perf_counter()
    aligned = align_to_reference(
        ImageProduct(frame, frame_var, frame_mask),
        tan_wcs(args.size).to_header(),
        reference,
        AlignSettings(),
        workers=args.threads,
    )
    elapsed = time.perf_counter() - start
    reg = aligned.registration
    probe = np.array([[100.0, 100.0], [args.size - 100.0, args.size - 100.0]])
    found = np.column_stack(reg.apply(probe[:, 0], probe[:, 1]))
    expected = np.column_stack(truth.apply(probe[:, 0], probe[:, 1]))
    print(
        f"{args.size}², {args.threads} threads: align_to_reference {elapsed:.2f} s; {reg.n_matched} stars ({reg.method}), rms {reg.rms:.3f} px,"
        f" error at the corners {np.abs(found - expected).max():.3f} px, flux ratio {aligned.flux_ratio:.4f}"
    )


if __name__ == "__main__":
    main()
