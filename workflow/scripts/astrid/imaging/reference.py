"""Reference templates: the best-seeing frames of the reference nights, coadded.

The frame with the best seeing defines the grid. Every other selected frame is registered
and resampled onto it, background-subtracted, scaled to its flux level, cleared of the
pixels that disagree with the other frames (trails, asteroids, cosmic rays left in one
frame; from three frames on) and added with an inverse-variance weight (one weight per frame, from its background noise, so that the
coadd's photometry is not biased by per-pixel Poisson weights). The coadd has its own
variance and mask, its PSF is measured on it, and, when a catalog of the field is given,
its WCS is refitted to the catalog and its photometric zero point measured.
"""

import logging
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.table import Table
from astropy.time import Time
from astropy.wcs import WCS
from astropy.wcs.utils import fit_wcs_from_points
from scipy import ndimage
from scipy.spatial import cKDTree

from astrid.astrometry.registration import AlignmentError, register
from astrid.imaging.align import aperture_flux, enclosed_fraction, pixel_to_pixel_guess, resample
from astrid.imaging.psf import empirical_psf, psf_fwhm
from astrid.imaging.sources import background, find_stars, point_like, psf_stars
from astrid.io import maskbits
from astrid.io.fitsio import Compression, ImageProduct, image_hdu, write_atomic
from astrid.skycal.catalogs import at_epoch, colour
from astrid.skycal.photometry import PhotometryError, ZeroPoint, fit_zero_point

log = logging.getLogger(__name__)


class ReferenceError(Exception):
    """A reference cannot be built for a field and band."""


@dataclass(frozen=True)
class ReferenceSettings:
    """Choices of the reference build; each has a ``reference.*`` config key."""

    max_frames: int = 5
    max_fwhm_ratio: float = 1.5  # frames with seeing worse than this × the best are left out
    detect_sigma: float = 10.0
    catalog_sigma: float = 5.0  # depth of the reference's source list
    psf_size: int = 31
    clip_sigma: float = 3.0  # per-pixel outlier rejection of the coadd (0: none)
    clip_amplitude: float = 0.3  # fraction of the median allowed for seeing differences


@dataclass
class Reference:
    data: np.ndarray
    variance: np.ndarray
    mask: np.ndarray
    psf: np.ndarray
    wcs: WCS
    stars: Table  # every source above catalog_sigma, on the reference grid
    zeropoint: float  # magnitude of 1 electron (nan without a catalog)
    background_rms: float
    header: fits.Header = field(default_factory=fits.Header)
    zeropoint_error: float = np.nan  # magnitudes

    @property
    def fwhm(self):
        return psf_fwhm(self.psf)

    @property
    def psf_stars(self):
        return psf_stars(self.stars)


def _wcs(header):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return WCS(header)


def frame_seeing(
    data: np.ndarray, variance: np.ndarray, mask: np.ndarray, detect_sigma: float = 10.0
) -> float:
    """Median FWHM (pixels) of a frame's isolated, unsaturated stars.

    Parameters
    ----------
    data, variance, mask : numpy.ndarray
        The frame's planes: electrons, electrons² and mask bits.
    detect_sigma : float
        Detection threshold (σ) of the stars.

    Returns
    -------
    float
        The median FWHM in pixels; inf when the frame has no such star.
    """
    stars = psf_stars(find_stars(data, variance, mask, threshold=detect_sigma))
    return float(np.median(stars["fwhm"])) if len(stars) else np.inf


def catalog_contamination(
    x: np.ndarray, y: np.ndarray, magnitudes: np.ndarray, stars: np.ndarray, radius: float
) -> np.ndarray:
    """Flux of the other catalog sources within ``radius`` pixels of each given star, as a
    fraction of its own: a star the image cannot separate from its neighbours (a blend at
    the image's resolution) is not a calibrator, however isolated it looks on the image.

    Parameters
    ----------
    x, y : numpy.ndarray
        Every catalog source's position on the image (pixels; nan off the image).
    magnitudes : numpy.ndarray
        Every source's magnitude in the band (nan where unknown: no flux counted).
    stars : numpy.ndarray
        Indices of the stars asked about.
    radius : float
        The neighbourhood (pixels), about the photometric aperture's.

    Returns
    -------
    numpy.ndarray
        One fraction per star asked about (inf where its own magnitude is unknown).
    """
    finite = np.isfinite(x) & np.isfinite(y)
    flux = np.where(np.isfinite(magnitudes), 10 ** (-0.4 * np.nan_to_num(magnitudes, nan=99.0)), 0.0)
    tree = cKDTree(np.column_stack([x[finite], y[finite]]))
    index = np.flatnonzero(finite)
    fractions = np.full(len(stars), np.inf)
    for k, star in enumerate(stars):
        if flux[star] <= 0 or not finite[star]:
            continue
        near = index[tree.query_ball_point([x[star], y[star]], radius)]
        fractions[k] = flux[near[near != star]].sum() / flux[star]
    return fractions


def calibrate_to_catalog(
    stars: Table,
    wcs: WCS,
    catalog: Table,
    band: str | None,
    image: np.ndarray | None = None,
    psf: np.ndarray | None = None,
    radius: float | None = None,
    variance: np.ndarray | None = None,
    colour_term: float | str | None = "fit",
) -> tuple[WCS, ZeroPoint | None, int]:
    """Refit the WCS on catalog stars and fit the zero point; returns (wcs, zero point, n).

    Parameters
    ----------
    stars : astropy.table.Table
        Stars of the image (``x``, ``y`` in pixels, ``isolated``, ``masked``, ``snr``),
        brightest first.
    wcs : astropy.wcs.WCS
        The image's current WCS, the first guess that projects the catalog onto it.
    catalog : astropy.table.Table
        Catalog of the field in AstrID's layout (:func:`astrid.skycal.catalogs.read_catalog`),
        its positions at the image's date (:func:`astrid.skycal.catalogs.at_epoch`).
    band : str or None
        The band whose catalog magnitudes set the zero point.
    image : numpy.ndarray, optional
        The background-subtracted image (electrons) to measure fluxes on; without it no
        zero point is measured.
    psf : numpy.ndarray, optional
        Its centred, unit-sum PSF stamp (needed with ``image``).
    radius : float, optional
        Aperture radius in pixels (needed with ``image``).
    variance : numpy.ndarray, optional
        The image's variance (electrons²) for the stars' flux errors; without it their
        measured ``flux_err`` scaled to the aperture is used.
    colour_term : "fit", float or None
        The colour term (see :func:`astrid.skycal.photometry.fit_zero_point`).

    Returns
    -------
    wcs : astropy.wcs.WCS
        A TAN WCS fitted to the paired catalog stars.
    zeropoint : ZeroPoint or None
        The fit on the stars above S/N 10 paired with the catalog that are isolated on the
        image, unmasked and have less than 1 % of their flux from other catalog sources
        within 1.5 aperture radii; None without the band's column or without ``image``.
    n : int
        Stars paired with the catalog (within 1.5 pixels).

    Raises
    ------
    AlignmentError
        When the stars cannot be registered onto the catalog's positions.
    astrid.skycal.photometry.PhotometryError
        With too few catalog stars for a zero point.
    """
    ra, dec = np.asarray(catalog["ra"]), np.asarray(catalog["dec"])
    cx, cy = wcs.all_world2pix(ra, dec, 0)
    inside = np.isfinite(cx) & np.isfinite(cy)
    registration = register(
        stars["x"],
        stars["y"],
        stars["x"],
        stars["y"],
        cx[inside],
        cy[inside],
        max_offset=100.0,
        min_matches=10,
        max_rms=1.0,
    )
    px, py = registration.apply(np.asarray(stars["x"]), np.asarray(stars["y"]))
    distance, index = cKDTree(np.column_stack([cx[inside], cy[inside]])).query(
        np.column_stack([px, py]), distance_upper_bound=1.5
    )
    paired = np.isfinite(distance)
    matched = np.flatnonzero(inside)[index[paired]]
    xy = (np.asarray(stars["x"])[paired], np.asarray(stars["y"])[paired])
    fitted = fit_wcs_from_points(xy, SkyCoord(ra[matched], dec[matched], unit="deg"), projection="TAN")
    column = f"mag_{band}"
    if column not in catalog.colnames or image is None:
        return fitted, None, int(paired.sum())
    # Aperture fluxes, corrected to total flux with the PSF's own enclosed fraction, so
    # that the zero point applies to PSF-fit (total) fluxes.
    fraction = enclosed_fraction(psf, radius)
    flux = aperture_flux(image, xy[0], xy[1], radius) / fraction
    if variance is not None:
        flux_err = (
            np.sqrt(np.abs(aperture_flux(np.where(np.isfinite(variance), variance, 0), xy[0], xy[1], radius)))
            / fraction
        )
    else:
        flux_err = np.asarray(stars["flux_err"])[paired] / fraction
    good = (flux > 0) & np.asarray(stars["isolated"])[paired] & (flux > 10 * flux_err)
    good &= catalog_contamination(cx, cy, np.asarray(catalog[column], float), matched, 1.5 * radius) < 0.01
    if "masked" in stars.colnames:
        good &= ~np.asarray(stars["masked"])[paired]
    with np.errstate(divide="ignore", invalid="ignore"):
        instrumental = np.where(good, -2.5 * np.log10(flux), np.nan)
    error_column = f"err_{band}"
    colours = colour(catalog, band)
    return (
        fitted,
        fit_zero_point(
            instrumental,
            1.0857 * flux_err / np.maximum(flux, 1e-30),
            np.asarray(catalog[column], float)[matched],
            np.asarray(catalog[error_column], float)[matched] if error_column in catalog.colnames else None,
            colours[0][matched] if colours else None,
            colours[1] if colours else "",
            colour_term,
        ),
        int(paired.sum()),
    )


def reject_outliers(
    images: list[np.ndarray],
    variances: list[np.ndarray],
    masks: list[np.ndarray],
    scales: list[float],
    clip_sigma: float = 3.0,
    clip_amplitude: float = 0.3,
) -> list[np.ndarray]:
    """Pixels of each frame that disagree with the others: a satellite trail, an asteroid or a
    cosmic ray that only one frame has.

    Each frame, on the common flux scale, is compared with the per-pixel median of all
    frames; a pixel is rejected where it exceeds that median by more than ``clip_sigma`` times its own
    noise (its variance, scaled to the frame's measured scatter about the median) plus ``clip_amplitude`` times the median (what seeing differences between the
    frames make of a star's core, as SWarp's clipped combine allows); around an extended
    outlier (three such pixels together), its neighbours within two pixels that differ by
    more than 1σ go too (a trail's wings). With fewer than three frames
    nothing is rejected: two frames cannot tell which one is wrong.

    Parameters
    ----------
    images, variances, masks : list of numpy.ndarray
        The frames on one grid, background-subtracted (electrons), their variances and
        mask bits.
    scales : list of float
        Each frame's flux relative to the first.
    clip_sigma : float
        Rejection threshold (σ); 0 rejects nothing.
    clip_amplitude : float
        Fraction of the median added to the threshold.

    Returns
    -------
    list of numpy.ndarray
        A boolean array per frame, True where its pixel is rejected.
    """
    if clip_sigma <= 0 or len(images) < 3:
        return [np.zeros(image.shape, bool) for image in images]
    stack = np.stack(
        [
            np.where(bits == 0, image / scale, np.nan)
            for image, bits, scale in zip(images, masks, scales, strict=True)
        ]
    ).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # pixels no frame covers
        median = np.nanmedian(stack, axis=0)
    rejected = []
    for frame, variance, scale in zip(stack, variances, scales, strict=True):
        noise = np.sqrt(np.abs(variance) / scale**2)
        # The frames' scatter about their median as measured, in units of the variance
        # plane: an archive's variance may not be the pixels' (resampled, correlated noise),
        # and the median of a few frames is itself noisy.
        with np.errstate(invalid="ignore", divide="ignore"):
            pulls = ((frame - median) / noise)[::3, ::3]
        pulls = pulls[np.isfinite(pulls)]
        if len(pulls) > 100:
            noise = noise * float(1.4826 * np.median(np.abs(pulls - np.median(pulls))))
        with np.errstate(invalid="ignore"):
            # Positive outliers only: what one frame adds (light). A low pixel in one frame
            # is masked already (a bad column) or noise; and beside a trail, whose frame lifts
            # the median, rejecting low pixels of the other frames would leave the trail in.
            excess = frame - median
            core = excess > clip_sigma * noise + clip_amplitude * np.abs(median)
            wings = excess > noise
        # Only an extended outlier (a trail, not a noise peak: three core pixels together)
        # takes its neighbours along, two pixels wide: noise beyond 3σ comes as single
        # pixels, and growing those would trim the noise's own tails.
        together = ndimage.uniform_filter(core.astype(np.float32), 3) * 9 >= 2.5
        grown = ndimage.binary_dilation(core & together, np.ones((3, 3), bool), iterations=2) & wings
        rejected.append(core | grown)
    return rejected


def build_reference(
    frames: list[tuple[ImageProduct, fits.Header]],
    settings: ReferenceSettings,
    catalog: Table | None = None,
    band: str | None = None,
    colour_term: float | str | None = "fit",
) -> Reference:
    """Coadd the best-seeing frames into a reference.

    Parameters
    ----------
    frames : list of (ImageProduct, astropy.io.fits.Header)
        Calibrated frames of one field and band with their header WCS.
    settings : ReferenceSettings
        Choices of the build.
    catalog : astropy.table.Table, optional
        Catalog of the field in AstrID's layout (:func:`astrid.skycal.catalogs.read_catalog`)
        to refit the WCS and fit the zero point; its positions are moved to the frames'
        mean date. Where it cannot be registered or has too few stars the reference keeps
        its header WCS and instrumental magnitudes, and ``PHOTNOTE`` says why.
    band : str, optional
        The frames' band, naming the catalog's magnitude column.
    colour_term : "fit", float or None
        The zero point's colour term (:func:`astrid.skycal.photometry.fit_zero_point`).

    Returns
    -------
    Reference
        The coadd, its variance, mask, PSF, WCS, sources, zero point and its error (nan
        without a catalog), background noise and provenance header.

    Raises
    ------
    ReferenceError
        With no frames, no frame whose seeing can be measured, or no stars in common to
        scale the frames' fluxes.
    astrid.imaging.psf.PSFError
        With too few isolated, unsaturated stars on the coadd to model its PSF.
    """
    if not frames:
        raise ReferenceError("no calibrated frames to build a reference from")
    seeing = [frame_seeing(p.data, p.variance, p.mask, settings.detect_sigma) for p, _ in frames]
    order = np.argsort(seeing)
    best = seeing[order[0]]
    if not np.isfinite(best):
        raise ReferenceError("no frame has enough stars to measure its seeing")
    chosen = [i for i in order[: settings.max_frames] if seeing[i] <= settings.max_fwhm_ratio * best]
    base, base_header = frames[chosen[0]]
    base_wcs = _wcs(base_header)
    shape = base.data.shape
    base_stars = point_like(find_stars(base.data, base.variance, base.mask, threshold=settings.detect_sigma))
    images, variances, masks, used = [], [], [], []
    for i in chosen:
        product, header = frames[i]
        if i == chosen[0]:
            data, var, bits = product.data.astype(np.float32), product.variance, product.mask
        else:
            stars = find_stars(product.data, product.variance, product.mask, threshold=settings.detect_sigma)
            stars = point_like(stars)
            gx, gy = pixel_to_pixel_guess(_wcs(header), base_wcs, stars["x"], stars["y"])
            try:
                registration = register(stars["x"], stars["y"], gx, gy, base_stars["x"], base_stars["y"])
            except AlignmentError as error:
                log.warning(
                    "frame %s left out of the reference: %s", product.header.get("EXPOSURE", i), error
                )
                continue
            data, var, bits = resample(product.data, product.variance, product.mask, registration, shape)
        sky, rms = background(data, bits != 0)
        images.append(np.where(bits & maskbits.NO_DATA, 0.0, data - sky))
        variances.append(var)
        masks.append(bits)
        used.append((i, rms))
    # Flux scale of each frame relative to the base, from stars in a common aperture.
    radius = 2.5 * best * max(1.0, max(seeing[i] for i, _ in used) / best)
    good_stars = psf_stars(base_stars)
    scales = [
        float(
            np.median(
                aperture_flux(img, good_stars["x"], good_stars["y"], radius)
                / aperture_flux(images[0], good_stars["x"], good_stars["y"], radius)
            )
        )
        for img in images
    ]
    if not len(good_stars) or not np.all(np.isfinite(scales)):
        raise ReferenceError("no isolated, unsaturated stars in common to scale the frames' fluxes")
    weights = np.array([s**2 / rms**2 for s, (_, rms) in zip(scales, used, strict=True)])
    rejected = reject_outliers(images, variances, masks, scales, settings.clip_sigma, settings.clip_amplitude)
    numerator = np.zeros(shape, np.float64)
    weight_sum = np.zeros(shape, np.float64)
    var_sum = np.zeros(shape, np.float64)
    saturated = np.zeros(shape, bool)
    any_bits = np.zeros(shape, np.uint16)
    for img, var, bits, scale, weight, outlier in zip(
        images, variances, masks, scales, weights, rejected, strict=True
    ):
        w = weight * ((bits == 0) & ~outlier)
        numerator += w * img / scale
        weight_sum += w
        var_sum += w**2 * var / scale**2
        any_bits |= bits
        saturated |= (bits & maskbits.SATURATED) != 0
    # A pixel is used where any input is good, except where any input saturated: there
    # the unsaturated frames alone would give a core of another shape than the wings.
    covered = (weight_sum > 0) & ~saturated
    coadd = np.where(covered, numerator / np.where(covered, weight_sum, 1), 0.0).astype(np.float32)
    coadd_var = np.where(covered, var_sum / np.where(covered, weight_sum, 1) ** 2, np.inf).astype(np.float32)
    mask = np.where(covered, 0, any_bits).astype(np.uint16)
    sky, rms = background(coadd, mask != 0)
    coadd = np.where(covered, coadd - sky, 0.0).astype(np.float32)
    header = fits.Header()
    header["NCOMBINE"] = (len(used), "frames coadded")
    for k, (i, _) in enumerate(used, start=1):
        header[f"IMCMB{k:03d}"] = frames[i][0].header.get("EXPOSURE", str(i))
    header["NREJPIX"] = (int(sum(r.sum() for r in rejected)), "frame pixels rejected as outliers")
    header["SEEING"] = (float(best), "[px] FWHM of the best input frame")
    dates = [frames[i][0].header.get("MJD-OBS") for i, _ in used]
    return finish_reference(
        coadd,
        coadd_var,
        mask,
        rms,
        base_wcs.celestial,
        [float(d) for d in dates if d is not None],
        header,
        settings,
        catalog,
        band,
        colour_term,
    )


def finish_reference(
    data: np.ndarray,
    variance: np.ndarray,
    mask: np.ndarray,
    background_rms: float,
    wcs: WCS,
    dates: list[float],
    header: fits.Header,
    settings: ReferenceSettings,
    catalog: Table | None = None,
    band: str | None = None,
    colour_term: float | str | None = "fit",
) -> Reference:
    """A reference from its background-subtracted image: its sources, PSF and, with a
    catalog, its WCS refitted and zero point measured. Coadds and imported templates end here.

    Parameters
    ----------
    data, variance, mask : numpy.ndarray
        The background-subtracted image, its variance and mask bits.
    background_rms : float
        The image's background noise, from the background it was subtracted with.
    wcs : astropy.wcs.WCS
        The image's celestial WCS (refitted on the catalog when one is given).
    dates : list of float
        MJDs of the exposures in the image: the catalog's positions are moved to their mean.
    header : astropy.io.fits.Header
        The reference's provenance cards (what it was made from), added to in place.
    settings, catalog, band, colour_term
        As for :func:`build_reference`.

    Returns
    -------
    Reference

    Raises
    ------
    astrid.imaging.psf.PSFError
        With too few isolated, unsaturated stars to model the PSF.
    """
    stars = find_stars(data, variance, mask, threshold=settings.catalog_sigma, background_rms=background_rms)
    psf = empirical_psf(data, psf_stars(stars), size=settings.psf_size)
    fit, n_catalog, note = None, 0, ""
    if catalog is not None and not wcs.has_celestial:
        # Frames whose astrometry failed (ASTRNOTE says why): nothing places the catalog.
        note = f"{catalog.meta.get('SOURCE', 'the catalog')}: the reference has no celestial WCS"
        log.warning("reference without catalog calibration: %s", note)
    elif catalog is not None:
        source = catalog.meta.get("SOURCE", "the catalog")
        try:
            wcs, fit, n_catalog = calibrate_to_catalog(
                stars[stars["snr"] > settings.detect_sigma],
                wcs,
                at_epoch(catalog, Time(np.mean(dates), format="mjd")) if dates else catalog,
                band,
                data,
                psf,
                2.5 * psf_fwhm(psf),
                variance,
                colour_term,
            )
        except (AlignmentError, PhotometryError) as error:
            # The reference is still good for differencing: keep the header WCS and say why
            # magnitudes are instrumental.
            fit, note = None, f"{source}: {error}"
            log.warning("reference without catalog calibration: %s", note)
        if fit is None and not note:
            note = f"{source}: no mag_{band} column"
    if wcs.has_celestial:
        stars["ra"], stars["dec"] = wcs.all_pix2world(stars["x"], stars["y"], 0)
    else:
        stars["ra"] = stars["dec"] = np.full(len(stars), np.nan)
    header["FWHM"] = (psf_fwhm(psf), "[px] FWHM of the reference PSF")
    if fit:
        for key, value, comment in fit.header_cards():
            header[key] = (value, comment)
    else:
        header["ZP"] = ("nan", "magnitude of 1 e- (catalog)")
    if note:
        header["PHOTNOTE"] = (note, "why magnitudes are instrumental")
    header["NCATSTAR"] = (n_catalog, "catalog stars matched for WCS and zero point")
    header["BKGRMS"] = (background_rms, "[e-] background noise")
    log.info(
        "reference of FWHM %.2f px, zero point %s",
        psf_fwhm(psf),
        f"{fit.zeropoint:.3f} ± {fit.error:.3f} ({fit.n_stars} stars, scatter {fit.scatter:.3f})"
        if fit
        else "none",
    )
    zeropoint, error = (fit.zeropoint, fit.error) if fit else (np.nan, np.nan)
    return Reference(data, variance, mask, psf, wcs, stars, zeropoint, background_rms, header, error)


def write_reference(path: Path | str, reference: Reference, compression: Compression | None = None) -> None:
    """Write a reference: PRIMARY (provenance), SCI, VAR, MASK (with WCS), PSF, STARS.

    Parameters
    ----------
    path : pathlib.Path or str
        The product's path (written atomically).
    reference : Reference
        The reference to write.
    compression : Compression, optional
        How SCI, VAR and MASK are written (:func:`astrid.io.fitsio.image_hdu`).
    """
    primary = fits.PrimaryHDU(header=reference.header)
    for key, value, comment in maskbits.header_cards():
        primary.header[key] = (value, comment)
    wcs_header = reference.wcs.to_header(relax=True)
    hdus = [primary]
    for name, array in (("SCI", reference.data), ("VAR", reference.variance), ("MASK", reference.mask)):
        hdus.append(image_hdu(array, name, wcs_header, compression))
    hdus.append(fits.ImageHDU(reference.psf.astype(np.float32), name="PSF"))
    stars = fits.table_to_hdu(reference.stars)
    stars.name = "STARS"
    hdus.append(stars)
    write_atomic(fits.HDUList(hdus), path)


def read_reference(path: Path | str) -> Reference:
    """Read a reference written by :func:`write_reference`.

    Parameters
    ----------
    path : pathlib.Path or str
        The reference product.

    Returns
    -------
    Reference
        Its planes (float32 image and variance, uint16 mask), float64 PSF, WCS, sources,
        zero point (nan when the file records none) and primary header.
    """
    with fits.open(path) as hdul:
        zeropoint = hdul[0].header.get("ZP", "nan")
        return Reference(
            data=hdul["SCI"].data.astype(np.float32),
            variance=hdul["VAR"].data.astype(np.float32),
            mask=hdul["MASK"].data.astype(np.uint16),
            psf=hdul["PSF"].data.astype(np.float64),
            wcs=_wcs(hdul["SCI"].header),
            stars=Table(hdul["STARS"].data),
            zeropoint=float(zeropoint) if zeropoint != "nan" else np.nan,
            background_rms=float(hdul[0].header["BKGRMS"]),
            header=hdul[0].header.copy(),
            zeropoint_error=float(hdul[0].header.get("ZPERR", np.nan)),
        )


NO_REFERENCE = "NO_REFERENCE"


def write_missing_reference(path: Path | str, header: fits.Header, reason: str) -> None:
    """Record that no reference could be made; frames of this field and band are quarantined.

    Parameters
    ----------
    path : pathlib.Path or str
        The product's path (written atomically).
    header : astropy.io.fits.Header
        The primary header; ``REFOK``, ``QCODE`` (``NO_REFERENCE``) and ``QREASON`` are
        added to it in place.
    reason : str
        Why no reference could be made, in words.
    """
    header["REFOK"] = (False, "a usable reference exists")
    header["QCODE"] = (NO_REFERENCE, "reason code")
    header["QREASON"] = reason
    write_atomic(fits.HDUList([fits.PrimaryHDU(header=header)]), path)


def missing_reference(path: Path | str) -> tuple[str, str] | None:
    """(code, reason) when the file records a missing reference, else None.

    Parameters
    ----------
    path : pathlib.Path or str
        The reference product.

    Returns
    -------
    tuple of (str, str) or None
        ``QCODE`` and ``QREASON`` where ``REFOK`` is false; None where it is true or
        absent.
    """
    header = fits.getheader(path, 0)
    if header.get("REFOK", True):
        return None
    return header["QCODE"], header["QREASON"]
