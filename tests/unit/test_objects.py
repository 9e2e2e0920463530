"""The object database on both backends: SQLite (always) and a real PostgreSQL server started
on 127.0.0.1 from Debian's packages (skipped, saying why, where it cannot start)."""

import multiprocessing

import numpy as np
import pytest
from postgres import PostgresUnavailable, postgres_server  # noqa: E402

from astrid.alerts import objects


@pytest.fixture(scope="session")
def postgres_url():
    try:
        with postgres_server() as url:
            yield url
    except PostgresUnavailable as reason:
        pytest.skip(f"PostgreSQL server could not be started: {reason}")


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'objects.sqlite'}"
    url = request.getfixturevalue("postgres_url")
    db = objects.connect(url)  # a fresh schema per test: drop what an earlier test made
    for table in ("deliveries", "alerts", "forced_photometry", "detections", "objects", "schema_migrations"):
        db.execute(f"DROP TABLE IF EXISTS {table}")
    db.commit()
    db.close()
    return url


def detection(candidate_id, ra, dec, mjd=61000.0):
    return {
        "candidate_id": candidate_id,
        "exposure": candidate_id.rsplit("-", 1)[0],
        "night": "20261127",
        "band": "g",
        "mjd": mjd,
        "ra": ra,
        "dec": dec,
        "flux": 100.0,
        "flux_err": 5.0,
        "mag": 20.0,
        "mag_err": 0.05,
        "snr": 20.0,
        "rb_score": 0.9,
        "rb_model_version": 1,
    }


def test_migration_creates_the_schema_once(database_url):
    db = objects.connect(database_url)
    newest = len(objects.MIGRATIONS)
    assert objects.migrate(db) == newest
    assert objects.migrate(db) == newest  # again: nothing to do, nothing broken
    assert db.execute("SELECT count(*) FROM schema_migrations").fetchone()[0] == newest
    assert "claimed_mjd" in [c[0] for c in db.execute("SELECT * FROM deliveries").description]


def test_detections_within_the_radius_share_an_object_and_reruns_change_nothing(database_url):
    db = objects.connect(database_url)
    objects.migrate(db)
    first = objects.associate(db, [detection("e1-0001", 150.0, 2.0)], "F01")
    assert first[0][2] and first[0][1] == "ASTJ100000.00+020000.0"
    near = objects.associate(db, [detection("e2-0001", 150.0 + 1.0 / 3600, 2.0, 61001.0)], "F01")
    far = objects.associate(db, [detection("e2-0002", 150.0 + 2.0 / 3600, 2.0, 61001.0)], "F01")
    assert near[0][1] == first[0][1] and not near[0][2]
    assert far[0][1] != first[0][1] and far[0][2]
    again = objects.associate(db, [detection("e2-0001", 150.0 + 1.0 / 3600, 2.0, 61001.0)], "F01")
    assert again == [("e2-0001", first[0][1], False)]
    n_objects, n_detections = (
        db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("objects", "detections")
    )
    assert (n_objects, n_detections) == (2, 3)
    previous, _ = objects.history(db, first[0][1], before_mjd=61001.5)
    assert [d["candidate_id"] for d in previous] == ["e1-0001", "e2-0001"]


def test_cone_search_agrees_with_brute_force_across_ra_zero_and_near_the_pole(database_url):
    db = objects.connect(database_url)
    objects.migrate(db)
    rng = np.random.default_rng(1)
    centres = [(0.0005, 10.0), (359.9995, -30.0), (45.0, 89.99), (200.0, 0.0)]
    points = []
    for ra0, dec0 in centres:
        for _ in range(150):
            dec = float(np.clip(dec0 + rng.uniform(-20, 20) / 3600, -90, 90))
            ra = float((ra0 + rng.uniform(-20, 20) / 3600 / max(np.cos(np.radians(dec)), 1e-3)) % 360)
            points.append((ra, dec))
    db.begin_write([0])
    db.executemany(
        "INSERT INTO objects (object_id, ra, dec, zone, field, first_mjd, last_mjd, n_detections) VALUES (?, ?, ?, ?, 'F', 0, 0, 0)",
        [(f"o{i}", ra, dec, objects.zone_of(dec)) for i, (ra, dec) in enumerate(points)],
    )
    db.commit()
    for ra0, dec0 in centres:
        found = {row[0] for row in objects.cone(db, ra0, dec0, 10.0)}
        expected = {
            f"o{i}"
            for i, (ra, dec) in enumerate(points)
            if objects.angular_distance(ra0, dec0, ra, dec) * 3600 <= 10.0
        }
        assert found == expected and expected


def _writer(url, worker, positions):
    db = objects.connect(url)
    for i, (ra, dec) in enumerate(positions):
        jitter = (worker - 1.5) * 0.1 / 3600
        objects.associate(db, [detection(f"w{worker}-{i:04d}", ra + jitter, dec)], "F01")
    db.close()


def test_parallel_writers_never_duplicate_an_object_or_lose_a_detection(database_url):
    db = objects.connect(database_url)
    objects.migrate(db)
    rng = np.random.default_rng(2)
    positions = [(150.0 + x / 60, 2.0 + y / 60) for x, y in rng.uniform(0, 10, (40, 2))]
    context = multiprocessing.get_context("spawn")
    writers = [context.Process(target=_writer, args=(database_url, w, positions)) for w in range(4)]
    for p in writers:
        p.start()
    for p in writers:
        p.join(120)
        assert p.exitcode == 0
    n_objects = db.execute("SELECT count(*) FROM objects").fetchone()[0]
    n_detections = db.execute("SELECT count(*) FROM detections").fetchone()[0]
    assert (n_objects, n_detections) == (40, 160)
    per_object = db.execute("SELECT n_detections FROM objects").fetchall()
    assert {row[0] for row in per_object} == {4}


def test_forced_photometry_reads_the_matched_filter_at_the_position():
    score = np.zeros((50, 60))
    variance = np.full((50, 60), 4.0)
    score[20, 30] = 500.0
    flux, error, inside = objects.forced_fluxes(score, variance, 5.0, [30.2, 10, 70], [19.8, 10, 10])
    assert flux[0] == 100.0 and error[0] == 0.4 and flux[1] == 0.0
    assert list(inside) == [True, True, False] and np.isnan(flux[2])
