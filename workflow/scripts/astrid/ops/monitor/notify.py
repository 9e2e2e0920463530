"""Notifications of state changes through the alert channels."""

import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from astrid.ops.monitor.status import OK, SEVERITY, Check

if TYPE_CHECKING:
    from astrid.alerts.delivery import Email, Retry, Webhook


def notify(
    channels: "Iterable[Webhook | Email]",
    changed: list[Check],
    retry: "Retry",
    sleep: Callable[[float], None] = time.sleep,
) -> list[str]:
    """Tell people about the transitions, once; returns the channels that took the message.

    Parameters
    ----------
    channels : iterable of Webhook or Email
        The alert channels (``channels_from_config``); each is sent one message listing every
        transition, under a subject naming the most severe of their statuses.
    changed : list of Check
        The checks that changed state (:func:`~astrid.ops.monitor.history.transitions`);
        nothing is sent when empty.
    retry : Retry
        Attempts and back-off per channel.
    sleep : callable
        Waits the given seconds between attempts (replaced in tests).

    Returns
    -------
    list of str
        Names of the channels that took the message.
    """
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
