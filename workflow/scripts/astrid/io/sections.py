"""FITS detector sections (``DATASEC``, ``BIASSEC``, ``DETSEC``, ``TRIMSEC``) as numpy slices.

A section is written ``[x1:x2,y1:y2]``: 1-based, inclusive, x (columns) first. A camera
that reads an amplifier out from the far side writes its ``DETSEC`` reversed
(``[2048:1025,1:1024]``): the amplifier's pixels land on the detector mirrored along x.
"""

import re
from typing import NamedTuple

_SECTION = re.compile(r"^\[\s*(\d+)\s*:\s*(\d+)\s*,\s*(\d+)\s*:\s*(\d+)\s*\]$")


class SectionError(ValueError):
    """A section that cannot be parsed."""


class Section(NamedTuple):
    """A rectangle of pixels: 0-based half-open bounds and whether it runs backwards."""

    x0: int
    x1: int
    y0: int
    y1: int
    flip_x: bool
    flip_y: bool

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, columns)."""
        return (self.y1 - self.y0, self.x1 - self.x0)

    @property
    def slices(self) -> tuple[slice, slice]:
        """(rows, columns) numpy slices, ignoring the direction."""
        return (slice(self.y0, self.y1), slice(self.x0, self.x1))


def parse_section(text: str) -> Section:
    """The rectangle of a FITS section such as ``'[1:1024,1:2048]'`` or ``'[2048:1025,1:2048]'``.

    Parameters
    ----------
    text : str
        The section (1-based, inclusive, x first; a range may run backwards).

    Returns
    -------
    Section
        0-based half-open bounds; ``flip_x`` / ``flip_y`` where the range runs backwards.

    Raises
    ------
    SectionError
        When ``text`` is not of the form ``[x1:x2,y1:y2]`` with positive integers.
    """
    match = _SECTION.match(str(text).strip())
    if match is None:
        raise SectionError(f"{text!r} is not a FITS section like [1:1024,1:2048]")
    x1, x2, y1, y2 = (int(v) for v in match.groups())
    if min(x1, x2, y1, y2) < 1:
        raise SectionError(f"{text!r}: FITS sections count pixels from 1")
    return Section(min(x1, x2) - 1, max(x1, x2), min(y1, y2) - 1, max(y1, y2), x2 < x1, y2 < y1)


def format_section(x0: int, x1: int, y0: int, y1: int, flip_x: bool = False, flip_y: bool = False) -> str:
    """The FITS text of a 0-based half-open rectangle (the inverse of :func:`parse_section`).

    Parameters
    ----------
    x0, x1, y0, y1 : int
        Bounds: columns ``x0 … x1-1`` and rows ``y0 … y1-1``.
    flip_x, flip_y : bool
        Write the range backwards.

    Returns
    -------
    str
        E.g. ``'[1:1024,1:2048]'``.
    """
    xs = (x1, x0 + 1) if flip_x else (x0 + 1, x1)
    ys = (y1, y0 + 1) if flip_y else (y0 + 1, y1)
    return f"[{xs[0]}:{xs[1]},{ys[0]}:{ys[1]}]"
