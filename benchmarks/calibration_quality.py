"""Calibration measured against the simulation's truth, frame by frame (the figures behind the tests).

    .venv/bin/python benchmarks/calibration_quality.py --size 2048

Writes a seeded night (one field, band r, two science frames) to a temporary folder,
builds the masters, calibrates the science frames and prints for each: the sky's largest
deviation from flat in 128² boxes, the mean and spread of the empty-sky pulls against the
variance plane, the fraction of injected cosmic-ray pixels masked and the fraction of star
pixels (> 5σ, not saturated, > 3 px from a cosmic ray) masked as cosmic rays.
"""

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
from scipy.ndimage import binary_dilation

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "workflow" / "scripts"), str(REPO / "tests" / "support")]

from nights import SmallNight, rows_of  # noqa: E402

from astrid.calibrate.masters import make_master_bias, make_master_dark, make_master_flat  # noqa: E402
from astrid.calibrate.raw import CalibrationSettings  # noqa: E402
from astrid.calibrate.science import calibrate_science  # noqa: E402
from astrid.io import maskbits  # noqa: E402
from astrid.realbogus.evaluate import cosmic_ray_recovery, sky_pulls, sky_uniformity  # noqa: E402
from astrid.sim.camera import SKY_RATE  # noqa: E402
from astrid.sim.scene import render_scene  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=2048)
    args = parser.parse_args()
    settings = CalibrationSettings()
    with tempfile.TemporaryDirectory() as folder:
        night = SmallNight(folder, args.size, "new")
        manifest, _ = night.ingest()
        bias = make_master_bias(rows_of(manifest, "bias"), settings)
        dark = make_master_dark(rows_of(manifest, "dark"), bias, settings)
        flat = make_master_flat(rows_of(manifest, "flat", "r"), bias, dark, settings)
        true_flat = night.maps.flat["r"]
        n = args.size
        centre = np.median(true_flat[n // 4 : 3 * n // 4, n // 4 : 3 * n // 4])
        sky_e = SKY_RATE["r"] * night.plan.science_exptime * centre
        print(f"{n}² frames, sky {sky_e:.0f} e-, read noise {night.camera.read_noise} e-")
        for row in rows_of(manifest, "science"):
            product, _, _ = calibrate_science(row, bias, dark, flat, settings)
            truth = night.truth["SOURCES"]
            sources = truth[truth["exposure"] == row["exposure"]]
            fwhm = float(night.frame_truth(row["exposure"])["fwhm_px"])
            scene = render_scene(product.data.shape, sources, fwhm, night.plan.moffat_beta)
            sky = (scene < 0.01 * np.sqrt(sky_e)) & (product.mask == 0)
            ys, xs = night.cosmic_pixels(row["exposure"])
            injected = np.zeros(product.data.shape, bool)
            injected[ys, xs] = True
            stars = night.point_source_image(row["exposure"]) > 5 * np.sqrt(sky_e)
            stars &= (product.mask & ~np.uint16(maskbits.COSMIC_RAY)) == 0
            stars &= ~binary_dilation(injected, iterations=3)
            found, false = cosmic_ray_recovery((product.mask & maskbits.COSMIC_RAY) != 0, injected, stars)
            mean, std = sky_pulls(product.data, product.variance, sky, sky_e)
            print(
                f"{row['exposure']}: sky flat to {sky_uniformity(product.data, sky):.2%}, pulls mean {mean:+.3f} "
                f"std {std:.3f} ({sky.sum()} px), cosmic-ray pixels masked {found:.1%} of {injected.sum()}, "
                f"star pixels masked {false:.3%} of {stars.sum()}"
            )


if __name__ == "__main__":
    main()
