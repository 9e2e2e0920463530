"""Templates a site supplies: a survey image cut for a field, imported as its reference.

A supplied template is a plain image FITS with a celestial WCS and a filter keyword, dropped
into ``reference.templates_dir`` (``resources/templates``) under any name. Its image is the
HDU named ``SCI``, else the first 2-D image. Optional planes, as HDUs of the same file or as
files beside it:

* a weight (inverse variance): HDU ``WHT``, ``WEIGHT`` or ``IVAR``, or ``<name>.weight.fits``;
* a mask (non-zero = bad): HDU ``MASK``, ``DQ`` or ``BPM``, or ``<name>.mask.fits``.

Each template serves the fields whose pointing falls on it in its band (the ingest's
``band_map`` applies to its filter); :mod:`astrid.imaging.template_import` makes it a
reference.

A template already in AstrID's reference layout (``<field>_<band>.fits`` with PSF and STARS
HDUs, as ``build_reference`` writes) is used as it is.
"""

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from astropy.io import fits
from astropy.wcs import WCS, FITSFixedWarning

WEIGHT_HDUS = ("WHT", "WEIGHT", "IVAR")
MASK_HDUS = ("MASK", "DQ", "BPM")
SIDECARS = (".weight.fits", ".mask.fits")
FITS_SUFFIXES = (".fits", ".fit", ".fits.gz", ".fit.gz", ".fits.fz")


class TemplateError(Exception):
    """A supplied template cannot be read or imported; the message names the file."""


@dataclass(frozen=True)
class SuppliedTemplate:
    """A plain image in the templates folder: where it is, its band and its footprint."""

    path: str
    band: str
    wcs: WCS
    shape: tuple[int, int]

    def covers(self, ra: float, dec: float) -> bool:
        """Whether a sky position falls on the image.

        Parameters
        ----------
        ra, dec : float
            The position (degrees).

        Returns
        -------
        bool
        """
        x, y = self.wcs.all_world2pix(ra, dec, 0)
        return bool(-0.5 <= x < self.shape[1] - 0.5 and -0.5 <= y < self.shape[0] - 0.5)


def celestial_wcs(header: fits.Header) -> WCS:
    """The celestial part of a header's WCS (empty where it has none), without astropy's
    warnings about fixable keywords.

    Parameters
    ----------
    header : astropy.io.fits.Header

    Returns
    -------
    astropy.wcs.WCS
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        return WCS(header).celestial


def image_hdu_index(hdul: fits.HDUList) -> int | None:
    """The image HDU of a file: the one named SCI, else the first 2-D image.

    Parameters
    ----------
    hdul : astropy.io.fits.HDUList

    Returns
    -------
    int or None
        Its index, or None where the file holds no 2-D image.
    """
    names = [hdu.name for hdu in hdul]
    if "SCI" in names:
        return names.index("SCI")
    for index, hdu in enumerate(hdul):
        if hdu.is_image and hdu.header.get("NAXIS") == 2:
            return index
    return None


def image_footprint(path: Path | str) -> tuple[WCS, tuple[int, int]]:
    """The celestial WCS and shape of a file's image HDU (:func:`image_hdu_index`).

    Parameters
    ----------
    path : pathlib.Path or str
        A calibrated frame or a supplied template.

    Returns
    -------
    wcs : astropy.wcs.WCS
    shape : tuple of int
        (rows, columns).

    Raises
    ------
    TemplateError
        When the file holds no 2-D image.
    """
    with fits.open(path) as hdul:
        index = image_hdu_index(hdul)
        if index is None:
            raise TemplateError(f"{path}: no 2-D image HDU")
        header = hdul[index].header
        return celestial_wcs(header), (int(header["NAXIS2"]), int(header["NAXIS1"]))


def is_reference_product(path: Path | str) -> bool:
    """Whether a file is already in AstrID's reference layout.

    Parameters
    ----------
    path : pathlib.Path or str

    Returns
    -------
    bool
        True where it has SCI, VAR, MASK, PSF and STARS HDUs; False for any other file,
        readable or not.
    """
    try:
        with fits.open(path) as hdul:
            names = {hdu.name for hdu in hdul}
    except (OSError, ValueError):
        return False
    return {"SCI", "VAR", "MASK", "PSF", "STARS"} <= names


def supplied_templates(
    folder: Path | str | None, band_of: Callable[[fits.Header], str | None]
) -> tuple[list[SuppliedTemplate], list[str]]:
    """The plain image templates of a folder, sorted by name (the first that covers wins),
    and why each other FITS file there is not one.

    Files in AstrID's reference layout and sidecar planes are neither.

    Parameters
    ----------
    folder : path or None
        ``reference.templates_dir``; None or a missing folder gives no templates.
    band_of : callable
        Header → canonical band or None (:func:`astrid.io.names.frame_band`).

    Returns
    -------
    templates : list of SuppliedTemplate
    skipped : list of str
        "<file>: <reason>" for FITS files that cannot serve (unreadable, no 2-D image, no
        celestial WCS, no filter keyword).
    """
    if folder is None or not Path(folder).is_dir():
        return [], []
    templates, skipped = [], []
    for path in sorted(Path(folder).iterdir()):
        if not path.name.lower().endswith(FITS_SUFFIXES) or path.name.endswith(SIDECARS):
            continue
        if not path.is_file() or is_reference_product(path):
            continue
        try:
            with fits.open(path) as hdul:
                index = image_hdu_index(hdul)
                header = hdul[index].header.copy() if index is not None else None
                primary = hdul[0].header.copy()
        except (OSError, ValueError) as error:
            skipped.append(f"{path}: unreadable ({error})")
            continue
        if header is None:
            skipped.append(f"{path}: no 2-D image HDU")
            continue
        wcs = celestial_wcs(header)
        band = band_of(header) or band_of(primary)
        if not wcs.has_celestial:
            skipped.append(f"{path}: no celestial WCS in its image header")
        elif not band:
            skipped.append(f"{path}: no filter keyword to give its band")
        else:
            templates.append(SuppliedTemplate(str(path), band, wcs, (header["NAXIS2"], header["NAXIS1"])))
    return templates, skipped


def template_for(
    templates: Sequence[SuppliedTemplate], ra: float, dec: float, band: str
) -> SuppliedTemplate | None:
    """The first template of a band whose image covers a position.

    Parameters
    ----------
    templates : sequence of SuppliedTemplate
        From :func:`supplied_templates`.
    ra, dec : float
        The position (degrees): an exposure's pointing.
    band : str
        The exposure's band.

    Returns
    -------
    SuppliedTemplate or None
    """
    for template in templates:
        if template.band == band and template.covers(ra, dec):
            return template
    return None


def sidecar_paths(path: Path | str) -> list[str]:
    """The weight and mask files beside a template that exist.

    Parameters
    ----------
    path : pathlib.Path or str
        The template.

    Returns
    -------
    list of str
        ``<name>.weight.fits`` and ``<name>.mask.fits`` where present.
    """
    path = Path(path)
    stem = path.name.split(".fit")[0]
    return [str(p) for suffix in SIDECARS if (p := path.with_name(stem + suffix)).is_file()]
