"""Calibration measured against the simulation's truth, frame by frame (the figures behind the tests).

    .venv/bin/python benchmarks/calibration_quality.py --size 2048

Writes a seeded night (one field, band r, two science frames) to a temporary folder,
builds the masters, calibrates the science frames and prints for each: the sky's largest
deviation from flat in 128² boxes, the mean and spread of the empty-sky pulls against the
variance plane, the fraction of injected cosmic-ray pixels masked and the fraction of star
pixels (> 5σ, not saturated, > 3 px from a cosmic ray) masked as cosmic rays.

``seeded_night`` and ``quality_figures`` are shared with ``calibration_speed.py``.
"""

import argparse
import sys
import tempfile
from dataclasses import dataclass
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
from astrid.io.fitsio import ImageProduct  # noqa: E402
from astrid.realbogus.evaluate import cosmic_ray_recovery, sky_pulls, sky_uniformity  # noqa: E402
from astrid.sim.camera import SKY_RATE  # noqa: E402
from astrid.sim.scene import render_scene  # noqa: E402

# The calibration's quality targets (issue 18): figure -> (test, text of the target).
TARGETS = {
    "sky_flatness": (lambda v: v < 0.005, "< 0.5 %"),
    "pull_std": (lambda v: abs(v - 1) <= 0.05, "1.00 ± 0.05"),
    "cosmic_masked": (lambda v: v >= 0.95, ">= 95 %"),
    "stars_masked": (lambda v: v < 0.001, "< 0.1 %"),
}


@dataclass
class SeededNight:
    """A simulated night on disk with its masters and the expected sky of its frames."""

    night: SmallNight
    science: list  # manifest rows of the science frames
    bias: ImageProduct
    dark: ImageProduct
    flat: ImageProduct
    sky_e: float  # expected sky (e-) on the scale of the master flat


def seeded_night(folder: str | Path, size: int, settings: CalibrationSettings) -> SeededNight:
    """Simulate the seeded night of ``tests/support/nights.py`` (``size``² frames, band r),
    ingest it and build its masters.

    Parameters
    ----------
    folder : str or Path
        Where the raw night is written.
    size : int
        Side of the frames in pixels.
    settings : CalibrationSettings
        The settings the masters are built with.

    Returns
    -------
    SeededNight
        The night, its science rows, masters and expected sky.
    """
    night = SmallNight(folder, size, "new")
    manifest = night.ingest().manifest
    bias = make_master_bias(rows_of(manifest, "bias"), settings)
    dark = make_master_dark(rows_of(manifest, "dark"), bias, settings)
    flat = make_master_flat(rows_of(manifest, "flat", "r"), bias, dark, settings)
    # The master flat is normalised to 1 in the central half of the frame: the expected sky
    # is the true sky times the true flat's central median.
    true_flat = night.maps.flat["r"]
    centre = np.median(true_flat[size // 4 : 3 * size // 4, size // 4 : 3 * size // 4])
    sky_e = SKY_RATE["r"] * night.plan.science_exptime * centre
    return SeededNight(night, rows_of(manifest, "science"), bias, dark, flat, sky_e)


def quality_figures(
    seeded: SeededNight,
    exposure: str,
    data: np.ndarray,
    variance: np.ndarray,
    is_cosmic: np.ndarray,
    other_masked: np.ndarray,
) -> dict[str, float]:
    """A calibrated frame's figures against the simulation's truth.

    Parameters
    ----------
    seeded : SeededNight
        The night the frame belongs to.
    exposure : str
        The frame's exposure id.
    data, variance : numpy.ndarray
        The calibrated frame and its variance (electrons, electrons²).
    is_cosmic : numpy.ndarray of bool
        Pixels masked as cosmic rays.
    other_masked : numpy.ndarray of bool
        Pixels masked for any other reason (bad, hot, saturated): left out of the sky and
        of the star pixels.

    Returns
    -------
    dict of str to float
        ``sky_flatness`` (largest deviation of 128² box medians of empty sky),
        ``pull_mean``, ``pull_std`` (empty-sky pulls), ``sky_pixels``, ``cosmic_masked``
        (fraction of injected cosmic-ray pixels masked), ``cosmic_pixels``,
        ``stars_masked`` (fraction of star pixels > 5σ, > 3 px from a cosmic ray, masked
        as cosmic rays) and ``star_pixels``.
    """
    night, sky_e = seeded.night, seeded.sky_e
    truth = night.truth["SOURCES"]
    sources = truth[truth["exposure"] == exposure]
    fwhm = float(night.frame_truth(exposure)["fwhm_px"])
    scene = render_scene(data.shape, sources, fwhm, night.plan.moffat_beta)
    sky = (scene < 0.01 * np.sqrt(sky_e)) & ~other_masked & ~is_cosmic
    ys, xs = night.cosmic_pixels(exposure)
    injected = np.zeros(data.shape, bool)
    injected[ys, xs] = True
    stars = night.point_source_image(exposure) > 5 * np.sqrt(sky_e)
    stars &= ~other_masked
    stars &= ~binary_dilation(injected, iterations=3)
    found, false = cosmic_ray_recovery(is_cosmic, injected, stars)
    mean, std = sky_pulls(data, variance, sky, sky_e)
    return {
        "sky_flatness": sky_uniformity(data, sky),
        "pull_mean": mean,
        "pull_std": std,
        "sky_pixels": int(sky.sum()),
        "cosmic_masked": found,
        "cosmic_pixels": int(injected.sum()),
        "stars_masked": false,
        "star_pixels": int(stars.sum()),
    }


def astrid_quality(seeded: SeededNight, exposure: str, product: ImageProduct) -> dict[str, float]:
    """:func:`quality_figures` of a frame calibrated by AstrID (its own mask bits)."""
    is_cosmic = (product.mask & maskbits.COSMIC_RAY) != 0
    other = (product.mask & ~np.uint16(maskbits.COSMIC_RAY)) != 0
    return quality_figures(seeded, exposure, product.data, product.variance, is_cosmic, other)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=2048)
    args = parser.parse_args()
    settings = CalibrationSettings()
    with tempfile.TemporaryDirectory() as folder:
        seeded = seeded_night(folder, args.size, settings)
        camera = seeded.night.camera
        print(f"{args.size}² frames, sky {seeded.sky_e:.0f} e-, read noise {camera.read_noise} e-")
        for row in seeded.science:
            product, _, _ = calibrate_science(row, seeded.bias, seeded.dark, seeded.flat, settings)
            q = astrid_quality(seeded, row["exposure"], product)
            print(
                f"{row['exposure']}: sky flat to {q['sky_flatness']:.2%}, pulls mean {q['pull_mean']:+.3f} "
                f"std {q['pull_std']:.3f} ({q['sky_pixels']} px), cosmic-ray pixels masked "
                f"{q['cosmic_masked']:.1%} of {q['cosmic_pixels']}, star pixels masked "
                f"{q['stars_masked']:.3%} of {q['star_pixels']}"
            )


if __name__ == "__main__":
    main()
