"""The checks in Prometheus' text format, for sites that scrape them."""

from astrid.ops.monitor.status import SEVERITY


def prometheus(checks):
    """The checks in Prometheus' text exposition format."""
    lines = ["# HELP astrid_check_status 0 ok, 1 warning, 2 critical", "# TYPE astrid_check_status gauge"]
    lines += [f'astrid_check_status{{check="{c.name}"}} {SEVERITY[c.status]}' for c in checks]
    lines += ["# HELP astrid_check_value measured value of a check", "# TYPE astrid_check_value gauge"]
    lines += [f'astrid_check_value{{check="{c.name}"}} {c.value}' for c in checks if c.value is not None]
    return "\n".join(lines) + "\n"
