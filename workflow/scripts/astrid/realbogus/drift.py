"""Drift of a night against the champion's training set, and the retraining decision."""

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

DRIFT_FEATURES = ("snr", "elongation", "neg_frac", "dipole_min")


@dataclass(frozen=True)
class DriftSettings:
    """Thresholds of the daily check; each has a ``realbogus.drift.*`` config key."""

    max_psi: float = 0.25  # population stability index of the score distribution
    max_ks: float = 0.25  # Kolmogorov–Smirnov statistic of any key feature
    min_recall: float = 0.90  # champion's recall on the night's injected fakes
    max_new_nights: int = 7  # nights not in the champion's training set before retraining
    min_samples: int = 500  # a night with fewer labelled samples is not judged (too noisy)


def psi(reference: np.ndarray, current: np.ndarray, bins: int = 10) -> float:
    """Population stability index of ``current`` against ``reference`` (deciles of the
    reference; 0.1–0.25 is a moderate shift, above 0.25 a large one).

    Parameters
    ----------
    reference : numpy.ndarray
        Values of the reference population (the champion's test scores).
    current : numpy.ndarray
        Values of the population compared with it.
    bins : int
        Number of quantile bins of the reference (10: deciles).

    Returns
    -------
    float
        The index, NaN when either population is empty.
    """
    reference, current = np.asarray(reference, float), np.asarray(current, float)
    if not len(reference) or not len(current):
        return float("nan")
    edges = np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)))
    edges[0], edges[-1] = -np.inf, np.inf
    expected = np.histogram(reference, edges)[0] / len(reference)
    actual = np.histogram(current, edges)[0] / len(current)
    expected, actual = np.clip(expected, 1e-4, None), np.clip(actual, 1e-4, None)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def night_drift(
    reference: dict,
    scores: np.ndarray,
    features: Mapping[str, np.ndarray],
    fake_scores: np.ndarray,
    threshold: float,
) -> dict:
    """Drift figures of one night.

    Parameters
    ----------
    reference : dict
        ``scores`` and ``features`` (name → array) of the champion's test split.
    scores : numpy.ndarray
        Scores of the night's labelled samples (made as the training set's are).
    features : Mapping
        Their features (name → array), as in ``reference``.
    fake_scores : numpy.ndarray
        Scores of the night's injected fakes that were detected.
    threshold : float
        Operating threshold of the champion.

    Returns
    -------
    dict
        ``score_psi`` (:func:`psi` of the scores against the reference's), ``fake_recall``
        (fraction of ``fake_scores`` ≥ ``threshold``, NaN without fakes), ``samples``
        (number of samples) and ``ks_<name>`` for each of :data:`DRIFT_FEATURES` (two-sample
        Kolmogorov–Smirnov statistic of the finite values, NaN when either side has none).
    """
    # scipy.stats takes half a second to import: only the drift check needs it, not every
    # job that imports this module's names (score_candidates, through lifecycle).
    from scipy.stats import ks_2samp

    figures = {
        "score_psi": psi(reference["scores"], scores),
        "fake_recall": float(np.mean(np.asarray(fake_scores) >= threshold))
        if len(fake_scores)
        else float("nan"),
        "samples": int(len(scores)),
    }
    for name in DRIFT_FEATURES:
        ref, now = np.asarray(reference["features"][name], float), np.asarray(features[name], float)
        ref, now = ref[np.isfinite(ref)], now[np.isfinite(now)]
        figures[f"ks_{name}"] = float(ks_2samp(ref, now).statistic) if len(ref) and len(now) else float("nan")
    return figures


def _known(value) -> bool:
    """A figure that was measured: not None (NaN as read back from JSON) and not NaN."""
    return value is not None and bool(np.isfinite(value))


def retraining_decision(
    nights: Mapping[str, dict], new_nights: list[str], settings: DriftSettings
) -> tuple[bool, list[str]]:
    """Whether to retrain, and every reason, from the drift figures of each night.

    ``nights`` maps night → figures of :func:`night_drift`; ``new_nights`` lists the nights
    processed since the champion's training set was built. A night with fewer than
    ``min_samples`` samples is not judged: its statistics would be noise.

    Parameters
    ----------
    nights : Mapping
        Night → its figures (:func:`night_drift`).
    new_nights : list of str
        Nights processed since the champion's training set was built.
    settings : DriftSettings
        Thresholds of the check.

    Returns
    -------
    (bool, list of str)
        Whether to retrain, and why (one reason per threshold crossed; empty when none).
    """
    reasons = []
    for night, figures in sorted(nights.items()):
        if figures["samples"] < settings.min_samples:
            continue
        if _known(figures["score_psi"]) and figures["score_psi"] > settings.max_psi:
            reasons.append(f"{night}: score PSI {figures['score_psi']:.3f} > {settings.max_psi}")
        for name in DRIFT_FEATURES:
            value = figures[f"ks_{name}"]  # None where not measured (a starter model's)
            if _known(value) and value > settings.max_ks:
                reasons.append(f"{night}: KS of {name} {value:.3f} > {settings.max_ks}")
        if _known(figures["fake_recall"]) and figures["fake_recall"] < settings.min_recall:
            reasons.append(
                f"{night}: recall on injected fakes {figures['fake_recall']:.3f} < {settings.min_recall}"
            )
    if len(new_nights) >= settings.max_new_nights:
        reasons.append(
            f"{len(new_nights)} nights not in the training set ≥ max_new_nights {settings.max_new_nights}"
        )
    return bool(reasons), reasons
