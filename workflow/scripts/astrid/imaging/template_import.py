"""A supplied template (:mod:`astrid.imaging.templates`) imported as a field's reference.

Its units need not be electrons: alignment measures the flux ratio of each frame to its
reference. The variance is the weight's inverse, rescaled so that the sky's matches the
measured background noise (survey weights are often relative); without a weight it is the
background noise squared, plus the source's Poisson term where the header has a ``GAIN``.
Masked, non-finite and zero-weight pixels are flagged, and pixels at the header's
``SATURATE`` level too. The reference's PSF, sources, WCS refit and zero point then come as
for a coadd (:func:`astrid.imaging.reference.finish_reference`).
"""

from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.table import Table
from astropy.time import Time

from astrid.imaging.reference import Reference, ReferenceSettings, finish_reference
from astrid.imaging.sources import background
from astrid.imaging.templates import MASK_HDUS, WEIGHT_HDUS, TemplateError, celestial_wcs, image_hdu_index
from astrid.io import maskbits


def _plane(hdul, names, sidecar, label):
    for name in names:
        if name in hdul:
            return np.asarray(hdul[name].data, dtype=np.float64), name
    if sidecar.is_file():
        with fits.open(sidecar) as side:
            index = image_hdu_index(side)
            if index is None:
                raise TemplateError(f"{sidecar}: no 2-D image for the {label}")
            return np.asarray(side[index].data, dtype=np.float64), sidecar.name
    return None, None


def _observation_mjd(header: fits.Header) -> float | None:
    mjd = header.get("MJD-OBS", header.get("MJD-AVG"))
    if isinstance(mjd, int | float) and np.isfinite(mjd):
        return float(mjd)
    date = header.get("DATE-OBS") or header.get("DATE-BEG")
    try:
        return float(Time(str(date).strip(), scale="utc").mjd) if date else None
    except ValueError:
        return None


def import_template(
    path: Path | str,
    settings: ReferenceSettings,
    catalog: Table | None = None,
    band: str | None = None,
    colour_term: float | str | None = "fit",
) -> Reference:
    """A supplied image, with its optional weight and mask, as a reference.

    Parameters
    ----------
    path : pathlib.Path or str
        The template (see the module's description of what it may hold).
    settings : ReferenceSettings
        ``catalog_sigma``, ``psf_size`` and ``detect_sigma`` are used.
    catalog, band, colour_term
        As for :func:`astrid.imaging.reference.build_reference`.

    Returns
    -------
    Reference
        On the template's own grid and WCS (refitted on the catalog when given).

    Raises
    ------
    TemplateError
        A file without a 2-D image or celestial WCS, planes of another shape than the
        image, or an image with no valid pixel; the message names the file.
    astrid.imaging.psf.PSFError
        With too few isolated, unsaturated stars on the template to model its PSF.
    """
    path = Path(path)
    stem = path.name.split(".fit")[0]
    with fits.open(path) as hdul:
        index = image_hdu_index(hdul)
        if index is None:
            raise TemplateError(f"{path}: no 2-D image HDU")
        header = hdul[0].header.copy()
        header.update(hdul[index].header, unique=True)
        data = np.asarray(hdul[index].data, dtype=np.float64)
        weight, weight_from = _plane(hdul, WEIGHT_HDUS, path.with_name(stem + ".weight.fits"), "weight")
        flags, mask_from = _plane(hdul, MASK_HDUS, path.with_name(stem + ".mask.fits"), "mask")
    wcs = celestial_wcs(hdul[index].header)
    if not wcs.has_celestial:
        raise TemplateError(f"{path}: no celestial WCS in its image header")
    for plane, source in ((weight, weight_from), (flags, mask_from)):
        if plane is not None and plane.shape != data.shape:
            raise TemplateError(f"{path}: {source} is {plane.shape}, the image {data.shape}")
    mask = np.zeros(data.shape, np.uint16)
    mask[~np.isfinite(data)] |= maskbits.NONFINITE
    if weight is not None:
        mask[~(np.isfinite(weight) & (weight > 0))] |= maskbits.NO_DATA
    if flags is not None:
        mask[flags != 0] |= maskbits.BAD
    saturate = header.get("SATURATE")
    if isinstance(saturate, int | float) and saturate > 0:
        mask[np.isfinite(data) & (data >= saturate)] |= maskbits.SATURATED
    if (mask == 0).sum() < 0.01 * data.size:
        raise TemplateError(f"{path}: fewer than 1% of its pixels are valid")
    sky, rms = background(np.where(mask == 0, data, 0.0), mask != 0)
    image = np.where(mask == 0, data - sky, 0.0)
    if weight is not None:
        variance = 1.0 / np.where(mask == 0, weight, 1.0)
        background_pixels = (mask == 0) & (np.abs(image) < 3 * rms)
        scale = rms**2 / float(np.median(variance[background_pixels]))
        variance *= scale
        header["WGTSCALE"] = (scale, "weight's variance scaled to the sky's noise by")
    else:
        variance = np.full(data.shape, rms**2)
        gain = header.get("GAIN")
        if isinstance(gain, int | float) and gain > 0:
            variance += np.clip(image, 0, None) / gain
    variance = np.where(mask == 0, variance, np.inf)
    provenance = fits.Header()
    provenance["TEMPLATE"] = (path.name, "supplied template imported")
    for key in ("BUNIT", "TELESCOP", "INSTRUME", "NCOMBINE", "EXPTIME"):
        if key in header:
            provenance[key] = header[key]
    provenance["TMPLWGT"] = (weight_from or "none", "weight plane (none: the sky's noise)")
    provenance["TMPLMASK"] = (mask_from or "none", "mask plane")
    if "WGTSCALE" in header:
        provenance["WGTSCALE"] = (header["WGTSCALE"], header.comments["WGTSCALE"])
    mjd = _observation_mjd(header)
    return finish_reference(
        image.astype(np.float32),
        variance.astype(np.float32),
        mask,
        rms,
        wcs,
        [mjd] if mjd is not None else [],
        provenance,
        settings,
        catalog,
        band,
        colour_term,
    )
