"""Disk and time of AstrID's image products per 4096² frame: plain, tile-compressed
losslessly, quantised (products.compression), and the whole plain file gzipped (the peer:
what sites do to FITS files today, and what AstrID reads as input).

    .venv/bin/python benchmarks/compression.py --size 4096 --repeats 3

The frame is a benchmark pair's science image (sky 1200 e-, stars from S/N 1 to 1000, read
noise 5 e-) written as a calibrated product: SCI and VAR float32, MASK uint16 with a few
per cent of pixels flagged. Each way is written and read back ``--repeats`` times in turn,
side by side in one run; medians are reported with their ratios to the plain file. The
quantisation error is in units of the pixel noise (sqrt of VAR).
"""

import argparse
import gzip
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from astropy.io import fits

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "workflow" / "scripts"), str(REPO / "benchmarks")]

import pairs  # noqa: E402

from astrid.io.fitsio import Compression, ImageProduct, read_image_product, write_image_product  # noqa: E402

WAYS = {
    "plain": Compression("none"),
    "lossless": Compression("lossless"),
    "quantised q=16": Compression("quantised", 16.0),
    "quantised q=4": Compression("quantised", 4.0),
}


def frame(size):
    with tempfile.TemporaryDirectory() as folder:
        pairs.main(["--size", str(size), "--seed", "11", "--out", folder])
        pair = pairs.load_pair(folder)
    # A calibrated frame keeps its sky: the pair's is subtracted, so it is added back.
    data = (pair.sci + pair.info["sky_sci"]).astype(np.float32)
    variance = pair.sci_var.astype(np.float32)
    mask = np.zeros(data.shape, np.uint16)
    rng = np.random.default_rng(1)
    mask[rng.random(data.shape) < 0.002] |= 4  # cosmic rays
    mask[:, size // 3] |= 1  # a bad column
    mask[data > 5e4] |= 2  # saturated cores
    return ImageProduct(data, variance, mask, fits.Header({"EXPOSURE": "bench"}))


def gzip_way(plain, folder):
    """Write: the plain file gzipped (level 6, as gzip's default); read: astropy opens it."""
    target = folder / "peer.fits.gz"
    start = time.perf_counter()
    with open(plain, "rb") as source, gzip.open(target, "wb", compresslevel=6) as sink:
        shutil.copyfileobj(source, sink)
    written = time.perf_counter() - start
    start = time.perf_counter()
    read_image_product(target)
    return target, written, time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    product = frame(args.size)
    sigma = np.sqrt(product.variance)
    times = {way: {"write": [], "read": []} for way in [*WAYS, "gzip -6 (peer)"]}
    sizes, errors = {}, {}
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        for _ in range(args.repeats):
            for way, compression in WAYS.items():
                path = folder / f"{way.replace(' ', '_').replace('=', '')}.fits"
                start = time.perf_counter()
                write_image_product(path, product, compression=compression)
                times[way]["write"].append(time.perf_counter() - start)
                start = time.perf_counter()
                back = read_image_product(path)
                times[way]["read"].append(time.perf_counter() - start)
                sizes[way] = path.stat().st_size
                errors[way] = float(np.std((back.data - product.data) / sigma))
            path, written, read = gzip_way(folder / "plain.fits", folder)
            times["gzip -6 (peer)"]["write"].append(written)
            times["gzip -6 (peer)"]["read"].append(read)
            sizes["gzip -6 (peer)"], errors["gzip -6 (peer)"] = path.stat().st_size, 0.0
    plain = {k: statistics.median(v) for k, v in times["plain"].items()}
    print(f"{args.size}² frame (SCI, VAR float32, MASK uint16); medians of {args.repeats} runs, side by side")
    print(
        "| way | MB per frame | size / plain | write s | write / plain | read s | read / plain | error rms / σ |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for way in times:
        write, read = (statistics.median(times[way][k]) for k in ("write", "read"))
        print(
            f"| {way} | {sizes[way] / 1e6:.1f} | {sizes[way] / sizes['plain']:.2f} | {write:.2f} | "
            f"{write / plain['write']:.1f} | {read:.2f} | {read / plain['read']:.1f} | {errors[way]:.4f} |"
        )


if __name__ == "__main__":
    main()
