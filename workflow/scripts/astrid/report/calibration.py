"""Report section 2, calibration: sky level, noise and pulls per frame, the master frames."""

from collections.abc import Iterable
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from astropy.io import fits
from astropy.visualization import ImageNormalize, ZScaleInterval

from astrid.calibrate.science import QA_KEYWORDS
from astrid.report.figures import save_figure

CALIBRATION_COLUMNS = ["exposure", "field", "band", "mjd"] + list(QA_KEYWORDS)


def calibration_table(paths: Iterable[Path | str]) -> pd.DataFrame:
    """One row of QA figures per calibrated frame, read from the products' headers.

    Parameters
    ----------
    paths : iterable of pathlib.Path or str
        The calibrated frames (FITS).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`CALIBRATION_COLUMNS` (``exposure``, ``field``, ``band``, ``mjd``
        and the QA figures of ``QA_KEYWORDS``), in time order.
    """
    rows = []
    for path in paths:
        header = fits.getheader(path, 0)
        row = {
            "exposure": header["EXPOSURE"],
            "field": header["FIELD"],
            "band": header["FILTER"],
            "mjd": header["MJD-OBS"],
        }
        row.update({name: header[keyword] for name, (keyword, _) in QA_KEYWORDS.items()})
        rows.append(row)
    return pd.DataFrame(rows, columns=CALIBRATION_COLUMNS).sort_values("mjd").reset_index(drop=True)


def plot_calibration(table: pd.DataFrame, path: Path | str, night: str) -> None:
    """Sky level, sky noise against the variance plane's prediction, and the pull scatter.

    Parameters
    ----------
    table : pandas.DataFrame
        :func:`calibration_table` of the night; sky level and noise in electrons.
    path : pathlib.Path or str
        PNG file to write.
    night : str
        The night, ``YYYYMMDD`` (and ``/<detector>`` of a mosaic), for the title.
    """
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2), constrained_layout=True)
    if table.empty:
        for ax in axes:
            ax.text(0.5, 0.5, "no calibrated science frames", ha="center", va="center")
            ax.set_axis_off()
    for band, group in table.groupby("band"):
        x = np.arange(len(table))[table["band"] == band]
        axes[0].plot(x, group["sky_level"], "o", label=f"band {band}")
        axes[1].plot(x, group["sky_noise"], "o", label=f"{band}: measured")
        axes[1].plot(x, group["expected_noise"], "_", ms=14, color="k")
        axes[2].plot(x, group["pull_std"], "o", label=f"band {band}")
    axes[0].set(title="Sky level", ylabel="electrons / pixel", xlabel="frame (time order)")
    axes[1].set(title="Sky noise (dots) vs VAR plane (bars)", ylabel="electrons", xlabel="frame (time order)")
    axes[2].axhspan(0.95, 1.05, color="0.9")
    axes[2].axhline(1.0, color="k", lw=0.8)
    axes[2].set(
        title="Pull std (1 = variance plane right)",
        ylabel="std of (sky-level)/σ",
        xlabel="frame (time order)",
    )
    for ax in axes:
        if ax.has_data():
            ax.legend(fontsize=8)
    fig.suptitle(f"Night {night}: calibrated science frames")
    save_figure(fig, path, dpi=90)


def plot_masters(
    bias_path: Path | str,
    dark_path: Path | str | None,
    flat_paths: Iterable[Path | str],
    path: Path | str,
    night: str,
) -> None:
    """The night's master frames side by side, each with a z-scale stretch.

    Parameters
    ----------
    bias_path : pathlib.Path or str
        The master bias (electrons).
    dark_path : pathlib.Path or str or None
        The master dark (electrons per second); None or empty when the night has none.
    flat_paths : iterable of pathlib.Path or str
        The master flats, one per band.
    path : pathlib.Path or str
        PNG file to write.
    night : str
        The night, ``YYYYMMDD`` (and ``/<detector>`` of a mosaic), for the title.
    """
    panels = [("master bias [e-]", bias_path)]
    if dark_path:
        panels.append(("master dark [e-/s]", dark_path))
    panels += [(f"master flat {fits.getheader(p, 0).get('FILTER', '')}", p) for p in flat_paths]
    fig, axes = plt.subplots(
        1, len(panels), figsize=(4.2 * len(panels), 4.4), constrained_layout=True, squeeze=False
    )
    for ax, (title, panel_path) in zip(axes[0], panels, strict=True):
        data = fits.getdata(panel_path, "SCI")
        header = fits.getheader(panel_path, 0)
        norm = ImageNormalize(data, interval=ZScaleInterval())
        image = ax.imshow(data, origin="lower", cmap="gray", norm=norm)
        ax.set_title(f"{title}\n{header.get('NCOMBINE', '?')} frames combined", fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
        fig.colorbar(image, ax=ax, shrink=0.8)
    fig.suptitle(f"Night {night}: master calibrations")
    save_figure(fig, path, dpi=80)
