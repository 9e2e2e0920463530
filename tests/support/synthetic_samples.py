"""Small synthetic training samples (a point source on the difference plane is real; a hot
pixel or a dipole is bogus), so that a training takes seconds in a test."""

import numpy as np
from astropy.io import fits
from astropy.table import Table

from astrid.realbogus.training_set import write_samples


def synthetic_triplets(rng, n, real, blur=1.2):
    """n triplets of noise; real ones with a point source on science and difference,
    bogus ones with a hot pixel or a dipole on the difference."""
    cube = rng.normal(0, 1, (n, 3, 63, 63)).astype(np.float32)
    yy, xx = np.mgrid[:63, :63] - 31
    for i in range(n):
        amplitude = rng.uniform(4, 40)
        if real:
            blob = np.exp(-(xx**2 + yy**2) / (2 * blur**2)) * amplitude
            cube[i, 0] += blob
            cube[i, 2] += blob
        elif rng.random() < 0.5:
            cube[i, 2, 31, 31] += amplitude * 3
        else:
            blob = np.exp(-((xx - 2) ** 2 + yy**2) / 2.88) - np.exp(-((xx + 2) ** 2 + yy**2) / 2.88)
            cube[i, 2] += blob * amplitude
    return cube * rng.uniform(1, 100)  # a flux scale the model must not care about


def write_frame(path, exposure, rng, n_real=60, n_bogus=60, blur=1.2):
    real = synthetic_triplets(rng, n_real, True, blur)
    bogus = synthetic_triplets(rng, n_bogus, False)
    n = n_real + n_bogus
    labels = np.r_[np.ones(n_real, np.int8), np.zeros(n_bogus, np.int8)]
    table = Table(
        {
            "label": labels,
            "kind": np.where(labels == 1, "fake", "hot_pixel"),
            "snr": rng.uniform(5, 30, n),
            "elongation": rng.uniform(1, 1.3, n),
            "neg_frac": rng.uniform(0, 0.5, n),
            "dipole_min": rng.uniform(-3, 0, n),
        }
    )
    write_samples(
        path, table, np.concatenate([real, bogus]), fits.Header({"EXPOSURE": exposure, "NIGHT": exposure[:8]})
    )
    return path
