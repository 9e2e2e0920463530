"""L.A.Cosmic (van Dokkum 2001) as astroscrappy computes it, with the work done only where
it can change the answer.

astroscrappy's ``detect_cosmics`` builds the fine-structure image (a 5×5 and a 9×9 separable
median) over the whole frame in each iteration, although it is read only at the pixels that
passed the Laplacian test (its own source notes this as a possible speed-up); each later
iteration goes over the whole frame again, although the cleaning changed only the pixels
found so far; and it takes a 7×7 median of the whole frame to find saturated stars, which
AstrID masks itself. :func:`detect_cosmic_rays` runs the same steps with astroscrappy's own
compiled filters and the same float32 arithmetic, but takes the fine-structure medians on
small windows around the candidate pixels, runs the later iterations on windows around the
cleaned pixels, and skips the saturation median. Its mask is astroscrappy's, to the pixel
(``tests/unit/test_calibrate.py`` compares them on a simulated and a real frame), in about a
third of the time at 4096².

The options are AstrID's: gain 1 (the frame is in electrons), no saturation level (saturated
pixels come masked), separable medians, ``meanmask`` cleaning and ``median`` fine structure.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache

import numpy as np
from astroscrappy.utils import (
    dilate3,
    laplaceconvolve,
    median,
    rebin,
    sepmedfilt5,
    sepmedfilt7,
    sepmedfilt9,
    subsample,
)
from scipy import ndimage

# A pass's verdict on a pixel reads the frame up to 8 pixels away (two 3×3 growths of the
# first detections, whose Laplacian S/N is set against its 7×7 median and the noise model's
# 7×7 median, and whose fine structure is a 9×9 median of a 5×5 one): after a cleaning, the
# pixels more than that from a cleaned one are decided as before. Zones are made of cells of
# CELL×CELL pixels (a cell's neighbours cover those 8 pixels), and are decided in windows
# WINDOW_MARGIN wider, in which the filters reach them as in the whole frame.
CHANGE_REACH = 8
CELL = CHANGE_REACH
WINDOW_MARGIN = 16

# Fine structure on windows of TILE×TILE pixels around candidates, each widened by the
# reach of a 9×9 median of a 5×5 median (4 + 2 pixels): inside that margin the windows'
# medians are the whole frame's.
TILE = 32
FINE_STRUCTURE_REACH = 6


def detect_cosmic_rays(
    data: np.ndarray,
    exclude: np.ndarray,
    read_noise: float,
    sigclip: float = 4.5,
    sigfrac: float = 0.3,
    objlim: float = 5.0,
    niter: int = 4,
) -> np.ndarray:
    """Cosmic-ray pixels of a frame: ``astroscrappy.detect_cosmics(data, inmask=exclude,
    gain=1, readnoise=read_noise, sigclip=…, sigfrac=…, objlim=…, niter=…,
    satlevel=inf, sepmed=True, cleantype="meanmask", fsmode="median")[0]``.

    Parameters
    ----------
    data : numpy.ndarray
        The frame in electrons, sky included.
    exclude : numpy.ndarray of bool
        Pixels to ignore and never report (grown by one pixel, as astroscrappy does).
    read_noise : float
        Read noise (electrons).
    sigclip, sigfrac, objlim : float
        L.A.Cosmic's detection limit (in units of the noise), the neighbours' fraction of
        it, and the contrast limit against the fine structure of stars.
    niter : int
        Iterations at most (the frame is cleaned of what was found between them).

    Returns
    -------
    numpy.ndarray of bool
        The cosmic-ray pixels.
    """
    # astroscrappy's parameters are C floats: the same float32 values, compared as doubles.
    sigclip, sigfrac, objlim, read_noise = (
        float(np.float32(v)) for v in (sigclip, sigfrac, objlim, read_noise)
    )
    sigcliplow = float(np.float32(np.float32(sigfrac) * np.float32(sigclip)))
    clean = np.array(data, dtype=np.float32, order="C")
    read_variance = float(np.float32(read_noise) * np.float32(read_noise))
    clean_var = clean + read_variance
    mask = dilate3(np.ascontiguousarray(exclude, dtype=np.uint8)).astype(bool)
    good = ~mask

    @cache
    def background(offset: float) -> float:
        """astroscrappy's fill value of a pixel without good neighbours: the median of the
        frame's good pixels (plus ``offset``) before any cleaning, found only if needed."""
        values = np.asarray(data, dtype=np.float32)[good] + np.float32(offset)
        return median(np.ascontiguousarray(values), len(values))

    limits = Limits(sigclip, sigcliplow, objlim)
    found = np.zeros(clean.shape, dtype=bool)
    for iteration in range(niter):
        if iteration == 0:
            cosmics = one_pass(clean, clean_var, good, limits)
        else:
            cosmics = np.zeros(clean.shape, dtype=bool)
            for window, zone in changed_zones(found):
                cosmics[window][zone] = one_pass(
                    np.ascontiguousarray(clean[window]),
                    np.ascontiguousarray(clean_var[window]),
                    good[window],
                    limits,
                )[zone]
        found |= cosmics
        if not cosmics.any() or iteration == niter - 1:
            break
        bad = found | mask
        clean_mean_masked(clean, found, bad, lambda: background(0))
        clean_mean_masked(clean_var, found, bad, lambda: background(read_variance))
    return found


@dataclass(frozen=True)
class Limits:
    """L.A.Cosmic's thresholds, as the doubles astroscrappy compares with."""

    sigclip: float
    sigcliplow: float
    objlim: float


def one_pass(clean: np.ndarray, clean_var: np.ndarray, good: np.ndarray, limits: Limits) -> np.ndarray:
    """One L.A.Cosmic detection on a frame (or a window of one): the pixels whose Laplacian
    stands above the noise and above the fine structure of stars, and their neighbours that
    stand above the lower limit.

    Parameters
    ----------
    clean, clean_var : numpy.ndarray
        The frame as cleaned so far and its noise model (float32, C order).
    good : numpy.ndarray of bool
        Pixels that may be reported.
    limits : Limits
        The thresholds.

    Returns
    -------
    numpy.ndarray of bool
    """
    laplacian = laplaceconvolve(subsample(clean))
    np.maximum(laplacian, 0.0, out=laplacian)
    s = rebin(laplacian)
    del laplacian
    noise = sepmedfilt7(clean_var)
    np.maximum(noise, 0.00001, out=noise)
    np.sqrt(noise, out=noise)
    s /= 2.0 * noise

    def contrast_above(candidates: np.ndarray, limit: float) -> np.ndarray:
        """Where ``s`` less its 7×7 median (L.A.Cosmic's sp) exceeds ``limit`` among the
        candidates. s ≥ 0, so sp ≤ s: only pixels whose s exceeds the limit can pass, and
        the median is taken at those alone."""
        rows, cols = np.nonzero(candidates & (s > limit))
        above = np.zeros(s.shape, dtype=bool)
        above[rows, cols] = s[rows, cols] - separable_median7(s, rows, cols) > limit
        return above

    cosmics = contrast_above(good, limits.sigclip)
    rows, cols = np.nonzero(cosmics)
    sp = s[rows, cols] - separable_median7(s, rows, cols)
    cosmics[rows, cols] = (sp / fine_structure(clean, noise, rows, cols)) > limits.objlim
    del noise
    cosmics = contrast_above(dilate3(cosmics).astype(bool) & good, limits.sigclip)
    return contrast_above(dilate3(cosmics).astype(bool) & good, limits.sigcliplow)


def separable_median7(image: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """astroscrappy's ``sepmedfilt7(image)`` at the given pixels only: the median of 7
    along the row, then the median of those 7 along the column; within 3 pixels of an edge,
    the pixel itself (as astroscrappy leaves it). A median is a selection: the values are
    astroscrappy's to the bit.

    Parameters
    ----------
    image : numpy.ndarray
        2-D, float32.
    rows, cols : numpy.ndarray of int
        The pixels.

    Returns
    -------
    numpy.ndarray
        One value per pixel, of ``image``'s type.
    """
    ny, nx = image.shape
    values = image[rows, cols]
    inner = (rows >= 3) & (rows < ny - 3) & (cols >= 3) & (cols < nx - 3)
    offsets = np.arange(-3, 4)
    y = rows[inner][:, None, None] + offsets[None, :, None]
    x = cols[inner][:, None, None] + offsets[None, None, :]
    along_rows = np.partition(image[y, x], 3, axis=2)[:, :, 3]
    values[inner] = np.partition(along_rows, 3, axis=1)[:, 3]
    return values


def changed_zones(found: np.ndarray) -> Iterator[tuple[tuple[slice, slice], np.ndarray]]:
    """Where a pass after the frame was cleaned at ``found`` can decide differently from the
    pass before, and the windows that decide it as the whole frame would.

    Cleaning changes only the ``found`` pixels; a pass reads the frame up to
    ``CHANGE_REACH`` pixels away, so elsewhere it repeats the previous pass, whose cosmic
    rays are all in ``found`` already. The zones are groups of CELL×CELL cells within a cell
    of a cleaned pixel; each comes with its bounding window widened by ``WINDOW_MARGIN``.

    Parameters
    ----------
    found : numpy.ndarray of bool
        The pixels cleaned so far.

    Yields
    ------
    (tuple of slice, numpy.ndarray of bool)
        A window of the frame and the zone's pixels within it.
    """
    ny, nx = found.shape
    rows, cols = np.nonzero(found)
    cells = np.zeros((-(-ny // CELL), -(-nx // CELL)), dtype=bool)
    cells[rows // CELL, cols // CELL] = True
    labels, _ = ndimage.label(ndimage.binary_dilation(cells, np.ones((3, 3), bool)))
    for number, (cell_rows, cell_cols) in enumerate(ndimage.find_objects(labels), start=1):
        y0, x0 = (
            max(0, cell_rows.start * CELL - WINDOW_MARGIN),
            max(0, cell_cols.start * CELL - WINDOW_MARGIN),
        )
        y1 = min(ny, cell_rows.stop * CELL + WINDOW_MARGIN)
        x1 = min(nx, cell_cols.stop * CELL + WINDOW_MARGIN)
        zone = labels[np.arange(y0, y1)[:, None] // CELL, np.arange(x0, x1)[None, :] // CELL] == number
        yield (slice(y0, y1), slice(x0, x1)), zone


def fine_structure(clean: np.ndarray, noise: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """L.A.Cosmic's fine-structure image, (M5 − M9(M5)) / noise clipped below at 0.01, at the
    given pixels only (M5, M9: separable 5×5 and 9×9 medians of the frame).

    Parameters
    ----------
    clean : numpy.ndarray
        The frame (float32, C order).
    noise : numpy.ndarray
        Its noise model.
    rows, cols : numpy.ndarray of int
        The pixels.

    Returns
    -------
    numpy.ndarray of float32
        One value per pixel.
    """
    values = np.empty(len(rows), dtype=np.float32)
    if not len(rows):
        return values
    ny, nx = clean.shape
    tiles = (rows // TILE) * ((nx + TILE - 1) // TILE) + cols // TILE
    order = np.argsort(tiles, kind="stable")
    starts = np.flatnonzero(np.diff(tiles[order], prepend=-1))
    for group in np.split(order, starts[1:]):
        tile_row, tile_col = rows[group[0]] // TILE, cols[group[0]] // TILE
        y0, x0 = (
            max(0, tile_row * TILE - FINE_STRUCTURE_REACH),
            max(0, tile_col * TILE - FINE_STRUCTURE_REACH),
        )
        y1 = min(ny, (tile_row + 1) * TILE + FINE_STRUCTURE_REACH)
        x1 = min(nx, (tile_col + 1) * TILE + FINE_STRUCTURE_REACH)
        m5 = sepmedfilt5(np.ascontiguousarray(clean[y0:y1, x0:x1]))
        m9 = sepmedfilt9(m5)
        y, x = rows[group], cols[group]
        values[group] = (m5[y - y0, x - x0] - m9[y - y0, x - x0]) / noise[y, x]
    values[values < 0.01] = 0.01
    return values


def clean_mean_masked(
    image: np.ndarray, cosmic: np.ndarray, bad: np.ndarray, background: Callable[[], float]
) -> None:
    """Replace each cosmic-ray pixel (two pixels or more from the edge) by the mean of the
    good pixels in its 5×5 box, or by ``background`` when there are none, in place:
    astroscrappy's ``meanmask`` cleaning, summed in the same order in float32.

    Parameters
    ----------
    image : numpy.ndarray
        float32 frame, changed in place.
    cosmic : numpy.ndarray of bool
        The pixels to replace.
    bad : numpy.ndarray of bool
        Pixels left out of the means (cosmic rays and masked pixels).
    background : callable
        Returns the value of a pixel with no good neighbour (astroscrappy's median of the
        good pixels; asked only when there is such a pixel).
    """
    ny, nx = image.shape
    y, x = np.nonzero(cosmic[2 : ny - 2, 2 : nx - 2])
    y, x = y + 2, x + 2
    total = np.zeros(len(y), dtype=np.float32)
    count = np.zeros(len(y), dtype=np.int32)
    for dy in range(-2, 3):
        for dx in range(-2, 3):
            usable = ~bad[y + dy, x + dx]
            total = np.where(usable, total + image[y + dy, x + dx], total)
            count += usable
    lonely = count == 0
    with np.errstate(divide="ignore", invalid="ignore"):
        total /= count.astype(np.float32)
    if lonely.any():
        total[lonely] = background()
    image[y, x] = total
