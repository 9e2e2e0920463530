"""Score candidates with an exported real/bogus model: load a bundle, score cutout triplets,
and add the scores to a frame's candidate table.

The alert path's share of the real/bogus library, kept apart from training and the model's
lifecycle (:mod:`astrid.realbogus.lifecycle`) so that scoring a frame does not import the
training set's simulation (detection, subtraction, injection): torch is its one heavy
import, and only when a model is loaded.
"""

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from astropy.table import Table

from astrid.realbogus import classifier
from astrid.realbogus.survey_cutouts import to_size

if TYPE_CHECKING:
    import torch

ARCHITECTURE = "astrid-rb-4"  # classifier.build_network; bump when it changes
NORMALISATION = "median-mad-asinh5"
CUTOUT_SIZE = 63  # the network's input side (classifier.build_network)


def load_bundle(path: Path | str, device: "torch.device | None" = None) -> "tuple[torch.nn.Module, dict]":
    """(network, bundle dict) of an exported model file.

    Parameters
    ----------
    path : pathlib.Path or str
        The exported model file (:func:`astrid.realbogus.registry.export_version`).
    device : torch.device, optional
        Not used: the network is loaded on the CPU (:func:`score_cutouts` moves it).

    Returns
    -------
    (torch.nn.Module, dict)
        The network in eval mode, and the bundle (its weights, threshold, dataset version,
        drift reference, model name and version).

    Raises
    ------
    ValueError
        The file holds another network than this code builds.
    """
    import torch

    bundle = torch.load(path, map_location="cpu", weights_only=False)
    if bundle.get("architecture") != ARCHITECTURE:
        raise ValueError(
            f"{path}: model architecture {bundle.get('architecture')!r}, this code runs {ARCHITECTURE!r}"
        )
    net = classifier.build_network(bundle["dropout"])
    net.load_state_dict(bundle["state_dict"])
    return net.eval(), bundle


def score_cutouts(
    net: "torch.nn.Module",
    cutouts: np.ndarray,
    batch_size: int = 1024,
    device: "torch.device | None" = None,
    threads: int | None = None,
) -> np.ndarray:
    """Real/bogus scores in [0, 1] of raw cutout triplets: normalised, then scored.

    Cutouts of another size are cropped, or padded with blanks, to 63×63 about their centre
    (as survey cutouts are, :mod:`astrid.realbogus.survey_cutouts`). Blank (NaN) pixels
    count as the plane's median. A triplet whose difference plane has no finite pixel at
    all scores 0: there is nothing in it to call real.

    Parameters
    ----------
    net : torch.nn.Module
        The network (:func:`load_bundle`).
    cutouts : numpy.ndarray
        Cutout triplets (n, 3, h, w), as the candidate search cuts them (survey cutouts:
        :func:`astrid.realbogus.survey_cutouts.triplet`).
    batch_size : int
        Triplets scored at a time.
    device : torch.device, optional
        Where to score; by default the CPU.
    threads : int, optional
        Torch CPU threads; None leaves torch's setting.

    Returns
    -------
    numpy.ndarray
        The float32 score of each triplet (:func:`astrid.realbogus.classifier.predict`).

    Raises
    ------
    ValueError
        The cutouts are not (n, 3, h, w) triplets.
    """
    cutouts = np.asarray(cutouts)
    if cutouts.ndim != 4 or cutouts.shape[1] != 3 or min(cutouts.shape[2:]) < 1:
        raise ValueError(
            "real/bogus cutouts must be (n, 3, h, w) triplets (science, reference, difference), "
            f"got shape {cutouts.shape}"
        )
    if len(cutouts) == 0:
        return np.zeros(0, np.float32)
    if cutouts.shape[2:] != (CUTOUT_SIZE, CUTOUT_SIZE):
        cutouts = to_size(cutouts, CUTOUT_SIZE)
    scores = classifier.predict(net, classifier.normalise(cutouts), batch_size, device, threads)
    blank = ~np.isfinite(cutouts[:, 2]).any(axis=(1, 2))
    scores[blank] = 0.0
    return scores


def score_table(
    table: Table,
    cutouts: np.ndarray,
    model_path: "str | Path | None",
    *,
    batch_size: int = 1024,
    device: "torch.device | None" = None,
    threads: int | None = None,
) -> Table:
    """A frame's candidate table with its real/bogus scores: ``rb_score``, ``rb_real`` and
    ``rb_model_version`` columns, and the model in its meta (``RBMODEL``, ``RBVERS``,
    ``RBRUNID``, ``RBTHRESH``, ``RBDEVICE``).

    Parameters
    ----------
    table : astropy.table.Table
        The frame's candidates (:func:`astrid.imaging.detect.find_candidates`).
    cutouts : numpy.ndarray
        Their (n, 3, size, size) cutouts.
    model_path : str or pathlib.Path or None
        The exported model. None: no model could be trained yet; only a frame without
        candidates can then be "scored".
    batch_size : int
        Cutouts per batch.
    device : torch.device, optional
    threads : int, optional
        Torch threads.

    Returns
    -------
    astropy.table.Table

    Raises
    ------
    ValueError
        When the frame has candidates and there is no model to score them.
    """
    table = table.copy()
    if model_path is None:
        if len(table):
            raise ValueError(
                f"{len(table)} candidates of {table.meta.get('EXPOSURE', 'this frame')} cannot be scored: "
                "no real/bogus model exists yet (results/models/realbogus/training.json says why)"
            )
        bundle = {"model_name": "none", "model_version": 0, "run_id": "", "threshold": float("nan")}
        scores = np.zeros(0, np.float32)
    else:
        net, bundle = load_bundle(model_path)
        scores = (
            score_cutouts(net, cutouts, batch_size, device, threads=threads)
            if len(table)
            else np.zeros(0, np.float32)
        )
    table["rb_score"] = scores
    table["rb_real"] = scores >= bundle["threshold"]
    table["rb_model_version"] = np.full(len(table), bundle["model_version"], dtype=np.int32)
    table.meta.update(
        {
            "RBMODEL": bundle["model_name"],
            "RBVERS": bundle["model_version"],
            "RBRUNID": bundle["run_id"],
            "RBTHRESH": bundle["threshold"],
            "RBDEVICE": str(device),
        }
    )
    return table
