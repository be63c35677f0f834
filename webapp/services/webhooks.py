"""Alert webhooks: a JSON POST signed with the user's secret, never to a private address.

The body is signed with HMAC-SHA256 under the user's `webhook_secret`:
`X-Folio-Signature: sha256=<hex>`. Before each POST the host is resolved and every address
checked: private, loopback, link-local, multicast, reserved and unspecified addresses are
refused (an alert must not be a way to reach the server's own network) unless
ALLOW_PRIVATE_WEBHOOKS is on. Redirects are not followed (they could lead inside).
A refusal or a 4xx answer is final; a network error, a 429 or a 5xx raises, and the job's
RQ retries try again with a backoff.
"""
from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import socket
from urllib.parse import urlsplit

import requests
from flask import current_app

from webapp.extensions import db
from webapp.models import User

log = logging.getLogger(__name__)


class Refused(ValueError):
    """The URL may not be posted to; the message says why."""


class DeliveryFailed(RuntimeError):
    """The receiver failed in a way worth another try."""


def allow_private() -> bool:
    return bool(current_app.config.get("ALLOW_PRIVATE_WEBHOOKS"))


def _forbidden(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    mapped = getattr(ip, "ipv4_mapped", None)
    if mapped is not None:
        ip = mapped
    return (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_reserved
            or ip.is_unspecified or not ip.is_global)


def check_form_url(url: str) -> str | None:
    """The form's check (no DNS): a message when the URL is not acceptable, else None."""
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        return "Enter a URL without spaces or control characters."
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises on a port that is not a number)
    except ValueError:
        return "That is not a URL."
    private = allow_private()
    if parts.scheme not in (("https", "http") if private else ("https",)) or not parts.hostname:
        return "Enter an https:// URL." if not private else "Enter an http:// or https:// URL."
    if not private:
        try:
            if _forbidden(ipaddress.ip_address(parts.hostname)):
                return "Private, loopback and reserved addresses are not allowed."
        except ValueError:
            pass  # a name: resolved and checked when posting
    return None


def check_url(url: str) -> None:
    """Raise Refused unless the URL's scheme is allowed and every address of its host is public."""
    message = check_form_url(url)
    if message:
        raise Refused(message)
    if allow_private():
        return
    parts = urlsplit(url)
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80),
                                   proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as e:
        raise Refused(f"cannot resolve {parts.hostname}: {e}") from e
    for info in infos:
        ip = ipaddress.ip_address(info[4][0].split("%", 1)[0])
        if _forbidden(ip):
            raise Refused(f"{parts.hostname} resolves to a non-public address ({ip})")


def ensure_secret(user: User) -> str:
    """The user's webhook secret, made (and committed) when they have none yet."""
    if not user.webhook_secret:
        user.webhook_secret = secrets.token_hex(32)
        db.session.commit()
    return user.webhook_secret


def rotate_secret(user: User) -> str:
    user.webhook_secret = secrets.token_hex(32)
    db.session.commit()
    return user.webhook_secret


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def encode(payload: dict) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()


def deliver(user_id: int, url: str, payload: dict) -> str:
    """POST the payload; returns what happened ("sent", "refused", "rejected <status>", "no user")."""
    user = db.session.get(User, user_id)
    if user is None:
        return "no user"
    try:
        check_url(url)
    except Refused as e:
        log.warning("webhook of user %s refused: %s", user_id, e)
        return "refused"
    body = encode(payload)
    headers = {"Content-Type": "application/json", "User-Agent": "Folio-Alerts/1",
               "X-Folio-Signature": sign(ensure_secret(user), body)}
    timeout = float(current_app.config.get("WEBHOOK_TIMEOUT", 10))
    try:
        resp = requests.post(url, data=body, headers=headers, timeout=timeout, allow_redirects=False)
    except requests.RequestException as e:
        raise DeliveryFailed(f"webhook POST failed: {type(e).__name__}") from e
    if resp.status_code == 429 or resp.status_code >= 500:
        raise DeliveryFailed(f"webhook answered {resp.status_code}")
    if resp.status_code >= 300:
        log.warning("webhook of user %s answered %s; not retried", user_id, resp.status_code)
        return f"rejected {resp.status_code}"
    return "sent"
