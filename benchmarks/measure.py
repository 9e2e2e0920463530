"""Wall time and peak resident memory of one runner command, run as a child process.

Library::

    from measure import measure
    result = measure([".bench/sfft/bin/python", "benchmarks/peers/run_sfft.py", PAIR, OUT])

CLI (prints the result as JSON; the command goes after ``--``)::

    python benchmarks/measure.py [--json OUT.json] [--log RUN.log] [--timeout S] -- CMD ARGS...

The child is started in its own session and reaped with ``os.wait4``, whose rusage gives its
CPU times and ``ru_maxrss``: on Linux the peak resident set size of the child or of the
largest of the descendants it waited for (a tool that shells out, like sfft to SExtractor,
is covered), in KiB. The wall time spans the whole process: interpreter start, imports,
file I/O and the subtraction (runners also report the subtraction alone in timing.json).
Standard library only, so any venv's python can run it.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path


def measure(
    cmd: list[str], log: Path | None = None, timeout: float | None = None, cwd=None, env=None
) -> dict:
    """Run cmd to completion; return wall_s, max_rss_mb, user_s, sys_s, returncode, timed_out."""
    out = open(log, "w") if log else None  # noqa: SIM115 (closed below)
    try:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            cmd,
            stdout=out,
            stderr=subprocess.STDOUT if out else None,
            cwd=cwd,
            env=env,
            start_new_session=True,
        )
        timed_out = threading.Event()

        def kill_group():
            timed_out.set()
            os.killpg(proc.pid, signal.SIGKILL)

        timer = threading.Timer(timeout, kill_group) if timeout else None
        if timer:
            timer.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        if timer:
            timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)  # tell Popen it was reaped
    finally:
        if out:
            out.close()
    return {
        "command": cmd,
        "returncode": proc.returncode,
        "timed_out": timed_out.is_set(),
        "wall_s": round(wall, 3),
        "user_s": round(usage.ru_utime, 3),
        "sys_s": round(usage.ru_stime, 3),
        "max_rss_mb": round(usage.ru_maxrss / 1024, 1),
    }


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "--" not in argv:
        print("usage: measure.py [--json OUT] [--log LOG] [--timeout S] -- CMD ARGS...", file=sys.stderr)
        return 2
    split = argv.index("--")
    parser = argparse.ArgumentParser(description="Wall time and peak RSS of a child command.")
    parser.add_argument("--json", type=Path, default=None, help="also write the result here")
    parser.add_argument("--log", type=Path, default=None, help="child's stdout+stderr go here")
    parser.add_argument("--timeout", type=float, default=None, help="kill the child after S seconds")
    args = parser.parse_args(argv[:split])
    result = measure(argv[split + 1 :], log=args.log, timeout=args.timeout)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0 if result["returncode"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
