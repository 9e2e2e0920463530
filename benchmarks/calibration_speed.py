"""Calibration speed of AstrID beside the plain ccdproc + astroscrappy recipe, with the quality
of both against the simulation's truth (issue 18: ≤ 4 s for a 4096² raw frame).

    .venv/bin/python benchmarks/calibration_speed.py [--size 4096] [--repeats 3] [--threads 2]

Writes the seeded night of ``calibration_quality.py`` (``--size``² frames) to a temporary
folder, builds its masters and calibrates its first science frame ``--repeats`` times with
each recipe, alternating them so that both see the same load on the machine:

- AstrID: ``calibrate_science`` (raw FITS to data, variance and mask, with ``--threads``);
- plain: ``CCDData.read``, ccdproc's ``subtract_overscan`` (median of each row),
  ``trim_image``, ``create_deviation``, ``gain_correct``, ``subtract_bias``,
  ``subtract_dark`` and ``flat_correct`` (in ``ccd_process``'s order: AstrID's masters are in
  electrons, so the gain is applied before they are subtracted), then
  ``astroscrappy.detect_cosmics`` with its defaults (niter 4, sigclip 4.5, objlim 5, ...),
  given only the frame's read noise, on the same frame and the same masters.

Prints the median wall time of each, their ratio, and both recipes' quality figures
(``calibration_quality.quality_figures``; the plain recipe has no mask of its own, so both are
judged on the pixels AstrID does not mask as bad, hot or saturated), with a verdict per
target.
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import astropy.units as u
import astroscrappy
import ccdproc
import numpy as np
from astropy.nddata import CCDData, StdDevUncertainty

sys.path.insert(0, str(Path(__file__).resolve().parent))

from calibration_quality import TARGETS, SeededNight, astrid_quality, quality_figures, seeded_night  # noqa: E402

from astrid.calibrate.raw import CalibrationSettings  # noqa: E402
from astrid.calibrate.science import calibrate_science  # noqa: E402
from astrid.io import maskbits  # noqa: E402
from astrid.io.fitsio import ImageProduct  # noqa: E402

TIME_TARGET_S = 4.0


def as_ccd(master: ImageProduct, unit: str, **meta) -> CCDData:
    """An AstrID master as CCDData with its noise as a standard deviation."""
    return CCDData(
        master.data,
        unit=unit,
        uncertainty=StdDevUncertainty(np.sqrt(master.variance)),
        meta=meta,
    )


def plain_recipe(row, bias: CCDData, dark: CCDData, flat: CCDData) -> tuple[CCDData, np.ndarray]:
    """The textbook ccdproc + astroscrappy calibration of one raw frame.

    Returns
    -------
    (CCDData, numpy.ndarray of bool)
        The calibrated frame (electrons, with its uncertainty) and astroscrappy's
        cosmic-ray mask.
    """
    gain = float(row["gain"]) * u.electron / u.adu
    read_noise = float(row["read_noise"]) * u.electron
    ccd = CCDData.read(row["path"], unit="adu")
    ccd = ccdproc.subtract_overscan(ccd, fits_section=row["biassec"], median=True, overscan_axis=1)
    ccd = ccdproc.trim_image(ccd, fits_section=row["trimsec"])
    ccd = ccdproc.create_deviation(ccd, gain=gain, readnoise=read_noise)
    ccd = ccdproc.gain_correct(ccd, gain)
    ccd = ccdproc.subtract_bias(ccd, bias)
    ccd = ccdproc.subtract_dark(
        ccd, dark, dark_exposure=1.0 * u.s, data_exposure=float(row["exptime"]) * u.s, scale=True
    )
    ccd = ccdproc.flat_correct(ccd, flat, norm_value=1.0)
    crmask, _ = astroscrappy.detect_cosmics(ccd.data, readnoise=read_noise.value)
    return ccd, crmask


def timed(function, *args, **kwargs):
    """(seconds, result) of one call."""
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return time.perf_counter() - start, result


def verdict_lines(astrid: dict, plain: dict) -> list[str]:
    """One line per quality target: both recipes' figures and whether each meets it."""
    lines = []
    for key, (meets, text) in TARGETS.items():
        cells = []
        for name, figures in (("AstrID", astrid), ("plain", plain)):
            value = figures[key]
            shown = f"{value:.3f}" if key == "pull_std" else f"{value:.3%}"
            cells.append(f"{name} {shown} {'met' if meets(value) else 'NOT MET'}")
        lines.append(f"  {key:14s} target {text:12s}: " + "; ".join(cells))
    return lines


def run(seeded: SeededNight, settings: CalibrationSettings, repeats: int, threads: int) -> None:
    """Time both recipes on the night's first science frame and print the comparison."""
    row = seeded.science[0]
    bias = as_ccd(seeded.bias, "electron")
    dark = as_ccd(seeded.dark, "electron", exptime=1.0)
    flat = as_ccd(seeded.flat, "")
    astrid_s, plain_s = [], []
    for _ in range(repeats):
        seconds, (product, _, _) = timed(
            calibrate_science, row, seeded.bias, seeded.dark, seeded.flat, settings, threads=threads
        )
        astrid_s.append(seconds)
        seconds, (ccd, crmask) = timed(plain_recipe, row, bias, dark, flat)
        plain_s.append(seconds)
    t_astrid, t_plain = float(np.median(astrid_s)), float(np.median(plain_s))
    print(f"wall time, median of {repeats} (each run: AstrID then plain):")
    print(f"  AstrID calibrate_science : {t_astrid:6.2f} s  ({', '.join(f'{s:.2f}' for s in astrid_s)})")
    print(f"  plain ccdproc+astroscrappy: {t_plain:6.2f} s  ({', '.join(f'{s:.2f}' for s in plain_s)})")
    print(f"  ratio plain / AstrID     : {t_plain / t_astrid:6.2f}")
    n = product.data.shape[0]
    met = "met" if t_astrid <= TIME_TARGET_S else "NOT MET"
    print(f"  time target <= {TIME_TARGET_S:.0f} s at {n}²: AstrID {t_astrid:.2f} s {met}")
    exposure = row["exposure"]
    astrid = astrid_quality(seeded, exposure, product)
    other = (product.mask & ~np.uint16(maskbits.COSMIC_RAY)) != 0
    variance = np.asarray(ccd.uncertainty.array, dtype=float) ** 2
    plain = quality_figures(seeded, exposure, ccd.data, variance, crmask, other)
    print(f"quality of {exposure} against the truth:")
    for name, q in (("AstrID", astrid), ("plain", plain)):
        print(
            f"  {name:6s}: sky flat to {q['sky_flatness']:.3%}, pulls mean {q['pull_mean']:+.3f} "
            f"std {q['pull_std']:.3f} ({q['sky_pixels']} px), cosmic-ray pixels masked "
            f"{q['cosmic_masked']:.1%} of {q['cosmic_pixels']}, star pixels masked "
            f"{q['stars_masked']:.3%} of {q['star_pixels']}"
        )
    print("targets:")
    print("\n".join(verdict_lines(astrid, plain)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=4096, help="side of the frames (pixels)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each recipe (median)")
    parser.add_argument("--threads", type=int, default=2, help="AstrID's threads for L.A.Cosmic")
    args = parser.parse_args()
    settings = CalibrationSettings()
    with tempfile.TemporaryDirectory() as folder:
        seeded = seeded_night(folder, args.size, settings)
        print(
            f"{args.size}² raw frame {seeded.science[0]['exposure']}, sky {seeded.sky_e:.0f} e-, "
            f"AstrID threads {args.threads}, L.A.Cosmic niter {settings.cr_niter} (plain: 4), "
            f"{os.cpu_count()} CPU cores"
        )
        run(seeded, settings, args.repeats, args.threads)


if __name__ == "__main__":
    main()
