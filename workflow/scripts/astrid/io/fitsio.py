"""Reading and writing AstrID's FITS products.

A calibrated product is one FITS file with three image extensions on the same pixel grid:
``SCI`` (electrons), ``VAR`` (variance, electrons²) and ``MASK`` (bits from
:mod:`astrid.maskbits`). Writes go to a temporary file that is renamed into place, so a
crash never leaves a half-written product behind.

Image extensions can be written tile-compressed (config ``products.compression``), still in
``.fits`` files that every FITS reader opens by the same extension names:

* ``lossless``: float images with GZIP_2 (byte shuffling), integer masks with RICE_1;
* ``quantised``: float images quantised in steps of σ/q (σ the noise the tile's pixels show,
  q = ``products.quantize_level``) with subtractive dithering that keeps zeros exact, then
  RICE_1: an error of σ/(q·√12) rms, 1.8 % of the noise at q = 16; masks stay lossless.
  The dither is seeded from each tile's checksum, so the same image gives the same bytes.
"""

import glob
import gzip
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.io.fits.hdu.compressed import _codecs as compression_codecs

from astrid.io import maskbits


@dataclass
class ImageProduct:
    """An image with its variance and mask planes and the primary header; for differencing,
    also its PSF and background noise.

    Attributes
    ----------
    data : numpy.ndarray
        The image (electrons).
    variance : numpy.ndarray
        Its variance (electrons²).
    mask : numpy.ndarray
        Mask bits (:mod:`astrid.io.maskbits`).
    header : astropy.io.fits.Header
        The product's primary header.
    psf : numpy.ndarray or None
        Centred PSF stamp (odd size), where measured.
    background_rms : float or None
        Background noise per pixel (electrons), where measured.
    """

    data: np.ndarray
    variance: np.ndarray
    mask: np.ndarray
    header: fits.Header = field(default_factory=fits.Header)
    psf: np.ndarray | None = None
    background_rms: float | None = None


@contextmanager
def atomic_output(path: Path | str) -> Iterator[Path]:
    """A temporary path beside ``path`` (same suffix), moved onto ``path`` when the block
    ends without error. A job killed midway leaves no half-written product: Snakemake may
    keep an output that is in place after a kill (README, "Reruns").

    Parameters
    ----------
    path : pathlib.Path or str
        The final file; its folder is created if needed.

    A temporary file of the same product left by a job killed earlier is removed first:
    only one job writes a product at a time (one run per folder, astrid.pipeline.runlock).

    Yields
    ------
    pathlib.Path
        The temporary file to write (``.<stem>.tmp<pid><suffix>`` in the same folder); it is
        removed if the block raises.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in path.parent.glob(f".{glob.escape(path.stem)}.tmp[0-9]*{glob.escape(path.suffix)}"):
        stale.unlink(missing_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{os.getpid()}{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_atomic(hdul: fits.HDUList, path: Path | str) -> None:
    """Write an HDUList to ``path`` through a temporary file in the same folder.

    Every HDU carries CHECKSUM and DATASUM cards, with a fixed comment instead of astropy's
    time stamp: the same content gives the same bytes, so the SHA-256 recorded downstream
    (provenance, training-set versions) does not change when a job is redone.

    Parameters
    ----------
    hdul : astropy.io.fits.HDUList
        The file's HDUs; their headers receive the checksum cards.
    path : pathlib.Path or str
        The file to write (replaced if it exists).
    """
    for hdu in hdul:
        hdu.add_checksum(when="HDU checksum (FITS checksum convention)")
    with atomic_output(path) as tmp, gzip_tiles_without_time_stamp():
        hdul.writeto(tmp, overwrite=True, checksum=False)


@contextmanager
def gzip_tiles_without_time_stamp() -> Iterator[None]:
    """Compress GZIP tiles with a zero time stamp while the block runs.

    astropy's GZIP_1/GZIP_2 codecs call ``gzip.compress`` with the current time, which lands
    in every tile's gzip header: the same image written a second later had other bytes.
    Lossless products are GZIP_2, and a quantised product stores its tiles that cannot be
    quantised (a constant variance, an all-zero rim) with GZIP too.

    Yields
    ------
    None
    """
    stamped = compression_codecs.gzip_compress
    compression_codecs.gzip_compress = partial(gzip.compress, mtime=0)
    try:
        yield
    finally:
        compression_codecs.gzip_compress = stamped


def exposure_header(hdul: fits.HDUList, index: int) -> fits.Header:
    """The keywords of one image HDU: the primary header's (date, filter, object of the
    whole exposure) with the extension's own on top.

    Parameters
    ----------
    hdul : astropy.io.fits.HDUList
        The open file.
    index : int
        The HDU.

    Returns
    -------
    astropy.io.fits.Header
        A copy; the primary header alone when ``index`` is 0.
    """
    header = hdul[index].header.copy()
    if index == 0:
        return header
    merged = hdul[0].header.copy()
    merged.update({k: v for k, v in header.items() if k not in ("", "COMMENT", "HISTORY")})
    return merged


COMPRESSIONS = ("none", "lossless", "quantised")


@dataclass(frozen=True)
class Compression:
    """How image extensions are written (config ``products``)."""

    compression: str = "none"  # one of COMPRESSIONS
    quantize_level: float = 16.0  # q: quantisation steps of σ/q ("quantised")

    def __post_init__(self):
        if self.compression not in COMPRESSIONS:
            raise ValueError(
                f"products.compression {self.compression!r} is not one of {', '.join(COMPRESSIONS)}"
            )
        if self.quantize_level <= 0:
            raise ValueError(f"products.quantize_level must be positive, not {self.quantize_level}")


def image_hdu(
    array: np.ndarray, name: str, header: fits.Header | None = None, compression: Compression | None = None
) -> fits.ImageHDU | fits.CompImageHDU:
    """An image extension, tile-compressed as ``compression`` says (module description).

    Parameters
    ----------
    array : numpy.ndarray
        The image; integer images (masks) are always compressed losslessly.
    name : str
        Its ``EXTNAME``.
    header : astropy.io.fits.Header, optional
        Cards of the extension (WCS, units).
    compression : Compression, optional
        None or ``none``: a plain image extension.

    Returns
    -------
    astropy.io.fits.ImageHDU or astropy.io.fits.CompImageHDU
    """
    header = fits.Header() if header is None else header.copy()
    mode = "none" if compression is None else compression.compression
    if mode == "none":
        return fits.ImageHDU(array, header=header, name=name)
    if np.issubdtype(array.dtype, np.integer):
        return fits.CompImageHDU(array, header=header, name=name, compression_type="RICE_1")
    if mode == "lossless":
        return fits.CompImageHDU(
            array, header=header, name=name, compression_type="GZIP_2", quantize_level=0.0
        )
    return fits.CompImageHDU(
        array,
        header=header,
        name=name,
        compression_type="RICE_1",
        quantize_level=compression.quantize_level,
        quantize_method=2,  # SUBTRACTIVE_DITHER_2: zeros stay exactly zero
        dither_seed=-1,  # seeded from each tile's checksum: reproducible bytes
    )


def write_image_product(
    path: Path | str,
    product: ImageProduct,
    wcs_header: fits.Header | None = None,
    extra: Iterable[fits.ImageHDU | fits.BinTableHDU] = (),
    compression: Compression | None = None,
) -> None:
    """Write an :class:`ImageProduct` as PRIMARY + SCI + VAR + MASK (+ ``extra``) extensions.

    Parameters
    ----------
    path : pathlib.Path or str
        The product's file, written atomically (:func:`write_atomic`).
    product : ImageProduct
        Data and variance are written as float32 (electrons, electrons²), the mask as
        uint16; the header becomes the primary header, with the mask-bit cards added.
    wcs_header : astropy.io.fits.Header, optional
        WCS cards copied into each image extension's header.
    extra : iterable of astropy.io.fits HDUs
        Further extensions appended after MASK (e.g. a ``PSF`` image).
    compression : Compression, optional
        How SCI, VAR and MASK are written (:func:`image_hdu`); plain when None.
    """
    primary = fits.PrimaryHDU(header=product.header)
    for key, value, comment in maskbits.header_cards():
        primary.header[key] = (value, comment)
    image_header = fits.Header()
    if wcs_header is not None:
        image_header.update(wcs_header)
    sci = image_hdu(product.data.astype(np.float32), "SCI", image_header, compression)
    sci.header["BUNIT"] = "electron"
    var = image_hdu(product.variance.astype(np.float32), "VAR", image_header, compression)
    var.header["BUNIT"] = "electron2"
    mask = image_hdu(product.mask.astype(np.uint16), "MASK", image_header, compression)
    write_atomic(fits.HDUList([primary, sci, var, mask, *extra]), path)


def read_image_product(path: str | os.PathLike) -> ImageProduct:
    """Read a product written by :func:`write_image_product` (with its ``PSF`` extension,
    where it has one: aligned frames do).

    Parameters
    ----------
    path : str or os.PathLike
        The product's file.

    Returns
    -------
    ImageProduct
        Data and variance as float32, the mask as uint16, a copy of the primary header and
        the PSF stamp (or None); ``background_rms`` is not stored, so it is None.
    """
    with fits.open(path) as hdul:
        return ImageProduct(
            data=hdul["SCI"].data.astype(np.float32),
            variance=hdul["VAR"].data.astype(np.float32),
            mask=hdul["MASK"].data.astype(np.uint16),
            header=hdul[0].header.copy(),
            psf=hdul["PSF"].data if "PSF" in hdul else None,
        )
