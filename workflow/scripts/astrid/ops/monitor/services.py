"""The services a night needs: the MLflow tracking store, the alert database and SLURM."""

import os
import shutil
import subprocess
from pathlib import Path

from astrid.ops.monitor.status import CRITICAL, OK, WARNING, Check, graded


def check_tracking_store(uri: str) -> Check:
    """The MLflow store answers: the sqlite file opens, or the server's /health says OK.

    Parameters
    ----------
    uri : str
        The tracking URI: ``sqlite:///<path>`` or a server's HTTP(S) address.

    Returns
    -------
    Check
        ``tracking_store``: critical when unreachable, a warning while the sqlite file does
        not exist yet; the message never shows the URI's credentials.
    """
    import sqlite3
    import urllib.request

    from astrid.realbogus.registry import redacted

    try:
        if uri.startswith("sqlite:///"):
            path = Path(uri.removeprefix("sqlite:///"))
            if not path.exists():
                return Check("tracking_store", WARNING, None, f"MLflow store {path} does not exist yet")
            sqlite3.connect(f"file:{path}?mode=ro", uri=True).execute("SELECT 1").fetchone()
        else:
            with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=5) as response:
                if response.status != 200:
                    raise OSError(f"HTTP {response.status}")
    except (OSError, sqlite3.Error) as error:
        return Check("tracking_store", CRITICAL, None, f"MLflow store {redacted(uri)} unreachable: {error}")
    return Check("tracking_store", OK, None, f"MLflow store {redacted(uri)} reachable")


def check_alert_database(results: Path | str) -> Check:
    """The alert database answers ``SELECT 1``: the database of ``$ASTRID_DATABASE_URL`` when
    it is set, else the SQLite file under ``results``.

    Parameters
    ----------
    results : pathlib.Path or str
        The results folder, holding the embedded database.

    Returns
    -------
    Check
        ``alert_database``: critical when unreachable, a warning while no database is
        configured and the SQLite file does not exist yet.
    """
    import sqlite3

    import psycopg

    from astrid.alerts.objects import DATABASE_ENV, DatabaseError, connect, default_path

    failures = (DatabaseError, OSError, sqlite3.Error, psycopg.Error)
    if not os.environ.get(DATABASE_ENV) and not default_path(results).exists():
        return Check("alert_database", WARNING, None, "alert database does not exist yet")
    try:
        db = connect(results=results)
        db.execute("SELECT 1").fetchone()
        where = db.where
        db.close()
    except failures as error:
        return Check("alert_database", CRITICAL, None, f"alert database unreachable: {error}")
    return Check("alert_database", OK, None, f"alert database {where} reachable")


def check_slurm(settings: dict) -> list[Check]:
    """The SLURM controller answers ``scontrol ping``, and this user's pending jobs
    (``squeue -u $USER -t PENDING``) against their thresholds.

    Without ``settings["enabled"]`` both checks are ok with the message "not configured".
    The queue is not asked while the controller is down (a warning that says so), so one
    outage is one critical.

    Parameters
    ----------
    settings : dict
        The ``monitoring.slurm`` config section: ``enabled``, ``timeout_seconds`` (s, per
        command) and the ``pending_jobs`` ``warning`` and ``critical`` counts.

    Returns
    -------
    list of Check
        ``slurm_controller`` and ``slurm_pending_jobs``.
    """
    import getpass

    names = ("slurm_controller", "slurm_pending_jobs")
    if not settings["enabled"]:
        why = "not configured (monitoring.slurm.enabled is false)"
        return [Check(name, OK, None, f"{name}: {why}") for name in names]
    timeout = settings["timeout_seconds"]
    scontrol, squeue = shutil.which("scontrol"), shutil.which("squeue")
    if not scontrol or not squeue:
        missing = " and ".join(n for n, p in (("scontrol", scontrol), ("squeue", squeue)) if not p)
        return [
            Check(names[0], CRITICAL, None, f"SLURM is enabled but {missing} is not on PATH"),
            Check(names[1], WARNING, None, "SLURM queue not measured: no SLURM commands"),
        ]
    try:
        ping = subprocess.run([scontrol, "ping"], capture_output=True, text=True, timeout=timeout)
        answers = [line.strip() for line in ping.stdout.splitlines() if line.startswith("Slurmctld(")]
    except subprocess.TimeoutExpired:
        ping, answers = None, []
    up = [a for a in answers if a.endswith(" is UP")]
    if ping is None:
        controller = Check(
            names[0], CRITICAL, None, f"SLURM controller: scontrol ping gave no answer in {timeout:g} s"
        )
    elif not up:
        said = "; ".join(answers) or (ping.stderr.strip().splitlines() or ["no output"])[-1]
        controller = Check(names[0], CRITICAL, None, f"SLURM controller unreachable: {said}")
    elif len(up) < len(answers):
        controller = Check(names[0], WARNING, None, "SLURM controller partly down: " + "; ".join(answers))
    else:
        controller = Check(names[0], OK, None, "SLURM controller up: " + "; ".join(answers))
    if controller.status == CRITICAL:
        return [
            controller,
            Check(names[1], WARNING, None, "SLURM queue not measured: controller unreachable"),
        ]
    user = getpass.getuser()
    try:
        queue = subprocess.run(
            [squeue, "-h", "-u", user, "-t", "PENDING", "-o", "%i"],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        failed = queue.returncode != 0 and (queue.stderr.strip().splitlines() or ["no output"])[-1]
    except subprocess.TimeoutExpired:
        queue, failed = None, f"no answer in {timeout:g} s"
    if failed:
        return [controller, Check(names[1], CRITICAL, None, f"SLURM queue of {user} not read: {failed}")]
    pending = len([line for line in queue.stdout.splitlines() if line.strip()])
    check = graded(
        names[1], pending, settings["pending_jobs"]["warning"], settings["pending_jobs"]["critical"], ""
    )
    check.message += f"; pending jobs of {user}"
    return [controller, check]
