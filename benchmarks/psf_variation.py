"""How much the PSF varies across a frame: the median FWHM of the isolated, unsaturated stars
in each quadrant, on the real frames in ../shared/data/real and on a simulated demo frame.

    .venv/bin/python benchmarks/psf_variation.py

    .venv/bin/python benchmarks/psf_variation.py --size 4096   # the pairs' frame size

Prints, per frame, the stars used, the median FWHM over the frame and per quadrant, and
the spread of the quadrants (largest / smallest). A spread of a few per cent is what the
measurement itself scatters by with a few dozen stars.

Then, on simulated pairs whose new image's PSF widens from 3.4 px at the centre to 3.8, 4.2
or 5.0 px in the corners (the reference's is 3.0 px everywhere), the false candidates
beside stars (within 12 px of one brighter than 3,000 e-) with one PSF per image and with
the PSF modelled per region as the workflow chooses (difference.psf_spread_limit), and the
time of each subtraction (ZOGY alone, the inputs measured), side by side in one run.
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


def false_candidates_before_after(size: int, corner: float, seed: int = 1) -> dict:
    """False candidates beside stars with one PSF and per region on a simulated pair."""
    import time

    from scipy import ndimage
    from star_pairs import observed, star_field

    from astrid.imaging.detect import find_candidates
    from astrid.imaging.difference import (
        difference_aligned_pair,
        psf_regions_for,
        subtract_by_region,
        subtract_images,
    )
    from astrid.io.fitsio import ImageProduct
    from astrid.sim.scene import render_scene, render_varying_psf

    rng = np.random.default_rng(seed)
    stars = star_field(size, rng)
    ref, ref_var, ref_mask = observed(render_scene((size, size), stars, 3.0, 3.5), 300.0, rng)
    new, new_var, new_mask = observed(
        render_varying_psf((size, size), stars, 3.4, corner, 3.5) * 0.9, 600.0, rng
    )
    reference = ImageProduct(ref, ref_var, ref_mask)
    pair = difference_aligned_pair(ImageProduct(new, new_var, new_mask), reference)
    regions = psf_regions_for(pair.stars_new, pair.stars_ref, (size, size))
    inputs = (
        ImageProduct(new, new_var, new_mask, psf=pair.psf_new, background_rms=float(np.sqrt(600.0))),
        ImageProduct(ref, ref_var, ref_mask, psf=pair.psf_ref, background_rms=pair.background_rms_ref),
    )
    options = dict(flux_ratio=pair.flux_ratio, astrometric_sigma=(0.02, 0.02), flux_sigma=0.01)
    start = time.perf_counter()
    subtract_images(*inputs, **options)
    one_psf_seconds = time.perf_counter() - start
    start = time.perf_counter()
    if regions > 1:
        regional = subtract_by_region(*inputs, pair.stars_new, pair.stars_ref, regions, **options)
    else:
        regional = pair.result
    regional_seconds = time.perf_counter() - start
    from astropy.wcs import WCS

    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    as_reference = pair.as_reference(reference, wcs, 25.0)
    bright = stars[stars["flux_e"] > 3000]
    centres = np.ones(new.shape, bool)
    centres[np.round(bright["y"]).astype(int), np.round(bright["x"]).astype(int)] = False
    near = ndimage.distance_transform_edt(centres) < 12

    def beside_stars(result):
        table, _ = find_candidates(result, new, as_reference, fwhm=3.8, exposure="fp")
        return int(near[np.round(table["y"]).astype(int), np.round(table["x"]).astype(int)].sum())

    return {
        "regions": regions,
        "one_psf": beside_stars(pair.result),
        "per_region": beside_stars(regional),
        "one_psf_seconds": one_psf_seconds,
        "per_region_seconds": regional_seconds,
    }


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
    size = int(sys.argv[sys.argv.index("--size") + 1]) if "--size" in sys.argv else 2048
    print(f"\nfalse candidates beside stars, simulated {size}² pairs (PSF 3.4 px at the centre):")
    print(
        f"{'corner FWHM':>11s} {'regions':>8s} {'one PSF':>8s} {'per region':>10s} {'s one PSF':>10s} {'s per region':>12s}"
    )
    for corner in (3.8, 4.2, 5.0):
        r = false_candidates_before_after(size, corner)
        print(
            f"{corner:11.1f} {r['regions']:6d}²  {r['one_psf']:8d} {r['per_region']:10d}"
            f" {r['one_psf_seconds']:10.1f} {r['per_region_seconds']:12.1f}"
        )


if __name__ == "__main__":
    main()
