"""Faults: the database or Redis going away, jobs failing. Nothing is lost, users get
clear answers, and everything recovers by itself."""
from __future__ import annotations

import sqlite3
from datetime import datetime, timezone

import pytest
import sqlalchemy as sa
from conftest import csrf_token, login, make_user, post, set_price
from rq import Queue, SimpleWorker
from rq.registry import ScheduledJobRegistry

from webapp import embedded
from webapp.extensions import db
from webapp.models import Quote


def with_holding(app, symbol="AAPL", qty="2"):
    make_user(app, "alice@example.com")
    c = app.test_client()
    login(c)
    url = post(c, "/accounts/", {"name": "Main", "kind": "brokerage"}).headers["Location"]
    post(c, f"{url}/holdings", {"symbol": symbol, "asset_type": "stock", "quantity": qty})
    return c


def unreachable_database(database_url: str, tmp_path) -> str:
    if database_url.startswith("sqlite"):
        return f"sqlite:///{tmp_path / 'no-such-dir' / 'db.sqlite3'}"
    return sa.make_url(database_url).set(port=1).render_as_string(hide_password=False)


def test_database_unavailable_gives_a_clear_503_page(make_app, app, database_url, tmp_path):
    client = with_holding(app)
    broken = make_app(SQLALCHEMY_DATABASE_URI=unreachable_database(database_url, tmp_path),
                      SQLALCHEMY_ENGINE_OPTIONS={"connect_args": {"connect_timeout": 1}}
                      if not database_url.startswith("sqlite") else {})
    c = broken.test_client()
    c.set_cookie(*_session_cookie(client))  # a logged-in user arrives while the database is down
    for url in ("/", "/accounts/", "/auth/login"):
        resp = c.get(url)
        assert resp.status_code == 503, url
        assert "Temporarily unavailable" in resp.get_data(as_text=True)
        assert resp.headers["Retry-After"] == "5"
    assert c.get("/readyz").get_json()["failing"].keys() == {"database"}


def _session_cookie(client):
    cookie = client.get_cookie("session")
    return cookie.key, cookie.value


def test_a_locked_sqlite_database_gives_503_not_500(make_app, database_url):
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite's database-level write lock")
    app = make_app(SQLALCHEMY_ENGINE_OPTIONS={"connect_args": {"timeout": 0.2}})
    make_user(app, "alice@example.com")
    c = app.test_client()
    login(c)
    token = csrf_token(c)  # the form was loaded before the lock
    locker = sqlite3.connect(database_url.removeprefix("sqlite:///"))
    locker.execute("BEGIN EXCLUSIVE")
    try:
        resp = post(c, "/accounts/", {"name": "Main", "kind": "brokerage", "csrf_token": token})
        assert resp.status_code == 503
        assert "Temporarily unavailable" in resp.get_data(as_text=True)
    finally:
        locker.rollback()
        locker.close()
    assert post(c, "/accounts/", {"name": "Main", "kind": "brokerage"}).status_code == 302  # and it recovers


def test_a_job_that_meets_a_dead_database_is_retried(make_app, app, redis_client, database_url, tmp_path):
    with_holding(app)
    with app.app_context():
        from webapp.services import jobs

        job = jobs.enqueue("default", "workers.portfolios.recompute_portfolios")
    broken = make_app(SQLALCHEMY_DATABASE_URI=unreachable_database(database_url, tmp_path))
    default = Queue("default", connection=redis_client)
    with broken.app_context():
        SimpleWorker([default], connection=redis_client).work(burst=True)
    job.refresh()
    assert job.retries_left == 2  # one of three retries used
    assert job.id in ScheduledJobRegistry(queue=default)  # waiting for its retry interval
    # the database is back: the retry succeeds
    ScheduledJobRegistry(queue=default).remove(job)
    default.enqueue_job(job)
    with app.app_context():
        SimpleWorker([default], connection=redis_client).work(burst=True)
    job.refresh()
    assert job.get_status() == "finished"


def test_redis_stopped_and_restarted(make_app):
    proc, url = embedded.start()
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    app = make_app(REDIS_URL=url)
    client = with_holding(app)
    set_price(app, "AAPL", "50")
    assert "100.00 USD" in client.get("/").get_data(as_text=True)

    proc.terminate()
    proc.wait(10)
    # the web app still answers, from the database, and says live updates are paused
    page = client.get("/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "100.00 USD" in html and "Live updates are paused" in html
    assert client.get("/portfolio/summary?v=whatever").status_code == 200
    assert client.get("/readyz").status_code == 503
    login(app.test_client())  # logging in works too (rate limits fall back to memory)

    proc, _ = embedded.start(port)  # an empty Redis, as after a restart without persistence
    try:
        html = client.get("/").get_data(as_text=True)
        assert "100.00 USD" in html and "Live updates are paused" not in html
        assert client.get("/readyz").status_code == 200
        with app.app_context():
            assert db.session.scalar(sa.select(sa.func.count()).select_from(Quote)) == 1  # nothing lost
    finally:
        proc.terminate()
        proc.wait(10)
