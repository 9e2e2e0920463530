"""Cosmic-ray hits on an exposure."""

import numpy as np
from astropy.table import Table


def add_cosmic_rays(electrons: np.ndarray, rng: np.random.Generator, n_rays: int) -> Table:
    """Add ``n_rays`` cosmic-ray tracks in place; return their pixels as a table.

    Parameters
    ----------
    electrons : numpy.ndarray
        The frame's charge (electrons); changed in place.
    rng : numpy.random.Generator
        Draws each track: 1–8 pixels long, at a random angle, 400–4000 electrons per pixel.
    n_rays : int
        Number of tracks.

    Returns
    -------
    astropy.table.Table
        One row per hit pixel: ``x``, ``y`` (0-based) and ``electrons`` deposited.
    """
    ny, nx = electrons.shape
    xs, ys, deposits = [], [], []
    for _ in range(n_rays):
        length = rng.integers(1, 9)
        angle = rng.uniform(0, np.pi)
        x0, y0 = rng.uniform(0, nx), rng.uniform(0, ny)
        steps = np.arange(length)
        px = np.clip(np.round(x0 + steps * np.cos(angle)).astype(int), 0, nx - 1)
        py = np.clip(np.round(y0 + steps * np.sin(angle)).astype(int), 0, ny - 1)
        pix = np.unique(np.stack([py, px], axis=1), axis=0)
        energy = rng.uniform(400.0, 4000.0, len(pix))
        electrons[pix[:, 0], pix[:, 1]] += energy
        ys.extend(pix[:, 0])
        xs.extend(pix[:, 1])
        deposits.extend(energy)
    return Table({"x": np.array(xs, int), "y": np.array(ys, int), "electrons": np.array(deposits)})
