"""The local catch-all SMTP server (aiosmtpd) that `make run` starts when MAIL_SERVER is unset.

It accepts every message for any address, sends nothing on, and keeps the last 50 in Redis
(`webapp.services.cache.catch_mail`), where /admin/mail shows them: a newcomer sees password
resets and confirmations work without configuring a mail server.

`python -m webapp.devmail PORT` runs it in the foreground on 127.0.0.1 (a Procfile line: it
stops with the rest). `Catcher` is the aiosmtpd handler, also used by the tests' SMTP server.
"""
from __future__ import annotations

import email
import email.policy
import sys
import threading
from datetime import datetime, timezone
from typing import Callable


def parse(raw: bytes, mail_from: str, rcpt_tos: list[str]) -> dict:
    """A received message as a JSON-able dict: sender, to, subject, text and html bodies, headers."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)

    def body(kind: str) -> str | None:
        part = msg.get_body(preferencelist=(kind,))
        if part is None:
            return None
        try:
            return part.get_content()
        except (LookupError, ValueError):  # an unknown charset, a broken transfer encoding
            return part.get_payload(decode=True).decode("utf-8", "replace")

    return {
        "sender": mail_from,
        "to": list(rcpt_tos),
        "from": str(msg.get("From", "")),
        "header_to": str(msg.get("To", "")),
        "subject": str(msg.get("Subject", "")),
        "text": body("plain") or "",
        "html": body("html"),
        "content_types": sorted({part.get_content_type() for part in msg.walk()}),
        "received_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


class Catcher:
    """An aiosmtpd handler: every message goes to `store` (a callable taking the parsed dict)."""

    def __init__(self, store: Callable[[dict], None]):
        self.store = store

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content or envelope.content
        try:
            self.store(parse(raw, envelope.mail_from, envelope.rcpt_tos))
        except Exception as exc:  # a storage failure is the sender's temporary failure: it retries
            print(f"devmail: could not keep a message: {type(exc).__name__}: {exc}", file=sys.stderr)
            return "451 Requested action aborted: local error in processing"
        return "250 Message accepted for delivery"


def start(store: Callable[[dict], None], port: int, host: str = "127.0.0.1"):
    """Start a catch-all server in a thread; the caller stops it (`.stop()`)."""
    import logging

    from aiosmtpd.controller import Controller

    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every SMTP command at INFO
    controller = Controller(Catcher(store), hostname=host, port=port)
    controller.start()
    return controller


def main(port: int) -> None:
    from webapp import create_app
    from webapp.services import cache

    app = create_app()

    def keep(message: dict) -> None:
        with app.app_context():
            cache.catch_mail(message)
        print(f"devmail: {message['subject']!r} to {', '.join(message['to'])} (see /admin/mail)", flush=True)

    controller = start(keep, port)
    print(f"devmail: catch-all SMTP server on 127.0.0.1:{port}; messages at /admin/mail", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()


if __name__ == "__main__":
    if len(sys.argv) != 2 or not sys.argv[1].isdigit():
        print(__doc__)
        sys.exit(2)
    main(int(sys.argv[1]))
