"""The difference-imaging stage: prepare an aligned frame and its reference, run ZOGY."""

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from astropy.io import fits
from astropy.stats import mad_std

from astrid.imaging import zogy
from astrid.imaging.blocks import filter_rows, map_row_blocks
from astrid.imaging.psf import region_slices, regional_fwhm, regional_psfs
from astrid.imaging.sources import stamps_around
from astrid.io import maskbits
from astrid.io.fitsio import Compression, ImageProduct

if TYPE_CHECKING:
    from astropy.table import Table
    from astropy.wcs import WCS

    from astrid.imaging.reference import Reference


@dataclass
class DifferenceResult:
    subtraction: zogy.Subtraction
    mask: np.ndarray  # bits of both inputs, grown by the PSF footprint (uint16)
    bad: np.ndarray  # True where the score cannot be trusted (masked footprint or edge)
    score_noise: float  # robust std of S_corr in unmasked pixels (1 when normalised right)
    difference_noise: float  # robust std of D in unmasked pixels
    psf_regions: int = 1  # regions per side with their own PSFs (subtract_by_region)


# Masked areas whose surroundings are unreliable too (saturated cores and their bleed
# trails, missing data, the frame's edge) spoil the score over a PSF footprint. Thin masked
# features (hot pixels, cosmic rays, a dead column), set to the background in both images,
# only spoil their immediate neighbours.
EXTENDED = maskbits.SATURATED | maskbits.NO_DATA | maskbits.NONFINITE


def fill_masked(
    images: "list[np.ndarray]",
    masked: np.ndarray,
    leave: np.ndarray | None = None,
    scales: tuple[float, ...] = (0.7, 1.5, 3.0, 6.0),
    chunk: int = 65536,
) -> None:
    """Fill, in place, the masked pixels of each of ``images`` from the unmasked pixels
    around them, by normalised convolution with Gaussians of growing width (0.7–6 px, each
    used for the pixels the narrower ones could not reach): a saturated core, a dead column
    or a cosmic ray on a star becomes a smooth continuation of the star, not a hole.

    A hole of zeros in a star rings through the Fourier transforms of the subtraction over
    the PSF footprint. Pixels of ``leave`` (missing data), and pixels farther than about
    15 px from anything unmasked, keep their value.

    Parameters
    ----------
    images : list of numpy.ndarray
        Background-subtracted images of one shape, whose masked pixels are zero (the
        background); changed in place.
    masked : numpy.ndarray of bool
        Pixels to fill.
    leave : numpy.ndarray of bool, optional
        Masked pixels not to fill.
    scales : sequence of float
        Gaussian sigmas (pixels), tried in turn for the pixels still unfilled.
    chunk : int
        Pixel values gathered at a time (bounds the memory).
    """
    todo = masked if leave is None else masked & ~leave
    ys, xs = np.nonzero(todo)
    for sigma in scales:
        if not len(ys):
            return
        reach = int(np.ceil(2.5 * sigma))
        offsets = np.arange(-reach, reach + 1)
        kernel = np.exp(-(offsets[:, None] ** 2 + offsets[None, :] ** 2) / (2 * sigma**2)).astype(np.float32)
        kernel /= kernel.sum()
        step = max(1, chunk // kernel.size)
        unfilled = np.zeros(len(ys), bool)
        for start in range(0, len(ys), step):
            y, x = ys[start : start + step], xs[start : start + step]
            # Only unmasked pixels in the image count (masked ones, even once filled, weigh
            # nothing).
            weights = ~stamps_around(masked, y, x, reach, fill=True) * kernel
            norm = weights.sum(axis=(1, 2))
            ok = norm > 0.05
            for image in images:
                values = (stamps_around(image, y, x, reach) * weights).sum(axis=(1, 2))
                image[y[ok], x[ok]] = values[ok] / norm[ok]
            unfilled[start : start + step] = ~ok
        ys, xs = ys[unfilled], xs[unfilled]


def _grow(mask, radius, workers=1):
    """Grow a boolean mask by ``radius`` pixels (a square)."""
    if not mask.any():
        return mask
    return filter_rows(lambda rows: maskbits.grow(rows, radius), [mask], radius, workers)


def combined_mask(
    new_mask: np.ndarray, ref_mask: np.ndarray, psf_size: int, edge: int, workers: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """Bits of both images, and where the score cannot be trusted (footprints and edges).

    Parameters
    ----------
    new_mask, ref_mask : numpy.ndarray
        Mask bits of the two images on one grid.
    psf_size : int
        Side of the PSF stamp (pixels): ``EXTENDED`` masked areas spoil the score out to
        half of it plus 3 pixels, other masked pixels only their immediate neighbours.
    edge : int
        Width (pixels, at least 1) of the border flagged on every side, where the periodic
        Fourier transforms wrap.
    workers : int
        Threads (row blocks); the result does not depend on them.

    Returns
    -------
    bits : numpy.ndarray
        The union of both masks, uint16.
    bad : numpy.ndarray of bool
        True where the score cannot be trusted.
    """
    bits = (new_mask | ref_mask).astype(np.uint16)
    # The filters reach one PSF radius beyond a masked area, and a saturated core left as a
    # hole in both images rings out to there: flag that reach, plus a margin of 3 pixels.
    half = psf_size // 2 + 3
    bad = _grow((bits & EXTENDED) != 0, half, workers) | _grow((bits & ~np.uint16(EXTENDED)) != 0, 1, workers)
    bad[:edge, :] = bad[-edge:, :] = True
    bad[:, :edge] = bad[:, -edge:] = True
    return bits, bad


def subtract_images(
    new: ImageProduct,
    ref: ImageProduct,
    *,
    flux_ratio: float,
    astrometric_sigma: tuple = (0.0, 0.0),
    flux_sigma: float = 0.0,
    workers: int = 1,
    renormalise: bool = False,
) -> DifferenceResult:
    """ZOGY on an aligned, background-subtracted frame and its reference.

    Masked pixels are filled from their surroundings (:func:`fill_masked`; zero, the
    background, in missing data and far from anything unmasked) and given the background
    variance before the Fourier transforms, and the score is flagged ``bad`` within the PSF
    footprint of any masked pixel and near the edges, where the periodic transforms wrap. With
    ``renormalise``, S_corr is divided by its measured robust spread (for inputs with
    correlated noise); ``score_noise`` is always the spread before that.

    Parameters
    ----------
    new, ref : ImageProduct
        The frame and its reference on one grid, background-subtracted, each with its
        ``psf`` and ``background_rms``.
    flux_ratio : float
        The frame's flux scale relative to the reference (F_N with F_R = 1).
    astrometric_sigma : (float, float)
        Registration error (pixels) in x and y.
    flux_sigma : float
        Fractional error of the flux scaling and PSF models (``difference.flux_error``).
    workers : int
        Threads.
    renormalise : bool
        Divide S_corr by its measured spread (inputs with correlated noise).

    Returns
    -------
    DifferenceResult
    """
    psf_new, psf_ref = new.psf, ref.psf
    sigma_new, sigma_ref = new.background_rms, ref.background_rms
    new_var, ref_var = new.variance, ref.variance
    bits, bad = combined_mask(new.mask, ref.mask, psf_new.shape[0], edge=psf_new.shape[0], workers=workers)
    new, ref = new.data, ref.data
    n, r, vn, vr = (np.empty(bits.shape, np.float32) for _ in range(4))

    def prepare(start, stop):
        rows = slice(start, stop)
        masked = bits[rows] != 0
        n[rows] = np.where(masked, 0.0, new[rows])
        r[rows] = np.where(masked, 0.0, ref[rows])
        vn[rows] = np.where(masked | ~np.isfinite(new_var[rows]), sigma_new**2, new_var[rows])
        vr[rows] = np.where(masked | ~np.isfinite(ref_var[rows]), sigma_ref**2, ref_var[rows])

    map_row_blocks(prepare, bits.shape[0], workers)
    fill_masked([n, r], bits != 0, leave=(bits & maskbits.NO_DATA) != 0)
    result = zogy.subtract(
        ImageProduct(n, vn, bits, psf=psf_new, background_rms=sigma_new),
        ImageProduct(r, vr, bits, psf=psf_ref, background_rms=sigma_ref),
        f_new=flux_ratio,
        f_ref=1.0,
        astrometric_sigma=astrometric_sigma,
        flux_sigma=flux_sigma,
        workers=workers,
    )
    return _with_noise(result, bits, bad, renormalise)


def _with_noise(result: zogy.Subtraction, bits, bad, renormalise) -> DifferenceResult:
    """The result with the measured spreads of S_corr and D (and S_corr rescaled by its
    spread with ``renormalise``)."""
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


def psf_regions_for(
    stars_new: "Table",
    stars_ref: "Table",
    shape: tuple[int, int],
    spread_limit: float = 1.05,
    stars_per_region: int = 25,
    max_regions: int = 8,
) -> int:
    """How many regions per side the subtraction models the PSF in.

    One (a PSF per image) unless the median FWHM of either image's 3 × 3 regions, each
    measured on at least ``stars_per_region`` PSF stars, spreads by more than
    ``spread_limit`` (largest / smallest) and by more than 5σ of the two medians' errors;
    then as many regions as the scarcer image's PSF stars allow at ``stars_per_region``
    each, from 2 to ``max_regions``. The demo's 2048² frames, of one PSF by construction,
    have 6-17 PSF stars a region and spread by 1.03-1.15 by chance (at most 3.3σ): they keep
    one PSF. The simulated variation below spreads by 1.07 at 20σ. Measured on
    simulated 2048² pairs whose PSF widens towards the corners (FWHM 3.4 px at the centre;
    ``benchmarks/psf_variation.py``): 4.2 px in the corners leaves 34 false candidates beside
    stars with one PSF, 0 with 4 × 4 regions; 5.0 px leaves 449, and 12 with 6 × 6.

    Parameters
    ----------
    stars_new, stars_ref : astropy.table.Table
        Every source of the aligned frame and of the reference, on the reference grid.
    shape : tuple of int
        The grid's (ny, nx).
    spread_limit : float
        ``difference.psf_spread_limit``.
    stars_per_region : int
        Fewest PSF stars per region the count of regions allows.
    max_regions : int
        Most regions per side.

    Returns
    -------
    int
    """
    varies, counts = False, []
    for stars in (stars_new, stars_ref):
        fwhm, errors, n_stars = regional_fwhm(stars, shape, 3, min_stars=stars_per_region)
        measured = np.isfinite(fwhm)
        counts.append(int(n_stars.sum()))
        if measured.sum() < 2:
            continue
        widest, sharpest = np.nanargmax(fwhm), np.nanargmin(fwhm)
        # A spread the few stars of a region make up by chance is no variation: it must
        # also stand 5σ above the two medians' errors (the widest and sharpest of nine
        # regions are 3σ apart by chance alone).
        significant = fwhm[widest] - fwhm[sharpest] > 5 * np.hypot(errors[widest], errors[sharpest])
        varies |= bool(fwhm[widest] / fwhm[sharpest] > spread_limit and significant)
    if not varies:
        return 1
    return int(np.clip(np.floor(np.sqrt(min(counts) / stars_per_region)), 2, max_regions))


def _cropped(image: ImageProduct, cut: tuple[slice, slice], psf: np.ndarray) -> ImageProduct:
    """A region of an image with its own PSF."""
    return replace(image, data=image.data[cut], variance=image.variance[cut], mask=image.mask[cut], psf=psf)


def subtract_by_region(
    new: ImageProduct,
    ref: ImageProduct,
    stars_new: "Table",
    stars_ref: "Table",
    regions: int,
    *,
    flux_ratio: float,
    astrometric_sigma: tuple = (0.0, 0.0),
    flux_sigma: float = 0.0,
    workers: int = 1,
    renormalise: bool = False,
) -> DifferenceResult:
    """ZOGY with the PSFs of each region: for a frame whose PSF varies across it (coma,
    field curvature, tilt), where one PSF per image leaves rings and dipoles around bright
    stars far from where it was measured.

    The grid is cut into ``regions`` × ``regions``; each region is subtracted with both
    images' PSFs measured on its own stars (the image's PSF where it has too few), on a cut
    that reaches two PSF stamps beyond it, so that the Fourier transforms' wrapped edges fall
    outside it. S and V(S) are put on the flux scale of the central region, so that
    ``flux = S / F_S`` holds everywhere.

    Parameters
    ----------
    new, ref : ImageProduct
        As for :func:`subtract_images`.
    stars_new, stars_ref : astropy.table.Table
        Every source of each image on the grid (the PSF stars are chosen per region).
    regions : int
        Regions per side.
    flux_ratio, astrometric_sigma, flux_sigma, workers, renormalise
        As for :func:`subtract_images`.

    Returns
    -------
    DifferenceResult
    """
    shape, size = new.data.shape, new.psf.shape[0]
    psfs_new = regional_psfs(new.data, stars_new, regions, new.psf)
    psfs_ref = regional_psfs(ref.data, stars_ref, regions, ref.psf)
    planes = {
        name: np.zeros(shape, np.float32) for name in ("difference", "score", "score_corr", "score_std")
    }
    apron = 2 * size
    tiles = []
    for k, (rows, cols) in enumerate(region_slices(shape, regions)):
        y0, y1 = max(rows.start - apron, 0), min(rows.stop + apron, shape[0])
        x0, x1 = max(cols.start - apron, 0), min(cols.stop + apron, shape[1])
        cut = (slice(y0, y1), slice(x0, x1))
        tile = subtract_images(
            _cropped(new, cut, psfs_new[k]),
            _cropped(ref, cut, psfs_ref[k]),
            flux_ratio=flux_ratio,
            astrometric_sigma=astrometric_sigma,
            flux_sigma=flux_sigma,
            workers=workers,
        ).subtraction
        inner = (slice(rows.start - y0, rows.stop - y0), slice(cols.start - x0, cols.stop - x0))
        for name, plane in planes.items():
            plane[rows, cols] = getattr(tile, name)[inner]
        tiles.append((rows, cols, tile))
    centre = tiles[len(tiles) // 2][2]
    for rows, cols, tile in tiles:
        planes["score"][rows, cols] *= centre.flux_scale / tile.flux_scale
        planes["score_std"][rows, cols] *= centre.flux_scale / tile.flux_scale
    result = zogy.Subtraction(
        **planes, psf_difference=centre.psf_difference, flux_scale=centre.flux_scale, f_d=centre.f_d
    )
    bits, bad = combined_mask(new.mask, ref.mask, size, edge=size, workers=workers)
    return replace(_with_noise(result, bits, bad, renormalise), psf_regions=regions)


def subtract_aligned(
    new: ImageProduct,
    reference: "Reference",
    aligned_header: fits.Header,
    *,
    flux_error: float,
    workers: int = 1,
    renormalise: bool = False,
    stars: "Table | None" = None,
    psf_spread_limit: float | None = 1.05,
) -> DifferenceResult:
    """ZOGY of an aligned frame and its reference, as ``align_exposure`` and
    ``build_reference`` write them.

    Parameters
    ----------
    new : ImageProduct
        The aligned frame with its ``psf``.
    reference : Reference
        Its reference (:func:`astrid.imaging.reference.read_reference`).
    aligned_header : astropy.io.fits.Header
        The aligned frame's header: background noise (``BKGRMS``), registration error
        (``ALNRMS``) and flux scale (``FLXRATIO``).
    flux_error : float
        ``difference.flux_error``.
    workers : int
        Threads.
    renormalise : bool
        Divide S_corr by its measured spread (``difference.renormalise``: frames resampled
        or stacked by another pipeline, whose noise is correlated).
    stars : astropy.table.Table, optional
        The aligned frame's sources on the grid; with them the PSF is modelled per region
        where it varies across either image (:func:`psf_regions_for`).
    psf_spread_limit : float or None
        ``difference.psf_spread_limit``; None: one PSF per image.

    Returns
    -------
    DifferenceResult
    """
    rms = aligned_header["ALNRMS"]
    new = replace(new, background_rms=aligned_header["BKGRMS"])
    options = dict(
        flux_ratio=aligned_header["FLXRATIO"],
        astrometric_sigma=(rms, rms),
        flux_sigma=flux_error,
        workers=workers,
        renormalise=renormalise,
    )
    regions = 1
    if stars is not None and psf_spread_limit is not None:
        regions = psf_regions_for(stars, reference.stars, new.data.shape, psf_spread_limit)
    if regions == 1:
        return subtract_images(new, reference, **options)
    return subtract_by_region(new, reference, stars, reference.stars, regions, **options)


def write_difference(
    path: Path | str,
    diff: DifferenceResult,
    wcs_header: fits.Header,
    header: fits.Header,
    compression: Compression | None = None,
) -> None:
    """Write D, S, S_corr, V(S), the mask (with ``SCORE_BAD``) and P_D to one FITS file.

    Parameters
    ----------
    path : pathlib.Path or str
        The product's path (written atomically).
    diff : DifferenceResult
        The subtraction.
    wcs_header : astropy.io.fits.Header
        The reference grid's WCS, written to each image extension.
    header : astropy.io.fits.Header
        The primary header; F_S, F_D and the two measured noises are added to it in place.
    compression : Compression, optional
        How the images and the mask are written (:func:`astrid.io.fitsio.image_hdu`).
    """
    from astropy.io import fits

    from astrid.io.fitsio import image_hdu, write_atomic

    sub = diff.subtraction
    header["FLUXSCAL"] = (sub.flux_scale, "F_S: point-source flux = S / F_S")
    header["F_D"] = (sub.f_d, "zero point of D")
    header["SCORNOIS"] = (diff.score_noise, "robust std of S_corr, unmasked (1 = normalised)")
    header["DIFFNOIS"] = (diff.difference_noise, "robust std of D, unmasked")
    header["PSFREGN"] = (diff.psf_regions, "regions per side with their own PSFs")
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
        hdu = image_hdu(array.astype(np.float32), name, wcs_header, compression)
        hdu.header["COMMENT"] = text
        hdus.append(hdu)
    hdus.append(image_hdu(mask.astype(np.uint16), "MASK", wcs_header, compression))
    hdus.append(fits.ImageHDU(sub.psf_difference.astype(np.float32), name="PSF"))
    write_atomic(fits.HDUList(hdus), path)


def read_difference(path: Path | str) -> tuple[DifferenceResult, fits.Header]:
    """Read a difference product back into a :class:`DifferenceResult` and its header.

    Parameters
    ----------
    path : pathlib.Path or str
        A product written by :func:`write_difference`.

    Returns
    -------
    result : DifferenceResult
        The subtraction; ``bad`` is read from the ``SCORE_BAD`` bit, which is cleared from
        ``mask``.
    header : astropy.io.fits.Header
        A copy of the primary header.
    """
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
    background_rms_ref: float = float("nan")

    def as_reference(self, ref: ImageProduct, wcs: "WCS", zeropoint: float = float("nan")) -> "Reference":
        """The pair's reference image as a :class:`~astrid.imaging.reference.Reference`
        (what :func:`~astrid.imaging.detect.find_candidates` measures candidates against).

        Parameters
        ----------
        ref : ImageProduct
            The reference image given to :func:`difference_aligned_pair`.
        wcs : astropy.wcs.WCS
            The pair's grid on the sky.
        zeropoint : float
            Magnitude of one reference electron (nan: instrumental magnitudes only).

        Returns
        -------
        Reference
        """
        from astrid.imaging.reference import Reference

        return Reference(
            ref.data,
            ref.variance,
            ref.mask,
            self.psf_ref,
            wcs,
            self.stars_ref,
            zeropoint,
            self.background_rms_ref,
        )


def difference_aligned_pair(
    new: ImageProduct,
    ref: ImageProduct,
    *,
    psf_size: int = 31,
    flux_error: float = 0.01,
    astrometric_sigma: tuple = (0.02, 0.02),
    detect_sigma: float = 10.0,
    workers: int = 1,
    renormalise: bool = False,
) -> "PairDifference":
    """Difference two images already on one grid, measuring all that ZOGY needs from them.

    Both images are background-subtracted here; PSFs come from each image's isolated stars,
    the flux scale from stars found in both, and the background noise from box statistics.
    The workflow does the same in two steps (``align_to_reference`` then
    ``subtract_images``); this is the whole of it for pairs that need no registration
    (benchmarks, survey stamps already resampled by another pipeline).

    Parameters
    ----------
    new, ref : ImageProduct
        The two images (data, variance, mask) on one grid, not background-subtracted.
    psf_size : int
        Side of the PSF stamps measured from each image.
    flux_error : float
        Fractional error of the flux scaling and PSF models.
    astrometric_sigma : (float, float)
        Registration error (pixels) in x and y.
    detect_sigma : float
        Significance of the stars the PSFs and the flux scale are measured from.
    workers : int
        Threads.
    renormalise : bool
        Divide S_corr by its measured spread (inputs with correlated noise).

    Returns
    -------
    PairDifference
    """
    from astrid.imaging.align import photometric_scale
    from astrid.imaging.psf import empirical_psf
    from astrid.imaging.sources import background, find_stars, psf_stars, subtract_background

    images = []
    for image, variance, mask in ((new.data, new.variance, new.mask), (ref.data, ref.variance, ref.mask)):
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
        ImageProduct(n, new.variance, new.mask, psf=psf_n, background_rms=rms_n),
        ImageProduct(r, ref.variance, ref.mask, psf=psf_r, background_rms=rms_r),
        flux_ratio=ratio,
        astrometric_sigma=astrometric_sigma,
        flux_sigma=flux_error,
        workers=workers,
        renormalise=renormalise,
    )
    return PairDifference(result, psf_n, psf_r, stars_n, stars_r, ratio, rms_r)
