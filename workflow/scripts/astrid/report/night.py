"""Report section 1, the night summary: frames by type and band, quarantine with reasons,
progress, frames waiting, frames that could not be differenced.
"""

import html

import pandas as pd

from astrid.report.figures import table_html


def night_summary(
    manifest: pd.DataFrame,
    quarantine: pd.DataFrame,
    calibration: pd.DataFrame,
    night: str,
    max_observations: int,
    arriving: pd.DataFrame | None = None,
    differences: pd.DataFrame | None = None,
) -> str:
    """The night summary page: frames by type and band, quarantine with reasons, progress,
    the frames still arriving when the night was ingested (``arriving``), and the frames that
    stopped after calibration with their reason codes (``differences``, the night's
    :func:`difference_table`).

    Parameters
    ----------
    manifest : pandas.DataFrame
        The night's usable frames (``exposure``, ``frame_type``, ``field``, ``band``,
        ``date_obs`` …).
    quarantine : pandas.DataFrame
        The night's quarantined frames (``exposure``, ``reason_code``, ``reason``).
    calibration : pandas.DataFrame
        :func:`~astrid.report.calibration.calibration_table` of the night.
    night : str
        The night, ``YYYYMMDD``.
    max_observations : int
        New science frames per run, the reason frames wait for the next run.
    arriving : pandas.DataFrame or None
        Frames still being written when the night was ingested (``exposure``, ``path``);
        none when None.
    differences : pandas.DataFrame or None
        :func:`~astrid.report.difference.difference_table` of the night; the section on
        frames not differenced is left out when None.

    Returns
    -------
    str
        The page, a whole HTML document.
    """
    arriving = pd.DataFrame(columns=["exposure", "path"]) if arriving is None else arriving
    science = manifest[manifest["frame_type"] == "science"]
    done = set(calibration["exposure"])
    deferred = science[~science["exposure"].isin(done)]
    counts = (
        manifest.assign(band=manifest["band"].replace("", "—"))
        .groupby(["frame_type", "band"])
        .size()
        .rename("frames")
        .reset_index()
    )
    reasons = (
        quarantine.groupby("reason_code").size().rename("frames").reset_index()
        if len(quarantine)
        else pd.DataFrame()
    )
    total = len(manifest) + len(quarantine) + len(arriving)
    parts = [
        f"<h2>Night {html.escape(night)}</h2>",
        f"<p><b>{total}</b> raw frames: <b>{len(manifest)}</b> usable, "
        f"<b>{len(quarantine)}</b> quarantined, <b>{len(arriving)}</b> still arriving "
        f"(read by the next run). Science frames: <b>{len(science)}</b>, of which "
        f"<b>{len(done)}</b> calibrated and <b>{len(deferred)}</b> waiting for the next run "
        f"(max_observations = {max_observations} per run, oldest first).</p>",
        "<h3>Usable frames by type and band</h3>",
        table_html(counts),
        "<h3>Quarantined frames</h3>",
        table_html(reasons),
        table_html(quarantine[["exposure", "reason_code", "reason"]] if len(quarantine) else quarantine),
        "<h3>Calibrated science frames</h3>",
        table_html(
            calibration.round(
                {
                    "mjd": 5,
                    "sky_level": 1,
                    "sky_noise": 2,
                    "expected_noise": 2,
                    "pull_std": 3,
                    "masked_fraction": 4,
                }
            )
        ),
    ]
    if len(deferred) or len(arriving):
        waiting = pd.concat(
            [
                deferred[["exposure", "field", "band", "date_obs"]].assign(why="max_observations per run"),
                arriving[["exposure"]].assign(why="still being written when the night was ingested"),
            ]
        )
        parts += ["<h3>Waiting for the next run</h3>", table_html(waiting)]
    if differences is not None:
        stopped = differences[differences["status"] != "ok"]
        uncalibrated = differences[differences["photometry"] == "instrumental"]
        stopped = stopped[["exposure", "field", "band", "status", "reason"]]
        parts += [
            "<h3>Frames that could not be differenced</h3>",
            table_html(stopped.rename(columns={"status": "reason_code"})),
        ]
        if len(uncalibrated):
            fields = ", ".join(sorted(set(uncalibrated["field"])))
            parts.append(
                f"<p>Without a catalog zero point (instrumental magnitudes, limits in electrons): "
                f"field(s) {html.escape(fields)}.</p>"
            )
    style = (
        "<style>body{font-family:sans-serif;margin:1em}table.astrid{border-collapse:collapse;"
        "margin-bottom:1em}table.astrid td,table.astrid th{padding:2px 8px;border-bottom:1px solid #ddd;"
        "text-align:left}</style>"
    )
    return f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>AstrID night {html.escape(night)}</title>{style}</head><body>{''.join(parts)}</body></html>"
