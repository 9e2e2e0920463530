"""Which of the demo night's truth transients are in the candidate tables, frame by frame,
and how the real/bogus model scores them.

    .venv/bin/python benchmarks/demo_transients.py [WORKDIR]   # default: the repository

Reads results/scored/<new night>/*.ecsv (falling back to results/candidates/ before
scoring), the truth in results/demo/truth/ and the field catalogs, and prints for every
frame and transient its expected S/N on the difference (its flux change over the frame's
5σ limit / 5), whether a candidate lies within 1", the candidate's S/N and real/bogus
score; then per frame the candidates farther than 3" from every transient and how many of them the model
calls real. Exit status 1 when a transient of expected S/N ≥ 10 is missed or scored bogus,
or a frame has more than 2 bogus candidates called real.
"""

import sys
from pathlib import Path

import numpy as np
from astropy.table import Table

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "workflow" / "scripts"))

from astrid.realbogus.evaluate import match_transients  # noqa: E402


def near_transient(candidate, transients, radius_arcsec=3.0):
    separation = np.hypot(
        (transients["ra"] - candidate["ra"]) * np.cos(np.radians(candidate["dec"])),
        transients["dec"] - candidate["dec"],
    )
    return bool(len(transients)) and float(separation.min()) * 3600 <= radius_arcsec


def main():
    workdir = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO
    truth_files = sorted((workdir / "results" / "demo" / "truth").glob("*.fits"))
    missed_bright = bogus_bright = too_many_bogus = 0
    for truth_path in truth_files:
        transients = Table.read(truth_path, hdu="TRANSIENTS")
        if len(transients) == 0:
            continue
        night = truth_path.stem
        scored = sorted((workdir / "results" / "scored" / night).glob("*.ecsv"))
        for path in scored or sorted((workdir / "results" / "candidates" / night).glob("*.ecsv")):
            candidates = Table.read(path, format="ascii.ecsv")
            has_scores = "rb_score" in candidates.colnames
            if "QCODE" in candidates.meta:
                print(f"{path.stem}: not differenced ({candidates.meta['QCODE']})")
                continue
            field, band = candidates.meta["FIELD"], candidates.meta["FILTER"]
            catalog = Table.read(workdir / "resources" / "catalogs" / f"{field}.ecsv")
            matches = match_transients(candidates, transients, catalog, band)
            # Bogus: farther than 3" from every transient of the night (a transient cut by a
            # dead column is still real, even where its centroid moves beyond the 1" match).
            unmatched = [i for i in range(len(candidates)) if not near_transient(candidates[i], transients)]
            bogus_real = int(sum(candidates["rb_real"][i] for i in unmatched)) if has_scores else 0
            print(
                f'{path.stem} ({field} {band}): {len(candidates)} candidates, {len(unmatched)} farther than 3" from every transient'
                + (f" ({bogus_real} of them scored real)" if has_scores else "")
                + f", S_corr noise {candidates.meta['SCORNOIS']:.3f}, limit {candidates.meta['LIMMAG']:.2f} mag"
            )
            too_many_bogus += int(bogus_real > 2)
            for row in matches:
                flag = "found" if row["found"] else "MISSED"
                snr = f"S/N {row['snr']:.1f}" if row["found"] else ""
                score = ""
                if has_scores and row["found"]:
                    value = float(candidates["rb_score"][row["candidate"]])
                    score = f"  rb {value:.3f}"
                    bogus_bright += int(
                        row["expected_snr"] >= 10 and value < float(candidates.meta["RBTHRESH"])
                    )
                print(
                    f"    {row['transient_id']:<12} {row['kind']:<9} expected S/N {row['expected_snr']:6.1f}  {flag} {snr}{score}"
                )
                missed_bright += int(row["expected_snr"] >= 10 and not row["found"])
    print(f"transients with expected S/N ≥ 10 missed: {missed_bright}, scored bogus: {bogus_bright}")
    print(f"frames with more than 2 bogus candidates scored real: {too_many_bogus}")
    return 1 if missed_bright or bogus_bright or too_many_bogus else 0


if __name__ == "__main__":
    sys.exit(main())
