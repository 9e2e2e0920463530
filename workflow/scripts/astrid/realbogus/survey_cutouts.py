"""Survey alert cutouts in AstrID's convention, so one scorer takes them all.

AstrID scores a triplet (science, reference, difference) of 63×63 pixels centred on the
detection, the difference being science − reference. Survey alerts differ:

* **ZTF** (Avro, or Fink's parquet rows): 63×63 gzip-compressed FITS stamps in DN without a
  WCS; the difference is template − science when ``candidate.isdiffpos`` is ``'f'`` (or
  ``'0'``), and is negated here.
* **Rubin** (``lsst.v9_0`` Avro): raw FITS stamps in nJy with a variance and a PSF
  extension, 30×30 to 71×71 pixels.

The one normalisation: each plane is cropped, or padded with blanks (NaN), to 63×63 about
its centre; orientation is left as it is (the network is trained with rotations by 90° and
flips); flux units do not matter (each plane is scaled by its own median and robust
spread, :func:`astrid.realbogus.classifier.normalise`, where blanks count as the median).
"""

import gzip
import io
import warnings
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import numpy as np
from astropy.io import fits

SIZE = 63
CUTOUT_FIELDS = ("cutoutScience", "cutoutTemplate", "cutoutDifference")


class CutoutError(ValueError):
    """An alert packet whose cutouts cannot be read (absent, empty or not an image)."""


def to_size(image: np.ndarray, size: int = SIZE) -> np.ndarray:
    """``image`` cropped, or padded with NaN, to size×size about its centre (its last two
    axes; any leading axes are kept).

    Parameters
    ----------
    image : numpy.ndarray
        Stamps of any size (..., ny, nx).
    size : int
        Side of the result.

    Returns
    -------
    numpy.ndarray
        float32 (..., size, size).
    """
    image = np.asarray(image)
    out = np.full((*image.shape[:-2], size, size), np.nan, np.float32)
    ny, nx = image.shape[-2:]
    sy, sx = max(0, (ny - size) // 2), max(0, (nx - size) // 2)
    crop = image[..., sy : sy + size, sx : sx + size]
    oy, ox = (size - crop.shape[-2]) // 2, (size - crop.shape[-1]) // 2
    out[..., oy : oy + crop.shape[-2], ox : ox + crop.shape[-1]] = crop
    return out


def stamp_image(data: bytes, where: str) -> np.ndarray:
    """The first image of a FITS stamp, gzip-compressed or not.

    Parameters
    ----------
    data : bytes
        The stamp's bytes as the packet carries them.
    where : str
        Names the packet and the cutout in an error.

    Returns
    -------
    numpy.ndarray
        The 2-D image, float32.

    Raises
    ------
    CutoutError
        The stamp is empty, not FITS, or holds no 2-D image.
    """
    if not data:
        raise CutoutError(f"{where}: the cutout is empty")
    raw = gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ZTF's SIMPLE card is non-standard (harmless)
            with fits.open(io.BytesIO(raw)) as hdul:
                image = next((h.data for h in hdul if h.data is not None and h.data.ndim == 2), None)
                image = None if image is None else np.asarray(image, np.float32)
    except (OSError, ValueError, TypeError) as error:
        raise CutoutError(f"{where}: the cutout is not a readable FITS image ({error})") from None
    if image is None:
        raise CutoutError(f"{where}: the cutout holds no 2-D image")
    return image


def _stamp_bytes(value):
    """The bytes of a cutout field: ZTF wraps them as ``{'fileName', 'stampData'}``."""
    if isinstance(value, Mapping):
        value = value.get("stampData")
    return value


def triplet(packet: Mapping, where: str = "alert") -> np.ndarray:
    """The (science, reference, difference) triplet of a ZTF or Rubin alert packet, 63×63,
    difference science − reference.

    Parameters
    ----------
    packet : Mapping
        One alert: a record of a ZTF or Rubin Avro file, or a row of Fink's parquet.
    where : str
        Names the packet in an error (its file and id).

    Returns
    -------
    numpy.ndarray
        float32 (3, 63, 63); NaN where the survey's stamp is smaller.

    Raises
    ------
    CutoutError
        A cutout is absent, empty or not an image.
    """
    planes = []
    for field in CUTOUT_FIELDS:
        data = _stamp_bytes(packet.get(field)) if hasattr(packet, "get") else None
        if data is None:
            raise CutoutError(f"{where}: the packet has no {field}")
        planes.append(to_size(stamp_image(data, f"{where} {field}")))
    candidate = packet.get("candidate") or {}
    if str(candidate.get("isdiffpos", "t")) in ("f", "0"):
        planes[2] = -planes[2]  # ZTF's template − science
    return np.stack(planes)


def read_avro(path: Path | str) -> Iterator[dict]:
    """The records of an Avro object container file (one alert each).

    Parameters
    ----------
    path : pathlib.Path or str
        The file.

    Returns
    -------
    iterator of dict
        Its records.
    """
    import fastavro

    with open(path, "rb") as handle:
        yield from fastavro.reader(handle)


def survey_score(packet: Mapping) -> float:
    """The survey's own real/bogus score of a packet: ZTF's ``drb``, Rubin's ``reliability``.

    Parameters
    ----------
    packet : Mapping
        One alert.

    Returns
    -------
    float
        The score, NaN when the packet has none.
    """
    for group, key in (("candidate", "drb"), ("diaSource", "reliability")):
        record = packet.get(group)
        if isinstance(record, Mapping) and record.get(key) is not None:
            return float(record[key])
    return float("nan")


def ztf_alerts(alerts_dir: Path | str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """ZTF triplets, ``drb`` scores and TNS classes ('' when none) of ``ztf_avro/*.avro``
    and the Fink rows of ``ztf_fink_parquet/*.parquet`` that have a ``drb``.

    Parameters
    ----------
    alerts_dir : pathlib.Path or str
        The folder of ``ztf_avro`` and ``ztf_fink_parquet``.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray, list of str)
        Triplets (n, 3, 63, 63), drb (n,) and TNS class of each.
    """
    import pandas as pd

    alerts_dir = Path(alerts_dir)
    cubes, scores, tns = [], [], []
    for path in sorted((alerts_dir / "ztf_avro").glob("*.avro")):
        for record in read_avro(path):
            cubes.append(triplet(record, f"{path.name} {record.get('objectId')}"))
            scores.append(survey_score(record))
            tns.append("")
    for path in sorted((alerts_dir / "ztf_fink_parquet").glob("*.parquet")):
        frame = pd.read_parquet(path)
        for _, row in frame.iterrows():
            if row["candidate"].get("drb") is None:
                continue
            cubes.append(triplet(row, f"{path.name} {row.get('objectId')}"))
            scores.append(survey_score(row))
            label = row.get("tns")
            tns.append(label.strip() if isinstance(label, str) else "")
    return np.asarray(cubes, np.float32), np.asarray(scores, float), tns


def rubin_alerts(alerts_dir: Path | str) -> tuple[np.ndarray, np.ndarray]:
    """Rubin triplets and ``reliability`` of ``rubin_avro/*.avro`` in ``alerts_dir``.

    Parameters
    ----------
    alerts_dir : pathlib.Path or str
        The folder of ``rubin_avro``.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        Triplets (n, 3, 63, 63) and reliability (n,).
    """
    cubes, scores = [], []
    for path in sorted((Path(alerts_dir) / "rubin_avro").glob("*.avro")):
        for record in read_avro(path):
            cubes.append(triplet(record, f"{path.name} {record.get('diaSourceId')}"))
            scores.append(survey_score(record))
    return np.asarray(cubes, np.float32), np.asarray(scores, float)


def agreement_with_surveys(
    score: Callable[[np.ndarray], np.ndarray], threshold: float, alerts_dir: Path | str
) -> dict:
    """How a model's scores agree with ZTF's ``drb`` and Rubin's ``reliability``.

    Parameters
    ----------
    score : callable
        Raw triplets (n, 3, 63, 63) → scores in [0, 1].
    threshold : float
        The model's own threshold (a score ≥ it is called real).
    alerts_dir : pathlib.Path or str
        The survey alerts (``../shared/data/real/alerts``).

    Returns
    -------
    dict
        ``ztf`` and ``rubin``: ``n``, ``roc_auc`` (against the survey's score > 0.5),
        ``spearman``, ``agreement`` (of the calls), ``called_real`` (ours) and
        ``survey_real``; ``tns``: (class, score) of each ZTF row with a TNS class; ``lines``:
        the same as text.
    """
    from scipy.stats import spearmanr

    from astrid.realbogus.classifier import roc_auc

    figures, lines = {}, []
    ztf_cubes, drb, tns = ztf_alerts(alerts_dir)
    rubin_cubes, reliability = rubin_alerts(alerts_dir)
    for survey, cubes, theirs, name in (
        ("ztf", ztf_cubes, drb, "drb"),
        ("rubin", rubin_cubes, reliability, "reliability"),
    ):
        ours = score(cubes)
        keep = np.isfinite(theirs)
        ours_kept, theirs = ours[keep], theirs[keep]
        fig = {
            "n": int(keep.sum()),
            "roc_auc": roc_auc(theirs > 0.5, ours_kept),
            "spearman": float(spearmanr(ours_kept, theirs)[0]),
            "agreement": float(np.mean((ours_kept >= threshold) == (theirs > 0.5))),
            "called_real": float(np.mean(ours_kept >= threshold)),
            "survey_real": float(np.mean(theirs > 0.5)),
        }
        figures[survey] = fig
        lines.append(
            f"{survey.upper()}: {fig['n']} alerts; ROC AUC {fig['roc_auc']:.3f} against {name} > 0.5; "
            f"calls agree on {fig['agreement']:.1%}; called real {fig['called_real']:.0%} "
            f"(the survey {fig['survey_real']:.0%}); Spearman ρ {fig['spearman']:+.2f}"
        )
        if survey == "ztf":
            figures["tns"] = [(t, float(s)) for t, s in zip(tns, ours, strict=True) if t]
            lines.append(
                "ZTF rows with a TNS class: "
                + ", ".join(
                    f"{t} {s:.3f} ({'real' if s >= threshold else 'bogus'})" for t, s in figures["tns"]
                )
            )
    figures["lines"] = lines
    return figures
