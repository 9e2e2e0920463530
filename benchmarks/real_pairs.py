"""AstrID on the real image pairs of ../shared/data/real/pairs, beside the peer's difference.

    .venv/bin/python benchmarks/real_pairs.py [--shared ../shared]

DECam (sfft's test field, CCD N6, i band): AstrID differences sfft's own stacks of the
2018 epoch (science) and the 2016 epoch (reference), already on one grid, and reports the
S_corr noise in unmasked sky, the number of 5σ candidates and whether the known bright-star
dipole (RA 318.1176, Dec −66.0106) is flagged; beside it, sfft's decorrelated difference is
measured the same way (PSF-filtered, divided by its robust noise, 5σ local maxima).
JWST NIRCam F200W (Abell 2744, GLASS → UNCOVER): the same measurement; the peer's
difference is not part of the shared data.
"""

import argparse
import sys
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.stats import mad_std
from astropy.wcs import WCS
from scipy import ndimage

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "workflow" / "scripts"))

from astrid.imaging.detect import find_candidates  # noqa: E402
from astrid.imaging.difference import difference_aligned_pair  # noqa: E402
from astrid.imaging.sources import local_maxima  # noqa: E402
from astrid.io.fitsio import ImageProduct  # noqa: E402

DECAM_DIPOLE = (318.1176, -66.0106)


def load(path, gain_frames=1.0):
    """Image, variance (background + Poisson at the header gain) and mask of a stamp."""
    with fits.open(path) as hdul:
        hdu = next(h for h in hdul if h.data is not None)
        data = hdu.data.astype(np.float32)
        header = hdu.header
    bad = ~np.isfinite(data)
    saturate = header.get("SATURATE")
    if saturate:
        bad |= data >= 0.9 * float(saturate)
    clean = np.where(bad, 0.0, data)
    rms = mad_std(clean[~bad])
    gain = float(header.get("GAIN", 0) or 0) * gain_frames
    variance = np.full(clean.shape, rms**2, np.float32)
    if gain > 0:
        variance += np.clip(clean, 0, None) / gain
    return clean, variance.astype(np.float32), np.where(bad, 16, 0).astype(np.uint16), WCS(header).celestial


def peer_candidates(difference, psf):
    """5σ local maxima of a peer's difference filtered with the science PSF (peers.md)."""
    filtered = ndimage.correlate(np.nan_to_num(difference), psf / np.sqrt((psf**2).sum()), mode="constant")
    noise = mad_std(filtered[32:-32, 32:-32])
    ys, xs = local_maxima(filtered / noise, 5.0)
    return len(ys), float(mad_std(difference[32:-32, 32:-32]))


def run_pair(science, reference, gain_frames=1.0, psf_size=25):
    sci, sci_var, sci_mask, wcs = load(science, gain_frames)
    ref, ref_var, ref_mask, _ = load(reference, gain_frames)
    reference = ImageProduct(ref, ref_var, ref_mask)
    pair = difference_aligned_pair(
        ImageProduct(sci, sci_var, sci_mask), reference, psf_size=psf_size, renormalise=True
    )
    fwhm = 2.3548 * np.sqrt(
        (
            pair.psf_new
            * np.add.outer(
                (np.arange(psf_size) - psf_size // 2) ** 2, (np.arange(psf_size) - psf_size // 2) ** 2
            )
        ).sum()
        / 2
    )
    table, _ = find_candidates(
        pair.result, sci, pair.as_reference(reference, wcs), fwhm=fwhm, exposure="real"
    )
    return pair, table


def decam(shared):
    folder = shared / "data" / "real" / "pairs" / "decam_sfft_ccdN6"
    pair, table = run_pair(folder / "Stack-DEC-OBS04.fits", folder / "Stack-DEC-OBS18.fits", gain_frames=5.0)
    separation = (
        np.hypot(
            (table["ra"] - DECAM_DIPOLE[0]) * np.cos(np.radians(DECAM_DIPOLE[1])),
            table["dec"] - DECAM_DIPOLE[1],
        )
        * 3600
    )
    near = table[separation < 3.0]
    peer_n, peer_sigma = peer_candidates(fits.getdata(folder / "FinalDifference.DeCorr.fits"), pair.psf_new)
    return {"pair": pair, "table": table, "dipole": near, "peer_candidates": peer_n, "peer_sigma": peer_sigma}


def jwst(shared):
    folder = shared / "data" / "real" / "pairs" / "jwst_nircam_abell2744"
    science = next(folder.glob("jw02561*.fits"))
    reference = next(folder.glob("jw01324*.fits"))
    pair, table = run_pair(science, reference)
    return {"pair": pair, "table": table}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    args = parser.parse_args()
    d = decam(args.shared)
    print("DECam N6 stacks, 2018 - 2016 (256²)")
    print(
        f"  AstrID: S_corr noise {d['pair'].result.score_noise:.3f} before renormalising, {len(d['table'])} candidates ≥ 5σ, "
        f"flux ratio {d['pair'].flux_ratio:.3f}"
    )
    for row in d["dipole"]:
        print(
            f"  known dipole star: candidate S/N {row['snr']:.1f}, S_corr minimum {row['dipole_min']:.1f}, "
            f"is_dipole = {bool(row['is_dipole'])}"
        )
    print(
        f"  sfft (DeCorr difference): robust σ {d['peer_sigma']:.1f}, {d['peer_candidates']} 5σ peaks after PSF filtering"
    )
    j = jwst(args.shared)
    print("JWST NIRCam F200W Abell 2744, UNCOVER - GLASS (900²)")
    print(
        f"  AstrID: S_corr noise {j['pair'].result.score_noise:.3f} before renormalising, {len(j['table'])} candidates ≥ 5σ, "
        f"flux ratio {j['pair'].flux_ratio:.3f}"
    )
    top = j["table"][:5]
    for row in top:
        print(f"    x {row['x']:.0f} y {row['y']:.0f} S/N {row['snr']:.1f} dipole {bool(row['is_dipole'])}")


if __name__ == "__main__":
    main()
