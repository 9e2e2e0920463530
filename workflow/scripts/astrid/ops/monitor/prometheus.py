"""The checks in Prometheus' text format, for sites that scrape them."""

from astrid.ops.monitor.status import SEVERITY, Check


def prometheus(checks: list[Check]) -> str:
    """The checks in Prometheus' text exposition format.

    Parameters
    ----------
    checks : list of Check
        This run's checks.

    Returns
    -------
    str
        Two gauges: ``astrid_check_status`` per check (0 ok, 1 warning, 2 critical) and
        ``astrid_check_value`` per check that has a value.
    """
    lines = ["# HELP astrid_check_status 0 ok, 1 warning, 2 critical", "# TYPE astrid_check_status gauge"]
    lines += [f'astrid_check_status{{check="{c.name}"}} {SEVERITY[c.status]}' for c in checks]
    lines += ["# HELP astrid_check_value measured value of a check", "# TYPE astrid_check_value gauge"]
    lines += [f'astrid_check_value{{check="{c.name}"}} {c.value}' for c in checks if c.value is not None]
    return "\n".join(lines) + "\n"
