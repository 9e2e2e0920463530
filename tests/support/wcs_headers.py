"""Headers as cameras write them: the celestial WCS of a header, and a header without one
(a camera that writes none, or a site that strips a wrong one)."""

import warnings

from astropy.wcs import WCS


def frame_wcs(header):
    """The celestial WCS of a header, FITS fixes unspoken."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return WCS(header).celestial


def without_wcs(header):
    """A copy of a header with every WCS keyword removed (its dates kept)."""
    header = header.copy()
    for key in [k for k in frame_wcs(header).to_header(relax=True) if not k.startswith(("DATE", "MJD"))]:
        header.remove(key, ignore_missing=True, remove_all=True)
    return header
