"""Proper image subtraction (Zackay, Ofek & Gal-Yam 2016, ApJ 830, 27; "ZOGY").

Given a new image N and a reference R on the same grid, both background-subtracted, with
PSFs P_n and P_r, background noise σ_n and σ_r and flux zero points F_n and F_r, ZOGY gives
the proper difference D (white noise), its PSF P_D, and the matched-filter score S whose
local maxima are the optimal detection statistic for a new point source. S_corr divides S
by its full standard deviation: the variance of each image (per pixel, so the Poisson noise
of bright sources is included) propagated through the filters, plus the astrometric term
σ_x²(∂S/∂x)² + σ_y²(∂S/∂y)² that absorbs small registration errors at bright stars, and a
flux term (ε·S_N)² + (ε·S_R)² for the fractional error ε of the flux scaling and the PSF
models. In
empty sky S_corr has unit standard deviation; the flux of a point source is S/F_S.

All Fourier work uses real FFTs in single precision (scipy.fft, several workers): at 4096²
the whole subtraction fits in about 1.5 GB.
"""

from dataclasses import dataclass

import numpy as np
import scipy.fft as sfft

from astrid.imaging.blocks import map_row_blocks
from astrid.io.fitsio import ImageProduct


@dataclass
class Subtraction:
    """Products of one subtraction; images are float32 on the reference grid."""

    difference: np.ndarray  # D, in units of its own noise (white, σ ≈ 1 in empty sky)
    score: np.ndarray  # S, matched filter of D
    score_corr: np.ndarray  # S_corr = S / sqrt(V(S)), σ units
    score_std: np.ndarray  # sqrt(V(S)), to turn S into a flux error
    psf_difference: np.ndarray  # P_D, centred stamp of the PSF's size, unit sum
    flux_scale: float  # F_S: flux of a point source = S / F_S (in reference flux units)
    f_d: float  # F_D, zero point of D


def _psf_otf(psf, shape, workers):
    """Real FFT of a centred PSF stamp padded to ``shape`` with its centre at pixel (0, 0)."""
    padded = np.zeros(shape, dtype=np.float32)
    ny, nx = psf.shape
    # The stamp's centre goes to (0, 0), its left and upper halves wrap to the far edges.
    rows, cols = (np.arange(ny) - ny // 2) % shape[0], (np.arange(nx) - nx // 2) % shape[1]
    padded[np.ix_(rows, cols)] = psf / psf.sum()
    return sfft.rfft2(padded, workers=workers)


def _centre_stamp(image, size):
    """Cut a centred (size × size) stamp out of an image whose centre is at pixel (0, 0)."""
    half = size // 2
    offsets = np.arange(size) - half
    return image[np.ix_(offsets % image.shape[0], offsets % image.shape[1])]


def subtract(
    new: ImageProduct,
    ref: ImageProduct,
    *,
    f_new: float,
    f_ref: float = 1.0,
    astrometric_sigma: tuple = (0.0, 0.0),
    flux_sigma: float = 0.0,
    workers: int = 1,
) -> Subtraction:
    """ZOGY subtraction of two registered, background-subtracted images.

    Parameters
    ----------
    new, ref : ImageProduct
        Background-subtracted images on one grid (masked pixels set to 0), each with its
        per-pixel ``variance`` (including the sources' Poisson noise), its centred ``psf``
        stamp (odd size; normalised here) and its ``background_rms`` (standard deviation
        per pixel of the background).
    f_new, f_ref : float
        Flux zero points: a source of flux α in reference units has total counts α·F.
    astrometric_sigma : (float, float)
        Registration error (pixels) in x and y.
    flux_sigma : float
        Fractional error of the flux scaling and PSF models. Like the astrometric term,
        it adds (flux_sigma·S_N)² + (flux_sigma·S_R)² to V(S), so a static star leaves no
        significant residual however bright it is (the score saturates near 1/flux_sigma).

    workers : int
        Threads of the Fourier transforms (the job's threads).

    Returns
    -------
    Subtraction
    """
    psf_new, psf_ref = new.psf, ref.psf
    var_new, var_ref = new.variance, ref.variance
    sigma_new, sigma_ref = new.background_rms, ref.background_rms
    new, ref = new.data, ref.data
    shape = new.shape
    # Python floats keep the spectra in single precision (a NumPy float64 scalar would
    # promote every product to double).
    sigma_new, sigma_ref, f_new, f_ref = map(float, (sigma_new, sigma_ref, f_new, f_ref))
    f_d = f_ref * f_new / (sigma_new**2 * f_ref**2 + sigma_ref**2 * f_new**2) ** 0.5

    def forward(image):
        return sfft.rfft2(np.asarray(image, dtype=np.float32), workers=workers)

    def inverse(spectrum):
        return sfft.irfft2(spectrum, s=shape, workers=workers)

    n_hat, r_hat = forward(new), forward(ref)
    pn_hat = _psf_otf(psf_new, shape, workers)
    pr_hat = _psf_otf(psf_ref, shape, workers)
    # The denominator's largest value is at zero frequency, where unit-sum OTFs are 1; a
    # floor far below it keeps frequencies where both OTFs vanish finite.
    floor = 1e-12 * (sigma_new**2 * f_ref**2 + sigma_ref**2 * f_new**2)
    names = ("difference", "psf_difference", "kn", "kr", "s_new", "s_ref")
    spectra = {name: np.empty(n_hat.shape, np.complex64) for name in names}

    def spectral(start, stop):
        """The spectra of D, P_D, the two score kernels and S_N, S_R for a block of rows;
        returns the block's column sums of F_S's summand."""
        rows = slice(start, stop)
        pn, pr, n, r = pn_hat[rows], pr_hat[rows], n_hat[rows], r_hat[rows]
        pn2 = pn.real**2 + pn.imag**2
        pr2 = pr.real**2 + pr.imag**2
        inv_denom2 = 1.0 / np.maximum(sigma_new**2 * f_ref**2 * pr2 + sigma_ref**2 * f_new**2 * pn2, floor)
        inv_sqrt = np.sqrt(inv_denom2)
        spectra["difference"][rows] = (f_ref * pr * n - f_new * pn * r) * inv_sqrt
        spectra["psf_difference"][rows] = pr * pn * inv_sqrt * (f_ref * f_new / f_d)
        # S = S_N - S_R with S_N = k_n ⊗ N and S_R = k_r ⊗ R.
        kn = spectra["kn"][rows] = np.conj(pn) * (pr2 * inv_denom2 * (f_new * f_ref**2))
        kr = spectra["kr"][rows] = np.conj(pr) * (pn2 * inv_denom2 * (f_ref * f_new**2))
        spectra["s_new"][rows] = kn * n
        spectra["s_ref"][rows] = kr * r
        return (f_new**2 * f_ref**2 * pn2 * pr2 * inv_denom2).sum(axis=0, dtype=np.float64)

    column_sums = map_row_blocks(spectral, n_hat.shape[0], workers)
    del n_hat, r_hat, pn_hat, pr_hat
    # Flux of a point source = S / F_S, with F_S the sum over the full spectrum.
    flux_scale = _full_spectrum_sum(np.sum(column_sums, axis=0)[None, :], shape)
    difference = inverse(spectra.pop("difference"))
    psf_d = _centre_stamp(inverse(spectra.pop("psf_difference")), psf_new.shape[0])
    s_new = inverse(spectra.pop("s_new"))
    s_ref = inverse(spectra.pop("s_ref"))
    # V(S) = V_N ⊗ k_n² + V_R ⊗ k_r², both in one inverse transform.
    kn, kr = inverse(spectra.pop("kn")), inverse(spectra.pop("kr"))
    v_n, v_r = forward(kn * kn), forward(kr * kr)
    del kn, kr
    v_n *= forward(var_new)
    v_r *= forward(var_ref)
    v_n += v_r
    del v_r
    v_s = inverse(v_n)
    del v_n
    sx, sy = astrometric_sigma
    score = np.empty(shape, np.float32)
    score_std = np.empty(shape, np.float32)

    def finish(start, stop):
        """S, the full variance of S and its square root for a block of rows."""
        rows = slice(start, stop)
        variance = v_s[rows]
        if sx > 0 or sy > 0:
            # Gradients need one row beyond the block on either side.
            low, high = max(0, start - 1), min(shape[0], stop + 1)
            for component in (s_new, s_ref):
                gy, gx = np.gradient(component[low:high])
                variance += (
                    sx**2 * gx[start - low : stop - low] ** 2 + sy**2 * gy[start - low : stop - low] ** 2
                )
        if flux_sigma > 0:
            variance += flux_sigma**2 * (s_new[rows] ** 2 + s_ref[rows] ** 2)
        np.subtract(s_new[rows], s_ref[rows], out=score[rows])
        np.sqrt(np.maximum(variance, 1e-30), out=score_std[rows])

    map_row_blocks(finish, shape[0], workers)
    return Subtraction(
        difference=difference.astype(np.float32),
        score=score,
        score_corr=score / score_std,
        score_std=score_std,
        psf_difference=psf_d / psf_d.sum(),
        flux_scale=flux_scale,
        f_d=float(f_d),
    )


def _full_spectrum_sum(values, shape):
    """(1/N) Σ over the full 2-D spectrum of ``values`` given as rfft halves.

    A real FFT stores columns 0..nx/2; every column except 0 (and nx/2 for even nx) stands
    for itself and its mirror image.
    """
    weights = np.full(values.shape[1], 2.0)
    weights[0] = 1.0
    if shape[1] % 2 == 0:
        weights[-1] = 1.0
    return float((values.sum(axis=0, dtype=np.float64) * weights).sum() / (shape[0] * shape[1]))
