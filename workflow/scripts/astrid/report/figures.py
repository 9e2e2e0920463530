"""What every report section uses: saving a figure, an HTML table."""

import matplotlib.pyplot as plt

from astrid.io.fitsio import atomic_output


def save_figure(fig, path, dpi):
    """Write a figure whole or not at all, and free it."""
    with atomic_output(path) as tmp:
        fig.savefig(tmp, dpi=dpi)
    plt.close(fig)


def table_html(frame):
    if frame.empty:
        return "<p><em>none</em></p>"
    return frame.to_html(index=False, border=0, classes="astrid", escape=True, na_rep="")
