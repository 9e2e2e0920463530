"""Report section 3, difference imaging: S_corr noise, depth and candidates per frame, and a
gallery of the brightest candidates.
"""

from collections.abc import Iterable
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from astropy.io import fits
from astropy.visualization import ImageNormalize, ZScaleInterval

from astrid.report.figures import save_figure

DIFFERENCE_COLUMNS = [
    "exposure",
    "field",
    "band",
    "status",
    "reason",
    "score_noise",
    "limiting_mag",
    "limiting_flux",
    "photometry",
    "n_candidates",
    "flux_ratio",
    "fwhm",
]


def difference_table(candidate_paths: Iterable[Path | str]) -> pd.DataFrame:
    """One row per differenced frame from the candidate tables' metadata.

    Parameters
    ----------
    candidate_paths : iterable of pathlib.Path or str
        The night's candidate tables (ECSV), one per frame, including those of frames that
        could not be differenced (their ``QCODE`` and ``QREASON``).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`DIFFERENCE_COLUMNS`: ``status`` "ok" or the reason code, S_corr
        noise, 5σ limiting magnitude (mag) and flux, ``photometry`` ("catalog" or
        "instrumental"), candidate count, flux ratio to the reference and PSF FWHM (px).
    """
    from astropy.table import Table

    rows = []
    for path in candidate_paths:
        meta = Table.read(path, format="ascii.ecsv").meta
        failed = "QCODE" in meta
        rows.append(
            {
                "exposure": meta.get("EXPOSURE"),
                "field": meta.get("FIELD"),
                "band": meta.get("FILTER"),
                "status": meta["QCODE"] if failed else "ok",
                "reason": meta.get("QREASON", ""),
                "score_noise": meta.get("SCORNOIS", np.nan),
                "limiting_mag": meta.get("LIMMAG", np.nan),
                "limiting_flux": meta.get("LIMFLUX", np.nan),
                "photometry": "" if failed else "catalog" if meta.get("PHOTCAL", True) else "instrumental",
                "n_candidates": meta.get("NCAND", 0),
                "flux_ratio": meta.get("FLXRATIO", np.nan),
                "fwhm": meta.get("FWHM", np.nan),
            }
        )
    return pd.DataFrame(rows, columns=DIFFERENCE_COLUMNS)


def plot_differences(table: pd.DataFrame, path: Path | str, night: str) -> None:
    """S_corr noise, limiting magnitude and candidate count per differenced frame.

    Parameters
    ----------
    table : pandas.DataFrame
        :func:`difference_table` of the night; frames not differenced are listed at the
        bottom with their reason codes.
    path : pathlib.Path or str
        PNG file to write.
    night : str
        The night, ``YYYYMMDD``, for the title.
    """
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2), constrained_layout=True)
    ok = table[table["status"] == "ok"]
    x = np.arange(len(ok))
    for band, group in ok.groupby("band"):
        where = x[(ok["band"] == band).to_numpy()]
        axes[0].plot(where, group["score_noise"], "o", label=f"band {band}")
        axes[1].plot(where, group["limiting_mag"], "o", label=f"band {band}")
        axes[2].bar(where, group["n_candidates"], label=f"band {band}")
    axes[0].axhspan(0.97, 1.03, color="0.9")
    axes[0].set(title="S_corr noise in empty sky (1 = normalised)", ylabel="robust std")
    axes[1].invert_yaxis()
    axes[1].set(title="5σ limiting magnitude", ylabel="mag")
    axes[2].set(title="Candidates ≥ threshold (before real/bogus)", ylabel="candidates")
    for ax in axes:
        ax.set_xticks(x, ok["exposure"], rotation=60, fontsize=7)
        if ax.has_data():
            ax.legend(fontsize=8)
    failed = table[table["status"] != "ok"]
    if len(failed):
        fig.text(
            0.01,
            0.01,
            "not differenced: "
            + "; ".join(f"{e} ({s})" for e, s in zip(failed["exposure"], failed["status"], strict=True)),
            fontsize=8,
        )
    fig.suptitle(f"Night {night}: difference imaging")
    save_figure(fig, path, dpi=90)


def plot_gallery(
    candidate_paths: Iterable[Path | str],
    cutout_paths: Iterable[Path | str],
    path: Path | str,
    night: str,
    n_show: int = 12,
) -> None:
    """Science / reference / difference cutouts of the night's highest-S/N candidates.

    Parameters
    ----------
    candidate_paths : iterable of pathlib.Path or str
        The night's candidate tables (ECSV).
    cutout_paths : iterable of pathlib.Path or str
        The matching cutout cubes (FITS), one per candidate table in the same order, each
        holding a science, reference and difference cutout per candidate.
    path : pathlib.Path or str
        PNG file to write.
    night : str
        The night, ``YYYYMMDD``, for the title.
    n_show : int
        How many candidates to show, highest S/N first.
    """
    from astropy.table import Table

    entries = []
    for table_path, cutout_path in zip(candidate_paths, cutout_paths, strict=True):
        table = Table.read(table_path, format="ascii.ecsv")
        if len(table) == 0:
            continue
        cube = fits.getdata(cutout_path, 0)
        for i, row in enumerate(table):
            entries.append((float(row["snr"]), row, cube[i]))
    entries.sort(key=lambda e: -e[0])
    entries = entries[:n_show]
    rows = max(1, len(entries))
    fig, axes = plt.subplots(rows, 3, figsize=(6.3, 2.2 * rows), squeeze=False, constrained_layout=True)
    if not entries:
        axes[0, 1].text(0.5, 0.5, "no candidates", ha="center")
    for (snr, row, cube), ax_row in zip(entries, axes, strict=False):
        for ax, image, title in zip(ax_row, cube, ("science", "reference", "difference"), strict=True):
            norm = ImageNormalize(image, interval=ZScaleInterval())
            ax.imshow(image, origin="lower", cmap="gray", norm=norm)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(title, fontsize=8)
        ax_row[0].set_ylabel(
            f"{row['candidate_id']}\nS/N {snr:.1f}  m={row['mag']:.2f}\n{'dipole' if row['is_dipole'] else ''}",
            fontsize=7,
        )
    for ax in axes.ravel():
        if not ax.images:
            ax.set_axis_off()
    fig.suptitle(f"Night {night}: top candidates by S/N")
    save_figure(fig, path, dpi=80)
