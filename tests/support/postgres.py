"""A throwaway PostgreSQL server on 127.0.0.1 from Debian's packages (tests, benchmarks).

    with postgres_server(folder) as url: ...

Finds ``initdb`` and ``pg_ctl`` (PATH, then /usr/lib/postgresql/*/bin); as root, runs them as
the ``postgres`` user, since the server refuses to run as root. Raises
:class:`PostgresUnavailable` with the reason when it cannot start one.
"""

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path


class PostgresUnavailable(Exception):
    pass


def _binary(name):
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if candidates:
        return candidates[-1]
    raise PostgresUnavailable(f"{name} not found (install Debian's postgresql package: .ci/run does)")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def postgres_server(folder=None):
    """A server in ``folder`` (default: a new folder under /tmp, which the postgres user can
    reach; pytest's own temporary folders are private to root), removed afterwards."""
    initdb, pg_ctl = _binary("initdb"), _binary("pg_ctl")
    own = folder is None
    folder = Path(tempfile.mkdtemp(prefix="astrid-pg-")) if own else Path(folder)
    data = folder / "pgdata"
    folder.mkdir(parents=True, exist_ok=True)
    prefix = []
    user = "postgres"
    if os.geteuid() == 0:
        runuser = shutil.which("runuser")
        if not runuser:
            raise PostgresUnavailable("running as root and runuser is missing (the server refuses root)")
        prefix = [runuser, "-u", "postgres", "--"]
        shutil.chown(folder, "postgres")
    else:
        import getpass

        user = getpass.getuser()
    port = _free_port()

    def run(*args):
        done = subprocess.run([*prefix, *args], capture_output=True, text=True)
        if done.returncode:
            raise PostgresUnavailable(f"{Path(args[0]).name} failed: {(done.stderr or done.stdout)[-800:]}")

    run(initdb, "-D", str(data), "-A", "trust", "-U", user, "--no-sync")
    run(
        pg_ctl,
        "-D",
        str(data),
        "-l",
        str(folder / "server.log"),
        "-w",
        "-t",
        "60",
        "-o",
        f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50",
        "start",
    )
    try:
        yield f"postgresql://{user}@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*prefix, pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"], capture_output=True
        )
        if own:
            shutil.rmtree(folder, ignore_errors=True)
