"""A real SMTP server for the mail tests (aiosmtpd, on a free port) and a way to run the
mail jobs in-process, the way tests/test_jobs.py runs jobs (an RQ SimpleWorker in burst mode)."""
from __future__ import annotations

import re

import pytest
from rq import Queue, SimpleWorker

from webapp import devmail, embedded

PUBLIC_URL = "https://folio.example.test"


class Inbox(list):
    def __init__(self, port: int):
        super().__init__()
        self.port = port

    def to(self, address: str) -> list[dict]:
        return [m for m in self if address in m["to"]]

    def link(self, message: dict, path: str) -> str:
        """The absolute link to `path…` in the message's text part (asserted in its HTML part too)."""
        m = re.search(re.escape(PUBLIC_URL + path) + r"[A-Za-z0-9._\-]+", message["text"])
        assert m, message["text"]
        assert m.group(0) in message["html"]
        return m.group(0)


@pytest.fixture
def smtp_server():
    inbox = Inbox(embedded.free_port())
    controller = devmail.start(inbox.append, inbox.port)
    yield inbox
    controller.stop()


@pytest.fixture
def mail_app(make_app, smtp_server):
    """An app whose mail goes to the test's SMTP server."""
    return make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp_server.port, MAIL_USE_TLS=False,
                    MAIL_USE_SSL=False, MAIL_FROM="Folio <folio@example.test>", PUBLIC_URL=PUBLIC_URL)


def run_mail_jobs(app) -> int:
    """Run the queued jobs of queue `default` now, in this process; returns how many ran."""
    r = app.extensions["folio_redis"]
    q = Queue("default", connection=r)
    n = q.count
    with app.app_context():
        SimpleWorker([q], connection=r).work(burst=True)
    return n
