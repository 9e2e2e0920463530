"""The bare ZOGY FFT core with the TRUE PSFs of the pair: "the practical floor" of peers.md.

Runs in the repo's own venv (numpy + scipy.fft only)::

    .venv/bin/python benchmarks/peers/run_bare_zogy.py PAIR_DIR OUT_DIR [--threads N]

Zackay, Ofek & Gal-Yam (2016, ApJ 830, 27) for aligned images N (science) and R (reference)
with PSFs P_n, P_r, flux scales F_n = F_r = 1 (true for benchmark pairs) and background
variances sigma_n^2, sigma_r^2 (scalars: the median of each VAR plane):

    den   = sigma_n^2 |P_r|^2 + sigma_r^2 |P_n|^2                         (hats: Fourier)
    D     = (P_r N - P_n R) / sqrt(den)                                     eq. 13
    P_D   = P_r P_n / (F_D sqrt(den)),  F_D = 1 / sqrt(sigma_n^2 + sigma_r^2)   eqs. 14-15
    S     = F_D D conj(P_D) = k_n N - k_r R                                 eq. 17
    k_n   = conj(P_n) |P_r|^2 / den,  k_r = conj(P_r) |P_n|^2 / den         eq. 28
    V_S   = V_N (x) k_n^2 + V_R (x) k_r^2  (V_N, V_R: the per-pixel VAR planes, so the source
            noise of stars is included)                                     eqs. 26-27
    S_corr = S / sqrt(V_S)   (the astrometric-noise term of eq. 30 is left out: the pair is
            aligned exactly)

S_corr is in sigma units by construction and is written as the score without rescaling, so
the noise ratio of metrics.py tests it. Only S_corr is computed (D and P_D are implied): the
timing covers the FFT core from arrays in memory to S_corr.
"""

from __future__ import annotations

import time

from common import parse_args, write_outputs


def embed_psf(stamp, shape):
    """Unit-sum PSF stamp placed in a full-size array with its centre at pixel (0, 0)."""
    import numpy as np

    full = np.zeros(shape)
    h, w = stamp.shape
    full[:h, :w] = stamp / stamp.sum()
    return np.roll(full, (-(h // 2), -(w // 2)), axis=(0, 1))


def zogy_scorr(sci, ref, var_sci, var_ref, psf_sci, psf_ref, workers=1):
    """S_corr of the bare ZOGY core (module docstring); all inputs float64 arrays."""
    import numpy as np
    from scipy import fft

    shape = sci.shape
    s2_n, s2_r = float(np.median(var_sci)), float(np.median(var_ref))
    pn = fft.rfft2(embed_psf(psf_sci, shape), workers=workers)
    pr = fft.rfft2(embed_psf(psf_ref, shape), workers=workers)
    an, ar = np.abs(pn) ** 2, np.abs(pr) ** 2
    den = s2_n * ar + s2_r * an + 1e-300
    kn_hat = np.conj(pn) * ar / den
    kr_hat = np.conj(pr) * an / den
    del an, ar, den, pn, pr

    s = fft.irfft2(
        kn_hat * fft.rfft2(sci, workers=workers) - kr_hat * fft.rfft2(ref, workers=workers),
        s=shape,
        workers=workers,
    )
    kn2 = fft.irfft2(kn_hat, s=shape, workers=workers) ** 2
    kr2 = fft.irfft2(kr_hat, s=shape, workers=workers) ** 2
    del kn_hat, kr_hat
    v_s = fft.irfft2(
        fft.rfft2(var_sci, workers=workers) * fft.rfft2(kn2, workers=workers)
        + fft.rfft2(var_ref, workers=workers) * fft.rfft2(kr2, workers=workers),
        s=shape,
        workers=workers,
    )
    return s / np.sqrt(np.clip(v_s, 1e-30, None)), s2_n, s2_r


def main() -> None:
    args = parse_args("Bare ZOGY FFT core with the true PSFs (S_corr, sigma units).")
    import pairs

    pair = pairs.load_pair(args.pair_dir)
    t0 = time.perf_counter()
    score, s2_n, s2_r = zogy_scorr(
        pair.sci, pair.ref, pair.sci_var, pair.ref_var, pair.psf_sci, pair.psf_ref, workers=args.threads
    )
    elapsed = time.perf_counter() - t0
    write_outputs(
        args.out_dir,
        "bare_zogy",
        score,
        elapsed,
        args.threads,
        "ZOGY S_corr from the VAR planes, unscaled",
        psf="true (pair psf_*.fits)",
        sigma2_sci=s2_n,
        sigma2_ref=s2_r,
    )


if __name__ == "__main__":
    main()
