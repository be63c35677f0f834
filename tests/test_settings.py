"""The settings page's password change: the current password first, and it ends the other sessions."""
from __future__ import annotations

import html

import sqlalchemy as sa
from conftest import login, post
from quick_users import PASSWORD, quick_user

from webapp.extensions import db
from webapp.models import User

NEW = "a brand new passphrase"


def text(resp) -> str:
    return html.unescape(resp.get_data(as_text=True))


def is_logged_in(client) -> bool:
    resp = client.get("/accounts/")
    assert resp.status_code in (200, 302)
    return resp.status_code == 200


def password_hash(app, uid) -> str:
    with app.app_context():
        return db.session.scalar(sa.select(User.password_hash).where(User.id == uid))


def test_the_settings_page_has_the_password_form(app, client):
    quick_user(app, "alice@example.com", display_name="Alice A.")
    login(client)
    page = client.get("/")
    assert '<a class="who" href="/settings/" title="Settings">Alice A.</a>' in page.get_data(as_text=True)
    body = text(client.get("/settings/"))
    assert "Change password" in body and "Current password" in body and "alice@example.com" in body


def test_changing_the_password_keeps_this_session_and_ends_the_others(app, client):
    uid = quick_user(app, "alice@example.com")
    login(client, remember="y")
    other = app.test_client()
    login(other)
    stolen_session = client.get_cookie("session").value
    stolen_remember = client.get_cookie("remember_token").value

    resp = post(client, "/settings/password", {"current_password": PASSWORD, "password": NEW, "confirm": NEW})
    assert resp.status_code == 302 and resp.headers["Location"] == "/settings/"
    assert "Password changed. You were logged out everywhere else." in text(client.get("/settings/"))
    assert is_logged_in(client)
    assert not is_logged_in(other)

    # copies of this browser's own cookies from before the change are dead too
    for name, value in (("session", stolen_session), ("remember_token", stolen_remember)):
        replay = app.test_client()
        replay.set_cookie(name, value)
        resp = replay.get("/")
        assert resp.status_code == 302 and resp.headers["Location"].startswith("/auth/login"), name
    # while this browser's new remember cookie works
    restarted = app.test_client()
    restarted.set_cookie("remember_token", client.get_cookie("remember_token").value)
    assert is_logged_in(restarted)

    assert password_hash(app, uid).startswith("scrypt:")
    assert post(app.test_client(), "/auth/login", {"email": "alice@example.com",
                                                   "password": PASSWORD}).status_code == 401
    login(app.test_client(), password=NEW)


def test_a_wrong_current_password_changes_nothing(app, client):
    uid = quick_user(app, "alice@example.com")
    login(client)
    other = app.test_client()
    login(other)
    before = password_hash(app, uid)
    resp = post(client, "/settings/password", {"current_password": "not my password", "password": NEW,
                                               "confirm": NEW})
    assert resp.status_code == 401
    assert "That is not your current password." in text(resp)
    assert password_hash(app, uid) == before
    assert is_logged_in(other)


def test_invalid_new_passwords_are_400(app, client, subtests):
    uid = quick_user(app, "alice@example.com")
    login(client)
    before = password_hash(app, uid)
    for form, message in [
        ({"current_password": PASSWORD, "password": "short", "confirm": "short"}, "Use between 10 and 200"),
        ({"current_password": PASSWORD, "password": NEW, "confirm": NEW + "x"}, "The two passwords do not match."),
        ({"current_password": "", "password": NEW, "confirm": NEW}, "Enter your current password."),
        ({"current_password": PASSWORD, "password": "x" * 201, "confirm": "x" * 201}, "Use between 10 and 200"),
    ]:
        with subtests.test(message):
            resp = post(client, "/settings/password", form)
            assert resp.status_code == 400
            assert message in text(resp)
    assert password_hash(app, uid) == before
    assert is_logged_in(client)


def test_guessing_the_current_password_is_rate_limited(make_app):
    app = make_app(LOGIN_ACCOUNT_RATE_LIMIT="2 per minute")
    uid = quick_user(app, "alice@example.com")
    client = app.test_client()
    login(client)
    before = password_hash(app, uid)
    for _ in range(2):
        assert post(client, "/settings/password", {"current_password": "guess", "password": NEW,
                                                   "confirm": NEW}).status_code == 401
    resp = post(client, "/settings/password", {"current_password": PASSWORD, "password": NEW, "confirm": NEW})
    assert resp.status_code == 429
    assert "Slow down a little" in text(resp)
    assert password_hash(app, uid) == before
