"""Object database at a million objects: bulk insert, cone search and association rates,
SQLite and PostgreSQL side by side on the same positions.

    .venv/bin/python benchmarks/objects_db.py [--objects 1000000] [--queries 20000]

PostgreSQL is a throwaway server started on 127.0.0.1 from Debian's packages (skipped,
saying why, where it cannot start). Positions fill a 10°×10° patch uniformly (a dense
survey footprint: ~2.8 objects per square arcmin at 10^6). Printed per backend:

* insert: objects per second loaded in batches of 10,000 (one transaction each);
* cone search: 1.5″ cone searches per second at random positions (most find nothing, as
  most new detections do);
* associate: detections per second through ``objects.associate`` (cone search, then insert
  a detection and possibly an object, one transaction per batch of 100), on top of the 10^6.
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "workflow" / "scripts"))
sys.path.insert(0, str(REPO / "tests" / "support"))

from postgres import PostgresUnavailable, postgres_server  # noqa: E402

from astrid.alerts import objects  # noqa: E402


def positions(rng, n):
    ra = rng.uniform(150.0, 160.0, n)
    dec = np.degrees(np.arcsin(rng.uniform(np.sin(np.radians(-5.0)), np.sin(np.radians(5.0)), n)))
    return ra, dec


def measure(url, n_objects, n_queries):
    db = objects.connect(url)
    objects.migrate(db)
    rng = np.random.default_rng(42)
    ra, dec = positions(rng, n_objects)
    start = time.perf_counter()
    for begin in range(0, n_objects, 10000):
        rows = [
            (f"B{i:08d}", float(ra[i]), float(dec[i]), objects.zone_of(dec[i]), "BENCH", 0.0, 0.0, 0)
            for i in range(begin, min(begin + 10000, n_objects))
        ]
        db.begin_write([0])
        db.executemany(
            "INSERT INTO objects (object_id, ra, dec, zone, field, first_mjd, last_mjd, n_detections)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        db.commit()
    insert_rate = n_objects / (time.perf_counter() - start)
    if db.dialect == "postgresql":
        db.execute("ANALYZE objects")
        db.commit()
    qra, qdec = positions(rng, n_queries)
    # A fifth of the queries at existing objects, so that searches also find something.
    qra[::5], qdec[::5] = ra[: len(qra[::5])] + 0.5 / 3600, dec[: len(qdec[::5])]
    start = time.perf_counter()
    found = sum(len(objects.cone(db, float(r), float(d), 1.5)) for r, d in zip(qra, qdec, strict=True))
    cone_rate = n_queries / (time.perf_counter() - start)
    db.commit()
    n_assoc = n_queries // 4
    ara, adec = positions(rng, n_assoc)
    detections = [
        {
            "candidate_id": f"bench-{i:07d}",
            "exposure": "bench",
            "night": "20261128",
            "band": "r",
            "mjd": 61372.0,
            "ra": float(ara[i]),
            "dec": float(adec[i]),
            "flux": 1.0,
            "flux_err": 0.1,
            "mag": 20.0,
            "mag_err": 0.1,
            "snr": 10.0,
            "rb_score": 0.9,
            "rb_model_version": 1,
        }
        for i in range(n_assoc)
    ]
    start = time.perf_counter()
    for begin in range(0, n_assoc, 100):
        objects.associate(db, detections[begin : begin + 100], "BENCH")
    assoc_rate = n_assoc / (time.perf_counter() - start)
    db.close()
    return insert_rate, cone_rate, found, assoc_rate


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--objects", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=20000)
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        results["sqlite"] = measure(f"sqlite:///{tmp}/bench.sqlite", args.objects, args.queries)
    try:
        with postgres_server() as url:
            results["postgresql"] = measure(url, args.objects, args.queries)
    except PostgresUnavailable as reason:
        print(f"postgresql: skipped ({reason})")
    print(
        f'{args.objects:,} objects, {args.queries:,} cone searches of 1.5", {args.queries // 4:,} associations'
    )
    for backend, (insert, cone, found, assoc) in results.items():
        print(
            f"{backend:>10}: insert {insert:,.0f} objects/s; cone search {cone:,.0f}/s ({found:,} found); "
            f"associate {assoc:,.0f} detections/s"
        )


if __name__ == "__main__":
    main()
