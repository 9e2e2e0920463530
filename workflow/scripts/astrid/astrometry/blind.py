"""Blind astrometric solving with astrometry.net, for frames whose header WCS is missing or
cannot be trusted.

The frame's own star list (not its pixels) goes to ``solve-field`` with the index files of
the site (``resources/index``, built once from its catalog with :func:`build_index`) and the
system's (Debian's ``astrometry-data-tycho2-*`` in ``/usr/share/astrometry``: Tycho-2 holds
stars to V ≈ 12, enough for fields of about 20′ and larger). The solver's TAN solution is
then refined on the stars it matched: with SIP distortion terms where enough of them tie the
frame (``sip_order``, from ``min_sip_matches`` matches), a TAN fit otherwise — a few bright
stars cannot constrain distortion, and a SIP fitted to them bends the frame's corners.
Without a solution the frame keeps reason ``NO_ASTROMETRY`` and its night goes on.
"""

import re
import shutil
import subprocess
import tempfile
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS, FITSFixedWarning
from astropy.wcs.utils import fit_wcs_from_points, proj_plane_pixel_scales

from astrid.io import maskbits

NO_ASTROMETRY = "NO_ASTROMETRY"
SYSTEM_INDEX_DIR = "/usr/share/astrometry"


class AstrometryError(Exception):
    """No astrometric solution; ``code`` is :data:`NO_ASTROMETRY`."""

    def __init__(self, message: str, code: str = NO_ASTROMETRY):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class SolveSettings:
    """Choices of the blind solve; each has an ``astrometry.*`` config key."""

    index_dirs: tuple[str, ...] = ("resources/index", SYSTEM_INDEX_DIR)
    scale_low: float | None = None  # arcsec per pixel; None: from the header, else any
    scale_high: float | None = None
    time_limit: float = 30.0  # CPU seconds per frame
    max_objects: int = 300  # brightest stars handed to the solver
    sip_order: int = 2
    min_sip_matches: int = 30


@dataclass(frozen=True)
class BlindSolution:
    """A solved frame: its WCS and how it was found."""

    wcs: WCS
    n_matched: int  # frame stars matched to index stars
    index: str  # the index file that solved it
    rms_arcsec: float  # residual of the matched stars about the final WCS


def solver() -> str | None:
    """The path of astrometry.net's ``solve-field``, or None where it is not installed.

    Returns
    -------
    str or None
    """
    return shutil.which("solve-field")


def index_files(dirs: Iterable[str]) -> list[Path]:
    """The astrometry.net index files (``*.fits``) in the given folders that exist.

    Parameters
    ----------
    dirs : iterable of str
        Folders to look in (missing ones are skipped).

    Returns
    -------
    list of pathlib.Path
    """
    return sorted(p for d in dirs if Path(d).is_dir() for p in Path(d).rglob("*.fits"))


def header_scale(header: fits.Header) -> float | None:
    """The pixel scale (arcsec per pixel) a header states, from PIXSCALE/SECPIX, a WCS, or
    the pixel size and focal length (XPIXSZ in µm, FOCALLEN in mm, as MaxIm DL writes them).

    Parameters
    ----------
    header : astropy.io.fits.Header
        The raw frame's header.

    Returns
    -------
    float or None
        The scale, or None where the header does not say.
    """
    for key in ("PIXSCALE", "SECPIX", "SCALE"):
        if isinstance(header.get(key), int | float) and header[key] > 0:
            return float(header[key])
    if isinstance(header.get("XPIXSZ"), int | float) and isinstance(header.get("FOCALLEN"), int | float):
        if header["FOCALLEN"] > 0:
            # MaxIm DL writes XPIXSZ after binning, in µm; FOCALLEN in mm.
            return 206.265 * float(header["XPIXSZ"]) / float(header["FOCALLEN"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        wcs = WCS(header)
    if wcs.has_celestial:
        return float(np.mean(proj_plane_pixel_scales(wcs.celestial))) * 3600
    return None


def _write_xylist(path: Path, x, y, flux, limit: int) -> None:
    order = np.argsort(np.asarray(flux, float))[::-1][:limit]
    # astrometry.net counts pixels from 1 (FITS).
    Table(
        {
            "X": np.asarray(x, float)[order] + 1,
            "Y": np.asarray(y, float)[order] + 1,
            "FLUX": np.asarray(flux, float)[order],
        }
    ).write(path, overwrite=True)


def solve_blind(
    x: Sequence[float],
    y: Sequence[float],
    flux: Sequence[float],
    shape: tuple[int, int],
    settings: SolveSettings,
    scale: float | None = None,
) -> BlindSolution:
    """Solve a frame's astrometry from its star list alone.

    Parameters
    ----------
    x, y : sequence of float
        The stars' positions (0-based pixels).
    flux : sequence of float
        Their fluxes (brightest are tried first).
    shape : (int, int)
        The frame's (rows, columns).
    settings : SolveSettings
        Index folders, scale range, time limit, refinement.
    scale : float, optional
        The pixel scale a header states (arcsec/pixel): searched within ±20 % where the
        settings give no range.

    Returns
    -------
    BlindSolution

    Raises
    ------
    AstrometryError
        Without astrometry.net, without index files, with too few stars, or when no
        solution is found within the time limit; the message says which.
    """
    program = solver()
    if program is None:
        raise AstrometryError("astrometry.net's solve-field is not installed (Debian package astrometry.net)")
    indexes = index_files(settings.index_dirs)
    if not indexes:
        raise AstrometryError(f"no astrometry.net index files in {', '.join(settings.index_dirs)}")
    if len(x) < 5:
        raise AstrometryError(f"only {len(x)} stars to solve with")
    if settings.scale_low is not None and settings.scale_high is not None:
        return _solve(
            program, indexes, x, y, flux, shape, settings, (settings.scale_low, settings.scale_high)
        )
    if scale:
        # A header's scale can be wrong (a binned thumbnail keeps its full frame's): search
        # around it first, then anywhere.
        try:
            return _solve(program, indexes, x, y, flux, shape, settings, (0.8 * scale, 1.2 * scale))
        except AstrometryError:
            pass
    return _solve(program, indexes, x, y, flux, shape, settings, None)


# Without a scale hint: any pixel scale of a telescope. solve-field's own default starts at
# fields of 0.1°, which leaves every frame smaller than 6′ unsolved (no quad tried).
ANY_SCALE = (0.05, 100.0)  # arcsec per pixel


def _solve(program, indexes, x, y, flux, shape, settings, scales):
    low, high = scales if scales else ANY_SCALE
    with tempfile.TemporaryDirectory(prefix="astrid-solve-") as work:
        work = Path(work)
        _write_xylist(work / "stars.xy.fits", x, y, flux, settings.max_objects)
        (work / "backend.cfg").write_text(
            "".join(f"add_path {Path(d).resolve()}\n" for d in settings.index_dirs if Path(d).is_dir())
            + "autoindex\n"
        )
        command = [
            program,
            "--config",
            str(work / "backend.cfg"),
            "--dir",
            str(work),
            "--width",
            str(shape[1]),
            "--height",
            str(shape[0]),
            "--no-plots",
            "--overwrite",
            "--no-verify-uniformize",
            "--cpulimit",
            str(int(np.ceil(settings.time_limit))),
            "--tweak-order",
            "1",
            "--new-fits",
            "none",
            "--match",
            "none",
            "--rdls",
            "none",
            "--index-xyls",
            "none",
            "--solved",
            "none",
            "--corr",
            str(work / "stars.corr"),
        ]
        command += ["--scale-units", "arcsecperpix", "--scale-low", str(low), "--scale-high", str(high)]
        try:
            result = subprocess.run(
                command + [str(work / "stars.xy.fits")],
                capture_output=True,
                text=True,
                # solve-field's --cpulimit does not bound every stage: the wall clock does.
                timeout=settings.time_limit,
            )
        except subprocess.TimeoutExpired:
            raise AstrometryError(f"solve-field ran past {settings.time_limit:g} s") from None
        solved = work / "stars.xy.wcs"
        if not solved.exists():
            raise AstrometryError(
                f"no solution from {len(x)} stars within {settings.time_limit:g} s with the "
                f"{len(indexes)} index files in {', '.join(settings.index_dirs)}"
                + (f" (scale {low:.2f}-{high:.2f}″/px)" if scales else "")
            )
        found = re.search(r"solved with index (\S+?)\.?$", result.stdout, re.MULTILINE)
        index = found.group(1) if found else "?"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FITSFixedWarning)
            wcs = WCS(fits.getheader(solved))
        matches = Table()
        if (work / "stars.corr").exists():  # read as plain numbers: its units are not FITS units
            rows = fits.getdata(work / "stars.corr", 1)
            matches = Table(
                {k: np.asarray(rows[k], float) for k in ("field_x", "field_y", "index_ra", "index_dec")}
            )
    return refine(wcs, matches, index, settings)


def refine(wcs: WCS, matches: Table, index: str, settings: SolveSettings) -> BlindSolution:
    """The solver's WCS refitted on the stars it matched: TAN-SIP where enough of them tie
    the frame, TAN otherwise.

    Parameters
    ----------
    wcs : astropy.wcs.WCS
        The solver's TAN solution.
    matches : astropy.table.Table
        Its correspondence list (``field_x``, ``field_y`` 1-based, ``index_ra``,
        ``index_dec``); may be empty.
    index : str
        The index file that solved the frame.
    settings : SolveSettings
        ``sip_order`` and ``min_sip_matches``.

    Returns
    -------
    BlindSolution
    """
    n = len(matches)
    if n >= 3:
        xy = (np.asarray(matches["field_x"]) - 1, np.asarray(matches["field_y"]) - 1)
        sky = SkyCoord(matches["index_ra"], matches["index_dec"], unit="deg")
        sip = settings.sip_order if settings.sip_order >= 2 and n >= settings.min_sip_matches else None
        if sip or n >= 6:
            wcs = fit_wcs_from_points(xy, sky, projection="TAN", sip_degree=sip)
        ra, dec = wcs.all_pix2world(xy[0], xy[1], 0)
        residual = SkyCoord(ra, dec, unit="deg").separation(sky).arcsec
        rms = float(np.sqrt(np.mean(residual**2)))
    else:
        rms = np.nan
    return BlindSolution(wcs, n, index, rms)


def build_index(
    catalog: Table,
    band: str,
    folder: Path | str,
    scales: Iterable[int] = (0, 1, 2, 3, 4),
    name: str = "site",
) -> list[Path]:
    """Build astrometry.net index files from a catalog (``build-astrometry-index``), one per
    quad scale: preset 0 suits fields of about 6′, each step √2 larger (4: about 24′).

    Parameters
    ----------
    catalog : astropy.table.Table
        A catalog in AstrID's layout (:func:`astrid.skycal.catalogs.read_catalog`).
    band : str
        The band whose magnitudes order the stars (brightest first).
    folder : pathlib.Path or str
        Where the index files go (``resources/index/<name>``).
    scales : iterable of int
        The presets (``-P``) to build.
    name : str
        File name prefix.

    Returns
    -------
    list of pathlib.Path
        The index files written (scales whose quads the catalog cannot fill are skipped).

    Raises
    ------
    AstrometryError
        Without ``build-astrometry-index``, or when it makes no index (its messages quoted).
    """
    program = shutil.which("build-astrometry-index")
    if program is None:
        raise AstrometryError("astrometry.net's build-astrometry-index is not installed")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    magnitude = np.asarray(catalog[f"mag_{band}"], float)
    usable = np.isfinite(magnitude)
    written, failures = [], []
    with tempfile.TemporaryDirectory(prefix="astrid-index-") as work:
        stars = Path(work) / "stars.fits"
        Table({"RA": catalog["ra"][usable], "DEC": catalog["dec"][usable], "MAG": magnitude[usable]}).write(
            stars
        )
        for k, scale in enumerate(scales):
            path = folder / f"index-{name}-{scale:02d}.fits"
            result = subprocess.run(
                [
                    program,
                    "-i",
                    str(stars),
                    "-o",
                    str(path),
                    "-P",
                    str(scale),
                    "-S",
                    "MAG",
                    "-A",
                    "RA",
                    "-D",
                    "DEC",
                    "-I",
                    str(k + 1),
                    "-E",  # only the sky the catalog covers: seconds instead of minutes
                ],
                capture_output=True,
                text=True,
            )
            if result.returncode == 0:
                written.append(path)
            else:
                # A scale whose quads the catalog cannot fill (too few stars that close
                # together) makes no index; the other scales still serve.
                failures.append(
                    f"-P {scale}: {result.stderr.strip().splitlines()[-1] if result.stderr.strip() else result.returncode}"
                )
                path.unlink(missing_ok=True)
    if not written:
        raise AstrometryError(
            f"build-astrometry-index made no index from {usable.sum()} stars ({'; '.join(failures)})"
        )
    return written


def solver_stars(stars: Table, min_snr: float = 6.0) -> Table:
    """The sources worth handing to the solver: round, not single hot pixels or cosmic-ray
    hits (FWHM above one pixel: an undersampled star is still wider), above ``min_snr``;
    saturated stars stay, as their centroids are still good to a fraction of a pixel.

    Parameters
    ----------
    stars : astropy.table.Table
        Sources from :func:`astrid.imaging.sources.find_stars`.
    min_snr : float
        Lowest signal-to-noise ratio kept.

    Returns
    -------
    astropy.table.Table
    """
    keep = (stars["snr"] > min_snr) & (stars["fwhm"] > 1.0) & (stars["elongation"] < 1.5)
    return stars[keep]


def frame_stars(data: np.ndarray, mask: np.ndarray) -> Table:
    """A frame's stars for astrometry, brightest first: every round source above five
    times the measured sky noise, saturated ones and those whose cores a cosmic-ray finder
    took for hits included (positions are all that is needed); only pixels without data
    are left out.

    Parameters
    ----------
    data, mask : numpy.ndarray
        The frame's image and mask bits.

    Returns
    -------
    astropy.table.Table
        :func:`solver_stars` of :func:`astrid.imaging.sources.find_stars`.
    """
    from astrid.imaging.sources import background, find_stars

    empty = (mask & np.uint16(maskbits.NO_DATA | maskbits.NONFINITE)) != 0
    sky, rms = background(data, empty)
    noise = max(float(rms), 12**-0.5)  # at least an integer image's quantisation noise
    stars = find_stars(
        np.where(empty, 0, data - sky).astype(np.float32),
        np.full(data.shape, noise**2, np.float32),
        empty.astype(np.uint16),
        threshold=5.0,
        background_rms=noise,
    )
    return solver_stars(stars)


def solve_frame(
    data: np.ndarray, mask: np.ndarray, header: fits.Header, settings: SolveSettings
) -> BlindSolution:
    """Solve a frame blind: its stars (:func:`frame_stars`) handed to astrometry.net, the
    header's pixel scale (if any) tried first.

    Parameters
    ----------
    data, mask : numpy.ndarray
        The frame's image and mask bits.
    header : astropy.io.fits.Header
        Its header (for the pixel scale).
    settings : SolveSettings

    Returns
    -------
    BlindSolution

    Raises
    ------
    AstrometryError
        As :func:`solve_blind`.
    """
    stars = frame_stars(data, mask)
    return solve_blind(
        stars["x"], stars["y"], stars["flux"], data.shape, settings, scale=header_scale(header)
    )


def solution_cards(solution: BlindSolution) -> list[tuple[str, object, str]]:
    """Header cards (key, value, comment) recording a blind solution.

    Parameters
    ----------
    solution : BlindSolution

    Returns
    -------
    list of (str, object, str)
    """
    return [
        ("ASTROK", True, "astrometry: the WCS is a blind solution"),
        ("ASTRIDX", solution.index[:68], "astrometry.net index that solved it"),
        ("ASTRNMAT", solution.n_matched, "stars matched to the index"),
        ("ASTRRMS", float(np.nan_to_num(solution.rms_arcsec, nan=-1.0)), "[arcsec] rms of the matched stars"),
    ]


def solve_settings(config: dict) -> SolveSettings:
    """The solver's settings from the ``astrometry`` config section.

    Parameters
    ----------
    config : dict
        ``astrometry.*``: ``index_dirs``, ``scale_low``, ``scale_high``, ``time_limit_seconds``.

    Returns
    -------
    SolveSettings
    """
    return SolveSettings(
        index_dirs=tuple(config["index_dirs"]),
        scale_low=config["scale_low"],
        scale_high=config["scale_high"],
        time_limit=float(config["time_limit_seconds"]),
    )


def needs_solving(mode: str, wcs_header: fits.Header) -> bool:
    """Whether a frame is solved blind at calibration: ``always``, or ``missing`` and its
    header has no celestial WCS.

    Parameters
    ----------
    mode : str
        ``astrometry.solve``: ``missing``, ``always`` or ``never``.
    wcs_header : astropy.io.fits.Header
        The frame's WCS keywords.

    Returns
    -------
    bool
    """
    if mode != "missing":
        return mode == "always"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return not WCS(wcs_header).has_celestial
