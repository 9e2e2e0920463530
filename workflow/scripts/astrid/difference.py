"""The difference-imaging stage: prepare an aligned frame and its reference, run ZOGY."""

from dataclasses import dataclass

import numpy as np
from astropy.stats import mad_std

from astrid import maskbits, zogy
from astrid.blocks import filter_rows, map_row_blocks


@dataclass
class DifferenceResult:
    subtraction: zogy.Subtraction
    mask: np.ndarray  # bits of both inputs, grown by the PSF footprint (uint16)
    bad: np.ndarray  # True where the score cannot be trusted (masked footprint or edge)
    score_noise: float  # robust std of S_corr in unmasked pixels (1 when normalised right)
    difference_noise: float  # robust std of D in unmasked pixels


# Masked areas whose surroundings are unreliable too (saturated cores and their bleed
# trails, missing data, the frame's edge) spoil the score over a PSF footprint. Thin masked
# features (hot pixels, cosmic rays, a dead column), set to the background in both images,
# only spoil their immediate neighbours.
EXTENDED = maskbits.SATURATED | maskbits.NO_DATA | maskbits.NONFINITE


def _grow(mask, radius, workers=1):
    """Grow a boolean mask by ``radius`` pixels (a square)."""
    if not mask.any():
        return mask
    return filter_rows(lambda rows: maskbits.grow(rows, radius), [mask], radius, workers)


def combined_mask(new_mask, ref_mask, psf_size, edge, workers=1):
    """Bits of both images, and where the score cannot be trusted (footprints and edges)."""
    bits = (new_mask | ref_mask).astype(np.uint16)
    # The filters reach one PSF radius beyond a masked area, and a saturated core left as a
    # hole in both images rings out to there: flag that reach, plus a margin of 3 pixels.
    half = psf_size // 2 + 3
    bad = _grow((bits & EXTENDED) != 0, half, workers) | _grow((bits & ~np.uint16(EXTENDED)) != 0, 1, workers)
    bad[:edge, :] = bad[-edge:, :] = True
    bad[:, :edge] = bad[:, -edge:] = True
    return bits, bad


def subtract_images(
    new,
    new_var,
    new_mask,
    psf_new,
    sigma_new,
    ref,
    ref_var,
    ref_mask,
    psf_ref,
    sigma_ref,
    flux_ratio,
    astrometric_sigma=(0.0, 0.0),
    flux_sigma=0.0,
    workers=1,
    renormalise=False,
):
    """ZOGY on an aligned, background-subtracted frame and its reference.

    Masked pixels are set to zero (the background) with the background variance before the
    Fourier transforms, and the score is flagged ``bad`` within the PSF footprint of any
    masked pixel and near the edges, where the periodic transforms wrap. With
    ``renormalise``, S_corr is divided by its measured robust spread (for inputs with
    correlated noise); ``score_noise`` is always the spread before that.
    """
    bits, bad = combined_mask(new_mask, ref_mask, psf_new.shape[0], edge=psf_new.shape[0], workers=workers)
    n, r, vn, vr = (np.empty(bits.shape, np.float32) for _ in range(4))

    def prepare(start, stop):
        rows = slice(start, stop)
        masked = bits[rows] != 0
        n[rows] = np.where(masked, 0.0, new[rows])
        r[rows] = np.where(masked, 0.0, ref[rows])
        vn[rows] = np.where(masked | ~np.isfinite(new_var[rows]), sigma_new**2, new_var[rows])
        vr[rows] = np.where(masked | ~np.isfinite(ref_var[rows]), sigma_ref**2, ref_var[rows])

    map_row_blocks(prepare, bits.shape[0], workers)
    result = zogy.subtract(
        n,
        r,
        psf_new,
        psf_ref,
        vn,
        vr,
        sigma_new,
        sigma_ref,
        flux_ratio,
        1.0,
        astrometric_sigma,
        flux_sigma,
        workers,
    )
    # Every fourth pixel of every fourth row: a million pixels at 4096², plenty for a spread.
    good = ~bad[::4, ::4]
    score_noise = float(mad_std(result.score_corr[::4, ::4][good])) if good.any() else np.nan
    difference_noise = float(mad_std(result.difference[::4, ::4][good])) if good.any() else np.nan
    if renormalise and np.isfinite(score_noise) and score_noise > 0:
        # For images whose noise is correlated (resampled or stacked by other software) the
        # per-pixel variance misjudges the noise at the PSF's scale: rescale S_corr to unit
        # robust spread. ``score_noise`` keeps the value measured before.
        result.score_corr /= score_noise
        result.score_std *= score_noise
    return DifferenceResult(result, bits, bad, score_noise, difference_noise)


def subtract_aligned(new, psf_new, aligned_header, reference, flux_error, workers=1):
    """ZOGY of an aligned frame (an ``ImageProduct`` with its PSF and alignment header,
    as ``align_exposure`` writes them) and its :class:`~astrid.reference.Reference`, in
    ``workers`` threads."""
    rms = aligned_header["ALNRMS"]
    return subtract_images(
        new.data,
        new.variance,
        new.mask,
        psf_new,
        aligned_header["BKGRMS"],
        reference.data,
        reference.variance,
        reference.mask,
        reference.psf,
        reference.background_rms,
        aligned_header["FLXRATIO"],
        (rms, rms),
        flux_error,
        workers,
    )


def write_difference(path, diff, wcs_header, header):
    """Write D, S, S_corr, V(S), the mask (with ``SCORE_BAD``) and P_D to one FITS file."""
    from astropy.io import fits

    from astrid.fitsio import write_atomic

    sub = diff.subtraction
    header["FLUXSCAL"] = (sub.flux_scale, "F_S: point-source flux = S / F_S")
    header["F_D"] = (sub.f_d, "zero point of D")
    header["SCORNOIS"] = (diff.score_noise, "robust std of S_corr, unmasked (1 = normalised)")
    header["DIFFNOIS"] = (diff.difference_noise, "robust std of D, unmasked")
    primary = fits.PrimaryHDU(header=header)
    for key, value, comment in maskbits.header_cards():
        primary.header[key] = (value, comment)
    mask = diff.mask.copy()
    mask[diff.bad] |= maskbits.SCORE_BAD
    hdus = [primary]
    for name, array, text in (
        ("DIFF", sub.difference, "proper difference D (ZOGY)"),
        ("SCORE", sub.score, "matched-filter score S"),
        ("SCORR", sub.score_corr, "S_corr = S / sqrt(V(S)), sigma units"),
        ("VAR", sub.score_std**2, "V(S), variance of S"),
    ):
        hdu = fits.ImageHDU(array.astype(np.float32), header=wcs_header, name=name)
        hdu.header["COMMENT"] = text
        hdus.append(hdu)
    hdus.append(fits.ImageHDU(mask.astype(np.uint16), header=wcs_header, name="MASK"))
    hdus.append(fits.ImageHDU(sub.psf_difference.astype(np.float32), name="PSF"))
    write_atomic(fits.HDUList(hdus), path)


def read_difference(path):
    """Read a difference product back into a :class:`DifferenceResult` and its header."""
    from astropy.io import fits

    with fits.open(path) as hdul:
        header = hdul[0].header.copy()
        mask = hdul["MASK"].data.astype(np.uint16)
        score_std = np.sqrt(hdul["VAR"].data.astype(np.float32))
        sub = zogy.Subtraction(
            difference=hdul["DIFF"].data.astype(np.float32),
            score=hdul["SCORE"].data.astype(np.float32),
            score_corr=hdul["SCORR"].data.astype(np.float32),
            score_std=score_std,
            psf_difference=hdul["PSF"].data.astype(np.float64),
            flux_scale=float(header["FLUXSCAL"]),
            f_d=float(header["F_D"]),
        )
    bad = (mask & maskbits.SCORE_BAD) != 0
    result = DifferenceResult(
        sub, mask & ~np.uint16(maskbits.SCORE_BAD), bad, header["SCORNOIS"], header["DIFFNOIS"]
    )
    return result, header


@dataclass
class PairDifference:
    """Everything measured to difference an aligned pair, and the result."""

    result: DifferenceResult
    psf_new: np.ndarray
    psf_ref: np.ndarray
    stars_new: object  # astropy Table
    stars_ref: object
    flux_ratio: float


def difference_aligned_pair(
    new,
    new_var,
    new_mask,
    ref,
    ref_var,
    ref_mask,
    psf_size=31,
    flux_error=0.01,
    astrometric_sigma=(0.02, 0.02),
    detect_sigma=10.0,
    workers=1,
    renormalise=False,
):
    """Difference two images already on one grid, measuring all that ZOGY needs from them.

    Both images are background-subtracted here; PSFs come from each image's isolated stars,
    the flux scale from stars found in both, and the background noise from box statistics.
    The workflow does the same in two steps (``align_to_reference`` then
    ``subtract_images``); this is the whole of it for pairs that need no registration
    (benchmarks, survey stamps already resampled by another pipeline).
    """
    from astrid.align import photometric_scale
    from astrid.psf import empirical_psf
    from astrid.sources import background, find_stars, psf_stars, subtract_background

    images = []
    for image, variance, mask in ((new, new_var, new_mask), (ref, ref_var, ref_mask)):
        bad = filter_rows(lambda i, m: (m != 0) | ~np.isfinite(i), [image, mask], 0, workers)
        filled = filter_rows(lambda i, b: np.where(b, 0.0, i).astype(np.float32), [image, bad], 0, workers)
        sky, rms = background(filled, bad, workers=workers)
        clean = subtract_background(filled, sky, bad, workers)
        del filled, sky
        stars = find_stars(
            clean,
            variance,
            mask | (bad * np.uint16(maskbits.NONFINITE)),
            threshold=detect_sigma,
            background_rms=rms,
            workers=workers,
        )
        images.append((clean, stars, empirical_psf(clean, psf_stars(stars), size=psf_size), rms))
    (n, stars_n, psf_n, rms_n), (r, stars_r, psf_r, rms_r) = images
    ratio, _, _ = photometric_scale(n, r, stars_n, stars_r, psf_n, psf_r)
    result = subtract_images(
        n,
        new_var,
        new_mask,
        psf_n,
        rms_n,
        r,
        ref_var,
        ref_mask,
        psf_r,
        rms_r,
        ratio,
        astrometric_sigma,
        flux_error,
        workers,
        renormalise=renormalise,
    )
    return PairDifference(result, psf_n, psf_r, stars_n, stars_r, ratio)
