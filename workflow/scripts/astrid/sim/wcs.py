"""The nominal WCS a telescope writes into its headers (a first guess, with the pointing
offsets and rotation of the real frame).
"""

from typing import TYPE_CHECKING

import numpy as np
from astropy.wcs import WCS

if TYPE_CHECKING:
    from astrid.sim.camera import Camera


def nominal_wcs(
    camera: "Camera",
    ra: float,
    dec: float,
    crpix_shift: tuple[float, float] | np.ndarray = (0.0, 0.0),
    rotation_deg: float = 0.0,
) -> WCS:
    """TAN WCS of the camera pointed at (ra, dec), optionally shifted and rotated.

    Parameters
    ----------
    camera : Camera
        The detector (size and pixel scale are used).
    ra, dec : float
        The pointing (degrees), at the frame's centre before the shift.
    crpix_shift : (float, float) or numpy.ndarray
        Shift of the reference pixel (x, y), in pixels.
    rotation_deg : float
        Rotation of the frame on the sky (degrees).

    Returns
    -------
    astropy.wcs.WCS
        A celestial TAN WCS with a CD matrix, north up and east left when not rotated.
    """
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [ra, dec]
    wcs.wcs.crpix = [camera.nx / 2 + 0.5 + crpix_shift[0], camera.ny / 2 + 0.5 + crpix_shift[1]]
    scale = camera.pixel_scale / 3600.0
    theta = np.radians(rotation_deg)
    wcs.wcs.cd = scale * np.array([[-np.cos(theta), np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    return wcs
