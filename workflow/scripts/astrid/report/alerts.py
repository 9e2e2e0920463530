"""Report section 5, alerts: the night's alerts on a sky map, with light curves."""

from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import numpy as np

from astrid.report.figures import save_figure

if TYPE_CHECKING:
    import pandas as pd


def plot_alerts(
    alerts: "pd.DataFrame",
    light_curves: dict[str, tuple[list[tuple[float, str, float]], list[tuple[float, str, float]]]],
    path: Path | str,
    night: str,
) -> None:
    """Map of the night's alerts per field (new objects and known ones) and light curves of
    the objects alerted tonight: detections (magnitude, one line per band) and non-detections
    (the frame's 5σ limit, as upper limits).

    ``alerts`` is the night's alerts.tsv as a DataFrame; ``light_curves`` maps object id →
    (detections [(mjd, band, mag)], non-detections [(mjd, band, limit)]).

    Parameters
    ----------
    alerts : pandas.DataFrame
        The night's alerts (``field``, ``ra`` and ``dec`` in degrees, ``new_object``,
        ``object_id``); may be empty.
    light_curves : dict of str to tuple
        Object id → (detections, non-detections), MJD in days, magnitudes in mag; the eight
        objects with the most detections are drawn.
    path : pathlib.Path or str
        PNG file to write.
    night : str
        The night, ``YYYYMMDD``, for the title.
    """
    fig, axes = plt.subplots(1, 2, figsize=(14, 5.5), constrained_layout=True)
    markers = {"g": "o", "r": "s", "i": "^"}
    if len(alerts):
        for k, (field, group) in enumerate(alerts.groupby("field")):
            ra0, dec0 = np.median(group["ra"]), np.median(group["dec"])
            dx = -(group["ra"] - ra0) * np.cos(np.radians(dec0)) * 60  # east to the left
            dy = (group["dec"] - dec0) * 60
            new = (group["new_object"].astype(str) == "True").to_numpy()
            axes[0].scatter(dx[~new], dy[~new], s=30, color=f"C{k}", label=f"{field}: known object")
            axes[0].scatter(
                dx[new], dy[new], s=90, marker="*", color=f"C{k}", edgecolor="k", label=f"{field}: new object"
            )
        axes[0].legend(fontsize=8)
        axes[0].set_aspect("equal", adjustable="datalim")
    else:
        axes[0].text(0.5, 0.5, "no alerts", ha="center", transform=axes[0].transAxes)
    n_objects = alerts["object_id"].nunique() if len(alerts) else 0
    axes[0].set(
        title=f"{len(alerts)} alerts on {n_objects} objects (offsets from each field's median)",
        xlabel="east offset (arcmin)",
        ylabel="north offset (arcmin)",
    )
    shown = sorted(light_curves, key=lambda o: -len(light_curves[o][0]))[:8]
    for k, object_id in enumerate(shown):
        detections, limits = light_curves[object_id]
        colour = f"C{k % 10}"
        for band in sorted({b for _, b, _ in detections}):
            points = sorted((m, mag) for m, b, mag in detections if b == band)
            xs, ys = zip(*points, strict=True)
            axes[1].plot(
                xs, ys, marker=markers.get(band, "o"), color=colour, ms=5, label=f"{object_id} {band}"
            )
        for mjd, _, limit in limits:
            axes[1].plot(mjd, limit, marker="v", color=colour, ms=7, alpha=0.6, ls="none")
    axes[1].invert_yaxis()
    axes[1].set(
        title="Light curves (▼: non-detection at the frame's 5σ limit)",
        xlabel="MJD (TAI)",
        ylabel="magnitude of the flux change",
    )
    if shown:
        axes[1].legend(fontsize=6, ncol=2)
    fig.suptitle(f"Night {night}: alerts")
    save_figure(fig, path, dpi=90)
