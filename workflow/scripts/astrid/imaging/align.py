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
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from astropy.io import fits
from astropy.table import Table
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
    from astrid.astrometry.blind import SolveSettings
    from astrid.imaging.reference import Reference
    from astrid.io.fitsio import Compression

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AlignSettings:
    """Choices of the alignment; each has an ``align.*`` config key."""

    detect_sigma: float = 10.0
    max_offset_px: float = 100.0
    min_matches: int = 10
    max_rms_px: float = 0.5
    psf_size: int = 31


def resample(
    data: np.ndarray,
    variance: np.ndarray,
    mask: np.ndarray,
    registration: Registration,
    shape: tuple[int, int],
    workers: int = 1,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Resample an image onto the reference grid given its registration image → reference.

    Parameters
    ----------
    data, variance, mask : numpy.ndarray
        The image's planes: electrons, electrons² and mask bits.
    registration : Registration
        Map from image pixels to reference pixels.
    shape : tuple of int
        Shape (rows, columns) of the reference grid.
    workers : int
        Threads, each resampling a block of the grid's rows; the result does not depend
        on them.

    Returns
    -------
    data, variance, mask : numpy.ndarray
        The planes on the reference grid: float32 electrons and electrons² per reference
        pixel, and uint16 mask bits (``NO_DATA`` outside the image).
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
        # Inside: between the first and last pixel centres. ndimage's constant mode does not
        # interpolate beyond them: there it gives cval, which must be flagged, not used.
        low, high = -1e-6, image_shape[axis] - 1 + 1e-6  # inside: low < base + slope * column < high
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


def pixel_to_pixel_guess(wcs_image: WCS, wcs_ref: WCS, x: np.ndarray, y: np.ndarray) -> list[np.ndarray]:
    """Positions (x, y) of an image mapped to reference pixels through the two header WCSs.

    Parameters
    ----------
    wcs_image, wcs_ref : astropy.wcs.WCS
        The image's and the reference's WCS.
    x, y : numpy.ndarray
        Positions on the image (0-based pixels).

    Returns
    -------
    list of numpy.ndarray
        The positions [x, y] on the reference grid (0-based pixels).
    """
    ra, dec = wcs_image.all_pix2world(x, y, 0)
    return wcs_ref.all_world2pix(ra, dec, 0)


def aperture_flux(
    image: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    radius: float,
    annulus: tuple[float, float] | None = None,
) -> np.ndarray:
    """Sum of ``image`` in circles of ``radius`` pixels around (x, y) (pixel-centre sampling).

    With ``annulus=(r_in, r_out)`` the median of that ring, times the aperture's area, is
    subtracted: a local background, so that an error of the global background of a fraction
    of an electron per pixel does not bias the flux of faint stars.

    Parameters
    ----------
    image : numpy.ndarray
        The image (electrons). Pixels beyond its edge take the value of the nearest edge
        pixel.
    x, y : numpy.ndarray
        Aperture centres (0-based pixels).
    radius : float
        Aperture radius (pixels).
    annulus : (float, float), optional
        Inner and outer radius (pixels) of the local background ring.

    Returns
    -------
    numpy.ndarray
        One flux per centre (the image's units, electrons for a calibrated frame).
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


def enclosed_fraction(psf: np.ndarray, radius: float) -> float:
    """Fraction of a centred, unit-sum PSF stamp inside a circle of ``radius`` pixels.

    Parameters
    ----------
    psf : numpy.ndarray
        Centred PSF stamp with unit sum.
    radius : float
        Aperture radius (pixels).

    Returns
    -------
    float
        The PSF's sum inside the aperture.
    """
    centre = np.array([psf.shape[1] // 2], float), np.array([psf.shape[0] // 2], float)
    return float(aperture_flux(psf, centre[0], centre[1], radius)[0])


def flux_ratio(
    image: np.ndarray,
    reference_image: np.ndarray,
    image_stars: Table,
    ref_stars: Table,
    radius: float,
    max_distance: float = 1.5,
) -> tuple[float, float, int]:
    """Flux ratio image/reference from stars found in both (both images on one grid).

    Both images are measured in the same circular aperture of ``radius`` pixels (take a
    few times the larger FWHM, so that a seeing difference does not bias the ratio). The
    median ratio and its error (from the scatter) are returned with the number of stars.

    Parameters
    ----------
    image, reference_image : numpy.ndarray
        The two background-subtracted images on one grid (electrons).
    image_stars, ref_stars : astropy.table.Table
        Stars of each image (``x``, ``y`` in pixels of the common grid); the apertures are
        placed at the reference stars' positions.
    radius : float
        Aperture radius (pixels); the local background ring runs from ``radius`` + 2 to
        ``radius`` + 6 pixels.
    max_distance : float
        Largest distance (pixels) at which two stars are paired.

    Returns
    -------
    ratio : float
        Median of the per-star flux ratios image/reference.
    error : float
        Its error, from the ratios' robust (MAD) scatter.
    n : int
        Stars with a finite ratio.

    Raises
    ------
    AlignmentError
        ``NO_MATCH`` when either list is empty or fewer than 5 stars pair.
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


def photometric_scale(
    image: np.ndarray,
    reference_image: np.ndarray,
    image_stars: Table,
    ref_stars: Table,
    psf: np.ndarray,
    ref_psf: np.ndarray,
) -> tuple[float, float, int]:
    """Flux scale image/reference from the bright, isolated, unmasked stars of both.

    Both images are measured in one aperture of 2.5 × the larger FWHM, and the ratio is
    corrected by the two PSFs' enclosed fractions in it (the worse seeing puts more flux
    outside any aperture).

    Parameters
    ----------
    image, reference_image : numpy.ndarray
        The two background-subtracted images on one grid (electrons).
    image_stars, ref_stars : astropy.table.Table
        Stars of each image from :func:`~astrid.imaging.sources.find_stars`; those
        isolated, unmasked and above SNR 20 are used.
    psf, ref_psf : numpy.ndarray
        Centred, unit-sum PSF stamps of the two images.

    Returns
    -------
    scale : float
        Flux scale image/reference (total fluxes).
    error : float
        Its error.
    n : int
        Stars the scale was measured on.

    Raises
    ------
    AlignmentError
        ``NO_MATCH`` when too few bright stars pair (see :func:`flux_ratio`).
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
    stars: Table | None = None  # every source found, on the reference grid


# Registration error assumed for a frame an archive resampled onto the reference's grid
# (its registration unmeasured here): a tenth of a pixel, what survey pipelines reach.
GRID_RMS_PX = 0.1


def on_reference_grid(
    wcs_image: WCS, shape: tuple[int, int], reference: "Reference", tolerance: float = 0.01
) -> bool:
    """Whether a frame already lies on the reference's pixel grid: the same shape, and its
    WCS maps the frame's corners and centre onto the same reference pixels within
    ``tolerance`` pixels.

    Parameters
    ----------
    wcs_image : astropy.wcs.WCS
        The frame's WCS.
    shape : tuple of int
        The frame's (rows, columns).
    reference : Reference
    tolerance : float
        Pixels.

    Returns
    -------
    bool
    """
    if tuple(shape) != tuple(reference.data.shape):
        return False
    ny, nx = shape
    x = np.array([0.0, nx - 1.0, 0.0, nx - 1.0, nx / 2])
    y = np.array([0.0, 0.0, ny - 1.0, ny - 1.0, ny / 2])
    rx, ry = pixel_to_pixel_guess(wcs_image, reference.wcs, x, y)
    return bool(np.all(np.hypot(rx - x, ry - y) < tolerance))


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
    try:
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
    except AlignmentError as error:
        if not on_reference_grid(wcs_image, data.shape, reference):
            raise
        # An archive's frames resampled onto one grid already (stamps, mosaics): when its
        # stars cannot refine the alignment (galaxies for stars, too few), trust the archive's.
        log.warning(
            "%s; the frame is on the reference's grid already: the archive's alignment is used", error
        )
        registration = Registration(np.eye(2), np.zeros(2), 0, GRID_RMS_PX, "grid")
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
        out,
        var,
        bits,
        psf,
        resampled_rms,
        registration,
        ratio,
        ratio_err,
        psf_fwhm(psf),
        len(usable),
        aligned_stars,
    )


def write_aligned(
    path: Path | str,
    aligned: AlignedImage,
    wcs_header: fits.Header,
    header: fits.Header,
    compression: "Compression | None" = None,
) -> None:
    """Write an aligned frame: SCI/VAR/MASK on the reference grid, PSF, registration keys.

    Parameters
    ----------
    path : pathlib.Path or str
        The product's path (written atomically).
    aligned : AlignedImage
        The frame on the reference grid.
    wcs_header : astropy.io.fits.Header
        The reference grid's WCS, written to each image extension.
    header : astropy.io.fits.Header
        The primary header; the registration, flux-scale and noise keys are added to it
        in place.
    compression : Compression, optional
        How SCI, VAR and MASK are written (:func:`astrid.io.fitsio.image_hdu`).
    """
    from astropy.io import fits

    from astrid.io.fitsio import ImageProduct, write_image_product

    reg = aligned.registration
    header["ALIGNOK"] = (True, "registered onto the reference")
    header["ALNMETH"] = (reg.method, "offset vote, asterism, or grid (the archive's own)")
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
        path,
        product,
        wcs_header,
        extra=[fits.ImageHDU(aligned.psf.astype(np.float32), name="PSF"), *_stars_hdu(aligned.stars)],
        compression=compression,
    )


def _stars_hdu(stars):
    """The aligned frame's sources as a STARS table (for the subtraction's regional PSFs)."""
    from astropy.io import fits

    if stars is None:
        return []
    columns = [
        c
        for c in ("x", "y", "flux", "snr", "fwhm", "elongation", "masked", "isolated")
        if c in stars.colnames
    ]
    hdu = fits.table_to_hdu(stars[columns])
    hdu.name = "STARS"
    return [hdu]


def read_aligned_stars(path: Path | str) -> Table | None:
    """The sources an aligned frame's product records on the reference grid, or None for a
    product written before it recorded them.

    Parameters
    ----------
    path : pathlib.Path or str
        An aligned frame (:func:`write_aligned`).

    Returns
    -------
    astropy.table.Table or None
    """
    from astropy.io import fits

    with fits.open(path) as hdul:
        return Table(hdul["STARS"].data) if "STARS" in hdul else None


def write_alignment_failure(path: Path | str, header: fits.Header, code: str, reason: str) -> None:
    """Record that a frame could not be aligned: the product holds only the reason.

    Parameters
    ----------
    path : pathlib.Path or str
        The product's path (written atomically).
    header : astropy.io.fits.Header
        The primary header; ``ALIGNOK``, ``QCODE`` and ``QREASON`` are added to it in place.
    code : str
        Reason code (e.g. ``TOO_FEW_STARS``, ``NO_MATCH``).
    reason : str
        The reason in words.
    """
    from astropy.io import fits

    from astrid.io.fitsio import write_atomic

    header["ALIGNOK"] = (False, "registered onto the reference")
    header["QCODE"] = (code, "reason code")
    header["QREASON"] = reason
    write_atomic(fits.HDUList([fits.PrimaryHDU(header=header)]), path)


def alignment_failure(header: fits.Header) -> tuple[str, str] | None:
    """(code, reason) when a product records a failed alignment, else None.

    Parameters
    ----------
    header : astropy.io.fits.Header
        The aligned product's primary header.

    Returns
    -------
    tuple of (str, str) or None
        ``QCODE`` and ``QREASON`` where ``ALIGNOK`` is false; None where it is true or
        absent.
    """
    if header.get("ALIGNOK", True):
        return None
    return header["QCODE"], header["QREASON"]


def align_or_solve(
    frame: ImageProduct,
    wcs_header: fits.Header,
    reference: "Reference",
    settings: AlignSettings,
    solve: "SolveSettings | None" = None,
    *,
    workers: int = 1,
) -> tuple["AlignedImage", list]:
    """:func:`align_to_reference`, with astrometry.net behind it: a frame whose header WCS
    fails the offset vote and the asterism match (``NO_MATCH``: a WCS that is wrong, not
    merely off) is solved blind and registered again; a frame that was left without any
    astrometry at calibration fails with ``NO_ASTROMETRY`` and the reason it was given.

    Parameters
    ----------
    frame : ImageProduct
        The calibrated frame; its header's ``ASTROK``/``ASTRNOTE`` tell a failed solve.
    wcs_header : astropy.io.fits.Header
        Its WCS keywords.
    reference : astrid.imaging.reference.Reference
        The field's reference.
    settings : AlignSettings
    solve : astrid.astrometry.blind.SolveSettings, optional
        How to solve blind; None: never.
    workers : int
        Threads for the image-wide steps.

    Returns
    -------
    (AlignedImage, list)
        The aligned frame and the header cards of a blind solution made here (empty when
        the header WCS served).

    Raises
    ------
    AlignmentError
        As :func:`align_to_reference`, or with code ``NO_ASTROMETRY``.
    """
    from astrid.astrometry.blind import NO_ASTROMETRY, AstrometryError, solution_cards, solve_frame

    if frame.header.get("ASTROK") is False:
        raise AlignmentError(NO_ASTROMETRY, str(frame.header.get("ASTRNOTE", "no astrometric solution")))
    try:
        return align_to_reference(frame, wcs_header, reference, settings, workers=workers), []
    except AlignmentError as error:
        if error.code != NO_MATCH or solve is None or frame.header.get("ASTROK") is True:
            raise
        log.warning("%s: %s; solving it blind", frame.header.get("EXPOSURE", "frame"), error.reason)
        try:
            solution = solve_frame(frame.data, frame.mask, frame.header, solve)
        except AstrometryError as failure:
            raise AlignmentError(NO_ASTROMETRY, f"{error.reason}, and no blind solution: {failure}") from None
        header = solution.wcs.to_header(relax=True)
        return align_to_reference(frame, header, reference, settings, workers=workers), solution_cards(
            solution
        )
