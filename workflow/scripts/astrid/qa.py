"""Quality assurance of a night: tables, plots and the night summary page."""

import html
import logging
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from astropy.io import fits  # noqa: E402
from astropy.visualization import ImageNormalize, ZScaleInterval  # noqa: E402

from astrid.calibrate import QA_KEYWORDS  # noqa: E402
from astrid.fitsio import atomic_output  # noqa: E402
from astrid.runtime import benchmark_jobs  # noqa: E402

log = logging.getLogger(__name__)

CALIBRATION_COLUMNS = ["exposure", "field", "band", "mjd"] + list(QA_KEYWORDS)


def save_figure(fig, path, dpi):
    """Write a figure whole or not at all, and free it."""
    with atomic_output(path) as tmp:
        fig.savefig(tmp, dpi=dpi)
    plt.close(fig)


def calibration_table(paths):
    """One row of QA figures per calibrated frame, read from the products' headers."""
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


def plot_calibration(table, path, night):
    """Sky level, sky noise against the variance plane's prediction, and the pull scatter."""
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


def plot_masters(bias_path, dark_path, flat_paths, path, night):
    """The night's master frames side by side, each with a z-scale stretch."""
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


def _table_html(frame):
    if frame.empty:
        return "<p><em>none</em></p>"
    return frame.to_html(index=False, border=0, classes="astrid", escape=True, na_rep="")


def night_summary(manifest, quarantine, calibration, night, max_observations, arriving=None, differences=None):
    """The night summary page: frames by type and band, quarantine with reasons, progress,
    the frames still arriving when the night was ingested (``arriving``), and the frames that
    stopped after calibration with their reason codes (``differences``, the night's
    :func:`difference_table`)."""
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
        _table_html(counts),
        "<h3>Quarantined frames</h3>",
        _table_html(reasons),
        _table_html(quarantine[["exposure", "reason_code", "reason"]] if len(quarantine) else quarantine),
        "<h3>Calibrated science frames</h3>",
        _table_html(
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
        parts += ["<h3>Waiting for the next run</h3>", _table_html(waiting)]
    if differences is not None:
        stopped = differences[differences["status"] != "ok"]
        uncalibrated = differences[differences["photometry"] == "instrumental"]
        stopped = stopped[["exposure", "field", "band", "status", "reason"]]
        parts += [
            "<h3>Frames that could not be differenced</h3>",
            _table_html(stopped.rename(columns={"status": "reason_code"})),
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


def difference_table(candidate_paths):
    """One row per differenced frame from the candidate tables' metadata."""
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


def plot_differences(table, path, night):
    """S_corr noise, limiting magnitude and candidate count per differenced frame."""
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


def plot_gallery(candidate_paths, cutout_paths, path, night, n_show=12):
    """Science / reference / difference cutouts of the night's highest-S/N candidates."""
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


def plot_scores(scored_paths, drift_report, path, night):
    """Real/bogus scores of the night's candidates per frame, and the drift check's figures."""
    from astropy.table import Table

    tables = [(Path(p).stem, Table.read(p, format="ascii.ecsv")) for p in scored_paths]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2), constrained_layout=True)
    scores = np.concatenate([np.asarray(t["rb_score"], float) for _, t in tables]) if tables else np.zeros(0)
    threshold = drift_report["threshold"]
    axes[0].hist(scores, bins=np.linspace(0, 1, 21), color="0.4")
    axes[0].axvline(threshold, color="C3", label=f"threshold {threshold}")
    axes[0].set(title="Scores of the night's candidates", xlabel="real/bogus score", ylabel="candidates")
    axes[0].legend(fontsize=8)
    x = np.arange(len(tables))
    real = [int(np.sum(t["rb_real"])) for _, t in tables]
    axes[1].bar(x, [len(t) for _, t in tables], color="0.8", label="candidates")
    axes[1].bar(x, real, color="C0", label="called real")
    axes[1].set_xticks(x, [name for name, _ in tables], rotation=60, fontsize=7)
    axes[1].set(title="Per frame", ylabel="candidates")
    axes[1].legend(fontsize=8)
    figures = drift_report["figures"]
    lines = [
        f"model {drift_report['model_name']} v{drift_report['model_version']}",
        f"training set {drift_report['dataset_version']}",
        "",
    ]
    lines += [
        f"{name}: {value:.3f}" if isinstance(value, float) else f"{name}: {value}"
        for name, value in sorted(figures.items())
        if value is not None
    ]
    axes[2].text(0.02, 0.98, "\n".join(lines), va="top", family="monospace", fontsize=9)
    axes[2].set_axis_off()
    axes[2].set_title("Drift against the training set")
    fig.suptitle(f"Night {night}: real/bogus scoring")
    save_figure(fig, path, dpi=90)


def plot_alerts(alerts, light_curves, path, night):
    """Map of the night's alerts per field (new objects and known ones) and light curves of
    the objects alerted tonight: detections (magnitude, one line per band) and non-detections
    (the frame's 5σ limit, as upper limits).

    ``alerts`` is the night's alerts.tsv as a DataFrame; ``light_curves`` maps object id →
    (detections [(mjd, band, mag)], non-detections [(mjd, band, limit)]).
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


def rule_runtimes(benchmark_dir):
    """Per rule: jobs, median and total wall seconds and the largest peak memory (MB), from
    Snakemake's benchmark files ``<dir>/<rule>/…/*.tsv``."""
    frame = pd.DataFrame(benchmark_jobs(benchmark_dir), columns=["rule", "s", "max_rss"])
    summary = frame.groupby("rule").agg(jobs=("s", "size"), median_s=("s", "median"), total_s=("s", "sum"),
                                         max_rss_mb=("max_rss", "max"))  # fmt: skip
    return summary.sort_values("total_s", ascending=False).reset_index()


def health_events(path, last=12):
    """The last transitions recorded by the monitor: (time, check, status, message)."""
    import json

    events, previous = [], {}
    if Path(path).exists():
        for line in Path(path).read_text().splitlines():
            entry = json.loads(line)
            for check in entry["checks"]:
                if previous.get(check["name"], "ok") != check["status"]:
                    events.append((entry["time"], check["name"], check["status"], check["message"]))
            previous = entry["statuses"]
    return events[-last:]


def plot_operations(runtimes, events, path):
    """Wall time per rule (total and median per job) and the monitor's recent transitions."""
    fig, axes = plt.subplots(1, 2, figsize=(15, max(4.5, 0.3 * len(runtimes) + 1.5)), constrained_layout=True)
    y = np.arange(len(runtimes))
    axes[0].barh(y, runtimes["total_s"], color="0.6", label="total")
    axes[0].barh(y, runtimes["median_s"], color="C0", label="median job")
    axes[0].set_yticks(
        y, [f"{r} ({n})" for r, n in zip(runtimes["rule"], runtimes["jobs"], strict=True)], fontsize=8
    )
    axes[0].invert_yaxis()
    axes[0].set(title="Wall time per rule (jobs in brackets)", xlabel="seconds")
    axes[0].legend(fontsize=8)
    text = "\n".join(f"{t}  {status.upper():8}  {message[:70]}" for t, _, status, message in events)
    axes[1].text(0.0, 1.0, text or "no health transitions recorded (make monitor)", va="top", family="monospace",
                 fontsize=8)  # fmt: skip
    axes[1].set_axis_off()
    axes[1].set_title("Monitoring: recent transitions")
    fig.suptitle("Operations")
    save_figure(fig, path, dpi=90)


MODEL_COLUMNS = [
    "time",
    "event",
    "version",
    "champion_now",
    "dataset",
    "test_f1",
    "gate",
    "trigger",
    "retrain",
    "reasons",
]


def model_history_table(history):
    """The real/bogus model's history as one table in time order.

    Parameters
    ----------
    history : dict
        ``versions`` and ``decisions`` as :func:`astrid.registry.history` returns them.

    Returns
    -------
    pandas.DataFrame
        One row per registered version (``event`` "registered": its version, whether it is
        the champion now, training set, test F1, gate decision, what triggered its training,
        and the gate's reason in ``reasons``) and one per daily drift check (``event``
        "drift-check": the champion it checked in ``version``, ``retrain`` and its reasons).
    """
    rows = [
        {
            "time": v["created"],
            "event": "registered",
            "version": v["version"],
            "champion_now": v["champion"],
            "dataset": v["dataset"],
            "test_f1": v["test_f1"],
            "gate": v["gate"],
            "trigger": v["trigger"],
            "reasons": v["gate_reason"],
        }
        for v in history["versions"]
    ]
    rows += [
        {
            "time": d["time"],
            "event": "drift-check",
            "version": d["champion"],
            "retrain": d["retrain"],
            "reasons": "; ".join(d["reasons"]),
        }
        for d in history["decisions"]
    ]
    frame = pd.DataFrame(rows, columns=MODEL_COLUMNS).astype({"version": "Int64"})
    return frame.sort_values("time", kind="stable").reset_index(drop=True)


def _wrapped(text, width=58, indent="  "):
    import textwrap

    return textwrap.fill(text, width, initial_indent=indent, subsequent_indent=indent + "  ")


def _model_summary(versions, decisions):
    """Lines of the model panel's text: the champion, the counts, the latest decision."""
    champion = next((v for v in versions if v["champion"]), None)
    promoted = sum(v["gate"] == "promoted" for v in versions)
    lines = ["champion: none"]
    if champion:
        f1 = "?" if champion["test_f1"] is None else f"{champion['test_f1']:.4f}"
        lines = [f"champion: v{champion['version']}", f"  training set {champion['dataset']}, test F1 {f1}"]
    lines += [
        f"registered versions: {len(versions)} ({promoted} promoted, {len(versions) - promoted} rejected)",
        f"drift checks: {len(decisions)}, {sum(d['retrain'] for d in decisions)} decided to retrain",
    ]
    if decisions:
        latest = decisions[-1]
        verdict = "RETRAIN" if latest["retrain"] else "keep the champion"
        lines += [
            "",
            f"latest decision {latest['time']:%Y-%m-%d %H:%M} UTC",
            f"  on v{latest['champion']}: {verdict}",
        ]
        lines += [_wrapped(f"- {reason}") for reason in latest["reasons"][:6]]
        if len(latest["reasons"]) > 6:
            lines.append(f"  … and {len(latest['reasons']) - 6} more")
    if versions:
        newest = versions[-1]
        lines += ["", f"newest version v{newest['version']}: {newest['gate']}"]
        lines.append(_wrapped(newest["gate_reason"] or ""))
        lines.append(_wrapped(f"trigger: {newest['trigger']}"))
    return lines


def plot_model(history, min_f1, path):
    """Test F1 of every registered version over time (promoted, rejected, the champion) with
    the gate's ``min_f1_score``; below it each daily retraining decision; on the right the
    champion and the latest decision with its reasons.

    Parameters
    ----------
    history : dict
        ``versions`` and ``decisions`` as :func:`astrid.registry.history` returns them.
    min_f1 : float
        The gate's ``realbogus.min_f1_score``, drawn as a line.
    path : str or Path
        PNG file to write.
    """
    import matplotlib.dates as mdates

    versions, decisions = history["versions"], history["decisions"]
    fig, axes = plt.subplot_mosaic(
        [["f1", "text"], ["decisions", "text"]],
        figsize=(15, 5.5),
        height_ratios=[3, 1],
        width_ratios=[2, 1],
        constrained_layout=True,
    )
    f1_ax, decision_ax, text_ax = axes["f1"], axes["decisions"], axes["text"]
    decision_ax.sharex(f1_ax)
    scored = [v for v in versions if v["test_f1"] is not None]
    for gate, style in (
        ("promoted", {"marker": "o", "color": "C2"}),
        ("rejected", {"marker": "x", "color": "C3"}),
    ):
        chosen = [v for v in scored if v["gate"] == gate]
        if chosen:
            f1_ax.plot(
                [v["created"] for v in chosen],
                [v["test_f1"] for v in chosen],
                ls="none",
                ms=8,
                label=gate,
                **style,
            )
    for v in scored:
        f1_ax.annotate(
            f"v{v['version']}",
            (v["created"], v["test_f1"]),
            xytext=(5, 5),
            textcoords="offset points",
            fontsize=8,
        )
    champion = next((v for v in scored if v["champion"]), None)
    if champion:
        f1_ax.plot(
            champion["created"], champion["test_f1"], marker="*", ms=22, mfc="none", mec="k", ls="none",
            label=f"champion v{champion['version']}",
        )  # fmt: skip
    f1_ax.axhline(min_f1, color="k", ls="--", lw=0.8, label=f"gate: min_f1_score {min_f1}")
    f1_ax.set(title="Registered versions: F1 on their test split", ylabel="test F1")
    if not versions:
        f1_ax.text(0.5, 0.5, "no registered version yet", ha="center", transform=f1_ax.transAxes)
    f1_ax.margins(x=0.08, y=0.2)
    f1_ax.legend(fontsize=8)
    f1_ax.tick_params(labelbottom=False)
    for retrain, style in ((False, {"marker": "o", "color": "0.5"}), (True, {"marker": "^", "color": "C3"})):
        times = [d["time"] for d in decisions if d["retrain"] == retrain]
        if times:
            decision_ax.plot(times, [int(retrain)] * len(times), ls="none", ms=9, **style)
    if not decisions:
        decision_ax.text(
            0.5, 0.5, "no drift check yet", ha="center", va="center", transform=decision_ax.transAxes
        )
    decision_ax.set_yticks([0, 1], ["keep", "retrain"])
    decision_ax.set(ylim=(-0.6, 1.6), title="Daily drift checks: decision", xlabel="time (UTC)")
    if versions or decisions:
        locator = mdates.AutoDateLocator()
        decision_ax.xaxis.set_major_locator(locator)
        decision_ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    text_ax.text(
        0.0, 1.0, "\n".join(_model_summary(versions, decisions)), va="top", family="monospace", fontsize=8.5
    )
    text_ax.set_axis_off()
    text_ax.set_title("Champion and latest decision")
    fig.suptitle("Real/bogus model: versions, champion and retraining decisions")
    save_figure(fig, path, dpi=90)
