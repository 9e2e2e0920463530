"""The real/bogus CNN: normalisation, network, training, scoring and its figures of merit.

The network follows braai (Duev et al. 2019): convolution blocks with pooling and dropout
and one dense layer, on the science/reference/difference triplet. It is narrower than
braai (three blocks of 16/32/32 filters, one convolution each); scored through a traced,
inference-optimised graph (fused convolutions), it scores about two thousand cutouts a
second on one CPU core.

Each plane of a triplet is normalised by its own median and robust spread and compressed
with asinh, which makes the input independent of the image's flux scale and zero point.
"""

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

PLANES = ("science", "reference", "difference")


@dataclass(frozen=True)
class TrainSettings:
    """Choices of the training; each has a ``realbogus.training.*`` config key."""

    epochs: int = 15
    batch_size: int = 128
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4
    dropout: float = 0.25
    seed: int = 0


def normalise(cutouts: np.ndarray, crop: int | None = None) -> np.ndarray:
    """Flux-scale-free planes: (x − median) / robust σ per plane, then asinh(·/5).

    Non-finite pixels become 0 (the median). ``crop`` keeps the central crop×crop pixels.

    Parameters
    ----------
    cutouts : numpy.ndarray
        Cutout triplets (n, 3, size, size), in any flux unit.
    crop : int, optional
        Side (pixels) of the central crop to keep; None keeps the whole cutout.

    Returns
    -------
    numpy.ndarray
        The normalised planes, float32 and dimensionless, (n, 3, crop, crop).
    """
    x = np.asarray(cutouts, np.float32)
    if crop is not None and crop < x.shape[-1]:
        start = (x.shape[-1] - crop) // 2
        x = x[..., start : start + crop, start : start + crop]
    x = np.array(x, np.float32, copy=True)  # worked on in place from here
    finite = bool(np.isfinite(x).all())
    if not finite:
        x[~np.isfinite(x)] = np.nan
    # Every third pixel is plenty for a median and a spread, and three times faster.
    sample = x.reshape(*x.shape[:2], -1)[..., ::3]
    middle = np.median if finite else np.nanmedian
    median = middle(sample, axis=2)
    spread = 1.4826 * middle(np.abs(sample - median[..., None]), axis=2)
    # A plane that is flat (an empty reference, a zero-filled edge) keeps spread 1.
    spread = np.where(np.isfinite(spread) & (spread > 0), spread, 1.0).astype(np.float32)
    median = np.where(np.isfinite(median), median, 0.0).astype(np.float32)
    x -= median[..., None, None]
    x /= 5.0 * spread[..., None, None]
    if not finite:
        np.nan_to_num(x, copy=False, nan=0.0)
    # Clipped first: a saturated pixel or a near-empty plane must not overflow float32.
    np.clip(x, -2e5, 2e5, out=x)
    return np.arcsinh(x, out=x)


def build_network(dropout: float = 0.25) -> "torch.nn.Module":
    """The CNN: 3×63×63 triplet → one logit (real if positive).

    Parameters
    ----------
    dropout : float
        Dropout probability after the convolutions and after the dense layer.

    Returns
    -------
    torch.nn.Module
        The untrained network (a ``torch.nn.Sequential``).
    """
    import torch.nn as nn

    return nn.Sequential(
        # Full resolution first: dipoles and rings are a pixel wide (a stride-2 first layer
        # doubled the false positives of misaligned and PSF-mismatched subtractions).
        nn.Conv2d(3, 16, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),  # 31
        nn.Conv2d(16, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),  # 15
        nn.Conv2d(32, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),  # 7
        nn.Dropout(dropout),
        nn.Flatten(),
        nn.Linear(32 * 7 * 7, 64),
        nn.ReLU(),
        nn.Dropout(dropout),
        nn.Linear(64, 1),
    )


def _augment(batch, generator):
    """Random rotations by multiples of 90° and flips of whole triplets (orientation-free)."""
    import torch

    k = int(torch.randint(0, 4, (1,), generator=generator))
    batch = torch.rot90(batch, k, dims=(2, 3))
    if bool(torch.randint(0, 2, (1,), generator=generator)):
        batch = torch.flip(batch, dims=(3,))
    return batch


def train(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    settings: TrainSettings = TrainSettings(),
    on_epoch: Callable[[int, dict], None] | None = None,
    threads: int = 1,
    weights: np.ndarray | None = None,
    device: "torch.device | None" = None,
    build: "Callable[[float], torch.nn.Module]" = build_network,
) -> "tuple[torch.nn.Module, list[dict]]":
    """Train the network on normalised triplets; keep the epoch with the lowest validation loss.

    ``weights`` (one per training sample, mean 1) weigh the loss; by default the two
    classes weigh the same in total.

    ``on_epoch(epoch, metrics)`` is called after each epoch with the training loss and the
    validation loss, AUC and accuracy (for live progress and MLflow).

    ``device`` (default the CPU) is where the network learns; the samples stay in host
    memory and go over one batch at a time.

    Parameters
    ----------
    x_train, x_val : numpy.ndarray
        Normalised float32 triplets (n, 3, h, w) of the training and validation splits
        (:func:`normalise`).
    y_train, y_val : numpy.ndarray
        Their labels (1 real, 0 bogus).
    settings : TrainSettings
        Epochs, batch size, optimiser, dropout and seed.
    on_epoch : callable, optional
        ``on_epoch(epoch, metrics)``, called after each epoch.
    threads : int
        Torch CPU threads.
    weights : numpy.ndarray, optional
        Loss weight of each training sample (mean 1); by default :func:`class_weights` of
        ``y_train``.
    device : torch.device, optional
        Where the network learns; by default the CPU.
    build : callable
        ``build(dropout)`` makes the untrained network (by default :func:`build_network`).

    Returns
    -------
    (torch.nn.Module, list of dict)
        The trained network (eval mode) and the per-epoch metrics.
    """
    import torch

    torch.manual_seed(settings.seed)
    torch.set_num_threads(max(1, threads))
    generator = torch.Generator().manual_seed(settings.seed)
    device = device or torch.device("cpu")
    net = build(settings.dropout).to(device)
    optimiser = torch.optim.AdamW(
        net.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay
    )
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, max(1, settings.epochs))
    if weights is None:
        weights = class_weights(y_train)
    loss_fn = torch.nn.BCEWithLogitsLoss(reduction="none")
    xt, yt = torch.from_numpy(x_train), torch.from_numpy(y_train.astype(np.float32))
    wt = torch.from_numpy(np.asarray(weights, np.float32))
    history, best_loss, best_state = [], math.inf, None
    for epoch in range(1, settings.epochs + 1):
        start = time.perf_counter()
        net.train()
        order = torch.randperm(len(xt), generator=generator)
        total = 0.0
        for begin in range(0, len(order), settings.batch_size):
            index = order[begin : begin + settings.batch_size]
            optimiser.zero_grad()
            batch = _augment(xt[index], generator).to(device)
            loss = loss_fn(net(batch).squeeze(1), yt[index].to(device)) * wt[index].to(device)
            loss = loss.mean()
            loss.backward()
            optimiser.step()
            total += float(loss.detach()) * len(index)
        schedule.step()
        val_scores = predict(net, x_val, device=device, threads=threads)
        with np.errstate(divide="ignore"):
            val_loss = float(
                -np.mean(
                    y_val * np.log(np.clip(val_scores, 1e-7, 1))
                    + (1 - y_val) * np.log(np.clip(1 - val_scores, 1e-7, 1))
                )
            )
        metrics = {
            "train_loss": total / len(order),
            "val_loss": val_loss,
            "val_auc": roc_auc(y_val, val_scores),
            "val_accuracy": float(np.mean((val_scores >= 0.5) == (y_val == 1))),
            "epoch_seconds": time.perf_counter() - start,
        }
        history.append(metrics)
        if val_loss < best_loss:
            best_loss = val_loss
            best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
        if on_epoch is not None:
            on_epoch(epoch, metrics)
    net.load_state_dict(best_state)
    return net.eval(), history


def class_weights(labels: np.ndarray, groups: np.ndarray | None = None, max_boost: float = 5.0) -> np.ndarray:
    """Per-sample loss weights (mean 1): both classes weigh the same in total, and within a
    class each group (sample kind) too, a rare group boosted at most ``max_boost`` times.

    Parameters
    ----------
    labels : numpy.ndarray
        Label of each sample (true or 1: real).
    groups : numpy.ndarray, optional
        Group of each sample (its kind); by default one group per class.
    max_boost : float
        Largest weight of a group's sample relative to that of a group of average size.

    Returns
    -------
    numpy.ndarray
        Weight of each sample.
    """
    labels = np.asarray(labels).astype(bool)
    groups = np.asarray(labels if groups is None else groups).astype(str)
    weights = np.ones(len(labels))
    for cls in (False, True):
        members = labels == cls
        if not members.any():
            continue
        kinds, counts = np.unique(groups[members], return_counts=True)
        share = members.sum() / len(kinds)
        for kind, count in zip(kinds, counts, strict=True):
            weights[members & (groups == kind)] = min(share / count, max_boost)
        weights[members] *= 0.5 * len(labels) / weights[members].sum()
    return weights


def requested_gpus(resources: Mapping) -> int:
    """GPUs a job was given: its ``gpu`` resource, else the count of a ``gres`` such as
    ``gpu:2`` or ``gpu:a100:1`` (sites route GPU rules either way; see profiles/README.md).

    Parameters
    ----------
    resources : Mapping
        The job's resources: Snakemake's ``resources``, or any mapping with ``get``.

    Returns
    -------
    int
        Number of GPUs, 0 for none.
    """
    gpus = int(resources.get("gpu", 0) or 0)
    gres = str(resources.get("gres", "") or "")
    if gpus or not gres.startswith("gpu"):
        return gpus
    count = gres.split(":")[-1]
    return int(count) if count.isdigit() else 1


def resolve_device(gpus: int | None) -> "torch.device":
    """The torch device of a job given ``gpus`` GPUs; CUDA that is missing is an error.

    Parameters
    ----------
    gpus : int or None
        GPUs the job was given (:func:`requested_gpus`); 0 or None means the CPU.

    Returns
    -------
    torch.device
        ``cuda`` when the job was given GPUs, else ``cpu``.

    Raises
    ------
    RuntimeError
        The job was given GPUs but torch sees no CUDA device.
    """
    import torch

    if gpus and gpus > 0:
        if not torch.cuda.is_available():
            raise RuntimeError(
                f"the job was given {gpus} GPU(s) (resources gpu={gpus}) but torch sees no CUDA device "
                f"(torch {torch.__version__}, CUDA build {torch.version.cuda}); "
                "run it on a GPU node or set realbogus.gpus: 0"
            )
        return torch.device("cuda")
    return torch.device("cpu")


def predict(
    net: "torch.nn.Module",
    x: np.ndarray,
    batch_size: int = 1024,
    device: "torch.device | None" = None,
    threads: int | None = None,
) -> np.ndarray:
    """Real/bogus scores in [0, 1] of normalised triplets ``x`` (n, 3, h, w).

    Parameters
    ----------
    net : torch.nn.Module
        The trained network; it is moved to ``device`` and put in eval mode.
    x : numpy.ndarray
        Normalised float32 triplets (:func:`normalise`).
    batch_size : int
        Triplets scored at a time.
    device : torch.device, optional
        Where to score; by default the CPU.
    threads : int, optional
        Torch CPU threads; None leaves torch's setting.

    Returns
    -------
    numpy.ndarray
        The float32 score of each triplet.
    """
    import torch

    if threads:
        torch.set_num_threads(threads)
    device = device or torch.device("cpu")
    net = net.to(device).eval()
    scores = np.empty(len(x), np.float32)
    if device.type == "cpu" and len(x) > 256:
        # A traced, frozen graph fuses convolution and activation (oneDNN): about 3× faster.
        with torch.inference_mode():
            net = torch.jit.optimize_for_inference(torch.jit.trace(net, torch.from_numpy(x[:2].copy())))
    with torch.inference_mode():
        for begin in range(0, len(x), batch_size):
            batch = torch.from_numpy(np.ascontiguousarray(x[begin : begin + batch_size])).to(device)
            scores[begin : begin + len(batch)] = torch.sigmoid(net(batch)).squeeze(1).float().cpu().numpy()
    return scores


def operating_threshold(
    labels: np.ndarray, scores: np.ndarray, target_fpr: float, floor: float = 0.5, ceiling: float = 0.99
) -> float:
    """The lowest threshold at which at most ``target_fpr`` of the bogus ``scores`` pass,
    kept within [floor, ceiling].

    Parameters
    ----------
    labels : numpy.ndarray
        Label of each sample (1 real, 0 bogus).
    scores : numpy.ndarray
        Score of each sample, in [0, 1].
    target_fpr : float
        Largest fraction of the bogus samples that may pass.
    floor, ceiling : float
        Bounds of the threshold.

    Returns
    -------
    float
        The threshold: a score passes (is called real) when it is ≥ the threshold.
    """
    bogus = np.sort(np.asarray(scores)[~np.asarray(labels).astype(bool)])
    allowed = int(np.floor(target_fpr * len(bogus)))
    if len(bogus) <= allowed:
        return float(floor)
    threshold = float(np.nextafter(bogus[len(bogus) - allowed - 1], np.float32(np.inf)))
    return float(np.clip(threshold, floor, ceiling))


def best_f1_threshold(
    labels: np.ndarray, scores: np.ndarray, floor: float = 0.05, ceiling: float = 0.99
) -> float:
    """The threshold that maximises F1 on a labelled split (kept within [floor, ceiling]):
    the operating point of a model whose validation split is not the site's own data.

    Parameters
    ----------
    labels : numpy.ndarray
        Label of each sample (1 real, 0 bogus).
    scores : numpy.ndarray
        Score of each sample, in [0, 1].
    floor, ceiling : float
        Bounds of the threshold.

    Returns
    -------
    float
        The threshold: a score passes (is called real) when it is ≥ the threshold.
    """
    labels = np.asarray(labels).astype(bool)
    order = np.argsort(-np.asarray(scores, float), kind="stable")
    ranked = np.asarray(scores, float)[order]
    tp = np.cumsum(labels[order])
    fp = np.cumsum(~labels[order])
    f1 = 2 * tp / (2 * tp + fp + (labels.sum() - tp))
    # Only where the next score differs can the threshold fall between them.
    last_of_tie = np.r_[ranked[1:] != ranked[:-1], True]
    best = int(np.argmax(np.where(last_of_tie, f1, -1)))
    return float(np.clip(ranked[best], floor, ceiling))


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve (the Mann–Whitney statistic, ties counted half).

    Parameters
    ----------
    labels : numpy.ndarray
        Label of each sample (1 real, 0 bogus).
    scores : numpy.ndarray
        Score of each sample.

    Returns
    -------
    float
        The area, NaN when either class is missing.
    """
    from scipy.stats import rankdata

    labels = np.asarray(labels).astype(bool)
    n_pos, n_neg = labels.sum(), (~labels).sum()
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(scores)
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def roc_curve(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """False- and true-positive rates at every distinct threshold (for plots).

    Parameters
    ----------
    labels : numpy.ndarray
        Label of each sample (1 real, 0 bogus).
    scores : numpy.ndarray
        Score of each sample.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        False-positive rates and true-positive rates, from (0, 0) with the threshold falling.
    """
    labels = np.asarray(labels).astype(bool)
    order = np.argsort(-np.asarray(scores), kind="stable")
    tp = np.cumsum(labels[order])
    fp = np.cumsum(~labels[order])
    return np.r_[0, fp / max(1, (~labels).sum())], np.r_[0, tp / max(1, labels.sum())]


def confusion(labels: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, int]:
    """Counts of true and false positives and negatives at ``threshold``.

    Parameters
    ----------
    labels : numpy.ndarray
        Label of each sample (1 real, 0 bogus).
    scores : numpy.ndarray
        Score of each sample.
    threshold : float
        A sample is called real when its score is ≥ the threshold.

    Returns
    -------
    dict
        ``tp``, ``fp``, ``tn`` and ``fn`` (int).
    """
    labels = np.asarray(labels).astype(bool)
    called = np.asarray(scores) >= threshold
    return {
        "tp": int((called & labels).sum()),
        "fp": int((called & ~labels).sum()),
        "tn": int((~called & ~labels).sum()),
        "fn": int((~called & labels).sum()),
    }


def _ratio(a, b):
    return float(a / b) if b else float("nan")


def evaluate(
    labels: np.ndarray,
    scores: np.ndarray,
    snr: np.ndarray,
    threshold: float,
    snr_bin: tuple[float, float] = (5.5, 6.5),
) -> dict:
    """Figures of merit at the operating ``threshold``.

    ``completeness_snr6`` and ``purity_snr6`` count the candidates whose measured S/N lies
    in ``snr_bin`` (Rubin's requirement is stated at S/N 6).

    Parameters
    ----------
    labels : numpy.ndarray
        Label of each sample (1 real, 0 bogus).
    scores : numpy.ndarray
        Score of each sample.
    snr : numpy.ndarray
        Measured S/N of each sample's candidate.
    threshold : float
        Operating threshold: a score ≥ it is called real.
    snr_bin : (float, float)
        S/N range [low, high) of ``completeness_snr6`` and ``purity_snr6``.

    Returns
    -------
    dict
        ``roc_auc``, ``f1``, ``precision``, ``recall``, ``fpr``, ``fnr``,
        ``completeness_snr6``, ``purity_snr6`` (float, NaN where undefined), ``n_real``,
        ``n_bogus`` and the counts ``confusion_tp``, ``confusion_fp``, ``confusion_tn``,
        ``confusion_fn`` (int).
    """
    c = confusion(labels, scores, threshold)
    precision = _ratio(c["tp"], c["tp"] + c["fp"])
    recall = _ratio(c["tp"], c["tp"] + c["fn"])
    in_bin = (np.asarray(snr) >= snr_bin[0]) & (np.asarray(snr) < snr_bin[1])
    b = confusion(np.asarray(labels)[in_bin], np.asarray(scores)[in_bin], threshold)
    return {
        "roc_auc": roc_auc(labels, scores),
        # 2TP / (2TP + FP + FN): the harmonic mean of precision and recall where both exist,
        # and 0 (not undefined) for a model that calls nothing real.
        "f1": _ratio(2 * c["tp"], 2 * c["tp"] + c["fp"] + c["fn"]),
        "precision": precision,
        "recall": recall,
        "fpr": _ratio(c["fp"], c["fp"] + c["tn"]),
        "fnr": _ratio(c["fn"], c["fn"] + c["tp"]),
        "completeness_snr6": _ratio(b["tp"], b["tp"] + b["fn"]),
        "purity_snr6": _ratio(b["tp"], b["tp"] + b["fp"]),
        "n_real": int(np.sum(labels)),
        "n_bogus": int(len(labels) - np.sum(labels)),
        **{f"confusion_{k}": v for k, v in c.items()},
    }
