"""Alert webhooks: a signed JSON POST to a local server (ALLOW_PRIVATE_WEBHOOKS on); private,
loopback, link-local and reserved addresses refused when it is off; failures worth a retry raise."""
from __future__ import annotations

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from quick_users import quick_user

from webapp.extensions import db
from webapp.models import User


class Receiver:
    """A local HTTP server recording the POSTs it gets, answering `status`."""

    def __init__(self, status: int = 204):
        self.status = status
        self.posts: list[tuple[str, dict, bytes]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.posts.append((self.path, dict(self.headers), body))
                self.send_response(outer.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


PAYLOAD = {"rule": 7, "kind": "price_above", "symbol": "AAPL", "value": "151", "threshold": "150",
           "fired_at": "2026-12-07T18:00:00+00:00", "user": 1}


def test_the_post_is_signed_with_the_users_secret(make_app, receiver):
    from workers.alerts import deliver_webhook

    app = make_app(ALLOW_PRIVATE_WEBHOOKS=True)
    uid = quick_user(app, "alice@example.com")
    with app.app_context():
        assert deliver_webhook(uid, f"{receiver.url}/hook", {**PAYLOAD, "user": uid}) == "sent"
        secret = db.session.get(User, uid).webhook_secret  # made on first use
    assert secret and len(secret) == 64
    path, headers, body = receiver.posts[0]
    assert path == "/hook" and headers["Content-Type"] == "application/json"
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    assert headers["X-Folio-Signature"] == expected
    assert json.loads(body) == {**PAYLOAD, "user": uid}


def test_a_rotated_secret_signs_the_next_post(make_app, receiver):
    from webapp.services import webhooks

    app = make_app(ALLOW_PRIVATE_WEBHOOKS=True)
    uid = quick_user(app, "alice@example.com")
    with app.app_context():
        webhooks.deliver(uid, receiver.url, PAYLOAD)
        user = db.session.get(User, uid)
        old = user.webhook_secret
        new = webhooks.rotate_secret(user)
        webhooks.deliver(uid, receiver.url, PAYLOAD)
    assert old != new
    body = receiver.posts[1][2]
    assert receiver.posts[1][1]["X-Folio-Signature"] == webhooks.sign(new, body)


def test_a_server_error_raises_for_rqs_retry_and_a_4xx_does_not(make_app):
    from webapp.services import webhooks

    app = make_app(ALLOW_PRIVATE_WEBHOOKS=True)
    uid = quick_user(app, "alice@example.com")
    failing, rejecting = Receiver(503), Receiver(410)
    try:
        with app.app_context():
            with pytest.raises(webhooks.DeliveryFailed):
                webhooks.deliver(uid, failing.url, PAYLOAD)
            assert webhooks.deliver(uid, rejecting.url, PAYLOAD) == "rejected 410"
            with pytest.raises(webhooks.DeliveryFailed):  # nobody listening
                webhooks.deliver(uid, "http://127.0.0.1:9/", PAYLOAD)
    finally:
        failing.close()
        rejecting.close()


def test_the_job_is_enqueued_with_retries(make_app):
    from webapp.services import jobs

    app = make_app()
    with app.app_context():
        job = jobs.enqueue("default", "workers.alerts.deliver_webhook", 1, "https://example.com/", PAYLOAD)
        assert job.retries_left == 3 and job.retry_intervals == [10, 30, 60]


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:8080/hook", "https://127.0.0.1/", "https://10.1.2.3/", "https://192.168.0.1/",
    "https://169.254.169.254/latest/meta-data", "https://[::1]/", "https://[fe80::1]/", "https://224.0.0.1/",
    "https://0.0.0.0/", "https://240.0.0.1/", "https://[::ffff:127.0.0.1]/", "https://localhost/",
    "ftp://example.com/", "https://",
])
def test_private_and_reserved_addresses_are_refused_when_off(app, receiver, url):
    from webapp.services import webhooks

    uid = quick_user(app, "alice@example.com")
    with app.app_context():
        with pytest.raises(webhooks.Refused):
            webhooks.check_url(url)
        assert webhooks.deliver(uid, url, PAYLOAD) == "refused"
        assert webhooks.deliver(uid, receiver.url, PAYLOAD) == "refused"  # the local server too
    assert receiver.posts == []


def test_a_name_resolving_to_a_private_address_is_refused(app, monkeypatch):
    import socket

    from webapp.services import webhooks

    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: [
        (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", 443)),
        (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.5", 443))])
    with app.app_context():
        with pytest.raises(webhooks.Refused, match="10.0.0.5"):
            webhooks.check_url("https://hooks.example.com/x")
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: [
        (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", 443))])
    with app.app_context():
        webhooks.check_url("https://hooks.example.com/x")  # public: allowed
        assert webhooks.check_form_url("http://hooks.example.com/x") == "Enter an https:// URL."
