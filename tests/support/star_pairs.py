"""Star fields and their images for the subtraction's tests: Poisson noise on a sky, a
few saturated stars as in every real field (tests/unit/test_difference.py,
tests/unit/test_psf_regions.py)."""

import numpy as np
from astropy.table import Table

from astrid.io import maskbits
from astrid.sim.scene import render_scene

FULL_WELL = 150000.0


def render(size, sources, fwhm, rng, sky, scale=1.0):
    """Image (e-, background-subtracted), its variance and mask (saturated cores)."""
    return observed(render_scene((size, size), sources, fwhm, 3.5) * scale, sky, rng)


def star_field(size, rng, n_per_1024=600):
    """Stars of 500 to 300,000 e- and a few saturated ones, uniformly over the field."""
    n = int(n_per_1024 * (size / 1024) ** 2)
    table = {
        "x": rng.uniform(5, size - 5, n),
        "y": rng.uniform(5, size - 5, n),
        "flux_e": 10 ** rng.uniform(2.7, 5.5, n),
        "kind": np.array(["star"] * n),
    }
    bright = max(2, n // 300)  # a few saturated stars, as in every real field
    table["flux_e"][:bright] = 10 ** rng.uniform(6.5, 7.2, bright)
    return Table(table)


def observed(scene, sky, rng):
    """A noiseless scene observed: Poisson noise on ``sky``, sky subtracted; its variance
    and mask (saturated cores)."""
    expected = scene + sky
    image = rng.poisson(expected).astype(np.float32) - sky
    mask = np.where(expected > FULL_WELL, maskbits.SATURATED, 0).astype(np.uint16)
    return image, expected.astype(np.float32), mask
