"""Score real ZTF and Rubin alert cutouts with the AstrID champion and compare with the
surveys' own real/bogus scores (ZTF ``drb``, Rubin ``reliability``). No training on them.

    .venv/bin/python benchmarks/real_alerts.py [--model results/models/realbogus/vN.pt]

Reads ``../shared/data/real/alerts`` (``ASTRID_SHARED`` overrides ``../shared``):

* ``ztf_avro/*.avro`` and ``ztf_fink_parquet/*.parquet``: 63×63 gzip-FITS stamps without a
  WCS; the difference is template − science when ``isdiffpos = 'f'`` and is negated here so
  that it is always science − template, as AstrID's is.
* ``rubin_avro/*.avro``: raw FITS stamps of 30×30 to 71×71 pixels, cropped or padded (with
  blanks, which the normalisation sets to the median) to 63×63 about their centre.

Orientation is not adapted: the CNN is trained with random rotations by 90° and flips, so
it does not depend on the stamp's orientation. The flux scale does not matter either (each
plane is normalised by its own median and robust spread).

Prints, per survey, the Spearman rank correlation between AstrID's score and the survey's,
and the agreement of the calls (AstrID at its operating threshold, the survey at 0.5).
"""

import argparse
import glob
import gzip
import io
import os
import sys
import warnings
from pathlib import Path

import numpy as np
from astropy.io import fits
from scipy.stats import spearmanr

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "workflow" / "scripts"))

from astrid.realbogus.lifecycle import load_bundle, score_cutouts  # noqa: E402

SHARED = Path(os.environ.get("ASTRID_SHARED", REPO.parent / "shared"))
ALERTS = SHARED / "data" / "real" / "alerts"
SIZE = 63


def stamp(data, gzipped):
    raw = gzip.decompress(data) if gzipped else data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ZTF's SIMPLE card is non-standard (harmless)
        with fits.open(io.BytesIO(raw)) as hdul:
            return np.asarray(hdul[0].data, np.float32)


def to_size(image, size=SIZE):
    """Crop or blank-pad ``image`` to size×size about its centre."""
    out = np.full((size, size), np.nan, np.float32)
    ny, nx = image.shape
    sy, sx = max(0, (ny - size) // 2), max(0, (nx - size) // 2)
    crop = image[sy : sy + size, sx : sx + size]
    oy, ox = (size - crop.shape[0]) // 2, (size - crop.shape[1]) // 2
    out[oy : oy + crop.shape[0], ox : ox + crop.shape[1]] = crop
    return out


def ztf_triplet(record):
    science = stamp(record["cutoutScience"]["stampData"], True)
    template = stamp(record["cutoutTemplate"]["stampData"], True)
    difference = stamp(record["cutoutDifference"]["stampData"], True)
    if record["candidate"]["isdiffpos"] in ("f", "0"):
        difference = -difference
    return np.stack([to_size(science), to_size(template), to_size(difference)])


def rubin_triplet(record):
    planes = [stamp(record[key], False) for key in ("cutoutScience", "cutoutTemplate", "cutoutDifference")]
    return np.stack([to_size(p) for p in planes])


def read_avro(pattern):
    import fastavro

    for path in sorted(glob.glob(str(pattern))):
        with open(path, "rb") as handle:
            yield from fastavro.reader(handle)


def ztf_alerts():
    cubes, scores = [], []
    for record in read_avro(ALERTS / "ztf_avro" / "*.avro"):
        cubes.append(ztf_triplet(record))
        scores.append(record["candidate"]["drb"])
    print(f"ZTF: {len(cubes)} Avro packets", end="")
    import pandas as pd

    for path in sorted((ALERTS / "ztf_fink_parquet").glob("*.parquet")):
        frame = pd.read_parquet(
            path, columns=["candidate", "cutoutScience", "cutoutTemplate", "cutoutDifference"]
        )
        for _, row in frame.iterrows():
            if row["candidate"].get("drb") is None:
                continue
            cubes.append(ztf_triplet(row))
            scores.append(row["candidate"]["drb"])
    print(f", {len(cubes)} with the Fink parquet rows that have a drb")
    return np.asarray(cubes), np.asarray(scores, float)


def rubin_alerts():
    cubes, scores = [], []
    for record in read_avro(ALERTS / "rubin_avro" / "*.avro"):
        cubes.append(rubin_triplet(record))
        scores.append(record["diaSource"]["reliability"])
    return np.asarray(cubes), np.asarray(scores, float)


def champion_file():
    """The newest exported model (results/models/realbogus/v<N>-<run>.pt) of `make run`."""
    exported = sorted(
        REPO.glob("results/models/realbogus/v*-*.pt"), key=lambda p: int(p.stem[1:].split("-")[0])
    )
    if exported:
        return exported[-1]
    sys.exit("no exported model under results/models/realbogus: run `make run` first or pass --model")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, help="exported model file (default: the demo's champion)")
    args = parser.parse_args()
    if not ALERTS.is_dir():
        sys.exit(f"real alerts folder {ALERTS} is absent (set ASTRID_SHARED to the shared/ folder)")
    path = args.model or champion_file()
    net, bundle = load_bundle(path)
    threshold = bundle["threshold"]
    print(f"model {bundle.get('model_name')} v{bundle.get('model_version')} ({path}), threshold {threshold}")
    for survey, (cubes, theirs), name in (
        ("ZTF", ztf_alerts(), "drb"),
        ("Rubin", rubin_alerts(), "reliability"),
    ):
        keep = np.isfinite(theirs)
        cubes, theirs = cubes[keep], theirs[keep]
        ours = score_cutouts(net, cubes)
        rho, p = spearmanr(ours, theirs)
        agree = np.mean((ours >= threshold) == (theirs >= 0.5))
        print(
            f"{survey}: {len(ours)} alerts; Spearman rho(AstrID, {name}) = {rho:+.3f} (p = {p:.2g}); "
            f"calls agree on {agree:.0%}; AstrID calls {np.mean(ours >= threshold):.0%} real, "
            f"the survey {np.mean(theirs >= 0.5):.0%}"
        )
        for o, t in sorted(zip(theirs, ours, strict=True))[:: max(1, len(ours) // 12)]:
            print(f"    {name} {o:.3f}  AstrID {t:.3f}")


if __name__ == "__main__":
    main()
