"""Alerts delivered for real (issue 14's "done when"): an alert e-mailed exactly once per crossing
to a real SMTP server (aiosmtpd) over several cycles and again once re-armed; the daily digest
through the same server at the user's hour; a webhook answered 500 then 200, retried by RQ
(the ScheduledJobRegistry and a worker running its scheduler) and signed both times."""
from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
import sqlalchemy as sa
from conftest import set_price
from mailhelpers import mail_app, run_mail_jobs, smtp_server  # noqa: F401  (fixtures)
from quick_users import quick_user
from rq import Queue, SimpleWorker
from rq.job import Job
from rq.registry import ScheduledJobRegistry
from test_alerts import holding, rule
from test_webhooks import Receiver

from webapp.extensions import db
from webapp.models import Notification, User

ALICE = "alice@example.com"


def confirmed_user(app, email: str = ALICE, **fields) -> int:
    return quick_user(app, email, email_confirmed_at=datetime.now(timezone.utc), **fields)


# ---- an alert e-mailed once per crossing ------------------------------------------------------
def test_an_alert_is_emailed_once_per_crossing_and_again_once_rearmed(mail_app, smtp_server):
    uid = confirmed_user(mail_app)
    iid = holding(mail_app, uid, "AAPL")
    set_price(mail_app, "AAPL", "100")
    rule(mail_app, uid, "price_above", "150", iid, email=True, in_app=True, cooldown_minutes=0)
    ran = 0
    for price in ("151", "155", "160"):  # three cycles: it crosses in the first, stays above in the others
        set_price(mail_app, "AAPL", price)
        ran += run_mail_jobs(mail_app)
    assert ran == 1
    [m] = smtp_server
    assert m["to"] == [ALICE] and smtp_server.to(ALICE) == [m]
    assert m["subject"] == "Folio: AAPL is above 150.00 USD" and "AAPL is at 151.00 USD" in m["text"]
    assert "AAPL" in m["html"]

    set_price(mail_app, "AAPL", "140")  # below again: re-armed, nothing sent
    assert run_mail_jobs(mail_app) == 0
    set_price(mail_app, "AAPL", "152")  # the second crossing
    assert run_mail_jobs(mail_app) == 1
    assert len(smtp_server) == 2 and len(smtp_server.to(ALICE)) == 2
    assert "AAPL is at 152.00 USD" in smtp_server[1]["text"]
    with mail_app.app_context():  # in-app told twice as well
        assert db.session.scalar(sa.select(sa.func.count(Notification.id))) == 2


def test_no_alert_mail_reaches_an_unconfirmed_address(mail_app, smtp_server):
    uid = quick_user(mail_app, "carol@example.com")
    iid = holding(mail_app, uid, "AAPL")
    set_price(mail_app, "AAPL", "100")
    rule(mail_app, uid, "price_above", "150", iid, email=True, cooldown_minutes=0)
    set_price(mail_app, "AAPL", "151")
    run_mail_jobs(mail_app)
    assert list(smtp_server) == []


# ---- the daily digest -------------------------------------------------------------------------
def test_the_daily_digest_is_delivered_at_the_users_hour(mail_app, smtp_server):
    from webapp.services import cache, jobs
    from webapp.services.pricing.quotes import current_quotes

    now = datetime.now(timezone.utc)  # the job is told this moment: an hour turning mid-test changes nothing
    uid = confirmed_user(mail_app, digest_hour=now.hour)
    aapl = holding(mail_app, uid, "AAPL")
    holding(mail_app, uid, "MSFT", "2")
    set_price(mail_app, "AAPL", "110")
    set_price(mail_app, "MSFT", "50", as_of=now - timedelta(days=10))
    bob = confirmed_user(mail_app, "bob@example.com", digest_hour=(now.hour + 1) % 24)  # not his hour
    holding(mail_app, bob, "AAPL")
    with mail_app.app_context():
        q = current_quotes({"AAPL": aapl})["AAPL"]  # the provider gave a previous close of 100
        cache.write_quotes({"AAPL": dataclasses.replace(q, previous_close=Decimal("100"))}, now)
        job = jobs.enqueue("default", "workers.alerts.send_digests", at=now.isoformat())  # the hourly job
    run_mail_jobs(mail_app)  # the digest job, then the mail it enqueued (the same burst)
    assert Job.fetch(job.id, connection=mail_app.extensions["folio_redis"]).return_value() == 1  # alice only
    [m] = smtp_server
    assert m["to"] == [ALICE] and m["subject"] == "Folio daily digest: 1,200.00 USD"
    text = m["text"]
    assert "Value: 1,200.00 USD" in text
    assert "Day change: 100.00 USD (+10.00%)" in text
    assert "Top movers: AAPL +10.00%" in text
    assert "Stale prices: MSFT" in text
    assert "<li>" in m["html"] and "MSFT" in m["html"]


# ---- a webhook retried after a 500 ------------------------------------------------------------
class FlakyReceiver(Receiver):
    """Answers the given statuses in turn (the last one from then on)."""

    def __init__(self, *statuses: int):
        self.statuses = statuses
        super().__init__()

    @property
    def status(self) -> int:  # read by the handler after it recorded the POST
        return self.statuses[min(len(self.posts), len(self.statuses)) - 1]

    @status.setter
    def status(self, value: int) -> None:
        pass


def run_worker_with_retries(app, job_id: str, timeout: float = 15.0) -> Job:
    """Run queue `default` (burst, with RQ's scheduler: it enqueues the retries that are due) until
    the job has finished or failed for good."""
    r = app.extensions["folio_redis"]
    q = Queue("default", connection=r)
    deadline = time.monotonic() + timeout
    while True:
        with app.app_context():
            SimpleWorker([q], connection=r).work(burst=True, with_scheduler=True)
        job = Job.fetch(job_id, connection=r)
        if job.get_status() in ("finished", "failed") or time.monotonic() > deadline:
            return job
        time.sleep(0.2)


def test_a_webhook_answered_500_is_retried_and_signed_both_times(make_app):
    receiver = FlakyReceiver(500, 200)
    try:
        app = make_app(ALLOW_PRIVATE_WEBHOOKS=True, TRANSIENT_RETRY_INTERVALS=[1])
        uid = confirmed_user(app)
        iid = holding(app, uid, "AAPL")
        set_price(app, "AAPL", "100")
        rule(app, uid, "price_above", "150", iid, webhook=True, webhook_url=f"{receiver.url}/hook",
             in_app=False, cooldown_minutes=0)
        set_price(app, "AAPL", "151")  # fires: the delivery is enqueued by the alerts (jobs.enqueue)
        r = app.extensions["folio_redis"]
        [job] = Queue("default", connection=r).get_jobs()
        assert job.func_name == "workers.alerts.deliver_webhook"
        assert job.retries_left == 3 and job.retry_intervals == [1]

        with app.app_context():  # the first try: 500, so RQ schedules the retry
            SimpleWorker([Queue("default", connection=r)], connection=r).work(burst=True)
        job = Job.fetch(job.id, connection=r)
        assert job.get_status() == "scheduled" and job.retries_left == 2
        assert job.id in ScheduledJobRegistry("default", connection=r).get_job_ids()
        assert len(receiver.posts) == 1

        job = run_worker_with_retries(app, job.id)
        assert job.get_status() == "finished" and job.return_value() == "sent"
        assert job.id not in ScheduledJobRegistry("default", connection=r).get_job_ids()
        assert len(receiver.posts) == 2
        with app.app_context():
            secret = db.session.get(User, uid).webhook_secret
        assert secret
        bodies = []
        for path, headers, body in receiver.posts:
            assert path == "/hook" and headers["Content-Type"] == "application/json"
            expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
            assert hmac.compare_digest(headers["X-Folio-Signature"], expected)
            bodies.append(json.loads(body))
        assert bodies[0] == bodies[1]  # the same alert, posted again
        assert bodies[0]["kind"] == "price_above" and bodies[0]["symbol"] == "AAPL" and bodies[0]["value"] == "151"
        assert bodies[0]["user"] == uid
    finally:
        receiver.close()


def test_the_retry_intervals_default_and_come_from_the_settings(make_app):
    from webapp.services import jobs

    with make_app().app_context():
        assert jobs.retry_for("workers.alerts.deliver_webhook").intervals == [10, 30, 60]
        assert jobs.retry_for("workers.mail.deliver").intervals == [30, 120, 600, 1800, 3600]
    with make_app(TRANSIENT_RETRY_INTERVALS=[2, 4], MAIL_RETRY_INTERVALS=[5]).app_context():
        webhook, mail = jobs.retry_for("workers.alerts.deliver_webhook"), jobs.retry_for("workers.mail.deliver")
        assert (webhook.max, webhook.intervals) == (3, [2, 4]) and (mail.max, mail.intervals) == (5, [5])


def test_the_retry_intervals_read_from_the_environment(monkeypatch):
    from webapp.config import from_environment

    monkeypatch.setenv("TRANSIENT_RETRY_INTERVALS", "1, 5")
    monkeypatch.setenv("BELL_SECONDS", "5")
    env = from_environment()
    assert env["TRANSIENT_RETRY_INTERVALS"] == [1, 5] and env["BELL_SECONDS"] == 5
    assert env["MAIL_RETRY_INTERVALS"] == [30, 120, 600, 1800, 3600]
    for wrong in ("soon", "10,-1", ","):
        monkeypatch.setenv("MAIL_RETRY_INTERVALS", wrong)
        with pytest.raises(RuntimeError, match="MAIL_RETRY_INTERVALS must be seconds"):
            from_environment()
