"""Report section 4, the model's history: every registered version, its gate decision and
trigger, each retraining decision, the champion.
"""

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from astrid.report.figures import save_figure

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


def model_history_table(history: dict) -> pd.DataFrame:
    """The real/bogus model's history as one table in time order.

    Parameters
    ----------
    history : dict
        ``versions`` and ``decisions`` as :func:`astrid.realbogus.registry.history` returns them.

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


def plot_model(history: dict, min_f1: float, path: Path | str) -> None:
    """Test F1 of every registered version over time (promoted, rejected, the champion) with
    the gate's ``min_f1_score``; below it each daily retraining decision; on the right the
    champion and the latest decision with its reasons.

    Parameters
    ----------
    history : dict
        ``versions`` and ``decisions`` as :func:`astrid.realbogus.registry.history` returns them.
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
            champion["created"],
            champion["test_f1"],
            marker="*",
            ms=22,
            mfc="none",
            mec="k",
            ls="none",
            label=f"champion v{champion['version']}",
        )
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
