"""Domain-randomised cutout triplets: what the starter real/bogus model learns from.

A site's first nights have no model trained on its own camera, and a model that learnt one
simulated camera mistakes another camera's sharp sources for artefacts. The starter model
therefore learns from triplets (science, reference, difference) simulated directly at the
cutout's size, each with its own camera, sky and subtraction drawn from the range real
surveys have:

* **seeing and sampling**: Moffat (β 1.8–6) or Gaussian PSFs of FWHM 1.5–8 px
  (log-uniform), ellipticity up to 0.3; the reference's PSF 0.55–1.15 times as wide;
* **noise**: sky 10–5000 e⁻ and read noise 2–15 e⁻ a pixel, Poisson noise of the sources,
  a reference 1–25 times deeper whose noise is mostly correlated (coadded and resampled)
  and smoothed again by the matching kernel in the difference;
* **scene**: 0–20 field stars a stamp, a host galaxy for some, now and then a large one,
  saturation with bleed trails or masked (blank) cores;
* **subtraction**: every difference carries small random errors of registration (0.05 px),
  PSF width (2 %) and flux scale (1 %), as real ones do, and half of them a smooth
  background error (a gradient, a broad residual off the centre);
* **conventions**: flux scale and zero point (any; the planes are normalised), blank (NaN)
  edges and stamps smaller than the cutout (chip edges, survey stamps of 30×30 padded).

Real kinds (label 1): ``new_source`` (a point source where the reference has none),
``on_galaxy`` (on or beside a galaxy's core), ``variable_brighter`` and
``variable_fainter`` (a star of the reference whose flux changed: a positive or a negative
difference), S/N 5–200 in the difference (log-uniform).

Bogus kinds (label 0), each at the centre: ``dipole`` (misregistration by 0.2–1.5 px),
``psf_mismatch`` (a matching kernel 8–35 % too wide or narrow), ``flux_scale`` (a flux
scale 3–25 % off, seen on the field's other stars too), ``saturated_star`` (a clipped core
with bleed trails, or the core masked), ``cosmic_ray``, ``hot_pixel``, ``bad_column``,
``satellite_trail``, ``ghost`` (a broad halo or ring), ``cold_spot`` (a dark hole in the
science image: dead pixels, an over-subtracted artefact) and ``noise`` (nothing at all). Noise fluctuations at the detection threshold
are left out on purpose: on average they have the PSF's shape, so as bogus samples they
would only teach the starter to doubt every faint transient; the site's own model learns
its camera's rate of them from its injections.

The ranges are physical priors of optical cameras; none was fitted to a survey's alerts.
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from astrid.sim.scene import moffat_alpha

SIZE = 63  # the cutout side of AstrID and of ZTF
MARGIN = 10  # rendered beyond the cutout so that smoothing and trails have no edge
REAL_KINDS = ("new_source", "on_galaxy", "variable_brighter", "variable_fainter")
BOGUS_KINDS = (
    "dipole",
    "psf_mismatch",
    "flux_scale",
    "saturated_star",
    "cosmic_ray",
    "hot_pixel",
    "bad_column",
    "satellite_trail",
    "ghost",
    "cold_spot",
    "noise",
)


@dataclass(frozen=True)
class Psf:
    """An elliptical Moffat (``beta`` finite) or Gaussian (``beta`` None) profile."""

    fwhm: float
    beta: float | None
    ellipticity: float
    angle: float  # radians

    def widened(self, factor: float) -> "Psf":
        """The same shape, ``factor`` times as wide.

        Parameters
        ----------
        factor : float
            Ratio of the new FWHM to this one.

        Returns
        -------
        Psf
            The wider (or narrower) profile.
        """
        return Psf(self.fwhm * factor, self.beta, self.ellipticity, self.angle)


def profile(shape: tuple[int, int], x: float, y: float, psf: Psf) -> np.ndarray:
    """Unit-flux image of ``psf`` centred at (x, y), sampled at pixel centres.

    Parameters
    ----------
    shape : (int, int)
        Image shape (ny, nx).
    x, y : float
        Centre (pixels, 0-based).
    psf : Psf
        The profile.

    Returns
    -------
    numpy.ndarray
        float64 image whose sum over an infinite grid is 1.
    """
    yy, xx = np.indices(shape, dtype=float)
    dx, dy = xx - x, yy - y
    cos, sin = np.cos(psf.angle), np.sin(psf.angle)
    u, v = cos * dx + sin * dy, -sin * dx + cos * dy
    q = 1.0 - psf.ellipticity  # axis ratio; the area of the profile is kept
    if psf.beta is None:
        sigma = psf.fwhm / 2.3548
        sx, sy = sigma / np.sqrt(q), sigma * np.sqrt(q)
        return np.exp(-0.5 * ((u / sx) ** 2 + (v / sy) ** 2)) / (2 * np.pi * sx * sy)
    alpha = moffat_alpha(psf.fwhm, psf.beta)
    ax, ay = alpha / np.sqrt(q), alpha * np.sqrt(q)
    norm = (psf.beta - 1) / (np.pi * ax * ay)
    return norm * (1 + (u / ax) ** 2 + (v / ay) ** 2) ** (-psf.beta)


def noise_equivalent_area(psf: Psf) -> float:
    """Pixels over which a point source's optimal S/N is spread: 4πσ² of a Gaussian of the
    same FWHM (close enough for Moffats to set S/N to within some ten per cent).

    Parameters
    ----------
    psf : Psf
        The profile.

    Returns
    -------
    float
        The area (pixels): a source of flux F on sky noise σ a pixel has S/N F / (σ √area).
    """
    return 4 * np.pi * (psf.fwhm / 2.3548) ** 2


@dataclass(frozen=True)
class _Source:
    x: float
    y: float
    flux: float  # in the science image's electrons, as the reference sees it
    galaxy_fwhm: float = 0.0  # intrinsic FWHM of a galaxy, 0 for a star
    galaxy_shape: tuple[float, float] = (0.0, 0.0)  # ellipticity, angle


def _render(shape, sources, psf, shift=(0.0, 0.0)):
    image = np.zeros(shape)
    for s in sources:
        if s.galaxy_fwhm > 0:
            # A galaxy seen through a PSF: an exponential-like wide profile whose width adds
            # the PSF's in quadrature.
            seen = Psf(np.hypot(s.galaxy_fwhm, psf.fwhm), 2.0, *s.galaxy_shape)
        else:
            seen = psf
        image += s.flux * profile(shape, s.x + shift[0], s.y + shift[1], seen)
    return image


def _log_uniform(rng, low, high):
    return float(np.exp(rng.uniform(np.log(low), np.log(high))))


def random_psf(rng: np.random.Generator) -> Psf:
    """A science PSF from the range of real cameras: FWHM 1.5–8 px (log-uniform), a Gaussian
    one time in four, else a Moffat of β 1.8–6, ellipticity up to 0.3.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of the draws.

    Returns
    -------
    Psf
        The profile.
    """
    beta = None if rng.random() < 0.25 else rng.uniform(1.8, 6.0)
    return Psf(
        _log_uniform(rng, 1.5, 8.0), beta, rng.uniform(0, 0.3) ** 1.5 / 0.3**0.5, rng.uniform(0, np.pi)
    )


def _streak(shape, x, y, angle, width, length):
    """Unit-peak linear streak through (x, y) of Gaussian cross-section ``width`` (FWHM)."""
    yy, xx = np.indices(shape, dtype=float)
    along = (xx - x) * np.cos(angle) + (yy - y) * np.sin(angle)
    across = -(xx - x) * np.sin(angle) + (yy - y) * np.cos(angle)
    sigma = max(width, 0.6) / 2.3548
    return np.exp(-0.5 * (across / sigma) ** 2) * (np.abs(along) <= length / 2)


@dataclass
class _Stamp:
    """One triplet being built: the scene as the reference sees it, what changed in the
    science image, and the subtraction's errors."""

    rng: np.random.Generator
    shape: tuple[int, int]
    centre: float
    psf: Psf
    sigma_sky: float  # science noise per pixel in empty sky (electrons)
    scene: list
    science_only: list  # point sources present in the science image alone (flux may be < 0)
    artefact: np.ndarray  # added to the science image after the optics (cosmic rays …)
    shift: tuple[float, float] = (0.0, 0.0)  # registration error of the matched reference
    width_error: float = 1.0
    scale_error: float = 1.0
    saturation: float = np.inf
    mask_saturated: bool = False  # saturated pixels blanked (NaN) rather than bled

    def snr_flux(self, snr: float) -> float:
        """Flux (electrons) of a point source of optimal S/N ``snr`` on the sky's noise."""
        return snr * self.sigma_sky * np.sqrt(noise_equivalent_area(self.psf))

    def jittered_centre(self) -> tuple[float, float]:
        """Where the detection sits: the stamp's centre pixel, to within half a pixel."""
        return self.centre + self.rng.uniform(-0.5, 0.5), self.centre + self.rng.uniform(-0.5, 0.5)

    def central_star(self, snr_low: float, snr_high: float) -> _Source:
        x, y = self.jittered_centre()
        star = _Source(x, y, self.snr_flux(_log_uniform(self.rng, snr_low, snr_high)))
        self.scene.append(star)
        return star


def _kind_new_source(stamp):
    x, y = stamp.jittered_centre()
    stamp.science_only.append(_Source(x, y, stamp.snr_flux(_log_uniform(stamp.rng, 5, 200))))


def _kind_on_galaxy(stamp):
    rng = stamp.rng
    x, y = stamp.jittered_centre()
    offset, angle = rng.uniform(0, 1.5) * stamp.psf.fwhm, rng.uniform(0, 2 * np.pi)
    galaxy = _Source(
        x + offset * np.cos(angle),
        y + offset * np.sin(angle),
        stamp.snr_flux(_log_uniform(rng, 20, 2000)),
        _log_uniform(rng, 1.0, 15.0),
        (rng.uniform(0, 0.6), rng.uniform(0, np.pi)),
    )
    stamp.scene.append(galaxy)
    stamp.science_only.append(_Source(x, y, stamp.snr_flux(_log_uniform(rng, 5, 200))))


def _kind_variable(stamp, sign):
    star = stamp.central_star(10, 2000)
    change = stamp.snr_flux(_log_uniform(stamp.rng, 5, 200))
    if sign < 0:
        change = min(change, 0.95 * star.flux)  # a star cannot fade below nothing
    stamp.science_only.append(_Source(star.x, star.y, sign * change))


def _bright_field_stars(stamp, low=3, high=9):
    """Stars that show a whole-stamp subtraction error (registration, PSF, flux scale) off
    the centre as well: what tells such an error from a variable star."""
    rng, n = stamp.rng, stamp.shape[0]
    for _ in range(int(rng.integers(low, high))):
        x, y = rng.uniform(MARGIN, n - MARGIN, 2)
        if np.hypot(x - stamp.centre, y - stamp.centre) > 3 * stamp.psf.fwhm:
            stamp.scene.append(_Source(x, y, stamp.snr_flux(_log_uniform(rng, 30, 3000))))


def _kind_dipole(stamp):
    stamp.central_star(20, 3000)
    _bright_field_stars(stamp, 0, 6)
    distance, angle = stamp.rng.uniform(0.2, 1.5), stamp.rng.uniform(0, 2 * np.pi)
    stamp.shift = (distance * np.cos(angle), distance * np.sin(angle))


def _kind_psf_mismatch(stamp):
    stamp.central_star(20, 3000)
    _bright_field_stars(stamp, 0, 6)
    stamp.width_error = 1 + stamp.rng.choice([-1, 1]) * stamp.rng.uniform(0.08, 0.35)


def _kind_flux_scale(stamp):
    stamp.central_star(30, 5000)
    _bright_field_stars(stamp)
    stamp.scale_error = 1 + stamp.rng.choice([-1, 1]) * stamp.rng.uniform(0.03, 0.25)


def _kind_saturated_star(stamp):
    star = stamp.central_star(3000, 100000)
    peak = star.flux * profile((1, 1), 0, 0, stamp.psf)[0, 0]
    stamp.saturation = peak * stamp.rng.uniform(0.05, 0.6)
    stamp.mask_saturated = stamp.rng.random() < 0.5


def _kind_cosmic_ray(stamp):
    rng = stamp.rng
    x, y = stamp.jittered_centre()
    length = rng.choice([0.0, rng.uniform(2, 20)])
    hit = _streak(stamp.shape, x, y, rng.uniform(0, np.pi), rng.uniform(0.3, 1.2), max(length, 1.0))
    hit[int(round(y)), int(round(x))] = 1.0
    stamp.artefact += hit * _log_uniform(rng, 8, 2000) * stamp.sigma_sky


def _kind_hot_pixel(stamp):
    rng = stamp.rng
    cy = cx = int(round(stamp.centre))
    size = rng.choice([1, 1, 2, 3])
    block = rng.uniform(0.3, 1.0, (size, size)) * _log_uniform(rng, 8, 3000) * stamp.sigma_sky
    stamp.artefact[cy : cy + size, cx : cx + size] += block


def _kind_bad_column(stamp):
    rng = stamp.rng
    c = int(round(stamp.centre))
    start = int(rng.integers(0, c - 3))
    stop = int(rng.integers(c + 4, stamp.shape[0] + 1))
    level = rng.choice([-1, 1]) * _log_uniform(rng, 3, 300) * stamp.sigma_sky
    stamp.artefact[start:stop, c] += level
    if rng.random() < 0.3:  # a neighbouring column half as bad
        stamp.artefact[start:stop, c + rng.choice([-1, 1])] += level / 2


def _kind_satellite_trail(stamp):
    rng = stamp.rng
    x, y = stamp.jittered_centre()
    trail = _streak(stamp.shape, x, y, rng.uniform(0, np.pi), stamp.psf.fwhm, 4 * stamp.shape[0])
    stamp.artefact += trail * _log_uniform(rng, 2, 200) * stamp.sigma_sky


def _kind_ghost(stamp):
    rng = stamp.rng
    x, y = stamp.jittered_centre()
    width = _log_uniform(rng, 10, 40)
    ghost = profile(stamp.shape, x, y, Psf(width, None, rng.uniform(0, 0.3), rng.uniform(0, np.pi)))
    if rng.random() < 0.5:  # a ring: an out-of-focus reflection
        ghost = np.clip(ghost - profile(stamp.shape, x, y, Psf(0.6 * width, None, 0.0, 0.0)) * 0.36, 0, None)
    ghost *= _log_uniform(rng, 1, 30) * stamp.sigma_sky / ghost.max()
    stamp.artefact += ghost


def _kind_cold_spot(stamp):
    rng = stamp.rng
    x, y = stamp.jittered_centre()
    width = rng.uniform(0.5, 1.0) * stamp.psf.fwhm if rng.random() < 0.5 else rng.uniform(0.6, 1.5)
    spot = profile(stamp.shape, x, y, Psf(width, None, rng.uniform(0, 0.3), rng.uniform(0, np.pi)))
    stamp.artefact -= spot / spot.max() * _log_uniform(rng, 8, 80) * stamp.sigma_sky


def _kind_noise(stamp):
    pass


_KINDS: dict[str, Callable[[_Stamp], None]] = {
    "new_source": _kind_new_source,
    "on_galaxy": _kind_on_galaxy,
    "variable_brighter": lambda stamp: _kind_variable(stamp, +1),
    "variable_fainter": lambda stamp: _kind_variable(stamp, -1),
    "dipole": _kind_dipole,
    "psf_mismatch": _kind_psf_mismatch,
    "flux_scale": _kind_flux_scale,
    "saturated_star": _kind_saturated_star,
    "cosmic_ray": _kind_cosmic_ray,
    "hot_pixel": _kind_hot_pixel,
    "bad_column": _kind_bad_column,
    "satellite_trail": _kind_satellite_trail,
    "ghost": _kind_ghost,
    "cold_spot": _kind_cold_spot,
    "noise": _kind_noise,
}


def _field(stamp, n_max=20):
    """Field stars and now and then a galaxy, anywhere but on the centre's PSF core."""
    rng, n = stamp.rng, stamp.shape[0]
    for _ in range(int(rng.integers(0, n_max + 1) * rng.random())):
        x, y = rng.uniform(0, n, 2)
        if np.hypot(x - stamp.centre, y - stamp.centre) < 2 * stamp.psf.fwhm:
            continue
        if rng.random() < 0.15:
            shape = (rng.uniform(0, 0.6), rng.uniform(0, np.pi))
            size = _log_uniform(rng, 1, 12) if rng.random() < 0.8 else _log_uniform(rng, 15, 50)
            stamp.scene.append(
                _Source(x, y, stamp.snr_flux(_log_uniform(rng, 10, 1000) * size / 4), size, shape)
            )
        else:
            stamp.scene.append(_Source(x, y, stamp.snr_flux(_log_uniform(rng, 3, 5000))))


def _background_error(stamp):
    """A smooth error of the difference's background: a gradient and a broad residual off
    the centre (a halo or bright galaxy badly matched, a sky badly fitted); none in half the
    stamps."""
    rng, n = stamp.rng, stamp.shape[0]
    if rng.random() < 0.5:
        return np.zeros(stamp.shape)
    yy, xx = np.indices(stamp.shape, dtype=float) - stamp.centre
    angle = rng.uniform(0, 2 * np.pi)
    error = (xx * np.cos(angle) + yy * np.sin(angle)) / n * rng.normal(0, 1.5)
    if rng.random() < 0.5:
        distance, where = rng.uniform(18, 45), rng.uniform(0, 2 * np.pi)
        x, y = stamp.centre + distance * np.cos(where), stamp.centre + distance * np.sin(where)
        blob = profile(stamp.shape, x, y, Psf(_log_uniform(rng, 15, 60), None, 0.0, 0.0))
        error += rng.choice([-1, 1]) * _log_uniform(rng, 0.5, 8) * blob / blob.max()
    return error * stamp.sigma_sky


def _bleed(image, saturation):
    """Clip at ``saturation`` and spill each column's excess charge up and down the column."""
    excess = np.clip(image - saturation, 0, None)
    out = np.minimum(image, saturation)
    for column in np.flatnonzero(excess.sum(axis=0) > 0):
        charge = excess[:, column].sum()
        rows = np.flatnonzero(excess[:, column] > 0)
        low, high = rows.min(), rows.max()
        while charge > 0 and (low > 0 or high < len(out) - 1):
            for row in (low - 1, high + 1):
                if 0 <= row < len(out) and charge > 0:
                    room = saturation - out[row, column]
                    take = min(room, charge / 2) if room > 0 else 0
                    out[row, column] += take
                    charge -= take
            low, high = max(low - 1, 0), min(high + 1, len(out) - 1)
            if low == 0 and high == len(out) - 1:
                break
    return out


def _blank_edges(cube, rng):
    """Blank (NaN) part of the triplet: a chip edge, or a survey stamp smaller than 63×63."""
    n = cube.shape[-1]
    if rng.random() < 0.5:
        side, depth = rng.integers(4), int(rng.integers(3, n // 2 - 4))
        view = np.rot90(cube, side, axes=(1, 2))
        view[:, :, :depth] = np.nan
    else:
        keep = int(rng.integers(24, n - 1)) // 2
        c = n // 2
        outside = np.ones((n, n), bool)
        outside[c - keep : c + keep + 1, c - keep : c + keep + 1] = False
        cube[:, outside] = np.nan


def triplet(kind: str, rng: np.random.Generator, size: int = SIZE) -> np.ndarray:
    """One simulated (science, reference, difference) triplet of ``kind``.

    Parameters
    ----------
    kind : str
        One of :data:`REAL_KINDS` or :data:`BOGUS_KINDS`.
    rng : numpy.random.Generator
        Source of every random choice.
    size : int
        Side of the cutout (odd); the detection sits on its centre pixel.

    Returns
    -------
    numpy.ndarray
        float32 (3, size, size): the science image (sky subtracted), the reference (in its
        own flux scale) and the difference science − matched reference, in electrons of the
        science image; NaN where blanked.
    """
    n = size + 2 * MARGIN
    psf = random_psf(rng)
    sky, read = _log_uniform(rng, 10, 5000), rng.uniform(2, 15)
    stamp = _Stamp(rng, (n, n), n // 2, psf, float(np.sqrt(sky + read**2)), [], [], np.zeros((n, n)))
    _KINDS[kind](stamp)
    _field(stamp)
    # The subtraction's own small errors, on every sample.
    stamp.shift = tuple(np.add(stamp.shift, rng.normal(0, 0.05, 2)))
    stamp.width_error *= 1 + rng.normal(0, 0.02)
    stamp.scale_error *= 1 + rng.normal(0, 0.01)

    signal = _render(stamp.shape, stamp.scene + stamp.science_only, psf) + stamp.artefact
    science = signal + rng.normal(size=stamp.shape) * np.sqrt(sky + read**2 + np.clip(signal, 0, None))
    saturated = science >= stamp.saturation
    if saturated.any():
        science = _bleed(science, stamp.saturation)

    ref_psf = Psf(
        max(1.2, psf.fwhm * rng.uniform(0.55, 1.15)),
        psf.beta,
        float(np.clip(psf.ellipticity + rng.normal(0, 0.05), 0, 0.4)),
        psf.angle + rng.normal(0, 0.3),
    )
    depth = _log_uniform(rng, 1, 25)
    ref_signal = _render(stamp.shape, stamp.scene, ref_psf)
    ref_noise = rng.normal(size=stamp.shape)
    if rng.random() < 0.7:  # a coadded, resampled reference: its noise is correlated
        ref_noise = ndimage.gaussian_filter(ref_noise, rng.uniform(0.3, 0.8))
        ref_noise /= ref_noise.std()
    ref_noise *= np.sqrt((sky + read**2 + np.clip(ref_signal, 0, None)) / depth)
    ref_scale = _log_uniform(rng, 0.1, 10)  # another zero point and unit
    reference = ref_scale * (ref_signal + ref_noise)

    # The reference matched to the science PSF: its noise smoothed by the matching kernel.
    kernel_sigma = np.sqrt(max(psf.fwhm**2 - ref_psf.fwhm**2, 0)) / 2.3548
    matched = _render(stamp.shape, stamp.scene, psf.widened(stamp.width_error), stamp.shift)
    matched = stamp.scale_error * (matched + ndimage.gaussian_filter(ref_noise, kernel_sigma))
    difference = science - matched + _background_error(stamp)

    m = MARGIN
    if stamp.mask_saturated:  # the pipeline's mask blanks the core in science and difference
        science[saturated] = difference[saturated] = np.nan
    cube = np.stack([science, reference, difference])[:, m : m + size, m : m + size].astype(np.float32)
    if rng.random() < 0.12:
        _blank_edges(cube, rng)
    return cube


def simulate(
    n: int, seed: int, real_fraction: float = 0.5, size: int = SIZE
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` randomised triplets, a ``real_fraction`` of them real, kinds in equal shares.

    Parameters
    ----------
    n : int
        Number of triplets.
    seed : int
        Seed of everything drawn: the same seed gives the same samples.
    real_fraction : float
        Share of real samples.
    size : int
        Cutout side.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray, numpy.ndarray)
        Triplets float32 (n, 3, size, size), labels int8 (1 real) and kinds (str).
    """
    rng = np.random.default_rng(seed)
    is_real = rng.random(n) < real_fraction
    kinds = np.where(is_real, rng.choice(REAL_KINDS, n), rng.choice(BOGUS_KINDS, n))
    cubes = np.empty((n, 3, size, size), np.float32)
    for i, kind in enumerate(kinds):
        cubes[i] = triplet(str(kind), rng, size)
    return cubes, is_real.astype(np.int8), kinds
