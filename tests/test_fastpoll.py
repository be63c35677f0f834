"""The poll's fast path (webapp/web/fastpoll.py): a 204 without Flask or the database, and never
for a session Flask would refuse."""
from __future__ import annotations

import pytest
import sqlalchemy as sa
from conftest import PREFIX, login, make_user, post, set_price
from flask_login.utils import _create_identifier
from test_portfolio import setup_portfolio, version_of

from webapp.extensions import db
from webapp.models import User
from webapp.web.fastpoll import identifier


@pytest.fixture
def polling(app, client):
    """A logged-in user with a priced portfolio whose dashboard has been shown once."""
    setup_portfolio(app, client, holdings=(("AAPL", "10"),))
    set_price(app, "AAPL", "100")
    v = version_of(client.get("/").get_data(as_text=True))
    return client, v


def count_queries(app):
    seen = []
    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", lambda *a, **k: seen.append(a[2]))
    return seen


def test_an_unchanged_poll_is_answered_without_the_database(app, polling):
    client, v = polling
    queries = count_queries(app)
    resp = client.get(f"/portfolio/summary?v={v}", headers={"HX-Request": "true"})
    assert resp.status_code == 204 and resp.get_data() == b""
    assert queries == []
    # the headers a Flask answer has
    assert resp.headers["Content-Security-Policy"].startswith("default-src 'self'")
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert "Cookie" in resp.headers["Vary"] and resp.headers["Cache-Control"] == "no-store"
    assert resp.headers["X-Request-ID"]


def test_the_identifier_is_flask_logins(app):
    for environ in ({"REMOTE_ADDR": "127.0.0.1"},
                    {"REMOTE_ADDR": "10.0.0.1", "HTTP_USER_AGENT": "Mozilla/5.0 (X11) Ünïcode"},
                    {"REMOTE_ADDR": "10.0.0.1", "HTTP_X_FORWARDED_FOR": "203.0.113.9, 10.0.0.1",
                     "HTTP_USER_AGENT": "curl/8"}):
        with app.test_request_context(environ_base=environ):
            from flask import request

            if "HTTP_USER_AGENT" not in environ:
                request.environ.pop("HTTP_USER_AGENT", None)
            expected = _create_identifier()
        assert identifier(environ.get("REMOTE_ADDR"), environ.get("HTTP_X_FORWARDED_FOR"),
                          environ.get("HTTP_USER_AGENT")) == expected


def test_logging_out_ends_the_poll_of_every_copy_of_the_session(app, polling):
    client, v = polling
    stolen = client.get_cookie("session").value
    assert client.get(f"/portfolio/summary?v={v}").status_code == 204
    post(client, "/auth/logout")
    other = app.test_client()
    other.set_cookie("session", stolen)
    for version in (v, "older"):  # neither the 204 nor a rendered fragment
        resp = other.get(f"/portfolio/summary?v={version}")
        assert resp.status_code == 302 and "/auth/login" in resp.headers["Location"]


def test_a_token_rotated_elsewhere_ends_the_poll(app, polling):
    client, v = polling
    assert client.get(f"/portfolio/summary?v={v}").status_code == 204
    with app.app_context():  # e.g. `flask users disable`, another process
        user = db.session.scalar(sa.select(User))
        user.is_disabled = True
        user.session_token = "rotated"
        db.session.commit()
    assert client.get(f"/portfolio/summary?v={v}").status_code == 302


def test_a_session_redis_does_not_know_goes_to_flask_which_vouches_for_it_again(app, polling, redis_client):
    client, v = polling
    for key in redis_client.scan_iter(match=f"{PREFIX}session:*"):
        redis_client.delete(key)
    queries = count_queries(app)
    assert client.get(f"/portfolio/summary?v={v}").status_code == 204
    assert queries  # Flask-Login asked the database
    queries.clear()
    assert client.get(f"/portfolio/summary?v={v}").status_code == 204
    assert queries == []  # and the next poll trusts Redis again


def test_a_remembered_cookie_is_trusted_no_longer_than_the_cookie_itself(app, polling, monkeypatch):
    """The fast path remembers a verified cookie; once the session's lifetime is over it is
    verified again, found expired, and Flask sends the browser to the login page."""
    import time

    client, v = polling
    assert client.get(f"/portfolio/summary?v={v}").status_code == 204  # verified, remembered
    assert client.get(f"/portfolio/summary?v={v}").status_code == 204  # from memory
    lifetime = app.permanent_session_lifetime.total_seconds()
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + lifetime + 60)
    resp = client.get(f"/portfolio/summary?v={v}")
    assert resp.status_code == 302 and "/auth/login" in resp.headers["Location"]


def test_a_forged_or_foreign_cookie_never_gets_a_204(app, polling):
    client, v = polling
    value = client.get_cookie("session").value
    other = app.test_client()
    other.set_cookie("session", value[:-2] + ("AA" if not value.endswith("AA") else "BB"))
    assert other.get(f"/portfolio/summary?v={v}").status_code == 302
    # a session from another address is one Flask-Login would mark: Flask answers
    moved = app.test_client()
    moved.set_cookie("session", value)
    resp = moved.get(f"/portfolio/summary?v={v}", environ_base={"REMOTE_ADDR": "192.0.2.7"})
    assert resp.status_code == 204
    assert moved.get_cookie("session").value != value  # marked not fresh, by Flask


def test_malformed_htmx_headers_are_refused_as_everywhere(polling):
    client, v = polling
    assert client.get(f"/portfolio/summary?v={v}", headers={"HX-Request": "yes"}).status_code == 400


def test_a_changed_fragment_is_rendered_once_and_served_to_every_tab(app, polling):
    client, v = polling
    set_price(app, "AAPL", "101")
    queries = count_queries(app)
    first = client.get(f"/portfolio/summary?v={v}")
    assert first.status_code == 200 and "1,010.00 USD" in first.get_data(as_text=True)
    assert queries == []  # the session, the positions and the quotes all came from Redis
    second = client.get(f"/portfolio/summary?v={v}")  # another tab, same old version
    assert second.get_data() == first.get_data()
    assert queries == []
    assert second.headers["Content-Type"].startswith("text/html")


def test_another_users_session_token_never_unlocks_a_poll(app, polling, redis_client):
    client, v = polling
    make_user(app, "mallory@example.com")
    mallory = app.test_client()
    login(mallory, "mallory@example.com")
    mallory.get("/")
    # Mallory's own session asks for Alice's version: the poll is per user, so she gets her own
    resp = mallory.get(f"/portfolio/summary?v={v}")
    assert resp.status_code == 200 and "1,000.00 USD" not in resp.get_data(as_text=True)
