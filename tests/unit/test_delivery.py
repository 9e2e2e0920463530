"""Delivery to people through real servers on 127.0.0.1: an HTTP webhook receiver (one that
fails first) and an SMTP server (aiosmtpd). Secrets come from the environment and never
appear in what is recorded."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from astrid.alerts import delivery, objects


def alert(alert_id, score=0.9, mag=19.0, new=True):
    return {
        "alert_id": alert_id,
        "object_id": f"ASTJ{alert_id}",
        "new_object": new,
        "band": "g",
        "mjd": 61372.0,
        "ra": 150.0,
        "dec": 2.0,
        "mag": mag,
        "snr": 20.0,
        "rb_score": score,
    }


@pytest.fixture
def db(tmp_path):
    database = objects.connect(f"sqlite:///{tmp_path / 'objects.sqlite'}")
    objects.migrate(database)
    database.begin_write()
    for i, (score, mag, new) in enumerate(
        [(0.95, 18.0, True), (0.9, 21.5, False), (0.3, 18.5, True)], start=1
    ):
        database.execute(
            "INSERT INTO alerts (alert_id, candidate_id, object_id, night, packet, written_mjd) VALUES (?, ?, ?, ?, ?, ?)",
            (i, f"c{i}", f"ASTJ{i}", "20261127", json.dumps([score, mag, new]), 0.0),
        )
    database.commit()
    return database


def describe(packet):
    score, mag, new = json.loads(packet)
    return alert(0, score, mag, new)


class Receiver(BaseHTTPRequestHandler):
    failures_left = 0
    bodies = []

    def do_POST(self):  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if Receiver.failures_left > 0:
            Receiver.failures_left -= 1
            self.send_response(503)
            self.end_headers()
            return
        Receiver.bodies.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook_server(monkeypatch):
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    Receiver.bodies, Receiver.failures_left = [], 0
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    secret = f"http://127.0.0.1:{server.server_address[1]}/hooks/T000/B000/s3cr3t-token"
    monkeypatch.setenv("TEST_WEBHOOK_URL", secret)
    yield secret
    server.shutdown()


def statuses(db):
    return dict(db.execute("SELECT alert_id, status FROM deliveries ORDER BY alert_id").fetchall())


def test_a_webhook_that_fails_first_is_retried_with_back_off(db, webhook_server):
    Receiver.failures_left = 2
    waits = []
    channel = delivery.Webhook("TEST_WEBHOOK_URL", delivery.Filters(min_score=0.5))
    counts = delivery.deliver(
        db, channel, delivery.Retry(attempts=3, backoff_seconds=1.5), describe, waits.append
    )
    assert counts == {"delivered": 2, "filtered": 1, "failed": 0}
    assert waits == [1.5, 3.0]
    (body,) = Receiver.bodies
    assert len(body["alerts"]) == 2 and "ASTJ" in body["text"]
    assert statuses(db) == {1: "delivered", 2: "delivered", 3: "filtered"}
    # Nothing is pending any more: a second run sends nothing.
    assert delivery.deliver(db, channel, delivery.Retry(), describe, waits.append) == {
        "delivered": 0,
        "filtered": 0,
        "failed": 0,
    }


def test_undelivered_alerts_are_recorded_and_delivered_on_the_next_run(db, webhook_server):
    Receiver.failures_left = 5
    channel = delivery.Webhook("TEST_WEBHOOK_URL", delivery.Filters(max_mag=20.0))
    counts = delivery.deliver(
        db, channel, delivery.Retry(attempts=2, backoff_seconds=0), describe, lambda s: None
    )
    assert counts == {"delivered": 0, "filtered": 1, "failed": 2}
    failed = db.execute("SELECT attempts, last_error FROM deliveries WHERE status = 'failed'").fetchall()
    assert len(failed) == 2 and all(a == 2 and "503" in e for a, e in failed)
    assert all("s3cr3t" not in e for _, e in failed)  # the URL (a secret) is never recorded
    Receiver.failures_left = 0
    counts = delivery.deliver(
        db, channel, delivery.Retry(attempts=2, backoff_seconds=0), describe, lambda s: None
    )
    assert counts["delivered"] == 2 and statuses(db) == {1: "delivered", 2: "filtered", 3: "delivered"}


def test_a_webhook_without_its_secret_in_the_environment_says_which_variable(db, monkeypatch):
    monkeypatch.delenv("MISSING_HOOK", raising=False)
    channel = delivery.Webhook("MISSING_HOOK")
    counts = delivery.deliver(db, channel, delivery.Retry(attempts=1), describe, lambda s: None)
    assert counts["failed"] == 3
    assert "MISSING_HOOK is not set" in db.execute("SELECT last_error FROM deliveries").fetchone()[0]


def test_email_reaches_a_real_smtp_server_new_objects_only(db):
    from aiosmtpd.controller import Controller

    class Collect:
        messages = []

        async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's naming)
            Collect.messages.append(envelope)
            return "250 OK"

    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(Collect(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        channel = delivery.Email(
            "127.0.0.1",
            port,
            "astrid@localhost",
            ("observer@example.org",),
            filters=delivery.Filters(new_objects_only=True),
        )
        counts = delivery.deliver(db, channel, delivery.Retry(attempts=1), describe, lambda s: None)
    finally:
        controller.stop()
    assert counts == {"delivered": 2, "filtered": 1, "failed": 0}
    (envelope,) = Collect.messages
    assert envelope.rcpt_tos == ["observer@example.org"]
    text = envelope.content.decode()
    assert "Subject: AstrID: 2 new alerts" in text and text.count("new object") == 2


def test_alerts_claimed_by_a_live_run_are_not_sent_again_and_a_dead_runs_claims_are_taken_over(
    db, webhook_server, tmp_path
):
    channel = delivery.Webhook("TEST_WEBHOOK_URL")
    claimed = delivery.claim(db, channel.name)  # a run that claimed and is still sending
    assert [alert_id for alert_id, _ in claimed] == [1, 2, 3]
    other = objects.connect(f"sqlite:///{tmp_path / 'objects.sqlite'}")  # a second run, at once
    assert delivery.deliver(other, channel, delivery.Retry(attempts=1), describe) == {
        "delivered": 0,
        "filtered": 0,
        "failed": 0,
    }
    assert Receiver.bodies == []
    assert delivery.night_delivery(other, "20261127", channel.name)["waiting"] == 3
    # The first run died without recording: once its claims are stale, a run sends them.
    db.execute("UPDATE deliveries SET claimed_mjd = claimed_mjd - 1")
    counts = delivery.deliver(other, channel, delivery.Retry(attempts=1), describe)
    assert counts["delivered"] == 3 and len(Receiver.bodies) == 1
    assert delivery.night_delivery(db, "20261127", channel.name) == {
        "delivered": 3,
        "filtered": 0,
        "failed": 0,
        "waiting": 0,
    }


def test_a_channel_that_is_down_gives_up_within_the_services_timeout(db, monkeypatch):
    """Nothing listens on the port (connection refused): the retries with back-off stop when
    the next wait would pass the deadline, and the error names the channel."""
    import socket
    import time

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("DOWN_HOOK", f"http://127.0.0.1:{port}/hook")
    channel = delivery.Webhook("DOWN_HOOK")
    start = time.monotonic()
    ok, attempts, error = delivery.send_with_retries(
        channel, [alert(1)], delivery.Retry(attempts=10, backoff_seconds=0.4), deadline_seconds=2.0
    )
    elapsed = time.monotonic() - start
    assert not ok and elapsed < 2.0 and 2 <= attempts < 10
    assert "webhook (the URL in $DOWN_HOOK) cannot be reached" in error and str(port) not in error
