"""Objects and their history in a real database: SQLite by default, PostgreSQL by URL.

One schema for both, created and migrated by :func:`migrate` (numbered migrations recorded
in ``schema_migrations``). Positions are indexed by declination zone (1 arcmin high) and
right ascension, so a cone search touches a handful of index ranges however many objects
there are.

Writers may run at once (several Snakemake jobs, several nodes on one PostgreSQL): each
association runs in one transaction that first takes a lock — the whole database in SQLite
(``BEGIN IMMEDIATE``), the declination zones it touches in PostgreSQL (transaction advisory
locks, taken in order) — so two writers never create the same object twice and no detection
is lost. Re-associating a detection already stored does nothing.
"""

import math
import os
import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

if TYPE_CHECKING:
    import psycopg

ZONE_DEG = 1.0 / 60.0
DATABASE_ENV = "ASTRID_DATABASE_URL"
# PostgreSQL advisory-lock key of schema migrations (zone keys are never negative).
MIGRATION_LOCK = -1

MIGRATIONS = [
    (
        1,
        [
            """CREATE TABLE objects (
                object_id TEXT PRIMARY KEY,
                ra DOUBLE PRECISION NOT NULL,
                dec DOUBLE PRECISION NOT NULL,
                zone INTEGER NOT NULL,
                field TEXT NOT NULL,
                first_mjd DOUBLE PRECISION NOT NULL,
                last_mjd DOUBLE PRECISION NOT NULL,
                n_detections INTEGER NOT NULL)""",
            "CREATE INDEX objects_zone_ra ON objects (zone, ra)",
            """CREATE TABLE detections (
                candidate_id TEXT PRIMARY KEY,
                object_id TEXT NOT NULL REFERENCES objects (object_id),
                exposure TEXT NOT NULL,
                night TEXT NOT NULL,
                band TEXT NOT NULL,
                mjd DOUBLE PRECISION NOT NULL,
                ra DOUBLE PRECISION NOT NULL,
                dec DOUBLE PRECISION NOT NULL,
                flux DOUBLE PRECISION, -- nJy
                flux_err DOUBLE PRECISION,
                mag DOUBLE PRECISION,
                mag_err DOUBLE PRECISION,
                snr DOUBLE PRECISION NOT NULL,
                rb_score DOUBLE PRECISION NOT NULL,
                rb_model_version INTEGER NOT NULL)""",
            "CREATE INDEX detections_object ON detections (object_id, mjd)",
            """CREATE TABLE forced_photometry (
                object_id TEXT NOT NULL REFERENCES objects (object_id),
                exposure TEXT NOT NULL,
                mjd DOUBLE PRECISION NOT NULL,
                band TEXT NOT NULL,
                flux DOUBLE PRECISION,
                flux_err DOUBLE PRECISION,
                limiting_mag DOUBLE PRECISION,
                detected BOOLEAN NOT NULL,
                PRIMARY KEY (object_id, exposure))""",
            """CREATE TABLE alerts (
                alert_id BIGINT PRIMARY KEY,
                candidate_id TEXT NOT NULL UNIQUE,
                object_id TEXT NOT NULL,
                night TEXT NOT NULL,
                packet TEXT NOT NULL,
                written_mjd DOUBLE PRECISION NOT NULL)""",
            """CREATE TABLE deliveries (
                alert_id BIGINT NOT NULL REFERENCES alerts (alert_id),
                channel TEXT NOT NULL,
                status TEXT NOT NULL,
                attempts INTEGER NOT NULL,
                last_error TEXT,
                delivered_mjd DOUBLE PRECISION,
                PRIMARY KEY (alert_id, channel))""",
        ],
    ),
    (
        # A delivery is claimed ('sending') before it is sent, so two runs never send the
        # same alert; a claim left by a run that died is taken over once it is stale.
        2,
        ["ALTER TABLE deliveries ADD COLUMN claimed_mjd DOUBLE PRECISION"],
    ),
]


class DatabaseError(Exception):
    """The object database cannot be opened or used."""


@dataclass
class Database:
    """A connection and its dialect (``sqlite`` or ``postgresql``)."""

    connection: object
    dialect: str
    where: str  # printable location, without credentials

    def sql(self, statement: str) -> str:
        """A statement in this dialect: ``?`` placeholders become ``%s`` in PostgreSQL.

        Parameters
        ----------
        statement : str
            SQL with ``?`` placeholders.

        Returns
        -------
        str
            The statement as this database takes it.
        """
        return statement.replace("?", "%s") if self.dialect == "postgresql" else statement

    def execute(self, statement: str, params: Sequence = ()) -> "sqlite3.Cursor | psycopg.Cursor":
        """Run one statement.

        Parameters
        ----------
        statement : str
            SQL with ``?`` placeholders.
        params : sequence
            The values of the placeholders, in order.

        Returns
        -------
        sqlite3.Cursor or psycopg.Cursor
            The cursor, for ``fetchone``, ``fetchall`` or ``rowcount``.
        """
        return self.connection.execute(self.sql(statement), params)

    def executemany(self, statement: str, rows: Iterable[Sequence]) -> "sqlite3.Cursor | psycopg.Cursor":
        """Run one statement once per row of values.

        Parameters
        ----------
        statement : str
            SQL with ``?`` placeholders.
        rows : iterable of sequence
            The values of the placeholders, one sequence per execution.

        Returns
        -------
        sqlite3.Cursor or psycopg.Cursor
            The cursor it ran on.
        """
        cursor = self.connection.cursor()
        cursor.executemany(self.sql(statement), rows)
        return cursor

    def begin_write(self, zones: Iterable[int] = ()) -> None:
        """Start a writing transaction holding the locks described in the module doc.

        In PostgreSQL only writers that look before they insert (association, migration)
        need zone locks; idempotent inserts (``ON CONFLICT``) pass none.

        Parameters
        ----------
        zones : iterable of int
            Declination zones (:func:`zone_of`) to lock in PostgreSQL, or ``MIGRATION_LOCK``;
            SQLite locks the whole database whatever they are.
        """
        if self.dialect == "sqlite":
            self.connection.execute("BEGIN IMMEDIATE")
        else:
            for zone in sorted(set(zones)):
                self.connection.execute("SELECT pg_advisory_xact_lock(%s)", (int(zone),))

    def commit(self) -> None:
        """Commit the current transaction."""
        self.connection.commit()

    def rollback(self) -> None:
        """Roll the current transaction back."""
        self.connection.rollback()

    def close(self) -> None:
        """Close the connection."""
        self.connection.close()


def default_path(results: Path | str = "results") -> Path:
    """Where the SQLite object database is when no URL names another.

    Parameters
    ----------
    results : pathlib.Path or str
        The results folder.

    Returns
    -------
    pathlib.Path
        ``<results>/alerts/objects.sqlite``.
    """
    return Path(results) / "alerts" / "objects.sqlite"


def connect(url: str | None = None, results: Path | str = "results", read_only: bool = False) -> Database:
    """Open the object database: ``url`` (or ``$ASTRID_DATABASE_URL``), else SQLite under
    ``results``. A PostgreSQL URL's password belongs in the environment (``PGPASSWORD``
    or ``~/.pgpass``), never in config. A server that does not answer within the services
    timeout (:func:`astrid.pipeline.services.timeout_seconds`) is a :class:`DatabaseError` naming it.

    ``read_only`` opens SQLite without writing anything (not even its journal mode), for
    looking at the database while the workflow is being read.

    Parameters
    ----------
    url : str or None
        ``postgresql://…``, ``postgres://…``, ``sqlite:///<path>`` or a path; None for
        ``$ASTRID_DATABASE_URL``, else SQLite under ``results``.
    results : pathlib.Path or str
        The results folder (:func:`default_path`).
    read_only : bool
        Open SQLite without writing anything.

    Returns
    -------
    Database
        The open database; its ``where`` names it without credentials.

    Raises
    ------
    DatabaseError
        When the PostgreSQL server cannot be reached; the message shows no password.
    """
    url = url or os.environ.get(DATABASE_ENV)
    if url and url.startswith(("postgresql://", "postgres://")):
        import psycopg

        from astrid.pipeline.services import masked, redacted, timeout_seconds

        try:
            connection = psycopg.connect(url, connect_timeout=max(1, round(timeout_seconds())))
        except psycopg.Error as error:
            raise DatabaseError(
                masked(f"cannot connect to the object database {redacted(url)}: {error}", url)
            ) from None
        return Database(connection, "postgresql", redacted(url))
    path = Path(url.removeprefix("sqlite:///")) if url else default_path(results)
    if read_only:
        return Database(_SqliteAdapter(_read_only_sqlite(path)), "sqlite", str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    # Autocommit mode: transactions are begun explicitly (BEGIN IMMEDIATE for writers).
    connection = sqlite3.connect(path, timeout=120, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA foreign_keys=ON")
    return Database(_SqliteAdapter(connection), "sqlite", str(path))


def _read_only_sqlite(path):
    """A connection that writes nothing. A WAL database whose shared-memory file is gone (it
    was closed cleanly) cannot be opened ``mode=ro``; it is then read as immutable, which is
    exact once the last writer has closed (its WAL checkpointed into the file)."""
    uri = path.resolve().as_uri()
    try:
        connection = sqlite3.connect(f"{uri}?mode=ro", uri=True, isolation_level=None)
        connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return connection
    except sqlite3.OperationalError:
        return sqlite3.connect(f"{uri}?immutable=1", uri=True, isolation_level=None)


class _SqliteAdapter:
    """sqlite3 in autocommit mode with commit/rollback that close an explicit transaction."""

    def __init__(self, connection):
        self._c = connection

    def execute(self, statement, params=()):
        return self._c.execute(statement, params)

    def cursor(self):
        return self._c.cursor()

    def commit(self):
        if self._c.in_transaction:
            self._c.execute("COMMIT")

    def rollback(self):
        if self._c.in_transaction:
            self._c.execute("ROLLBACK")

    def close(self):
        self._c.close()


def migrate(db: Database) -> int:
    """Create or upgrade the schema to the newest migration; returns the schema version.

    Parameters
    ----------
    db : Database
        The object database.

    Returns
    -------
    int
        The schema version, the number of the newest migration.
    """
    db.begin_write(zones=[MIGRATION_LOCK])
    try:
        db.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_mjd DOUBLE PRECISION)"
        )
        done = {row[0] for row in db.execute("SELECT version FROM schema_migrations").fetchall()}
        for version, statements in MIGRATIONS:
            if version in done:
                continue
            for statement in statements:
                db.execute(statement)
            db.execute(
                "INSERT INTO schema_migrations (version, applied_mjd) VALUES (?, ?)", (version, now_mjd())
            )
        db.commit()
    except Exception:
        db.rollback()
        raise
    return max(version for version, _ in MIGRATIONS)


def identity(db: Database) -> str:
    """What tells this database from another one at the same address: its address and the
    time its schema was first created (a database made anew gets a new one).

    Parameters
    ----------
    db : Database
        The object database, migrated.

    Returns
    -------
    str
        The address (without credentials) and the creation time (MJD).
    """
    row = db.execute("SELECT applied_mjd FROM schema_migrations WHERE version = 1").fetchone()
    return f"{db.where} created {row[0] if row else 'never'}"


def now_mjd() -> float:
    """The current time as an MJD (days; from the system clock, UTC).

    Returns
    -------
    float
        The MJD now.
    """
    return time.time() / 86400.0 + 40587.0


def zone_of(dec: float) -> int:
    """The declination zone (``ZONE_DEG`` high, numbered from Dec -90°) of a declination.

    Parameters
    ----------
    dec : float
        Declination (degrees).

    Returns
    -------
    int
        The zone, 0 or more.
    """
    return int(math.floor((dec + 90.0) / ZONE_DEG))


def object_name(ra: float, dec: float) -> str:
    """IAU-style name from a position: ``ASTJhhmmss.ss+ddmmss.s`` (stable: the first detection's).

    Parameters
    ----------
    ra, dec : float
        Right ascension and declination (degrees).

    Returns
    -------
    str
        The object's name.
    """
    from astropy.coordinates import Angle

    hms = Angle(ra, "deg").to_string(unit="hour", sep="", precision=2, pad=True)
    dms = Angle(dec, "deg").to_string(unit="deg", sep="", precision=1, pad=True, alwayssign=True)
    return f"ASTJ{hms}{dms}"


def cone(db: Database, ra: float, dec: float, radius_arcsec: float) -> list[tuple[str, float, float, float]]:
    """Objects within ``radius_arcsec`` of (ra, dec): rows (object_id, ra, dec, distance″),
    nearest first.

    Parameters
    ----------
    db : Database
        The object database.
    ra, dec : float
        Centre of the cone (degrees).
    radius_arcsec : float
        Radius of the cone (arcseconds).

    Returns
    -------
    list of (str, float, float, float)
        Object id, RA and Dec (degrees) and distance (arcseconds) of each object found.
    """
    radius = radius_arcsec / 3600.0
    zones = range(zone_of(max(dec - radius, -90.0)), zone_of(min(dec + radius, 90.0)) + 1)
    cos_dec = max(math.cos(math.radians(min(abs(dec) + radius, 90.0))), 1e-9)
    half_width = min(radius / cos_dec, 180.0)
    ranges = [(ra - half_width, ra + half_width)]
    if ranges[0][0] < 0:
        ranges.append((ranges[0][0] + 360.0, 360.0))
    if ranges[0][1] >= 360.0:
        ranges.append((0.0, ranges[0][1] - 360.0))
    rows = []
    for zone in zones:
        for low, high in ranges:
            rows += db.execute(
                "SELECT object_id, ra, dec FROM objects WHERE zone = ? AND ra BETWEEN ? AND ?",
                (zone, low, high),
            ).fetchall()
    found = []
    for object_id, o_ra, o_dec in rows:
        distance = angular_distance(ra, dec, o_ra, o_dec) * 3600.0
        if distance <= radius_arcsec:
            found.append((object_id, o_ra, o_dec, distance))
    return sorted(found, key=lambda r: r[3])


def angular_distance(ra1: float, dec1: float, ra2: float, dec2: float) -> float:
    """Great-circle distance in degrees (haversine).

    Parameters
    ----------
    ra1, dec1 : float
        First position (degrees).
    ra2, dec2 : float
        Second position (degrees).

    Returns
    -------
    float
        Distance between them (degrees).
    """
    ra1, dec1, ra2, dec2 = map(math.radians, (ra1, dec1, ra2, dec2))
    h = math.sin((dec2 - dec1) / 2) ** 2 + math.cos(dec1) * math.cos(dec2) * math.sin((ra2 - ra1) / 2) ** 2
    return math.degrees(2 * math.asin(min(1.0, math.sqrt(h))))


DETECTION_FIELDS = (
    "candidate_id",
    "object_id",
    "exposure",
    "night",
    "band",
    "mjd",
    "ra",
    "dec",
    "flux",
    "flux_err",
    "mag",
    "mag_err",
    "snr",
    "rb_score",
    "rb_model_version",
)


def associate(
    db: Database, detections: list[dict], field: str, radius_arcsec: float = 1.5
) -> list[tuple[str, str, bool]]:
    """Associate detections (dicts with the DETECTION_FIELDS but object_id) with objects.

    Returns ``[(candidate_id, object_id, created)]`` in the order given. One transaction
    for the batch; detections already stored keep their object.

    Parameters
    ----------
    db : Database
        The object database.
    detections : list of dict
        The detections: their ``DETECTION_FIELDS`` but ``object_id`` (positions in degrees,
        ``mjd`` in days, fluxes in nJy).
    field : str
        The field they were observed in, recorded with each new object.
    radius_arcsec : float
        Association radius (arcseconds): a detection joins the nearest object within it, else
        makes a new one.

    Returns
    -------
    list of (str, str, bool)
        Candidate id, object id, and whether the object was created, per detection.
    """
    radius = radius_arcsec / 3600.0
    zones = set()
    for d in detections:
        zones.update(range(max(zone_of(d["dec"] - radius) - 1, 0), zone_of(d["dec"] + radius) + 2))
    results = []
    db.begin_write(zones)
    try:
        for d in detections:
            known = db.execute(
                "SELECT object_id FROM detections WHERE candidate_id = ?", (d["candidate_id"],)
            ).fetchone()
            if known:
                results.append((d["candidate_id"], known[0], False))
                continue
            nearest = cone(db, d["ra"], d["dec"], radius_arcsec)
            created = not nearest
            if created:
                object_id = object_name(d["ra"], d["dec"])
                db.execute(
                    "INSERT INTO objects (object_id, ra, dec, zone, field, first_mjd, last_mjd, n_detections)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, 0)",
                    (object_id, d["ra"], d["dec"], zone_of(d["dec"]), field, d["mjd"], d["mjd"]),
                )
            else:
                object_id = nearest[0][0]
            db.execute(
                f"INSERT INTO detections ({', '.join(DETECTION_FIELDS)}) VALUES ({', '.join('?' * len(DETECTION_FIELDS))})",
                tuple({**d, "object_id": object_id}[k] for k in DETECTION_FIELDS),
            )
            db.execute(
                "UPDATE objects SET n_detections = n_detections + 1,"
                " first_mjd = CASE WHEN ? < first_mjd THEN ? ELSE first_mjd END,"
                " last_mjd = CASE WHEN ? > last_mjd THEN ? ELSE last_mjd END WHERE object_id = ?",
                (d["mjd"], d["mjd"], d["mjd"], d["mjd"], object_id),
            )
            results.append((d["candidate_id"], object_id, created))
        db.commit()
    except Exception:
        db.rollback()
        raise
    return results


def objects_in_field(db: Database, field: str) -> list[tuple[str, float, float]]:
    """The objects first seen in a field.

    Parameters
    ----------
    db : Database
        The object database.
    field : str
        The field.

    Returns
    -------
    list of (str, float, float)
        Object id, RA and Dec (degrees) of each.
    """
    return db.execute("SELECT object_id, ra, dec FROM objects WHERE field = ?", (field,)).fetchall()


def record_forced(db: Database, rows: list[tuple]) -> None:
    """Store forced photometry rows (object_id, exposure, mjd, band, flux, flux_err,
    limiting_mag, detected); a row already stored is kept.

    Parameters
    ----------
    db : Database
        The object database.
    rows : list of tuple
        The rows, in that order (``mjd`` in days, fluxes in nJy, ``limiting_mag`` in AB
        magnitudes); nothing is written when empty.
    """
    if not rows:
        return
    db.begin_write()
    try:
        conflict = "ON CONFLICT (object_id, exposure) DO NOTHING"
        db.executemany(
            "INSERT INTO forced_photometry (object_id, exposure, mjd, band, flux, flux_err, limiting_mag, detected)"
            f" VALUES (?, ?, ?, ?, ?, ?, ?, ?) {conflict}",
            rows,
        )
        db.commit()
    except Exception:
        db.rollback()
        raise


def history(
    db: Database, object_id: str, before_mjd: float, days: float = 30.0
) -> tuple[list[dict], list[tuple]]:
    """Earlier detections and non-detections of an object within ``days`` before ``before_mjd``.

    Parameters
    ----------
    db : Database
        The object database.
    object_id : str
        The object.
    before_mjd : float
        MJD (days) before which to look.
    days : float
        How far back to look (days).

    Returns
    -------
    (list of dict, list of tuple)
        The detections, as dicts of ``DETECTION_FIELDS``, and the non-detections, as
        (exposure, mjd, band, flux, flux_err, limiting_mag) rows, each oldest first.
    """
    detections = db.execute(
        f"SELECT {', '.join(DETECTION_FIELDS)} FROM detections WHERE object_id = ? AND mjd < ? AND mjd >= ?"
        " ORDER BY mjd",
        (object_id, before_mjd, before_mjd - days),
    ).fetchall()
    nondetections = db.execute(
        "SELECT exposure, mjd, band, flux, flux_err, limiting_mag FROM forced_photometry"
        " WHERE object_id = ? AND NOT detected AND mjd < ? AND mjd >= ? ORDER BY mjd",
        (object_id, before_mjd, before_mjd - days),
    ).fetchall()
    return [dict(zip(DETECTION_FIELDS, row, strict=True)) for row in detections], nondetections


def forced_fluxes(
    score: np.ndarray, variance: np.ndarray, flux_scale: float, x: ArrayLike, y: ArrayLike
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Forced PSF flux and error at pixel positions: the matched-filter score S there over F_S
    (the same estimator as a detection's flux), nan outside the image. Only the positions'
    pixels are read: the planes may be memory-mapped.

    Parameters
    ----------
    score, variance : numpy.ndarray
        The difference's matched-filter score image S and its variance.
    flux_scale : float
        F_S: a point source's flux is S / F_S (reference electrons).
    x, y : array_like
        Pixel positions (0-based), rounded to the nearest pixel.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray, numpy.ndarray)
        Flux and its error (reference electrons), and whether each position is inside the
        image.
    """
    xi, yi = np.round(np.asarray(x)).astype(int), np.round(np.asarray(y)).astype(int)
    inside = (xi >= 0) & (xi < score.shape[1]) & (yi >= 0) & (yi < score.shape[0])
    flux = np.full(len(xi), np.nan)
    error = np.full(len(xi), np.nan)
    flux[inside] = score[yi[inside], xi[inside]] / flux_scale
    error[inside] = np.sqrt(variance[yi[inside], xi[inside]]) / flux_scale
    return flux, error, inside
