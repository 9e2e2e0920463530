"""Frames already reduced by an observatory pipeline — LCO BANZAI, the DECam community
pipeline, ZTF, JWST's i2d mosaics — imported as AstrID calibrated products instead of being
calibrated from raw: no bias, dark or flat.

Each site says where its frames keep what (config ``reduced.*``, :class:`ReducedSettings`):
the science HDU, and where present a variance, inverse-variance or error HDU and a mask
(data-quality) HDU whose bits map onto AstrID's (:mod:`astrid.io.maskbits`). Units: the
image is turned into electrons with the gain (``reduced.gain``, else the frame's ``GAIN``
when its ``BUNIT`` is a count of ADU or electrons); an image in flux units (MJy/sr,
nanomaggies, Jy…) with no gain configured stays in its own units, called electrons with a
gain of 1.

A frame without a variance plane gets one estimated from the image itself and flagged in
its header (``VAREST``): the background's variance from robust box statistics of the sky,
plus each pixel's own Poisson noise above the sky (its electrons) when the gain is known —
not for flux units, where counts are unknown. ``SKYPULL`` in the product then measures how
right that estimate is on the sky.
"""

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS

from astrid.calibrate.raw import CalibrationError
from astrid.calibrate.science import science_header, sky_statistics
from astrid.imaging.sources import background, noise_rms
from astrid.io import maskbits
from astrid.io.fitsio import ImageProduct

# BUNIT values (lower case, spaces removed) that count electrons or ADU.
COUNT_UNITS = {"electron", "electrons", "e-", "e", "adu", "count", "counts", "dn"}
ELECTRON_UNITS = {"electron", "electrons", "e-", "e"}
MASK_NAMES = {
    "BAD": maskbits.BAD,
    "HOT": maskbits.HOT,
    "SATURATED": maskbits.SATURATED,
    "COSMIC_RAY": maskbits.COSMIC_RAY,
    "NONFINITE": maskbits.NONFINITE,
    "NO_DATA": maskbits.NO_DATA,
}


@dataclass(frozen=True)
class ReducedSettings:
    """Where a site's reduced frames keep what; each has a ``reduced.*`` config key.

    Attributes
    ----------
    science_hdu : str or int or None
        EXTNAME or index of the image; None: the first HDU with image data.
    variance_hdu, inverse_variance_hdu, error_hdu : str or int or None
        Where the frame keeps its variance, inverse variance or standard deviation (in the
        image's units); at most one is used, in that order. None: estimated from the image.
    mask_hdu : str or int or None
        The data-quality plane.
    mask_bits : mapping of str to list of int
        AstrID mask name (BAD, HOT, SATURATED, COSMIC_RAY, NONFINITE, NO_DATA) → the bit
        values of the frame's mask plane that mean it; any other bit set counts as BAD.
    gain : float or None
        Electrons per image unit; None: the frame's GAIN keyword for ADU images, 1 for
        images in electrons or in flux units.
    """

    science_hdu: str | int | None = None
    variance_hdu: str | int | None = None
    inverse_variance_hdu: str | int | None = None
    error_hdu: str | int | None = None
    mask_hdu: str | int | None = None
    mask_bits: Mapping = field(default_factory=dict)
    gain: float | None = None


def science_hdu(hdul: fits.HDUList, where: str | int | None) -> fits.ImageHDU | fits.PrimaryHDU:
    """The HDU holding a reduced frame's image.

    Parameters
    ----------
    hdul : astropy.io.fits.HDUList
    where : str or int or None
        EXTNAME or index; None: the first HDU with 2-D image data.

    Returns
    -------
    astropy.io.fits.ImageHDU or astropy.io.fits.PrimaryHDU

    Raises
    ------
    KeyError
        When the file has no such HDU, or none with an image.
    """
    if where is None:
        for hdu in hdul:
            if hdu.is_image and hdu.data is not None and hdu.data.ndim == 2:
                return hdu
        raise KeyError("no HDU with a 2-D image")
    try:
        return hdul[where]
    except (KeyError, IndexError):
        raise KeyError(f"no HDU {where!r}") from None


def gain_of(header: fits.Header, configured: float | None) -> tuple[float, bool]:
    """(electrons per image unit, whether pixel values count detected charges).

    Parameters
    ----------
    header : astropy.io.fits.Header
        The science HDU's header merged over the primary's (``BUNIT``, ``GAIN``).
    configured : float or None
        ``reduced.gain``.

    Returns
    -------
    (float, bool)
        The gain, and True when the Poisson noise of the sources can be computed from the
        pixels (a gain configured, or an image in ADU with a GAIN, or in electrons).
    """
    unit = str(header.get("BUNIT", "")).strip().lower().replace(" ", "")
    if configured:
        return float(configured), True
    if unit in ELECTRON_UNITS:
        return 1.0, True
    if (unit in COUNT_UNITS or not unit) and header.get("GAIN"):
        return float(header["GAIN"]), True
    return 1.0, False


def import_reduced(path: str, settings: ReducedSettings) -> tuple[ImageProduct, fits.Header, dict]:
    """Read a reduced frame as an AstrID calibrated product.

    Parameters
    ----------
    path : str
        The frame.
    settings : ReducedSettings

    Returns
    -------
    (ImageProduct, astropy.io.fits.Header, dict)
        The frame in electrons with its variance and mask (header empty), its WCS header,
        and facts for its header: ``gain``, ``variance`` (where it came from), plus the
        QA statistics of :func:`~astrid.calibrate.science.sky_statistics`.

    Raises
    ------
    CalibrationError
        When an HDU named in the settings is missing or of another shape.
    """
    with fits.open(path, memmap=False) as hdul:
        try:
            sci = science_hdu(hdul, settings.science_hdu)
        except KeyError as error:
            raise CalibrationError(f"{path}: {error.args[0]} (reduced.science_hdu)") from None
        header = fits.Header(hdul[0].header)
        header.update({k: v for k, v in sci.header.items() if k not in ("", "COMMENT", "HISTORY")})
        data = np.asarray(sci.data, dtype=np.float64)

        def plane(where, key):
            if where is None:
                return None
            try:
                values = np.asarray(hdul[where].data, dtype=np.float64)
            except (KeyError, IndexError):
                raise CalibrationError(f"{path}: no HDU {where!r} (reduced.{key})") from None
            if values.shape != data.shape:
                raise CalibrationError(f"{path}: HDU {where!r} is {values.shape}, the image {data.shape}")
            return values

        variance = plane(settings.variance_hdu, "variance_hdu")
        inverse = plane(settings.inverse_variance_hdu, "inverse_variance_hdu")
        error = plane(settings.error_hdu, "error_hdu")
        quality = plane(settings.mask_hdu, "mask_hdu")
    gain, counts = gain_of(header, settings.gain)
    mask = np.zeros(data.shape, np.uint16)
    nonfinite = ~np.isfinite(data)
    mask[nonfinite] |= maskbits.NONFINITE
    if quality is not None:
        bits = np.nan_to_num(quality).astype(np.int64)
        mapped = 0
        for name, values in settings.mask_bits.items():
            for value in values:
                mask[(bits & int(value)) != 0] |= MASK_NAMES[name.upper()]
                mapped |= int(value)
        mask[(bits & ~mapped) != 0] |= maskbits.BAD
    saturate = header.get("SATURATE")
    if saturate:
        mask[np.nan_to_num(data) >= float(saturate)] |= maskbits.SATURATED
    electrons = np.where(nonfinite, 0.0, data) * gain
    if variance is not None:
        var, source = variance * gain**2, "the frame's variance plane"
    elif inverse is not None:
        with np.errstate(divide="ignore"):
            var, source = (
                np.where(inverse > 0, 1.0 / inverse, np.inf) * gain**2,
                "the frame's inverse variance",
            )
    elif error is not None:
        var, source = (error * gain) ** 2, "the frame's error plane"
    else:
        sky, _ = background(electrons.astype(np.float32), mask != 0)
        rms = noise_rms((electrons - sky).astype(np.float32), mask != 0)
        var = np.full(data.shape, rms**2)
        source = "estimated: background rms^2"
        if counts:
            var = var + np.maximum(electrons - sky, 0.0)
            source += " + source electrons"
    bad_variance = ~np.isfinite(var) | (var <= 0)
    mask[bad_variance & (mask == 0)] |= maskbits.BAD
    var = np.where(bad_variance, np.inf, var)
    stats = sky_statistics(electrons, var, mask)
    stats["n_cosmic_pixels"] = int(((mask & maskbits.COSMIC_RAY) != 0).sum())
    stats["masked_fraction"] = float((mask != 0).mean())
    stats["n_saturated_pixels"] = int(((mask & maskbits.SATURATED) != 0).sum())
    wcs_header = fits.Header()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            wcs = WCS(header)
            if wcs.has_celestial:
                wcs_header = wcs.celestial.to_header(relax=True)
        except Exception:  # noqa: BLE001 - a broken WCS is found again (NO_MATCH) at alignment
            pass
    product = ImageProduct(electrons.astype(np.float32), var.astype(np.float32), mask, fits.Header())
    return product, wcs_header, {"gain": gain, "variance": source, "stats": stats}


def reduced_header(row: Mapping, facts: Mapping) -> fits.Header:
    """Primary header of an imported reduced frame: what :func:`science_header` writes for a
    calibrated one, with the gain applied and where the variance came from.

    Parameters
    ----------
    row : mapping
        The frame's manifest row.
    facts : mapping
        What :func:`import_reduced` returned besides the product.

    Returns
    -------
    astropy.io.fits.Header
    """
    header = science_header({**row, "gain": facts["gain"]}, facts["stats"])
    header["REDUCED"] = (True, "imported as reduced by an observatory pipeline")
    header["VAREST"] = (facts["variance"], "where the VAR plane comes from")
    return header
