"""Comparison metrics of the differencing benchmark (shared/notes/peers.md, "Metric definitions
that make tools comparable"), plus the helpers that turn each tool's output into a score image.

Everything here works on a SCORE IMAGE: a 2-D array on the pair's pixel grid, in units of
the background noise sigma, in which a point source appears as a positive peak whose height
is its detection S/N. It is already matched-filtered ("PSF-filtered"), so a 5 sigma
threshold on it is a 5 sigma detection. What "normalised" means per tool:

* ZOGY-type tools that return S_corr (the bare ZOGY core, AstrID's own ZOGY, properimage):
  S_corr = S / sqrt(V_S) is already the matched-filtered difference divided by its noise.
  - bare core / AstrID: used as it is; its noise comes from the pair's VAR planes, so the
    noise ratio below tests that noise model.
  - properimage: its S_corr is NOT in sigma units (it builds V_S from data + 1 and its own
    background rms), so the runner divides it by 1.4826 x MAD over all finite pixels inside
    the border (``renormalise_score``; no truth used). The noise ratio in star-free sky is
    then close to 1 by construction and tests only how uniform its noise is; the factor it
    was divided by is recorded in timing.json.
* Tools that return a difference image D = N - K (x) R (sfft, HOTPANTS-like, ois): the runner
  PSF-filters D with the science PSF P and divides by the predicted noise of that filtered
  image (``score_from_difference``):
      score = (D (x) P) / sqrt(V_N (x) P^2 + V_R (x) (K (x) P)^2)
  with V_N, V_R the per-pixel variances of the science and reference images and K the tool's
  own matching kernel (the reference's noise is correlated by K, hence (K (x) P)^2, not P^2).
  Nothing is fitted to the output, so the noise ratio tests the subtraction.

Metrics (``evaluate``), all inside a BORDER-px frame border (FFT wrap-around and edge
handling differ between tools, so edges are excluded for every tool alike):

* noise ratio = 1.4826 x MAD (median absolute deviation from the median) of the score in
  star-free pixels, divided by its expected value 1. Star-free = farther than STAR_FREE_DILATE
  px from every pixel where the noise-free light of stars and transients (rendered with the
  broader, science PSF) exceeds STAR_FREE_LEVEL x the science background sigma.
* detection = a local maximum of the score (maximum of its (2*PEAK_HALF+1)^2 neighbourhood)
  with score >= THRESHOLD (5 sigma).
* recovered = an injected transient with a detection within MATCH_RADIUS (3) px.
* false positive = a positive detection farther than MATCH_RADIUS px from every injection.
  Those within NEAR_STAR_RADIUS px of a static star of reference S/N > BRIGHT_STAR_SNR are
  also counted separately (residuals of bright stars rather than noise).
* negative detections = local minima <= -THRESHOLD (dipoles and over-subtraction; not false
  positives by the definition above, reported as a diagnostic).
* completeness per optimal-S/N bin: recovered / injected against the ideal expectation
  sum Phi(S/N_opt - 5) over the bin's injections (see pairs.py for S/N_opt).
* measured/injected S/N: the score interpolated at each true position over its S/N_opt;
  the median over transients with S/N_opt >= 7.

CLI: python benchmarks/metrics.py PAIR_DIR SCORE.fits [--json OUT.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from astropy.io import fits
from scipy import ndimage
from scipy.signal import fftconvolve

sys.path.insert(0, str(Path(__file__).resolve().parent))
import pairs  # noqa: E402  (benchmarks/ is not a package)

THRESHOLD = 5.0  # detection threshold, sigma
MATCH_RADIUS = 3.0  # px, detection <-> injection
PEAK_HALF = 2  # local maxima over 5 x 5 px
BORDER = 32  # px excluded at every edge
STAR_FREE_LEVEL = 0.02  # x background sigma of the science image
STAR_FREE_DILATE = 8  # px (about 3 sigma of the science PSF)
NEAR_STAR_RADIUS = 12.0  # px (about 2 FWHM of the science PSF)
BRIGHT_STAR_SNR = 20.0
SNR_BINS = (3.0, 4.0, 5.0, 7.0, 10.0, 15.0, 30.0)
MAD_TO_SIGMA = 1.4826


# ----------------------------------------------------------------------------- normalisation


def robust_std(values: np.ndarray) -> float:
    """1.4826 x median absolute deviation from the median (NaNs ignored)."""
    values = values[np.isfinite(values)]
    return float(MAD_TO_SIGMA * np.median(np.abs(values - np.median(values))))


def inner(image: np.ndarray, border: int = BORDER) -> np.ndarray:
    """View of image without a border-px frame."""
    return image[border:-border, border:-border] if border else image


def renormalise_score(score: np.ndarray, border: int = BORDER) -> tuple[np.ndarray, float]:
    """Divide a score image of unknown scale by its robust std inside the border.

    For tools whose S_corr is not in sigma units (properimage). Uses no truth: every finite
    pixel inside the border counts, stars included. Returns (score / scale, scale).
    """
    scale = robust_std(inner(score, border))
    return score / scale, scale


def score_from_difference(
    diff: np.ndarray, var_sci: np.ndarray, var_ref: np.ndarray, psf: np.ndarray, kernel: np.ndarray
) -> np.ndarray:
    """Matched-filtered, noise-normalised score of a difference image D = N - K (x) R.

    psf: unit-sum PSF of the difference (the science PSF when the reference is convolved);
    kernel: the matching kernel K applied to the reference (its sum is the flux ratio).
    score = (D (x) P) / sqrt(V_N (x) P^2 + V_R (x) (K (x) P)^2); edges are zero-padded.
    Filtering is a correlation with P (a convolution with P flipped). The filtered reference
    term is R correlated with C = P correlated with K, so its variance is V_R convolved with
    the flipped C^2 (for symmetric PSFs and kernels the flips change nothing).
    """
    p = psf[::-1, ::-1]
    c = fftconvolve(psf, kernel[::-1, ::-1])  # P correlated with K, odd size, centred
    filtered = fftconvolve(np.nan_to_num(diff), p, mode="same")
    variance = fftconvolve(var_sci, p**2, mode="same") + fftconvolve(var_ref, c[::-1, ::-1] ** 2, mode="same")
    return filtered / np.sqrt(np.clip(variance, 1e-30, None))


# ----------------------------------------------------------------------------- detection


def find_peaks(score: np.ndarray, threshold: float = THRESHOLD, border: int = BORDER):
    """Local maxima >= threshold inside the border: arrays (x, y, value), brightest first."""
    s = np.nan_to_num(score, nan=-np.inf)
    local_max = ndimage.maximum_filter(s, size=2 * PEAK_HALF + 1, mode="nearest")
    peaks = (s == local_max) & (s >= threshold)
    keep = np.zeros_like(peaks)
    keep[border : s.shape[0] - border, border : s.shape[1] - border] = True
    y, x = np.nonzero(peaks & keep)
    values = s[y, x]
    order = np.argsort(-values)
    return x[order].astype(float), y[order].astype(float), values[order]


def _nearest_distance(x, y, tx, ty) -> np.ndarray:
    """Distance from each (x, y) to the nearest of (tx, ty); inf if there is none."""
    x, y, tx, ty = (np.asarray(a, dtype=float) for a in (x, y, tx, ty))
    if len(tx) == 0:
        return np.full(len(x), np.inf)
    if len(x) == 0:
        return np.zeros(0)
    d2 = (x[:, None] - tx[None, :]) ** 2 + (y[:, None] - ty[None, :]) ** 2
    return np.sqrt(d2.min(axis=1))


# ----------------------------------------------------------------------------- truth


def star_free_mask(pair: pairs.Pair) -> np.ndarray:
    """True where no star or transient light reaches (see module docstring), inside BORDER."""
    info = pair.info
    size = info["size"]
    xs = np.concatenate([pair.stars["x"], pair.injections["x"]])
    ys = np.concatenate([pair.stars["y"], pair.injections["y"]])
    fl = np.concatenate([pair.stars["flux"], pair.injections["flux"]])
    light = pairs.render_sources((size, size), xs, ys, fl, max(info["sigma_sci"], info["sigma_ref"]))
    lit = light > STAR_FREE_LEVEL * info["sigma_bkg_sci"]
    r = STAR_FREE_DILATE
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
    lit = ndimage.binary_dilation(lit, structure=(xx**2 + yy**2) <= r * r)
    free = ~lit
    free[:BORDER] = free[-BORDER:] = False
    free[:, :BORDER] = free[:, -BORDER:] = False
    return free


def bright_stars(pair: pairs.Pair):
    """(x, y) of static stars whose reference-image optimal S/N exceeds BRIGHT_STAR_SNR."""
    info = pair.info
    per_flux = np.sqrt(np.sum(pair.psf_ref**2)) / info["sigma_bkg_ref"]
    bright = np.asarray(pair.stars["flux"]) * per_flux > BRIGHT_STAR_SNR
    return np.asarray(pair.stars["x"])[bright], np.asarray(pair.stars["y"])[bright]


# ----------------------------------------------------------------------------- evaluation


def completeness_table(snr: np.ndarray, recovered: np.ndarray, bins=SNR_BINS) -> list[dict]:
    """Per optimal-S/N bin: injected, recovered and the ideal expectation sum Phi(S/N - 5)."""
    rows = []
    ideal = pairs.ideal_detection_probability(snr, THRESHOLD)
    for lo, hi in zip(bins[:-1], bins[1:], strict=True):
        last = hi == bins[-1]
        sel = (snr >= lo) & ((snr <= hi) if last else (snr < hi))
        rows.append(
            {
                "snr_lo": lo,
                "snr_hi": hi,
                "injected": int(sel.sum()),
                "recovered": int(recovered[sel].sum()),
                "ideal": round(float(ideal[sel].sum()), 2),
            }
        )
    return rows


def evaluate(score: np.ndarray, pair: pairs.Pair) -> dict:
    """All metrics of one score image against the pair's truth (see module docstring)."""
    if score.shape != (pair.info["size"],) * 2:
        raise ValueError(f"score shape {score.shape} does not match the pair size {pair.info['size']}")
    inj = pair.injections
    ix, iy, snr = (np.asarray(inj[c], dtype=float) for c in ("x", "y", "optimal_snr"))

    free = star_free_mask(pair)
    noise = robust_std(score[free & np.isfinite(score)])

    px, py, _ = find_peaks(score)
    nx, ny, _ = find_peaks(-score)
    recovered = _nearest_distance(ix, iy, px, py) <= MATCH_RADIUS
    false_pos = _nearest_distance(px, py, ix, iy) > MATCH_RADIUS
    bx, by = bright_stars(pair)
    near_bright = _nearest_distance(px[false_pos], py[false_pos], bx, by) <= NEAR_STAR_RADIUS

    at_truth = ndimage.map_coordinates(np.nan_to_num(score), [iy, ix], order=3)
    strong = snr >= 7.0
    ratio = float(np.median(at_truth[strong] / snr[strong])) if strong.any() else float("nan")

    return {
        "noise_ratio": round(noise, 4),
        "star_free_pixels": int(free.sum()),
        "injected": int(len(ix)),
        "recovered": int(recovered.sum()),
        "ideal_recovered": round(float(pairs.ideal_detection_probability(snr, THRESHOLD).sum()), 2),
        "false_positives": int(false_pos.sum()),
        "false_positives_near_bright_stars": int(near_bright.sum()),
        "negative_detections": int(len(nx)),
        "measured_over_injected_snr": round(ratio, 4),
        "completeness": completeness_table(snr, recovered),
        "per_injection": [
            {
                "x": round(float(a), 2),
                "y": round(float(b), 2),
                "snr": round(float(s), 2),
                "score_at_truth": round(float(v), 2),
                "recovered": bool(r),
            }
            for a, b, s, v, r in zip(ix, iy, snr, at_truth, recovered, strict=True)
        ],
    }


def format_report(name: str, result: dict) -> str:
    """A short human-readable summary of evaluate()'s result."""
    lines = [
        f"{name}: noise ratio {result['noise_ratio']:.3f} ({result['star_free_pixels']} star-free px), "
        f"recovered {result['recovered']}/{result['injected']} (ideal {result['ideal_recovered']}), "
        f"false positives {result['false_positives']} "
        f"({result['false_positives_near_bright_stars']} near bright stars), "
        f"negative detections {result['negative_detections']}, "
        f"measured/injected S/N {result['measured_over_injected_snr']}",
        "  S/N bin     injected  recovered  ideal",
    ]
    for row in result["completeness"]:
        lines.append(
            f"  {row['snr_lo']:>4.0f}-{row['snr_hi']:<4.0f}  {row['injected']:>8d}  {row['recovered']:>9d}  {row['ideal']:>5.1f}"
        )
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Score one tool's output against a pair's truth.")
    parser.add_argument("pair_dir", type=Path)
    parser.add_argument("score", type=Path, help="score image in sigma units (primary HDU)")
    parser.add_argument("--json", type=Path, default=None, help="write the full result here")
    args = parser.parse_args(argv)
    pair = pairs.load_pair(args.pair_dir, images=False)
    score = fits.getdata(args.score).astype(np.float64)
    result = evaluate(score, pair)
    print(format_report(str(args.score), result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
