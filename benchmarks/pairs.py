"""Seeded, aligned reference/science image pairs with known truth for the differencing benchmark.

Library and CLI::

    python benchmarks/pairs.py --size 1024 --seed 1 --out DIR

What a pair is (the set-up of shared/notes/peers.md)
----------------------------------------------------
* Two ``size`` x ``size`` images on the same pixel grid (aligned: no shift, rotation or
  distortion), in electrons, gain 1, same flux scale (a static star has the same flux in
  both, so the photometric ratio F_n/F_r is exactly 1).
* Circular Gaussian PSFs: reference sigma 2.0 px, science sigma 2.6 px. Sources are rendered
  as pixel-integrated Gaussians (the Gaussian integrated over each pixel's area), truncated
  to a (2*STAMP_HALF+1)^2 = 31 x 31 stamp.
* Static stars: ``round(3000 * size^2 / 2048^2)`` at uniform random positions over the whole
  frame, with truncated power-law fluxes, N(>F) proportional to F^-1 between 300 e- and
  1e6 e- (faintest: S/N about 1 in the reference; brightest: S/N of several hundred to about
  a thousand). There is no saturation.
* Transients: ``round(50 * size^2 / 2048^2)`` point sources present only in the science
  image, with optimal S/N drawn log-uniformly between 3 and 30 (definition below). They are
  kept MARGIN px from the edges, 30 px from one another and where the noise-free static-star
  light in the science image is below half the background sigma, so that each transient is
  measured on (nearly) empty sky.
* Noise: image = Poisson(star light + sky) - sky + Normal(0, read_noise). The stored SCI
  planes are therefore SKY-SUBTRACTED with the exact, constant sky (what sparse-field sfft and
  ZOGY expect); ``pair.json`` records the sky levels for tools that want raw-like input
  (add ``sky_e`` back). VAR is the expected per-pixel variance: sky + read_noise^2 + the
  noise-free source light (stars, and transients in the science image).

Optimal S/N of a transient (the exact definition used)
------------------------------------------------------
For a point source of flux f (electrons, science image) on a background whose variance is
sigma_n^2 = sky_sci + rn^2 in the science image and sigma_r^2 = sky_ref + rn^2 in the
reference, with flux scales F_n = F_r = 1, the optimal statistic for detecting it in the
difference (Zackay, Ofek & Gal-Yam 2016, their S, eqs. 12-17) has

    S/N_opt = f * sqrt(F_S),
    F_S = (1/Npix) * sum_k |P_n(k)|^2 |P_r(k)|^2 / (sigma_n^2 |P_r(k)|^2 + sigma_r^2 |P_n(k)|^2)

where P_n, P_r are the discrete Fourier transforms of the pixel-integrated, unit-sum PSF
stamps (zero-padded to 64 x 64) and the sum runs over all Npix frequencies. Equivalently,
F_S = sum over pixels of P_D^2 / sigma_D^2 for the ZOGY difference; with a noiseless
reference (sigma_r = 0) it reduces to sum_pixels P_n^2 / sigma_n^2, the familiar
single-image optimal S/N. Only the background variance enters: the detection significance is
measured against the null hypothesis (no source), so the source's own Poisson noise is not
counted. A perfect matched-filter detector at a 5 sigma threshold thus finds a transient with
probability Phi(S/N_opt - 5).

Files written to OUT (all coordinates 0-based, x = column, y = row, pixel centres at integers)
-------------------------------------------------------------------------------------------
ref.fits, sci.fits   extensions SCI (electrons, sky-subtracted, float32) and VAR (e-^2,
                     float32) on the same grid, with a trivial TAN WCS (0.25"/px).
psf_ref.fits, psf_sci.fits  31 x 31 unit-sum PSF stamps centred on pixel (15, 15).
injections.ecsv      x, y, flux, optimal_snr of the transients.
stars.ecsv           x, y, flux of the static stars.
pair.json            the parameters (size, seed, sigmas, sky, read noise, counts, ...).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS
from scipy.special import ndtr

STAMP_HALF = 15  # PSF stamps and rendered sources are (2*15+1)^2 = 31 x 31 px
AREA_2048 = 2048 * 2048  # densities are given per 2048^2 px and scaled with area
MARGIN = 40  # transients stay this far (px) from the image edges
SOURCE_CHUNK = 2000  # sources rendered per vectorised batch (bounds memory)


@dataclass
class PairConfig:
    """Every parameter of a pair; written to pair.json."""

    size: int = 1024
    seed: int = 1
    sigma_ref: float = 2.0  # Gaussian PSF sigma, px
    sigma_sci: float = 2.6
    sky_ref: float = 1000.0  # electrons per pixel (subtracted from the stored SCI)
    sky_sci: float = 1200.0
    read_noise: float = 5.0  # electrons
    gain: float = 1.0  # images are in electrons
    stars_per_2048: float = 3000.0
    injections_per_2048: float = 50.0
    star_flux_min: float = 300.0  # electrons
    star_flux_max: float = 1.0e6
    star_flux_slope: float = 1.0  # N(>F) ~ F^-slope
    snr_min: float = 3.0  # optimal S/N range of the transients (log-uniform)
    snr_max: float = 30.0
    n_inject: int | None = None  # override of the area-scaled count

    @property
    def n_stars(self) -> int:
        return int(round(self.stars_per_2048 * self.size**2 / AREA_2048))

    @property
    def n_transients(self) -> int:
        if self.n_inject is not None:
            return self.n_inject
        return int(round(self.injections_per_2048 * self.size**2 / AREA_2048))

    def background_sigma(self, which: str) -> float:
        """Background noise sigma (e-) of 'ref' or 'sci': sqrt(sky + read_noise^2)."""
        sky = self.sky_ref if which == "ref" else self.sky_sci
        return float(np.sqrt(sky + self.read_noise**2))


# ----------------------------------------------------------------------------- rendering


def _pixel_integrated_profiles(centres: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """1-D pixel-integrated Gaussian profiles for each centre.

    Returns (first_pixel, profile): first_pixel[i] is the index of the first of the
    2*STAMP_HALF+1 pixels of source i, profile[i, j] the fraction of a unit 1-D Gaussian
    centred at centres[i] that falls in pixel first_pixel[i] + j (pixel p spans p-0.5..p+0.5).
    """
    first = np.rint(centres).astype(np.int64) - STAMP_HALF
    edges = first[:, None] + np.arange(2 * STAMP_HALF + 2)[None, :] - 0.5
    cdf = ndtr((edges - centres[:, None]) / sigma)
    return first, np.diff(cdf, axis=1)


def render_sources(shape: tuple[int, int], x, y, flux, sigma: float) -> np.ndarray:
    """Noise-free image (float64) of point sources with a pixel-integrated Gaussian PSF.

    Sources partly or wholly outside the frame contribute only their in-frame pixels.
    """
    ny, nx = shape
    image = np.zeros(ny * nx)
    x, y, flux = (np.atleast_1d(np.asarray(a, dtype=float)) for a in (x, y, flux))
    offsets = np.arange(2 * STAMP_HALF + 1)
    for start in range(0, len(x), SOURCE_CHUNK):
        part = slice(start, start + SOURCE_CHUNK)
        x0, px = _pixel_integrated_profiles(x[part], sigma)
        y0, py = _pixel_integrated_profiles(y[part], sigma)
        cols = x0[:, None] + offsets[None, :]  # (n, 31)
        rows = y0[:, None] + offsets[None, :]
        values = flux[part, None, None] * py[:, :, None] * px[:, None, :]  # (n, 31, 31)
        inside = ((rows >= 0) & (rows < ny))[:, :, None] & ((cols >= 0) & (cols < nx))[:, None, :]
        flat = rows[:, :, None] * nx + cols[:, None, :]
        image += np.bincount(flat[inside], weights=values[inside], minlength=ny * nx)
    return image.reshape(shape)


def psf_stamp(sigma: float) -> np.ndarray:
    """Unit-sum, pixel-integrated Gaussian PSF stamp of 31 x 31 px centred on (15, 15)."""
    stamp = render_sources((2 * STAMP_HALF + 1,) * 2, [STAMP_HALF], [STAMP_HALF], [1.0], sigma)
    return stamp / stamp.sum()


# ----------------------------------------------------------------------------- optimal S/N


def optimal_snr_per_flux(psf_sci: np.ndarray, psf_ref: np.ndarray, var_sci: float, var_ref: float) -> float:
    """sqrt(F_S): the optimal difference-image S/N of a point source of unit flux.

    See the module docstring for the formula. PSF stamps must be unit-sum and centred; the
    background variances are per pixel, in the images' units squared.
    """
    pad = 64
    p_n = np.fft.fft2(psf_sci, s=(pad, pad))
    p_r = np.fft.fft2(psf_ref, s=(pad, pad))
    a_n, a_r = np.abs(p_n) ** 2, np.abs(p_r) ** 2
    f_s = np.sum(a_n * a_r / (var_sci * a_r + var_ref * a_n + 1e-300)) / p_n.size
    return float(np.sqrt(f_s))


def ideal_detection_probability(snr, threshold: float = 5.0):
    """Probability Phi(S/N - threshold) that an optimal detector finds a source of this S/N."""
    return ndtr(np.asarray(snr, dtype=float) - threshold)


# ----------------------------------------------------------------------------- the pair


def draw_star_fluxes(rng: np.random.Generator, n: int, cfg: PairConfig) -> np.ndarray:
    """Truncated power law N(>F) ~ F^-slope between star_flux_min and star_flux_max."""
    lo, hi, s = cfg.star_flux_min, cfg.star_flux_max, cfg.star_flux_slope
    u = rng.random(n)
    return (lo**-s - u * (lo**-s - hi**-s)) ** (-1.0 / s)


def place_transients(rng: np.random.Generator, cfg: PairConfig, star_light_sci: np.ndarray) -> np.ndarray:
    """Positions (n, 2) of the transients: on empty sky, MARGIN px from the edges, 30 px apart."""
    limit = 0.5 * cfg.background_sigma("sci")
    min_separation2 = 30.0**2
    chosen: list[tuple[float, float]] = []
    for _ in range(200):  # batches of candidates; 200 is far more than ever needed
        if len(chosen) == cfg.n_transients:
            break
        candidates = rng.uniform(MARGIN, cfg.size - 1 - MARGIN, size=(4 * cfg.n_transients + 16, 2))
        for cx, cy in candidates:
            if star_light_sci[int(round(cy)), int(round(cx))] >= limit:
                continue
            if any((cx - px) ** 2 + (cy - py) ** 2 < min_separation2 for px, py in chosen):
                continue
            chosen.append((cx, cy))
            if len(chosen) == cfg.n_transients:
                break
    if len(chosen) < cfg.n_transients:
        raise RuntimeError(f"could only place {len(chosen)} of {cfg.n_transients} transients")
    return np.array(chosen).reshape(-1, 2)


def simple_wcs(size: int) -> WCS:
    """A trivial TAN WCS (0.25 arcsec/px, north up) shared by both images."""
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crpix = [size / 2 + 0.5, size / 2 + 0.5]
    w.wcs.crval = [150.0, 2.0]
    w.wcs.cdelt = [-0.25 / 3600, 0.25 / 3600]
    w.wcs.cunit = ["deg", "deg"]
    return w


def _observe(rng: np.random.Generator, light: np.ndarray, sky: float, read_noise: float) -> np.ndarray:
    """Sky-subtracted noisy image (float32): Poisson(light + sky) - sky + N(0, read_noise)."""
    counts = rng.poisson(light + sky).astype(np.float32)
    counts -= np.float32(sky)
    counts += rng.normal(0.0, read_noise, size=light.shape).astype(np.float32)
    return counts


def _write_image(path: Path, data: np.ndarray, variance: np.ndarray, cfg: PairConfig, which: str) -> None:
    header = simple_wcs(cfg.size).to_header()
    sky = cfg.sky_ref if which == "ref" else cfg.sky_sci
    header["BUNIT"] = "electron"
    header["GAIN"] = (cfg.gain, "e-/ADU (images are in electrons)")
    header["RDNOISE"] = (cfg.read_noise, "read noise, e-")
    header["SKYLEVEL"] = (sky, "sky (e-/px) subtracted from SCI")
    header["SKYSUB"] = (True, "SCI is sky-subtracted")
    header["PSFSIG"] = (cfg.sigma_ref if which == "ref" else cfg.sigma_sci, "Gaussian PSF sigma, px")
    primary = fits.PrimaryHDU()
    primary.header["PAIRSEED"] = cfg.seed
    primary.header["IMAGE"] = which
    var_header = header.copy()
    var_header["BUNIT"] = "electron2"
    fits.HDUList(
        [
            primary,
            fits.ImageHDU(data.astype(np.float32), header=header, name="SCI"),
            fits.ImageHDU(variance.astype(np.float32), header=var_header, name="VAR"),
        ]
    ).writeto(path, overwrite=True)


def make_pair(cfg: PairConfig, out: Path) -> dict:
    """Generate the pair described by cfg into directory out; returns the pair.json content."""
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(cfg.seed)
    shape = (cfg.size, cfg.size)

    # Static stars
    n = cfg.n_stars
    star_x = rng.uniform(-0.5, cfg.size - 0.5, n)
    star_y = rng.uniform(-0.5, cfg.size - 0.5, n)
    star_flux = draw_star_fluxes(rng, n, cfg)
    light_ref = render_sources(shape, star_x, star_y, star_flux, cfg.sigma_ref)
    light_sci = render_sources(shape, star_x, star_y, star_flux, cfg.sigma_sci)

    # Transients, science image only
    psf_ref, psf_sci = psf_stamp(cfg.sigma_ref), psf_stamp(cfg.sigma_sci)
    snr_per_flux = optimal_snr_per_flux(
        psf_sci, psf_ref, cfg.background_sigma("sci") ** 2, cfg.background_sigma("ref") ** 2
    )
    positions = place_transients(rng, cfg, light_sci)
    snr = np.exp(rng.uniform(np.log(cfg.snr_min), np.log(cfg.snr_max), len(positions)))
    inj_flux = snr / snr_per_flux
    light_sci += render_sources(shape, positions[:, 0], positions[:, 1], inj_flux, cfg.sigma_sci)

    # Noise and files
    rn2 = cfg.read_noise**2
    for which, light, sky in (("ref", light_ref, cfg.sky_ref), ("sci", light_sci, cfg.sky_sci)):
        image = _observe(rng, light, sky, cfg.read_noise)
        variance = light + (sky + rn2)  # float64 array; written as float32
        _write_image(out / f"{which}.fits", image, variance, cfg, which)
        del image, variance
    for which, stamp in (("ref", psf_ref), ("sci", psf_sci)):
        fits.PrimaryHDU(stamp.astype(np.float32)).writeto(out / f"psf_{which}.fits", overwrite=True)

    Table(
        {"x": positions[:, 0], "y": positions[:, 1], "flux": inj_flux, "optimal_snr": snr},
        meta={"comment": "transients in sci only; 0-based pixel coordinates; flux in e-"},
    ).write(out / "injections.ecsv", overwrite=True)
    Table(
        {"x": star_x, "y": star_y, "flux": star_flux},
        meta={"comment": "static stars (same flux in ref and sci); 0-based pixel coordinates"},
    ).write(out / "stars.ecsv", overwrite=True)

    info = asdict(cfg)
    info.update(
        n_stars=cfg.n_stars,
        n_transients=len(positions),
        sigma_bkg_ref=cfg.background_sigma("ref"),
        sigma_bkg_sci=cfg.background_sigma("sci"),
        snr_per_unit_flux=snr_per_flux,
        sky_subtracted=True,
        units="electron",
        flux_ratio_sci_over_ref=1.0,
        psf_stamp_size=2 * STAMP_HALF + 1,
        coordinates="0-based, x = column, y = row, pixel centres at integers",
        optimal_snr_definition=(
            "f*sqrt(F_S), F_S = (1/Npix) sum_k |Pn|^2 |Pr|^2 / (sn^2 |Pr|^2 + sr^2 |Pn|^2), "
            "sn^2 = sky_sci + rn^2, sr^2 = sky_ref + rn^2 (background only)"
        ),
    )
    (out / "pair.json").write_text(json.dumps(info, indent=2) + "\n")
    return info


# ----------------------------------------------------------------------------- loading


@dataclass
class Pair:
    """A pair read back from disk (arrays as float64)."""

    directory: Path
    info: dict
    ref: np.ndarray
    ref_var: np.ndarray
    sci: np.ndarray
    sci_var: np.ndarray
    psf_ref: np.ndarray
    psf_sci: np.ndarray
    injections: Table
    stars: Table


def load_pair(directory, images: bool = True) -> Pair:
    """Read a pair written by make_pair; images=False skips the four image planes."""
    d = Path(directory)
    planes = {}
    for which in ("ref", "sci"):
        if images:
            with fits.open(d / f"{which}.fits") as hdul:
                planes[which] = hdul["SCI"].data.astype(np.float64)
                planes[which + "_var"] = hdul["VAR"].data.astype(np.float64)
        else:
            planes[which] = planes[which + "_var"] = None
    return Pair(
        directory=d,
        info=json.loads((d / "pair.json").read_text()),
        psf_ref=fits.getdata(d / "psf_ref.fits").astype(np.float64),
        psf_sci=fits.getdata(d / "psf_sci.fits").astype(np.float64),
        injections=Table.read(d / "injections.ecsv"),
        stars=Table.read(d / "stars.ecsv"),
        **planes,
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=1024, help="image side, px (default 1024)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument(
        "--n-inject",
        type=int,
        default=None,
        help="number of transients (default 50 per 2048^2, scaled with area)",
    )
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    info = make_pair(PairConfig(size=args.size, seed=args.seed, n_inject=args.n_inject), args.out)
    print(
        f"pair {args.size}x{args.size} seed {args.seed}: {info['n_stars']} stars, "
        f"{info['n_transients']} transients -> {args.out} ({time.perf_counter() - t0:.1f} s)"
    )


if __name__ == "__main__":
    main()
