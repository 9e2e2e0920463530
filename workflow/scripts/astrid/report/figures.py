"""What every report section uses: saving a figure, an HTML table."""

from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from astrid.io.fitsio import atomic_output

if TYPE_CHECKING:
    import pandas as pd


def save_figure(fig: Figure, path: Path | str, dpi: float) -> None:
    """Write a figure whole or not at all, and free it.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure; closed afterwards.
    path : pathlib.Path or str
        The image file to write; its suffix gives the format (PNG).
    dpi : float
        Resolution (dots per inch).
    """
    with atomic_output(path) as tmp:
        fig.savefig(tmp, dpi=dpi)
    plt.close(fig)


def table_html(frame: "pd.DataFrame") -> str:
    """A table as HTML for the report's pages, without its index.

    Parameters
    ----------
    frame : pandas.DataFrame
        The table; its cells are HTML-escaped, missing values shown empty.

    Returns
    -------
    str
        A ``<table class="astrid">``, or "none" in italics when the table is empty.
    """
    if frame.empty:
        return "<p><em>none</em></p>"
    return frame.to_html(index=False, border=0, classes="astrid", escape=True, na_rep="")
