"""Report section 4, real/bogus: score distributions and drift of a night."""

from collections.abc import Iterable
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from astrid.report.figures import save_figure


def plot_scores(scored_paths: Iterable[Path | str], drift_report: dict, path: Path | str, night: str) -> None:
    """Real/bogus scores of the night's candidates per frame, and the drift check's figures.

    Parameters
    ----------
    scored_paths : iterable of pathlib.Path or str
        The night's scored candidate tables (ECSV, ``rb_score`` and ``rb_real``), one per
        frame, named after the exposure.
    drift_report : dict
        The night's drift check: ``threshold`` (score), ``model_name``, ``model_version``,
        ``dataset_version`` and its ``figures``.
    path : pathlib.Path or str
        PNG file to write.
    night : str
        The night, ``YYYYMMDD``, for the title.
    """
    from astropy.table import Table

    tables = [(Path(p).stem, Table.read(p, format="ascii.ecsv")) for p in scored_paths]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2), constrained_layout=True)
    scores = np.concatenate([np.asarray(t["rb_score"], float) for _, t in tables]) if tables else np.zeros(0)
    threshold = drift_report["threshold"]
    axes[0].hist(scores, bins=np.linspace(0, 1, 21), color="0.4")
    if threshold is not None:
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
    if drift_report["model_name"] is None:
        lines = [f"not scored: {drift_report.get('reason', 'no model')}"]
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
