"""Delivery of alerts to people: an HTTP webhook (Slack-compatible JSON) and e-mail (SMTP).

Each channel has filters (score, magnitude, new objects only). Secrets — the webhook URL,
the SMTP password — come from environment variables named in config, never from config
itself, and never reach logs or reports (errors are reported with them masked). A failing
channel is retried with exponential back-off; what still fails is recorded in the
database's ``deliveries`` table as ``failed`` and delivered on the next run.
"""

import json
import logging
import os
import smtplib
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage

from astrid.alerts.objects import Database, now_mjd
from astrid.pipeline.services import timeout_seconds

log = logging.getLogger(__name__)


class DeliveryError(Exception):
    """A channel cannot be used as configured."""


@dataclass(frozen=True)
class Filters:
    min_score: float = 0.0
    max_mag: float | None = None
    new_objects_only: bool = False

    def accept(self, alert: dict) -> bool:
        """Whether an alert passes these filters.

        Parameters
        ----------
        alert : dict
            The alert's summary (:func:`astrid.alerts.packets.describe_packet`): its
            ``rb_score``, ``mag`` (AB magnitude, None when uncalibrated) and ``new_object``.

        Returns
        -------
        bool
            True when its real/bogus score is at least ``min_score``, its magnitude is known and
            at most ``max_mag`` (when one is set), and it is a new object (when only new objects
            are wanted).
        """
        if alert["rb_score"] < self.min_score:
            return False
        if self.max_mag is not None and (alert["mag"] is None or alert["mag"] > self.max_mag):
            return False
        return not (self.new_objects_only and not alert["new_object"])


@dataclass(frozen=True)
class Retry:
    attempts: int = 3
    backoff_seconds: float = 2.0  # waits backoff, 2·backoff, 4·backoff … between attempts


def _masked(text, secrets):
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def summary_line(alert: dict) -> str:
    """One line of text describing an alert, as the channels send it.

    Parameters
    ----------
    alert : dict
        The alert's summary (:func:`astrid.alerts.packets.describe_packet`).

    Returns
    -------
    str
        Object, new or known, band and AB magnitude ("—" when uncalibrated), S/N, real/bogus
        score, RA and Dec (degrees), MJD (TAI) and alert id.
    """
    mag = f"{alert['mag']:.2f}" if alert["mag"] is not None else "—"
    tag = "new object" if alert["new_object"] else "known object"
    return (
        f"{alert['object_id']} ({tag}) {alert['band']} = {mag} mag, S/N {alert['snr']:.1f}, "
        f"real/bogus {alert['rb_score']:.2f}, RA {alert['ra']:.5f} Dec {alert['dec']:+.5f}, "
        f"MJD(TAI) {alert['mjd']:.5f}, alert {alert['alert_id']}"
    )


@dataclass
class Webhook:
    """POST of ``{"text": …}`` (what Slack's incoming webhooks take) to a URL from the environment."""

    url_env: str
    filters: Filters = field(default_factory=Filters)
    timeout: float = field(default_factory=timeout_seconds)
    name: str = "webhook"

    def url(self) -> str:
        """The webhook URL, read from the environment variable ``url_env``.

        Returns
        -------
        str
            The URL (a secret: never logged).

        Raises
        ------
        DeliveryError
            When the environment variable is not set or empty.
        """
        url = os.environ.get(self.url_env)
        if not url:
            raise DeliveryError(f"webhook enabled but the environment variable {self.url_env} is not set")
        return url

    def send(self, alerts: list[dict]) -> None:
        """Post a batch of alerts: one summary line each as ``text``, the summaries as ``alerts``.

        Parameters
        ----------
        alerts : list of dict
            The alerts' summaries (:func:`astrid.alerts.packets.describe_packet`).

        Raises
        ------
        DeliveryError
            When the webhook is not configured, cannot be reached or refuses the post.
        """
        self.post({"text": "\n".join(summary_line(a) for a in alerts), "alerts": alerts})

    def send_text(self, subject: str, text: str) -> None:
        """Post a plain message as ``{"text": "subject: text"}``.

        Parameters
        ----------
        subject, text : str
            The message's subject and body.

        Raises
        ------
        DeliveryError
            When the webhook is not configured, cannot be reached or refuses the post.
        """
        self.post({"text": f"{subject}: {text}"})

    def post(self, payload: dict) -> None:
        """POST a JSON payload to the webhook, within ``timeout`` seconds.

        Parameters
        ----------
        payload : dict
            What to send, as JSON.

        Raises
        ------
        DeliveryError
            When the URL is not set, the server cannot be reached or answers HTTP 300 or more;
            the message names the environment variable, never the URL.
        """
        url = self.url()
        body = json.dumps(payload).encode()
        request = urllib.request.Request(url, body, {"Content-Type": "application/json"}, method="POST")
        where = f"webhook (the URL in ${self.url_env})"
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                if response.status >= 300:
                    raise DeliveryError(f"{where} answered HTTP {response.status}")
        except urllib.error.HTTPError as error:
            raise DeliveryError(
                _masked(f"{where} answered HTTP {error.code} {error.reason}", [url])
            ) from None
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise DeliveryError(_masked(f"{where} cannot be reached: {reason}", [url])) from None

    def secrets(self) -> list[str | None]:
        """What must never appear in logs or reports.

        Returns
        -------
        list of str or None
            The webhook URL (None when it is not set).
        """
        return [os.environ.get(self.url_env)]


@dataclass
class Email:
    """One e-mail per batch through an SMTP server; the password comes from the environment."""

    host: str
    port: int
    sender: str
    recipients: tuple
    username: str | None = None
    password_env: str | None = None
    starttls: bool = False
    filters: Filters = field(default_factory=Filters)
    timeout: float = field(default_factory=timeout_seconds)
    name: str = "email"

    def send(self, alerts: list[dict]) -> None:
        """Send a batch of alerts as one e-mail, one summary line per alert.

        Parameters
        ----------
        alerts : list of dict
            The alerts' summaries (:func:`astrid.alerts.packets.describe_packet`).

        Raises
        ------
        DeliveryError
            When the password is not set or the SMTP server cannot be used.
        """
        subject = f"AstrID: {len(alerts)} new alert{'s' * (len(alerts) != 1)}"
        self.send_text(subject, "\n".join(summary_line(a) for a in alerts) + "\n")

    def send_text(self, subject: str, text: str) -> None:
        """Send one plain-text e-mail to the recipients, within ``timeout`` seconds.

        Parameters
        ----------
        subject, text : str
            The e-mail's subject and body.

        Raises
        ------
        DeliveryError
            When a login is configured but the password's environment variable is not set, or
            the SMTP server cannot be reached or refuses the message; the password is masked.
        """
        message = EmailMessage()
        message["Subject"] = subject
        message["From"] = self.sender
        message["To"] = ", ".join(self.recipients)
        message.set_content(text)
        password = os.environ.get(self.password_env) if self.password_env else None
        if self.password_env and not password:
            raise DeliveryError(
                f"e-mail login configured but the environment variable {self.password_env} is not set"
            )
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                if self.starttls:
                    smtp.starttls()
                if self.username:
                    smtp.login(self.username, password)
                smtp.send_message(message)
        except (smtplib.SMTPException, OSError) as error:
            reason = "no answer" if isinstance(error, TimeoutError) else error
            raise DeliveryError(
                _masked(f"SMTP server {self.host}:{self.port} cannot be used: {reason}", [password])
            ) from None

    def secrets(self) -> list[str | None]:
        """What must never appear in logs or reports.

        Returns
        -------
        list of str or None
            The SMTP password (None when it is not set); empty without a login.
        """
        return [os.environ.get(self.password_env)] if self.password_env else []


def channels_from_config(alerts_config: dict) -> list[Webhook | Email]:
    """The enabled channels of the ``alerts`` config section.

    Parameters
    ----------
    alerts_config : dict
        The ``alerts`` section: its ``webhook`` and ``email`` settings.

    Returns
    -------
    list of Webhook or Email
        The enabled channels, webhook first; empty when none is enabled.
    """

    def filters(settings):
        return Filters(settings["min_score"], settings["max_mag"], settings["new_objects_only"])

    channels = []
    webhook, email = alerts_config["webhook"], alerts_config["email"]
    if webhook["enabled"]:
        channels.append(Webhook(webhook["url_env"], filters(webhook)))
    if email["enabled"]:
        channels.append(
            Email(
                email["host"],
                email["port"],
                email["sender"],
                tuple(email["recipients"]),
                email["username"],
                email["password_env"],
                email["starttls"],
                filters(email),
            )
        )
    return channels


def send_with_retries(
    channel: Webhook | Email,
    alerts: list[dict] | str,
    retry: Retry,
    sleep: Callable[[float], None] = time.sleep,
    send: Callable[[list[dict] | str], None] | None = None,
    deadline_seconds: float | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> tuple[bool, int, str | None]:
    """(delivered, attempts, last error) after up to ``retry.attempts`` tries with back-off,
    giving up once the next wait would end past ``deadline_seconds`` (the services timeout
    by default): a channel that is down costs the night seconds, not minutes.

    ``send`` (default ``channel.send``) is called with ``alerts``.

    Parameters
    ----------
    channel : Webhook or Email
        The channel; its ``name`` labels the log messages.
    alerts : list of dict or str
        What ``send`` takes: the alerts' summaries, or a message's text.
    retry : Retry
        Number of attempts and the first back-off (seconds), doubled after each failure.
    sleep : callable
        Waits the given number of seconds between attempts.
    send : callable or None
        Sends ``alerts`` and raises :class:`DeliveryError` on failure; None for ``channel.send``.
    deadline_seconds : float or None
        Time allowed for all attempts (seconds); None for the services timeout.
    clock : callable
        Monotonic clock (seconds) that the deadline is measured on.

    Returns
    -------
    (bool, int, str or None)
        Whether the alerts were delivered, the number of attempts made, and the last error
        (None when delivered).
    """
    send = send or channel.send
    deadline = clock() + (timeout_seconds() if deadline_seconds is None else deadline_seconds)
    error, attempt = None, 0
    for attempt in range(1, retry.attempts + 1):
        try:
            send(alerts)
            return True, attempt, None
        except DeliveryError as failure:
            error = str(failure)
            log.warning("%s: attempt %d of %d failed: %s", channel.name, attempt, retry.attempts, error)
            wait = retry.backoff_seconds * 2 ** (attempt - 1)
            if attempt == retry.attempts or clock() + wait >= deadline:
                break
            sleep(wait)
    log.error(
        "%s: not delivered after %d attempt(s): %s; left for the next run", channel.name, attempt, error
    )
    return False, attempt, error


# A claim older than this is taken over: its run died between claiming and recording.
# Far longer than one delivery can take (a few attempts, each bounded by the services timeout).
STALE_CLAIM_DAYS = 10.0 / 1440.0


def pending(db: Database, channel_name: str) -> list[tuple[int, str]]:
    """Alerts not yet delivered on ``channel_name``: never tried, failed before, or claimed
    by a run that died (a stale claim).

    Parameters
    ----------
    db : Database
        The object database.
    channel_name : str
        The channel's name (``webhook``, ``email``).

    Returns
    -------
    list of (int, str)
        (alert_id, packet path) of each such alert, by alert id.
    """
    stale = now_mjd() - STALE_CLAIM_DAYS
    rows = db.execute(
        "SELECT a.alert_id, a.packet FROM alerts a LEFT JOIN deliveries d"
        " ON d.alert_id = a.alert_id AND d.channel = ? WHERE d.status IS NULL OR d.status = 'failed'"
        " OR (d.status = 'sending' AND (d.claimed_mjd IS NULL OR d.claimed_mjd < ?))"
        " ORDER BY a.alert_id",
        (channel_name, stale),
    ).fetchall()
    return rows


def claim(db: Database, channel_name: str) -> list[tuple[int, str]]:
    """Claim the pending alerts of a channel for this run: (alert_id, packet) of each alert
    this call marked 'sending'. A claim is one conditional upsert per alert, so of two runs
    claiming at once each alert goes to exactly one.

    Parameters
    ----------
    db : Database
        The object database.
    channel_name : str
        The channel's name (``webhook``, ``email``).

    Returns
    -------
    list of (int, str)
        (alert_id, packet path) of each alert this call claimed.
    """
    now = now_mjd()
    stale = now - STALE_CLAIM_DAYS
    claimed = []
    db.begin_write()
    try:
        for alert_id, packet in pending(db, channel_name):
            row = db.execute(
                "INSERT INTO deliveries (alert_id, channel, status, attempts, claimed_mjd)"
                " VALUES (?, ?, 'sending', 0, ?) ON CONFLICT (alert_id, channel) DO UPDATE SET"
                " status = 'sending', claimed_mjd = excluded.claimed_mjd"
                " WHERE deliveries.status = 'failed' OR (deliveries.status = 'sending'"
                " AND (deliveries.claimed_mjd IS NULL OR deliveries.claimed_mjd < ?)) RETURNING alert_id",
                (alert_id, channel_name, now, stale),
            ).fetchone()
            if row is not None:
                claimed.append((alert_id, packet))
        db.commit()
    except Exception:
        db.rollback()
        raise
    return claimed


def _record(db, channel_name, outcome):
    db.begin_write()
    try:
        for alert_id, status, attempts, error in outcome:
            db.execute(
                "UPDATE deliveries SET status = ?, attempts = attempts + ?, last_error = ?, delivered_mjd = ?"
                " WHERE alert_id = ? AND channel = ?",
                (
                    status,
                    attempts,
                    error,
                    now_mjd() if status == "delivered" else None,
                    alert_id,
                    channel_name,
                ),
            )
        db.commit()
    except Exception:
        db.rollback()
        raise


def deliver(
    db: Database,
    channel: Webhook | Email,
    retry: Retry,
    describe: Callable[[str], dict],
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, int]:
    """Deliver every pending alert that passes the channel's filters, in one batch.

    The alerts are claimed first (:func:`claim`), so an alert is sent by one run only.
    ``describe(packet_path)`` gives the alert's summary dict. Returns this call's counts
    ``{"delivered", "filtered", "failed"}``; the outcome of each alert is recorded.

    Parameters
    ----------
    db : Database
        The object database.
    channel : Webhook or Email
        The channel to deliver on, with its filters.
    retry : Retry
        Attempts and back-off (:func:`send_with_retries`).
    describe : callable
        Packet path → the alert's summary dict (:func:`astrid.alerts.packets.describe_packet`).
    sleep : callable
        Waits the given number of seconds between attempts.

    Returns
    -------
    dict of str to int
        Number of alerts this call ``delivered``, ``filtered`` out and ``failed`` to deliver.
    """
    alerts = [(alert_id, describe(packet)) for alert_id, packet in claim(db, channel.name)]
    chosen = [(i, a) for i, a in alerts if channel.filters.accept(a)]
    skipped = [i for i, a in alerts if not channel.filters.accept(a)]
    counts = {"delivered": 0, "filtered": len(skipped), "failed": 0}
    status, attempts, error = "failed", 0, "delivery interrupted"
    try:
        if chosen:
            ok, attempts, error = send_with_retries(channel, [a for _, a in chosen], retry, sleep)
            status = "delivered" if ok else "failed"
            counts[status] = len(chosen)
    finally:
        # What was claimed is recorded however sending ended, so no claim is left behind.
        outcome = [(i, "filtered", 0, None) for i in skipped] + [
            (i, status, attempts, error) for i, _ in chosen
        ]
        _record(db, channel.name, outcome)
    return counts


DELIVERY_STATES = ("delivered", "filtered", "failed", "waiting")


def night_delivery(db: Database, night: str, channel_name: str) -> dict[str, int]:
    """How a night's alerts stand on a channel, from the database: ``{state: count}`` over
    ``DELIVERY_STATES`` ('waiting': not yet tried, or being sent). The same answer whichever
    run delivered them, and after a crash.

    Parameters
    ----------
    db : Database
        The object database.
    night : str
        The night, as in the ``alerts`` table (``YYYYMMDD``).
    channel_name : str
        The channel's name (``webhook``, ``email``).

    Returns
    -------
    dict of str to int
        Number of the night's alerts in each of ``DELIVERY_STATES``.
    """
    rows = db.execute(
        "SELECT d.status, count(*) FROM alerts a LEFT JOIN deliveries d"
        " ON d.alert_id = a.alert_id AND d.channel = ? WHERE a.night = ? GROUP BY d.status",
        (channel_name, night),
    ).fetchall()
    counts = dict.fromkeys(DELIVERY_STATES, 0)
    for status, n in rows:
        counts[status if status in counts else "waiting"] += n
    return counts


def count_failed(results: str = "results") -> int:
    """How many alerts earlier runs failed to deliver, on any channel: 0 without a database
    or before its schema exists. Opens the database read-only (the workflow asks while it is
    read, when nothing may be written).

    Parameters
    ----------
    results : str
        The results folder, where the SQLite database is unless ``$ASTRID_DATABASE_URL`` names
        another.

    Returns
    -------
    int
        Number of (alert, channel) deliveries recorded as failed.
    """
    import os

    from astrid.alerts.objects import DATABASE_ENV, connect, default_path

    if not os.environ.get(DATABASE_ENV) and not default_path(results).exists():
        return 0
    db = connect(results=results, read_only=True)
    try:
        return db.execute("SELECT count(*) FROM deliveries WHERE status = 'failed'").fetchone()[0]
    except Exception as error:  # noqa: BLE001 - SQLite's or PostgreSQL's "no such table"
        if "deliveries" in str(error):
            return 0
        raise
    finally:
        db.close()
