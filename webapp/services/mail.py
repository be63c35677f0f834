"""The mail service: e-mail goes out only from the RQ job `workers.mail.deliver`, never inside a
request. `send` enqueues it (by name: webapp never imports workers); `deliver_now` is what the
job (and `flask mail send-test --sync`) runs: one SMTP delivery through flask-mailman, with a
plain-text body and, when given, an HTML alternative. Links in mail are absolute, built on
PUBLIC_URL (`link`).

A failed delivery raises, so RQ retries it (MAIL_RETRY in webapp/services/jobs.py). With
MAIL_SERVER unset nothing is sent: the job logs it and succeeds (retrying would not help).
"""
from __future__ import annotations

import logging

from flask import current_app

from webapp.domain.inputs import valid_email

log = logging.getLogger(__name__)
JOB = "workers.mail.deliver"


def send(to: str, subject: str, text: str, html: str | None = None):
    """Enqueue one message on queue `default`; returns the RQ job, or None when Redis is down
    (logged: the caller's answer to the person does not depend on it)."""
    from webapp.services import cache, jobs

    try:
        return jobs.enqueue("default", JOB, to=to, subject=subject, text=text, html=html)
    except cache.RedisError as exc:
        log.warning("mail to be sent could not be queued: %s", type(exc).__name__)
        return None


def deliver_now(to: str, subject: str, text: str, html: str | None = None) -> dict:
    """Send one message over SMTP now (inside an app context). Raises on an SMTP or network
    error; returns {"sent": False, ...} when it cannot ever be sent (no server, bad address)."""
    from flask_mailman import EmailMultiAlternatives

    if not valid_email(to or ""):
        log.warning("mail not sent: %r is not an e-mail address", (to or "")[:254])
        return {"sent": False, "reason": "bad address"}
    if not current_app.config.get("MAIL_SERVER"):
        log.warning("mail not sent (MAIL_SERVER is unset): %r", subject[:200])
        return {"sent": False, "reason": "MAIL_SERVER unset"}
    # a header with a line break would be refused by the library: subjects are one line
    subject = " ".join((subject or "").split())[:200]
    msg = EmailMultiAlternatives(subject=subject, body=text, from_email=current_app.config["MAIL_FROM"], to=[to])
    if html:
        msg.attach_alternative(html, "text/html")
    msg.send(fail_silently=False)
    log.info("mail sent: %r", subject)
    return {"sent": True}


def link(endpoint: str, **values) -> str:
    """An absolute link for mail: PUBLIC_URL followed by the endpoint's path (no request needed)."""
    adapter = current_app.url_map.bind("localhost", script_name="/")
    path = adapter.build(endpoint, values, force_external=False)
    return current_app.config["PUBLIC_URL"].rstrip("/") + path
