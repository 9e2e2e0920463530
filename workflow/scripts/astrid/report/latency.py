"""Report section 1: the night's exposure-to-alert latency, as a distribution and through
the night (did the pipeline keep up?)."""

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from astrid.report.figures import save_figure


def latency_figures(minutes: list[float]) -> dict[str, float]:
    """The figures the plot marks: how many frames are timed, the median, the 95th
    percentile and the largest latency.

    Parameters
    ----------
    minutes : list of float
        Latency of each timed frame (minutes).

    Returns
    -------
    dict of str to float
        ``frames``, ``median``, ``p95`` and ``max`` (minutes; NaN without frames).
    """
    values = np.asarray(minutes, float)
    if not len(values):
        return {"frames": 0, "median": float("nan"), "p95": float("nan"), "max": float("nan")}
    return {
        "frames": len(values),
        "median": float(np.median(values)),
        "p95": float(np.percentile(values, 95)),
        "max": float(values.max()),
    }


def plot_latency(rows: list[dict[str, str]], path: Path | str, night: str) -> dict[str, float]:
    """The distribution of the night's exposure-to-alert latency (histogram, median and 95th
    percentile marked) and each frame's latency against the end of its exposure, so that a
    backlog growing through the night shows as a rising line.

    Parameters
    ----------
    rows : list of dict of str to str
        :func:`astrid.ops.monitor.latency.frame_latencies` of the night (frames without
        alerts have an empty ``latency_minutes`` and are not drawn).
    path : pathlib.Path or str
        PNG file to write.
    night : str
        The night, ``YYYYMMDD``, for the title.

    Returns
    -------
    dict of str to float
        :func:`latency_figures` of the timed frames.
    """
    timed = [row for row in rows if row["latency_minutes"]]
    minutes = [float(row["latency_minutes"]) for row in timed]
    figures = latency_figures(minutes)
    fig, (histogram, night_axis) = plt.subplots(1, 2, figsize=(12, 4.5), constrained_layout=True)
    if timed:
        histogram.hist(minutes, bins=min(30, max(5, len(minutes))), color="C0")
        for key, style in (("median", "-"), ("p95", "--")):
            histogram.axvline(figures[key], color="k", linestyle=style, label=f"{key} {figures[key]:.1f} min")
        histogram.legend()
        ends = np.array([np.datetime64(row["exposure_end_utc"].rstrip("Z")) for row in timed])
        order = np.argsort(ends)
        night_axis.plot(ends[order], np.asarray(minutes)[order], "o-", ms=4)
        night_axis.tick_params(axis="x", labelrotation=30)
    else:
        for axis in (histogram, night_axis):
            axis.text(0.5, 0.5, "no frame with alerts", ha="center", va="center", transform=axis.transAxes)
    histogram.set(
        xlabel="latency (min)", ylabel="frames", title=f"{night}: {figures['frames']} frames with alerts"
    )
    night_axis.set(xlabel="end of exposure (UTC)", ylabel="latency (min)", title="through the night")
    save_figure(fig, path, dpi=100)
    return figures
