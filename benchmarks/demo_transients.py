"""Which of the demo night's truth transients are in the candidate tables, frame by frame.

    .venv/bin/python benchmarks/demo_transients.py [WORKDIR]   # default: the repository

Reads results/candidates/<new night>/*.ecsv, the truth in results/demo/truth/ and the
field catalogs, and prints for every frame and transient its expected S/N on the
difference (its flux change over the frame's 5σ limit / 5), whether a candidate lies within
1", and the candidate's S/N; then the count of candidates matching no transient.
"""

import sys
from pathlib import Path

from astropy.table import Table

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "workflow" / "scripts"))

from astrid.evaluate import match_transients  # noqa: E402


def main():
    workdir = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO
    truth_files = sorted((workdir / "results" / "demo" / "truth").glob("*.fits"))
    missed_bright = 0
    for truth_path in truth_files:
        transients = Table.read(truth_path, hdu="TRANSIENTS")
        if len(transients) == 0:
            continue
        night = truth_path.stem
        for path in sorted((workdir / "results" / "candidates" / night).glob("*.ecsv")):
            candidates = Table.read(path, format="ascii.ecsv")
            if "QCODE" in candidates.meta:
                print(f"{path.stem}: not differenced ({candidates.meta['QCODE']})")
                continue
            field, band = candidates.meta["FIELD"], candidates.meta["FILTER"]
            catalog = Table.read(workdir / "results" / "demo" / "catalogs" / f"{field}.ecsv")
            matches = match_transients(candidates, transients, catalog, band)
            unmatched = len(candidates) - int(matches["found"].sum())
            print(
                f"{path.stem} ({field} {band}): {len(candidates)} candidates, {unmatched} matching no transient,"
                f" S_corr noise {candidates.meta['SCORNOIS']:.3f}, limit {candidates.meta['LIMMAG']:.2f} mag"
            )
            for row in matches:
                flag = "found" if row["found"] else "MISSED"
                snr = f"S/N {row['snr']:.1f}" if row["found"] else ""
                print(
                    f"    {row['transient_id']:<12} {row['kind']:<9} expected S/N {row['expected_snr']:6.1f}  {flag} {snr}"
                )
                missed_bright += int(row["expected_snr"] >= 10 and not row["found"])
    print(f"transients with expected S/N ≥ 10 missed: {missed_bright}")
    return 1 if missed_bright else 0


if __name__ == "__main__":
    sys.exit(main())
