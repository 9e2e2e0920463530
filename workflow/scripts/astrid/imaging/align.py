"""Registering a calibrated frame onto its reference and resampling it onto the reference grid.

Resampling uses a cubic spline (scipy.ndimage) for the image, bilinear interpolation for the
variance and nearest-pixel transfer (after a one-pixel growth) for the mask. Fluxes are
conserved: the image is multiplied by the area of a reference pixel in image pixels (the
determinant of the map), the variance by its square. Reference pixels that fall outside the
image are masked ``NO_DATA``.
"""

import logging
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS
from scipy import ndimage

from astrid.astrometry.registration import NO_MATCH, TOO_FEW_STARS, AlignmentError, Registration, register
from astrid.imaging.blocks import map_row_blocks
from astrid.imaging.sources import (
    background,
    find_stars,
    noise_rms,
    point_like,
    psf_stars,
    subtract_background,
)
from astrid.io import maskbits
from astrid.io.fitsio import ImageProduct

if TYPE_CHECKING:
    from astrid.imaging.reference import Reference

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AlignSettings:
    """Choices of the alignment; each has an ``align.*`` config key."""

    detect_sigma: float = 10.0
    max_offset_px: float = 100.0
    min_matches: int = 10
    max_rms_px: float = 0.5
    psf_size: int = 31


def resample(data, variance, mask, registration, shape, workers=1):
    """Resample an image onto the reference grid given its registration image → reference.

    Parameters
    ----------
    data, variance, mask : ndarray
        The image's planes.
    registration : Registration
        Map from image pixels to reference pixels.
    shape : tuple
        Shape of the reference grid.
    workers : int
        Threads, each resampling a block of the grid's rows; the result does not depend
        on them.

    Returns
    -------
    (data, variance, mask) on the reference grid.
    """
    inverse = registration.inverse()  # reference pixel → image pixel, (x, y) order
    # scipy works in (row, column) = (y, x): swap the axes of the matrix and offset.
    matrix = inverse.matrix[::-1, ::-1]
    offset = inverse.offset[::-1]
    jacobian = abs(np.linalg.det(inverse.matrix))  # image pixels per reference pixel
    # Masked pixels (a dead column divided by a 5 % flat, a cosmic ray) would ring through
    # the cubic spline into their neighbours: give them the image's median level first
    # (from every fourth pixel of every fourth row: a level, not a statistic).
    bad = mask != 0
    sample = data[::4, ::4][~bad[::4, ::4]]
    coefficients = _spline_coefficients(data, bad, np.median(sample) if sample.size else 0.0, workers)
    grown = maskbits.grow(mask.astype(np.uint16), 1) if mask.any() else None
    out = np.empty(shape, np.float32)
    var = np.empty(shape, np.float32)
    bits = np.zeros(shape, np.uint16)

    def block(start, stop):
        # The rows [start, stop) of the grid: the same map, its origin moved to row start.
        rows = (stop - start, shape[1])
        moved = offset + matrix[:, 0] * start
        transform = dict(matrix=matrix, offset=moved, output_shape=rows, mode="constant", cval=0.0)
        ndimage.affine_transform(coefficients, order=3, prefilter=False, output=out[start:stop], **transform)
        out[start:stop] *= jacobian
        ndimage.affine_transform(variance, order=1, output=var[start:stop], **transform)
        var[start:stop] *= jacobian**2
        if grown is not None:
            ndimage.affine_transform(grown, order=0, output=bits[start:stop], **transform)
        bits[start:stop][_outside(matrix, offset, data.shape, start, stop, shape[1])] |= maskbits.NO_DATA

    map_row_blocks(block, shape[0], workers)
    return out, var, bits


def _outside(matrix, offset, image_shape, start, stop, n_cols):
    """True for the grid pixels of rows [start, stop) whose source position (row, column)
    = matrix @ (row, column) + offset falls outside an image of ``image_shape``.

    The map is affine, so along each grid row the source coordinates are linear in the
    column: each row's covered columns form one interval, found without touching pixels.
    """
    rows = np.arange(start, stop, dtype=np.float64)
    first = np.zeros(len(rows))
    last = np.full(len(rows), n_cols - 1.0)
    for axis in range(2):
        base = matrix[axis, 0] * rows + offset[axis]  # source coordinate at column 0
        slope = matrix[axis, 1]
        low, high = -0.5, image_shape[axis] - 0.5  # inside: low < base + slope * column < high
        if slope == 0:
            inside = (base > low) & (base < high)
            first = np.where(inside, first, n_cols)
            continue
        a, b = (low - base) / slope, (high - base) / slope
        lo, hi = np.minimum(a, b), np.maximum(a, b)  # inside for lo < column < hi
        first = np.maximum(first, np.floor(lo) + 1)
        last = np.minimum(last, np.ceil(hi) - 1)
    columns = np.arange(n_cols)
    return (columns < first[:, None]) | (columns > last[:, None])


def _spline_coefficients(image, bad, fill, workers):
    """Cubic B-spline coefficients of ``image`` with ``bad`` pixels set to ``fill`` (scipy's
    prefilter for ``mode="constant"``), filtering columns then rows in blocks of
    ``workers`` threads."""
    along_rows = np.empty(image.shape, np.float64)

    def columns(start, stop):  # along axis 0, a block of columns at a time
        cols = slice(start, stop)
        filled = np.where(bad[:, cols], fill, image[:, cols])
        ndimage.spline_filter1d(filled, 3, axis=0, output=along_rows[:, cols], mode="constant")

    map_row_blocks(columns, image.shape[1], workers)

    def rows(start, stop):
        ndimage.spline_filter1d(
            along_rows[start:stop], 3, axis=1, output=along_rows[start:stop], mode="constant"
        )

    map_row_blocks(rows, image.shape[0], workers)
    return along_rows


def pixel_to_pixel_guess(wcs_image, wcs_ref, x, y):
    """Positions (x, y) of an image mapped to reference pixels through the two header WCSs."""
    ra, dec = wcs_image.all_pix2world(x, y, 0)
    return wcs_ref.all_world2pix(ra, dec, 0)


def aperture_flux(image, x, y, radius, annulus=None):
    """Sum of ``image`` in circles of ``radius`` pixels around (x, y) (pixel-centre sampling).

    With ``annulus=(r_in, r_out)`` the median of that ring, times the aperture's area, is
    subtracted: a local background, so that an error of the global background of a fraction
    of an electron per pixel does not bias the flux of faint stars.
    """
    outer = annulus[1] if annulus else radius
    r = int(np.ceil(outer))
    offsets = np.arange(-r, r + 1)
    dy, dx = np.meshgrid(offsets, offsets, indexing="ij")
    x, y = np.asarray(x, float), np.asarray(y, float)
    xi, yi = np.round(x).astype(int), np.round(y).astype(int)
    distance2 = (dx[None] + xi[:, None, None] - x[:, None, None]) ** 2 + (
        dy[None] + yi[:, None, None] - y[:, None, None]
    ) ** 2
    rows = np.clip(yi[:, None, None] + dy[None], 0, image.shape[0] - 1)
    cols = np.clip(xi[:, None, None] + dx[None], 0, image.shape[1] - 1)
    values = image[rows, cols]
    inside = distance2 <= radius**2
    flux = (values * inside).sum(axis=(1, 2))
    if annulus:
        ring = (distance2 >= annulus[0] ** 2) & (distance2 <= annulus[1] ** 2)
        local = np.nanmedian(np.where(ring, values, np.nan), axis=(1, 2))
        flux = flux - local * inside.sum(axis=(1, 2))
    return flux


def enclosed_fraction(psf, radius):
    """Fraction of a centred, unit-sum PSF stamp inside a circle of ``radius`` pixels."""
    centre = np.array([psf.shape[1] // 2], float), np.array([psf.shape[0] // 2], float)
    return float(aperture_flux(psf, centre[0], centre[1], radius)[0])


def flux_ratio(image, reference_image, image_stars, ref_stars, radius, max_distance=1.5):
    """Flux ratio image/reference from stars found in both (both images on one grid).

    Both images are measured in the same circular aperture of ``radius`` pixels (take a
    few times the larger FWHM, so that a seeing difference does not bias the ratio). The
    median ratio and its error (from the scatter) are returned with the number of stars.
    """
    from scipy.spatial import cKDTree

    if len(image_stars) == 0 or len(ref_stars) == 0:
        raise AlignmentError(NO_MATCH, "no stars to compare fluxes")
    tree = cKDTree(np.column_stack([ref_stars["x"], ref_stars["y"]]))
    distance, index = tree.query(
        np.column_stack([image_stars["x"], image_stars["y"]]), distance_upper_bound=max_distance
    )
    paired = np.isfinite(distance)
    if paired.sum() < 5:
        raise AlignmentError(NO_MATCH, f"only {paired.sum()} stars paired to scale the fluxes")
    x = np.asarray(ref_stars["x"])[index[paired]]
    y = np.asarray(ref_stars["y"])[index[paired]]
    annulus = (radius + 2, radius + 6)
    ratios = aperture_flux(image, x, y, radius, annulus) / aperture_flux(
        reference_image, x, y, radius, annulus
    )
    ratios = ratios[np.isfinite(ratios)]
    median = float(np.median(ratios))
    error = float(1.2533 * 1.4826 * np.median(np.abs(ratios - median)) / np.sqrt(len(ratios)))
    return median, error, int(len(ratios))


def photometric_scale(image, reference_image, image_stars, ref_stars, psf, ref_psf):
    """Flux scale image/reference from the bright, isolated, unmasked stars of both.

    Both images are measured in one aperture of 2.5 × the larger FWHM, and the ratio is
    corrected by the two PSFs' enclosed fractions in it (the worse seeing puts more flux
    outside any aperture).
    """
    from astrid.imaging.psf import psf_fwhm

    radius = 2.5 * max(psf_fwhm(psf), psf_fwhm(ref_psf))

    def bright(stars):
        return stars[stars["isolated"] & ~stars["masked"] & (stars["snr"] > 20)]

    ratio, error, n = flux_ratio(image, reference_image, bright(image_stars), bright(ref_stars), radius)
    correction = enclosed_fraction(ref_psf, radius) / enclosed_fraction(psf, radius)
    return ratio * correction, error * correction, n


@dataclass
class AlignedImage:
    data: np.ndarray  # background-subtracted, on the reference grid
    variance: np.ndarray
    mask: np.ndarray
    psf: np.ndarray
    background_rms: float
    registration: Registration
    flux_ratio: float
    flux_ratio_err: float
    fwhm: float
    n_stars: int


def align_to_reference(
    frame: ImageProduct,
    wcs_header: fits.Header,
    reference: "Reference",
    settings: AlignSettings,
    *,
    workers: int = 1,
) -> "AlignedImage":
    """Register a calibrated frame onto a reference and resample it there.

    The frame's background is measured and subtracted once, before resampling (resampling
    is linear, so the resampled background is the background of the resampled image); its
    stars are found once, on the frame, and carried to the grid by the registration.

    Parameters
    ----------
    frame : ImageProduct
        Calibrated frame (data, variance, mask).
    wcs_header : astropy.io.fits.Header
        The frame's header WCS (a first guess).
    reference : astrid.reference.Reference
        The reference (image, WCS, star list on its grid).
    settings : AlignSettings
    workers : int
        Threads for the image-wide steps (the job's threads).

    Raises
    ------
    AlignmentError
        With reason code ``TOO_FEW_STARS``, ``NO_MATCH`` or ``RESIDUAL_TOO_LARGE``.

    Returns
    -------
    AlignedImage
    """
    from astrid.imaging.psf import PSFError, empirical_psf, psf_fwhm

    data, variance, mask = frame.data, frame.variance, frame.mask
    bad = mask != 0
    sky, rms = background(data, bad, workers=workers)
    clean = subtract_background(data, sky, bad, workers)
    del sky
    stars = find_stars(
        clean, variance, mask, threshold=settings.detect_sigma, background_rms=rms, workers=workers
    )
    usable = point_like(stars)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wcs_image = WCS(wcs_header)
    if not wcs_image.has_celestial:
        raise AlignmentError(NO_MATCH, "the frame has no header WCS to start from")
    gx, gy = pixel_to_pixel_guess(wcs_image, reference.wcs, usable["x"], usable["y"])
    ref_stars = point_like(reference.stars)
    registration = register(
        usable["x"],
        usable["y"],
        gx,
        gy,
        ref_stars["x"],
        ref_stars["y"],
        max_offset=settings.max_offset_px,
        min_matches=settings.min_matches,
        max_rms=settings.max_rms_px,
    )
    out, var, bits = resample(clean, variance, mask, registration, reference.data.shape, workers)
    del clean
    out[(bits & maskbits.NO_DATA) != 0] = 0.0
    # Interpolation averages neighbouring pixels: the noise per pixel is lower than the
    # frame's, and is measured again on the grid.
    resampled_rms = noise_rms(out, bits != 0, workers=workers)
    aligned_stars = stars.copy()
    aligned_stars["x"], aligned_stars["y"] = registration.apply(stars["x"], stars["y"])
    good = psf_stars(aligned_stars)
    try:
        psf = empirical_psf(out, good, size=settings.psf_size)
    except PSFError as error:
        raise AlignmentError(TOO_FEW_STARS, str(error)) from None
    ratio, ratio_err, _ = photometric_scale(
        out, reference.data, aligned_stars, reference.stars, psf, reference.psf
    )
    log.info(
        "registered with %d stars (%s), rms %.3f px, rotation %.3f°, flux ratio %.4f ± %.4f",
        registration.n_matched,
        registration.method,
        registration.rms,
        registration.rotation_deg,
        ratio,
        ratio_err,
    )
    return AlignedImage(
        out, var, bits, psf, resampled_rms, registration, ratio, ratio_err, psf_fwhm(psf), len(usable)
    )


def write_aligned(path, aligned, wcs_header, header):
    """Write an aligned frame: SCI/VAR/MASK on the reference grid, PSF, registration keys."""
    from astropy.io import fits

    from astrid.io.fitsio import ImageProduct, write_image_product

    reg = aligned.registration
    header["ALIGNOK"] = (True, "registered onto the reference")
    header["ALNMETH"] = (reg.method, "first match: offset vote or asterism")
    header["ALNNSTAR"] = (reg.n_matched, "stars paired")
    header["ALNRMS"] = (reg.rms, "[px] residual per coordinate")
    header["ALNROT"] = (reg.rotation_deg, "[deg] rotation image -> reference")
    header["ALNSCALE"] = (reg.scale, "pixel scale ratio image -> reference")
    header["ALNDX"], header["ALNDY"] = (
        (float(reg.offset[0]), "[px] x offset"),
        (float(reg.offset[1]), "[px] y offset"),
    )
    for i in range(2):
        for j in range(2):
            header[f"ALNA{i}{j}"] = (float(reg.matrix[i, j]), "affine matrix image -> reference")
    header["FLXRATIO"] = (aligned.flux_ratio, "flux scale image / reference")
    header["FLXRERR"] = (aligned.flux_ratio_err, "error of FLXRATIO")
    header["FWHM"] = (aligned.fwhm, "[px] FWHM of the PSF on the reference grid")
    header["BKGRMS"] = (aligned.background_rms, "[e-] background noise after resampling")
    product = ImageProduct(aligned.data, aligned.variance, aligned.mask, header)
    write_image_product(
        path, product, wcs_header, extra=[fits.ImageHDU(aligned.psf.astype(np.float32), name="PSF")]
    )


def write_alignment_failure(path, header, code, reason):
    """Record that a frame could not be aligned: the product holds only the reason."""
    from astropy.io import fits

    from astrid.io.fitsio import write_atomic

    header["ALIGNOK"] = (False, "registered onto the reference")
    header["QCODE"] = (code, "reason code")
    header["QREASON"] = reason
    write_atomic(fits.HDUList([fits.PrimaryHDU(header=header)]), path)


def alignment_failure(header):
    """(code, reason) when a product records a failed alignment, else None."""
    if header.get("ALIGNOK", True):
        return None
    return header["QCODE"], header["QREASON"]
