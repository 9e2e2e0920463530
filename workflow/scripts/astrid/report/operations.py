"""Report section 6, operations: wall time and memory per rule, the monitor's transitions."""

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from astrid.pipeline.runtime import benchmark_jobs
from astrid.report.figures import save_figure


def rule_runtimes(benchmark_dir: Path | str) -> pd.DataFrame:
    """Per rule: jobs, median and total wall seconds and the largest peak memory (MB), from
    Snakemake's benchmark files ``<dir>/<rule>/…/*.tsv``.

    Parameters
    ----------
    benchmark_dir : pathlib.Path or str
        The benchmark folder.

    Returns
    -------
    pandas.DataFrame
        Columns ``rule``, ``jobs``, ``median_s``, ``total_s`` (s) and ``max_rss_mb`` (MB),
        the rule with the most total wall time first.
    """
    frame = pd.DataFrame(benchmark_jobs(benchmark_dir), columns=["rule", "s", "max_rss"])
    summary = frame.groupby("rule").agg(
        jobs=("s", "size"), median_s=("s", "median"), total_s=("s", "sum"), max_rss_mb=("max_rss", "max")
    )
    return summary.sort_values("total_s", ascending=False).reset_index()


def health_events(path: Path | str, last: int = 12) -> list[tuple[str, str, str, str]]:
    """The last transitions recorded by the monitor: (time, check, status, message).

    Parameters
    ----------
    path : pathlib.Path or str
        The monitor's health history (``results/monitoring/health.jsonl``); none recorded
        when it is missing.
    last : int
        How many transitions to return at most.

    Returns
    -------
    list of tuple of str
        (time in UTC, check, status, message), oldest first.
    """
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


def plot_operations(
    runtimes: pd.DataFrame, events: list[tuple[str, str, str, str]], path: Path | str
) -> None:
    """Wall time per rule (total and median per job) and the monitor's recent transitions.

    Parameters
    ----------
    runtimes : pandas.DataFrame
        :func:`rule_runtimes`.
    events : list of tuple of str
        :func:`health_events`.
    path : pathlib.Path or str
        PNG file to write.
    """
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
    axes[1].text(
        0.0,
        1.0,
        text or "no health transitions recorded (make monitor)",
        va="top",
        family="monospace",
        fontsize=8,
    )
    axes[1].set_axis_off()
    axes[1].set_title("Monitoring: recent transitions")
    fig.suptitle("Operations")
    save_figure(fig, path, dpi=90)
