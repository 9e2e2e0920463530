"""Notifications of state changes through the alert channels."""

import time

from astrid.ops.monitor.status import OK, SEVERITY


def notify(channels, changed, retry, sleep=time.sleep):
    """Tell people about the transitions, once; returns the channels that took the message."""
    from astrid.alerts.delivery import send_with_retries

    if not changed:
        return []
    lines = [f"[{c.status.upper() if c.status != OK else 'RECOVERED'}] {c.message}" for c in changed]
    text = "\n".join(lines)
    subject = f"AstrID health: {max((c.status for c in changed), key=SEVERITY.get)}"
    done = []
    for channel in channels:
        ok, _, _ = send_with_retries(
            channel, text, retry, sleep, send=lambda t, c=channel: c.send_text(subject, t)
        )
        if ok:
            done.append(channel.name)
    return done
