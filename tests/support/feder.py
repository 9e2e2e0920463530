"""The Feder Observatory frames of ../shared/data/real as a site without a catalog of its
field would use them for blind astrometry: one solved frame's stars become the site's
astrometry.net index, other frames lose their WCS (tests/unit/test_blind_astrometry.py,
tests/real/test_real_nights.py)."""

import numpy as np
from astropy.io import fits
from astropy.table import Table
from wcs_headers import frame_wcs
from workflow_runs import SHARED

from astrid.astrometry.blind import build_index, frame_stars

FEDER = SHARED / "data" / "real" / "raw" / "feder_apogee_reducer_mini"
ACTIVE_COLUMNS = 1536  # the overscan starts here


def index_from_solved_frame(frame, folder):
    """The site's index of SA112 (quads of 4′ to 11′), built from the stars of one frame
    placed on the sky by its own WCS: no catalog of the field ships in ../shared."""
    header = fits.getheader(frame)
    data = fits.getdata(frame).astype(np.float32)[:, :ACTIVE_COLUMNS]
    stars = frame_stars(data, np.zeros(data.shape, np.uint16))
    ra, dec = frame_wcs(header).all_pix2world(stars["x"], stars["y"], 0)
    magnitudes = -2.5 * np.log10(np.asarray(stars["flux"]))
    return build_index(Table({"ra": ra, "dec": dec, "mag_R": magnitudes}), "R", folder, scales=(2, 3, 4))
