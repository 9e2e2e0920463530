"""The services AstrID talks to — MLflow, PostgreSQL, SMTP, webhooks — and how long it waits.

A service that is down must not hold the night: each is given ``timeout_seconds()``
(config ``services.timeout_seconds``, which the workflow passes to every job as
``ASTRID_SERVICE_TIMEOUT``) before AstrID says, in one sentence naming the service and its
address, that it cannot be reached. Addresses in messages never carry credentials
(:func:`redacted`, :func:`masked`).
"""

import os
import socket
from urllib.parse import urlsplit, urlunsplit

TIMEOUT_ENV = "ASTRID_SERVICE_TIMEOUT"
DEFAULT_TIMEOUT_SECONDS = 10.0


class ServiceUnavailable(Exception):
    """A service could not be reached in time; the message names it and its address."""


def timeout_seconds() -> float:
    """Seconds to wait for a service: ``$ASTRID_SERVICE_TIMEOUT``, else 10.

    Returns
    -------
    float
        The timeout in seconds.

    Raises
    ------
    ServiceUnavailable
        When ``$ASTRID_SERVICE_TIMEOUT`` is not a number.
    """
    value = os.environ.get(TIMEOUT_ENV)
    try:
        return float(value) if value else DEFAULT_TIMEOUT_SECONDS
    except ValueError:
        raise ServiceUnavailable(f"{TIMEOUT_ENV}={value!r} is not a number of seconds") from None


def redacted(url: str) -> str:
    """``url`` without any user:password part, fit for logs and result files.

    Parameters
    ----------
    url : str
        A service address, possibly with credentials.

    Returns
    -------
    str
        ``url`` itself when it has no credentials, else the address with host and port only
        in its network location.
    """
    parts = urlsplit(url)
    if not (parts.password or parts.username):
        return url
    host = parts.hostname or ""
    return urlunsplit(parts._replace(netloc=host + (f":{parts.port}" if parts.port else "")))


def masked(text: str, *urls: str) -> str:
    """``text`` with the credentials (and the whole address) of each of ``urls`` replaced by
    its redacted form.

    Parameters
    ----------
    text : str
        A message, e.g. an exception's text.
    *urls : str
        The addresses whose credentials must not appear (empty ones are skipped).

    Returns
    -------
    str
        ``text`` with each address redacted and any user name or password left in it
        replaced by ``***``.
    """
    for url in urls:
        if not url:
            continue
        parts = urlsplit(url)
        text = text.replace(url, redacted(url))
        for secret in (parts.password, parts.username and f"{parts.username}:"):
            if secret:
                text = text.replace(secret, "***")
    return text


def check_reachable(service: str, url: str, default_port: int, timeout: float | None = None) -> None:
    """Open (and close) a TCP connection to ``url``'s host and port within ``timeout``.

    Parameters
    ----------
    service : str
        The service's name, for the message (e.g. ``"MLflow"``).
    url : str
        Its address.
    default_port : int
        The port used when ``url`` names none.
    timeout : float, optional
        Seconds to wait; :func:`timeout_seconds` when None.

    Raises
    ------
    ServiceUnavailable
        Naming ``service`` and the redacted address, when nothing answers in time.
    """
    parts = urlsplit(url)
    host, port = parts.hostname, parts.port or default_port
    timeout = timeout_seconds() if timeout is None else timeout
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return
    except OSError as error:
        reason = "no answer" if isinstance(error, TimeoutError) else (error.strerror or str(error))
        raise ServiceUnavailable(
            f"{service} at {redacted(url)} cannot be reached ({reason} within {timeout:g} s)"
        ) from None
