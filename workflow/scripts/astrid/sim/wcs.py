"""The nominal WCS a telescope writes into its headers (a first guess, with the pointing
offsets and rotation of the real frame).
"""

import numpy as np
from astropy.wcs import WCS

# --------------------------------------------------------------------------- frames


def nominal_wcs(camera, ra, dec, crpix_shift=(0.0, 0.0), rotation_deg=0.0):
    """TAN WCS of the camera pointed at (ra, dec), optionally shifted and rotated."""
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [ra, dec]
    wcs.wcs.crpix = [camera.nx / 2 + 0.5 + crpix_shift[0], camera.ny / 2 + 0.5 + crpix_shift[1]]
    scale = camera.pixel_scale / 3600.0
    theta = np.radians(rotation_deg)
    wcs.wcs.cd = scale * np.array([[-np.cos(theta), np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    return wcs
