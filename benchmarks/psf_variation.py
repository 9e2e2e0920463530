"""How much the PSF varies across a frame: the median FWHM of the isolated, unsaturated stars
in each quadrant, on the real frames in ../shared/data/real and on a simulated demo frame.

    .venv/bin/python benchmarks/psf_variation.py

Prints, per frame, the stars used, the median FWHM over the frame and per quadrant, and
the spread of the quadrants (largest / smallest). A spread of a few per cent is what the
measurement itself scatters by with a few dozen stars; AstrID models one PSF per frame, so
a larger spread is where a per-region PSF would pay.
"""

import sys
import warnings
from pathlib import Path

import numpy as np
from astropy.io import fits

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow" / "scripts"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "support"))

from workflow_runs import SHARED  # noqa: E402

from astrid.imaging.sources import background, find_stars, psf_stars  # noqa: E402

REAL = SHARED / "data" / "real"


def quadrant_fwhm(data: np.ndarray, saturate: float | None = None) -> dict:
    """Median FWHM (pixels) of the frame's PSF stars, overall and per quadrant."""
    data = np.nan_to_num(data.astype(np.float32))
    mask = np.zeros(data.shape, np.uint16)
    if saturate is not None:
        mask[data >= saturate] = 1
    sky, rms = background(data, mask != 0)
    noise = max(float(rms), 12**-0.5)
    stars = find_stars(
        data - sky, np.full(data.shape, noise**2, np.float32), mask, threshold=5.0, background_rms=noise
    )
    stars = psf_stars(stars, min_snr=20.0, max_stars=1000)
    ny, nx = data.shape
    quadrants = {}
    for name, (ys, xs) in {
        "lower left": ((0, ny / 2), (0, nx / 2)),
        "lower right": ((0, ny / 2), (nx / 2, nx)),
        "upper left": ((ny / 2, ny), (0, nx / 2)),
        "upper right": ((ny / 2, ny), (nx / 2, nx)),
    }.items():
        inside = (stars["y"] >= ys[0]) & (stars["y"] < ys[1]) & (stars["x"] >= xs[0]) & (stars["x"] < xs[1])
        quadrants[name] = (
            int(inside.sum()),
            float(np.median(stars["fwhm"][inside])) if inside.sum() >= 3 else np.nan,
        )
    return {
        "stars": len(stars),
        "fwhm": float(np.median(stars["fwhm"])) if len(stars) else np.nan,
        "quadrants": quadrants,
    }


def frames():
    """(label, image, saturation) of each frame measured."""
    feder = REAL / "raw" / "feder_apogee_reducer_mini"
    for path in sorted(feder.glob("SA112-*.fit.gz")):
        yield f"Feder {path.name[:15]}", fits.getdata(path)[:, :1536], 255.0
    for path in sorted((REAL / "pairs" / "decam_sfft_ccdN6").glob("DEC-OBS*.mini.fits")):
        yield f"DECam {path.stem}", fits.getdata(path), None
    for path in sorted((REAL / "pairs" / "jwst_nircam_abell2744").glob("*.fits")):
        with fits.open(path) as hdul:
            image = next(h.data for h in hdul if h.data is not None and h.data.ndim == 2)
        yield f"NIRCam {path.name[:13]}", image, None
    from astropy.table import Table

    from astrid.sim.scene import render_scene

    rng = np.random.default_rng(1)
    n, size = 400, 2048
    sources = Table(
        {
            "x": rng.uniform(20, size - 20, n),
            "y": rng.uniform(20, size - 20, n),
            "flux_e": 10 ** rng.uniform(3.5, 5.0, n),
            "kind": ["star"] * n,
        }
    )
    scene = render_scene((size, size), sources, 3.5, 3.5) + 300.0
    yield "demo (one PSF, by construction)", scene + rng.normal(0, np.sqrt(scene)), None


def main() -> None:
    if not REAL.exists():
        print(f"real frames not found at {REAL} (../shared/data/real; set ASTRID_SHARED)")
    print(
        f"{'frame':38s} {'stars':>5s} {'FWHM px':>8s}  quadrants (stars, FWHM)                              spread"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for label, image, saturate in frames():
            result = quadrant_fwhm(image, saturate)
            values = [f for _, f in result["quadrants"].values() if np.isfinite(f)]
            spread = max(values) / min(values) if len(values) >= 2 else np.nan
            cells = "  ".join(f"{n:3d} {f:5.2f}" for n, f in result["quadrants"].values())
            print(f"{label:38s} {result['stars']:5d} {result['fwhm']:8.2f}  {cells}   {spread:5.3f}")


if __name__ == "__main__":
    main()
