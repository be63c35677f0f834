"""Job of the mail service: deliver one e-mail over SMTP (queue `default`).

Enqueued by name as `workers.mail.deliver` with keyword arguments (webapp/services/mail.send,
and the alerts): keep the name and the signature. A failure raises, and RQ retries it
(webapp/services/jobs.MAIL_RETRY).
"""
from __future__ import annotations

from webapp.services import mail
from workers.context import job


@job
def deliver(to: str, subject: str, text: str, html: str | None = None) -> dict:
    return mail.deliver_now(to, subject, text, html)
