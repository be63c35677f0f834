"""Operations: admin area, RQ dashboard access, health, readiness, metrics, alerts, users CLI."""
from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import sqlalchemy as sa
from conftest import login, make_user, post, set_price
from rq import Queue, SimpleWorker
from rq.job import Job

from webapp import embedded
from webapp.extensions import db
from webapp.models import User


@pytest.fixture
def admin_client(app):
    make_user(app, "root@example.com", "correct horse battery", is_admin=True)
    c = app.test_client()
    login(c, "root@example.com")
    return c


@pytest.fixture
def user_client(app):
    make_user(app, "alice@example.com")
    c = app.test_client()
    login(c)
    return c


ADMIN_GETS = ["/admin/", "/admin/status", "/admin/rq/", "/admin/rq/0/view/workers", "/admin/rq/0/data/queues.json"]


@pytest.mark.parametrize("url", ADMIN_GETS)
def test_admin_pages_send_anonymous_users_to_login(client, url):
    resp = client.get(url)
    assert resp.status_code == 302 and "/auth/login" in resp.headers["Location"]


@pytest.mark.parametrize("url", ADMIN_GETS)
def test_admin_pages_refuse_non_admins(user_client, url):
    assert user_client.get(url).status_code == 403


def test_rq_dashboard_actions_are_refused_to_non_admins(app, user_client, redis_client):
    with app.app_context():
        from webapp.services import jobs

        job = jobs.enqueue("default", "workers.prices.refresh_prices")
    for url in (f"/admin/rq/job/{job.id}/delete", f"/admin/rq/job/{job.id}/requeue",
                "/admin/rq/queue/default/queued/empty", "/admin/rq/queue/default/compact"):
        assert user_client.post(url).status_code == 403
    assert user_client.get("/admin/rq/requeue/default").status_code == 403
    assert Job.exists(job.id, connection=redis_client)
    assert Queue("default", connection=redis_client).count == 1


def test_admin_can_use_the_rq_dashboard(app, admin_client, redis_client):
    with app.app_context():
        from webapp.services import jobs

        job = jobs.enqueue("default", "workers.prices.refresh_prices")
    assert admin_client.get("/admin/rq/").status_code == 200
    data = admin_client.get("/admin/rq/0/data/queues.json").get_json()
    assert {q["name"]: q["count"] for q in data["queues"]}["default"] == 1
    # as the dashboard's own jQuery sends it, from its own page
    assert admin_client.post(f"/admin/rq/job/{job.id}/delete", headers={
        "X-Requested-With": "XMLHttpRequest", "Origin": "http://localhost"}).status_code == 200
    assert not Job.exists(job.id, connection=redis_client)


def test_admin_status_shows_providers_cycle_queues_and_users(app, admin_client, user_client):
    client = user_client
    url = post(client, "/accounts/", {"name": "Main", "kind": "brokerage"}).headers["Location"]
    post(client, f"{url}/holdings", {"symbol": "AAPL", "asset_type": "stock", "quantity": "1"})
    app.test_cli_runner().invoke(args=["prices", "refresh", "--sync"])
    html = admin_client.get("/admin/").get_data(as_text=True)
    assert "Last refresh cycle" in html and "1 fetched, 0 failed" in html
    assert "simulated" in html and "closed" in html
    assert "2 users" in html
    assert "high" in html and "default" in html and "low" in html
    frag = admin_client.get("/admin/status").get_data(as_text=True)
    assert frag.lstrip().startswith('<section id="admin-status"')


def test_healthz_and_readyz(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    assert client.get("/readyz").get_json() == {"status": "ok"}


def test_readyz_names_redis_when_it_is_stopped(make_app):
    proc, url = embedded.start()
    try:
        app = make_app(REDIS_URL=url)
        c = app.test_client()
        assert c.get("/readyz").status_code == 200
    finally:
        proc.terminate()
        proc.wait(10)
    resp = c.get("/readyz")
    assert resp.status_code == 503
    assert resp.get_json() == {"status": "unavailable", "failing": {"redis": "ConnectionError"}}
    assert c.get("/healthz").status_code == 200  # the process itself is alive


def test_metrics_need_a_token_or_an_admin(make_app, user_client):
    app = make_app(METRICS_TOKEN="s3cret-token")
    c = app.test_client()
    assert c.get("/metrics").status_code == 401
    assert c.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert c.get("/metrics", headers={"Authorization": "Bearer s3cret-token"}).status_code == 200
    assert user_client.get("/metrics").status_code == 401


def test_metrics_after_a_refresh_cycle(app, admin_client, user_client, redis_client):
    url = post(user_client, "/accounts/", {"name": "Main", "kind": "brokerage"}).headers["Location"]
    post(user_client, f"{url}/holdings", {"symbol": "AAPL", "asset_type": "stock", "quantity": "1"})
    with app.app_context():
        from webapp.services import jobs
        from webapp.services.jobs import FolioWorker

        jobs.enqueue("default", "workers.prices.refresh_prices")
        # the real worker class, forking a work horse per job as in production
        FolioWorker([Queue("default", connection=redis_client)], connection=redis_client).work(burst=True)
    text = admin_client.get("/metrics").get_data(as_text=True)
    assert 'folio_job_duration_seconds_count{job="workers.prices.refresh_prices"} 1.0' in text
    assert 'folio_job_duration_seconds_count{job="workers.portfolios.recompute_portfolios"} 1.0' in text
    assert 'folio_provider_calls_total{outcome="ok",provider="simulated"}' in text
    assert 'folio_queue_depth{queue="default"} 0.0' in text
    assert "folio_oldest_quote_age_seconds " in text
    assert 'folio_http_requests_total{endpoint="accounts.add_holding",method="POST",status="302"}' in text


def test_every_request_logs_one_json_line_with_a_request_id(client, caplog):
    caplog.set_level(logging.INFO, logger="folio.request")
    resp = client.get("/auth/login?next=/secret-token-in-query", headers={"X-Request-ID": "abc-123"})
    assert resp.headers["X-Request-ID"] == "abc-123"
    (record,) = [r for r in caplog.records if r.name == "folio.request"]
    from webapp.observability import JsonFormatter

    line = json.loads(JsonFormatter().format(record))
    assert line["request_id"] == "abc-123" and line["status"] == 200 and line["path"] == "/auth/login"
    assert "secret-token" not in JsonFormatter().format(record)


class Receiver:
    """A local webhook receiver recording every JSON POST."""

    def __init__(self):
        events = self.events = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                events.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_an_alert_fires_once_and_resolves_once(make_app):
    receiver = Receiver()
    try:
        app = make_app(ALERT_WEBHOOK_URL=receiver.url, PRICE_PROVIDERS="stooq,yahoo")
        with app.app_context():
            from pricing_providers import ProviderDown
            from webapp.services import cache
            from workers.alerts import evaluate_alerts

            assert evaluate_alerts()["provider_circuit_open"] is False
            health = cache.RedisHealth(threshold=2, cooldown=600)
            for _ in range(2):
                health.failure("stooq", ProviderDown("HTTP 500"))
            assert evaluate_alerts()["provider_circuit_open"] is True
            evaluate_alerts()  # still failing: no second notification
            assert "provider_circuit_open" in cache.active_alerts()
            health.success("stooq")
            assert evaluate_alerts()["provider_circuit_open"] is False
            evaluate_alerts()
        circuit = [e for e in receiver.events if e["alert"] == "provider_circuit_open"]
        assert [e["state"] for e in circuit] == ["firing", "resolved"]
        assert "stooq" in circuit[0]["detail"]
    finally:
        receiver.close()


def test_no_cycle_and_stale_and_failed_job_rules(app, user_client, redis_client):
    url = post(user_client, "/accounts/", {"name": "Main", "kind": "brokerage"}).headers["Location"]
    post(user_client, f"{url}/holdings", {"symbol": "AAPL", "asset_type": "stock", "quantity": "1"})
    with app.app_context():
        from datetime import datetime, timedelta, timezone

        from workers.alerts import evaluate_alerts

        fired = evaluate_alerts()
        assert fired["no_successful_cycle"] is True  # holdings, but no cycle ever ran
        assert fired["stale_quotes"] is False  # nothing priced yet is not "stale"
    set_price(app, "AAPL", "10", as_of=datetime.now(timezone.utc) - timedelta(days=8))
    with app.app_context():
        assert evaluate_alerts()["stale_quotes"] is True
        from webapp.services import cache

        cache.finish_cycle({"started_at": datetime.now(timezone.utc).isoformat()})
        assert evaluate_alerts()["no_successful_cycle"] is False


# ---- users CLI --------------------------------------------------------------------------
def run(app, *args, input=None):
    return app.test_cli_runner().invoke(args=list(args), input=input)


def test_users_create_list_set_admin(app):
    r = run(app, "users", "create", "Ops@Example.com", "--admin", "--password-stdin", input="a long password\n")
    assert r.exit_code == 0 and "created admin user ops@example.com" in r.output
    assert "a long password" not in r.output
    r = run(app, "users", "create", "bob@example.com", "--password-stdin", input="another long one\n")
    assert r.exit_code == 0
    listing = run(app, "users", "list").output
    assert "ops@example.com" in listing and "[admin]" in listing and "2 users" in listing
    assert run(app, "users", "set-admin", "bob@example.com").exit_code == 0
    with app.app_context():
        assert db.session.scalar(sa.select(User.is_admin).where(User.email == "bob@example.com"))
    c = app.test_client()
    login(c, "bob@example.com", "another long one")
    assert c.get("/admin/").status_code == 200


@pytest.mark.parametrize(
    "args,stdin,message",
    [
        (["users", "create", "not-an-email", "--password-stdin"], "long enough pw\n", "is not an email address"),
        (["users", "create", "x@example.com", "--password-stdin"], "short\n", "at least 10 characters"),
        (["users", "set-admin", "ghost@example.com"], None, "no user with email"),
        (["users", "disable", "ghost@example.com"], None, "no user with email"),
        (["users", "reset-password", "ghost@example.com", "--password-stdin"], "long enough pw\n", "no user"),
        (["users", "create"], None, "Missing argument"),
    ],
)
def test_users_commands_reject_bad_arguments(app, args, stdin, message):
    r = run(app, *args, input=stdin)
    assert r.exit_code != 0
    assert message in r.output


def test_duplicate_user_is_refused(app):
    make_user(app, "alice@example.com")
    r = run(app, "users", "create", "ALICE@example.com", "--password-stdin", input="long enough pw\n")
    assert r.exit_code != 0 and "already exists" in r.output


def test_disabled_user_cannot_log_in_and_their_session_ends(app, user_client):
    assert user_client.get("/").status_code == 200
    assert run(app, "users", "disable", "alice@example.com").exit_code == 0
    resp = user_client.get("/")
    assert resp.status_code == 302 and "/auth/login" in resp.headers["Location"]
    fresh = app.test_client()
    resp = post(fresh, "/auth/login", {"email": "alice@example.com", "password": "correct horse battery"})
    assert resp.status_code in (401, 403)
    assert run(app, "users", "disable", "alice@example.com", "--enable").exit_code == 0
    login(fresh)


def test_reset_password_ends_sessions_and_changes_the_password(app, user_client):
    r = run(app, "users", "reset-password", "alice@example.com", "--password-stdin", input="brand new password\n")
    assert r.exit_code == 0 and "brand new password" not in r.output
    assert user_client.get("/").status_code == 302
    c = app.test_client()
    assert post(c, "/auth/login", {"email": "alice@example.com", "password": "correct horse battery"}).status_code == 401
    login(c, "alice@example.com", "brand new password")
