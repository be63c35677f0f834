"""Registering, logging in and out: what a user sees, and what an attacker cannot do."""
from __future__ import annotations

import html

import pytest
import sqlalchemy as sa
from conftest import csrf_token, login, post
from quick_users import PASSWORD, quick_user

from webapp.extensions import db
from webapp.models import Account, Holding, User


@pytest.fixture
def alice(app):
    return quick_user(app, "alice@example.com")


def text(resp) -> str:
    return html.unescape(resp.get_data(as_text=True))


def is_logged_in(client) -> bool:
    resp = client.get("/accounts/")
    if resp.status_code == 302:
        assert resp.headers["Location"].startswith("/auth/login")
        return False
    assert resp.status_code == 200
    return True


def users(app) -> list[User]:
    with app.app_context():
        return list(db.session.scalars(sa.select(User).order_by(User.id)))


def cookie_header(resp, name: str) -> str:
    for header in resp.headers.getlist("Set-Cookie"):
        if header.startswith(f"{name}="):
            return header
    raise AssertionError(f"no {name} cookie set; got {resp.headers.getlist('Set-Cookie')}")


def cookie_attributes(header: str) -> set[str]:
    return {part.strip().lower() for part in header.split(";")[1:]}


# ---- register -------------------------------------------------------------------------
def test_register_logs_in_and_lands_on_accounts(app, client):
    resp = post(client, "/auth/register", {"email": "  New.User@Example.COM ", "display_name": "Newbie",
                                           "password": "long enough pw", "confirm": "long enough pw"})
    assert resp.status_code == 302
    assert resp.headers["Location"] == "/accounts/"

    page = client.get("/accounts/")
    assert page.status_code == 200
    body = text(page)
    assert "Welcome to Folio" in body
    assert "Newbie" in body and "Log out" in body

    [user] = users(app)
    assert user.email == "new.user@example.com"  # stored normalised


def test_registered_password_is_stored_hashed_with_scrypt(app, client):
    post(client, "/auth/register", {"email": "new@example.com", "password": "long enough pw",
                                    "confirm": "long enough pw"})
    [user] = users(app)
    assert user.password_hash.startswith("scrypt:")
    assert "long enough pw" not in user.password_hash
    # and it works: log out, then back in with it (and not with a near miss)
    post(client, "/auth/logout")
    assert post(client, "/auth/login", {"email": "new@example.com", "password": "long enough pX"}).status_code == 401
    login(client, "new@example.com", "long enough pw")
    assert is_logged_in(client)


def test_register_duplicate_email_is_409_with_the_form_again(app, client, alice):
    resp = post(client, "/auth/register", {"email": "ALICE@example.com", "password": "another password",
                                           "confirm": "another password"})
    assert resp.status_code == 409
    body = text(resp)
    assert "An account with this email already exists. Log in instead?" in body
    assert 'value="alice@example.com"' in body  # the form is shown again, filled in
    assert len(users(app)) == 1
    assert not is_logged_in(client)
    # alice's password did not change
    login(app.test_client(), "alice@example.com", PASSWORD)


REGISTER_INVALID = [
    ({"email": "new@example.com", "password": "short", "confirm": "short"}, "Use between 10 and 200 characters."),
    ({"email": "new@example.com", "password": "long enough pw", "confirm": "long enough pX"},
     "The two passwords do not match."),
    ({"email": "not-an-email", "password": "long enough pw", "confirm": "long enough pw"},
     "Enter an email address like name@example.com."),
    ({"email": "a@b", "password": "long enough pw", "confirm": "long enough pw"},
     "Enter an email address like name@example.com."),
    ({"email": "", "password": "long enough pw", "confirm": "long enough pw"}, "Enter your email address."),
    ({"email": "new@example.com", "password": "", "confirm": ""}, "Choose a password."),
    ({"email": "new@example.com", "password": "x" * 201, "confirm": "x" * 201}, "Use between 10 and 200 characters."),
    ({"email": "nul\x00@example.com", "password": "long enough pw", "confirm": "long enough pw"},
     "Remove the invisible control characters from this field."),
    ({"email": "new@example.com", "display_name": "x" * 81, "password": "long enough pw",
      "confirm": "long enough pw"}, "Field cannot be longer than 80 characters."),
]


def test_register_invalid_input_is_400_with_a_message_and_nothing_stored(app, client, subtests):
    for form, message in REGISTER_INVALID:
        with subtests.test(message, form=form):
            resp = post(client, "/auth/register", form)
            assert resp.status_code == 400
            assert message in text(resp)
    assert users(app) == []
    assert not is_logged_in(client)


def test_register_while_logged_in_goes_to_the_dashboard(client, alice):
    login(client)
    resp = client.get("/auth/register")
    assert resp.status_code == 302 and resp.headers["Location"] == "/"


# ---- login ------------------------------------------------------------------------------
def test_login_success_goes_to_the_dashboard_and_records_the_time(app, client, alice):
    resp = login(client, "Alice@Example.com ", PASSWORD)
    assert resp.headers["Location"] == "/"
    page = client.get("/")
    assert page.status_code == 200
    assert "Log out" in text(page)
    with app.app_context():
        assert db.session.get(User, alice).last_login_at is not None


def test_wrong_password_and_unknown_email_get_the_same_answer(client, alice, subtests):
    for email, password in [("alice@example.com", "wrong password"), ("alice@example.com", PASSWORD.upper()),
                            ("nobody@example.com", PASSWORD), ("nobody@example.com", "wrong password")]:
        with subtests.test(email=email, password=password):
            resp = post(client, "/auth/login", {"email": email, "password": password})
            assert resp.status_code == 401
            assert "Wrong email or password." in text(resp)
            assert 'value="%s"' % email in resp.get_data(as_text=True)  # the email stays filled in
    assert not is_logged_in(client)


def test_incomplete_login_form_is_400(client, alice, subtests):
    for form, message in [
        ({"email": "", "password": PASSWORD}, "Enter your email address."),
        ({"email": "alice@example.com", "password": ""}, "Enter your password."),
        ({"email": "alice\x00@example.com", "password": PASSWORD},
         "Remove the invisible control characters from this field."),
    ]:
        with subtests.test(message, form=form):
            resp = post(client, "/auth/login", form)
            assert resp.status_code == 400
            assert message in text(resp)
    assert not is_logged_in(client)


def test_disabled_user_cannot_log_in(app, client):
    quick_user(app, "mallory@example.com", PASSWORD, is_disabled=True)
    resp = post(client, "/auth/login", {"email": "mallory@example.com", "password": PASSWORD})
    assert resp.status_code == 403
    assert "This account is disabled." in text(resp)
    assert not is_logged_in(client)


def test_disabling_a_user_ends_their_open_session(app, client, alice):
    login(client)
    assert is_logged_in(client)
    with app.app_context():
        db.session.get(User, alice).is_disabled = True
        db.session.commit()
    assert not is_logged_in(client)


# ---- CSRF -------------------------------------------------------------------------------
def bad_tokens(app) -> dict:
    return {
        "missing": None,
        "garbage": "not-a-token",
        # a genuine token, but of another browser's session: what a CSRF attacker has
        "another session's": csrf_token(app.test_client()),
    }


def assert_refused(app, client, subtests, url, data):
    for kind, token in bad_tokens(app).items():
        with subtests.test(f"{kind} token", url=url):
            form = dict(data)
            if token is not None:
                form["csrf_token"] = token
            resp = client.post(url, data=form)
            assert resp.status_code == 400
            assert "The form was missing its security token" in text(resp)


def test_csrf_on_login(app, client, alice, subtests):
    client.get("/auth/login")
    assert_refused(app, client, subtests, "/auth/login", {"email": "alice@example.com", "password": PASSWORD})
    assert not is_logged_in(client)


def test_csrf_on_register(app, client, subtests):
    client.get("/auth/register")
    assert_refused(app, client, subtests, "/auth/register",
                   {"email": "new@example.com", "password": "long enough pw", "confirm": "long enough pw"})
    assert users(app) == []


def test_csrf_on_logout(app, client, alice, subtests):
    login(client)
    assert_refused(app, client, subtests, "/auth/logout", {})
    assert is_logged_in(client)


def test_csrf_on_account_create(app, client, alice, subtests):
    login(client)
    assert_refused(app, client, subtests, "/accounts/", {"name": "Main", "kind": "brokerage"})
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Account)) == 0


def test_csrf_on_holding_add(app, client, alice, subtests):
    login(client)
    resp = post(client, "/accounts/", {"name": "Main", "kind": "brokerage"})
    account_url = resp.headers["Location"]
    assert_refused(app, client, subtests, f"{account_url}/holdings",
                   {"symbol": "AAPL", "asset_type": "stock", "quantity": "1"})
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Holding)) == 0


def test_csrf_token_in_the_htmx_header_is_accepted(app, client, alice):
    login(client)
    resp = client.post("/accounts/", data={"name": "Via header", "kind": "brokerage"},
                       headers={"X-CSRFToken": csrf_token(client)})
    assert resp.status_code == 302
    with app.app_context():
        assert db.session.scalar(sa.select(Account.name)) == "Via header"


# ---- rate limits --------------------------------------------------------------------------
# The limiter's counters live in Redis for a minute and are not removed between tests
# (their keys start with "LIMITS:", outside the test prefix), so every test here uses its
# own emails and client addresses.
def attempt(client, email, password):
    return post(client, "/auth/login", {"email": email, "password": password})


def client_from(app, address):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def test_account_is_locked_after_three_failures_even_for_the_right_password(make_app):
    app = make_app(LOGIN_ACCOUNT_RATE_LIMIT="3 per minute")
    quick_user(app, "target@example.com", PASSWORD)
    quick_user(app, "bystander@example.com", PASSWORD)
    attacker = client_from(app, "198.51.100.1")
    for _ in range(3):
        assert attempt(attacker, "target@example.com", "wrong password").status_code == 401

    owner = client_from(app, "198.51.100.2")  # the limit is per account, not per address or session
    resp = attempt(owner, "Target@Example.com", PASSWORD)  # the same account, spelt differently
    assert resp.status_code == 429
    assert "Too many login attempts. Wait a minute, then try again." in text(resp)
    assert not is_logged_in(owner)

    # other accounts are not locked out, even from the attacker's address
    assert attempt(attacker, "bystander@example.com", PASSWORD).status_code == 302


def test_successful_logins_do_not_count_towards_the_account_limit(make_app):
    app = make_app(LOGIN_ACCOUNT_RATE_LIMIT="3 per minute")
    quick_user(app, "frequent@example.com", PASSWORD)
    for _ in range(4):
        assert attempt(client_from(app, "198.51.100.3"), "frequent@example.com", PASSWORD).status_code == 302
    assert attempt(app.test_client(), "frequent@example.com", "wrong password").status_code == 401


def test_per_address_limit(make_app):
    app = make_app(LOGIN_RATE_LIMIT="3 per minute")
    quick_user(app, "roamer@example.com", PASSWORD)
    client = client_from(app, "198.51.100.4")
    for i in range(3):
        assert attempt(client, f"guess{i}@example.com", "wrong password").status_code == 401
    resp = attempt(client, "roamer@example.com", PASSWORD)
    assert resp.status_code == 429
    assert "Too many login attempts" in text(resp)
    assert not is_logged_in(client)

    elsewhere = client_from(app, "198.51.100.5")
    assert attempt(elsewhere, "roamer@example.com", PASSWORD).status_code == 302


# ---- the `next` parameter ---------------------------------------------------------------
def test_login_page_reached_from_a_protected_page_returns_there(client, alice):
    resp = client.get("/accounts/")
    assert resp.status_code == 302
    login_url = resp.headers["Location"]
    assert login_url.startswith("/auth/login?next=")
    page = client.get(login_url)
    assert 'name="next" type="hidden" value="/accounts/"' in page.get_data(as_text=True)

    resp = login(client, next="/accounts/")
    assert resp.headers["Location"] == "/accounts/"


def test_local_next_is_followed(app, alice, subtests):
    for target in ["/accounts/", "/accounts/?tab=2#top", "/portfolio/summary"]:
        with subtests.test(target=target):
            assert login(app.test_client(), next=target).headers["Location"] == target


FOREIGN_TARGETS = [
    "//evil.example",
    "//evil.example/accounts/",
    "https://evil.example/",
    "http:evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "javascript:alert(1)",
    " //evil.example",
    "/\t/evil.example",
    "/accounts/\r\nSet-Cookie: session=evil",
    "evil.example",
]


def test_foreign_next_is_refused(app, alice, subtests):
    for target in FOREIGN_TARGETS:
        with subtests.test(target=target):
            client = app.test_client()
            resp = login(client, next=target)  # the login itself works ...
            assert resp.headers["Location"] == "/"  # ... and lands on the dashboard
            assert is_logged_in(client)


def test_foreign_next_is_not_put_in_the_login_form(client):
    page = client.get("/auth/login?next=//evil.example").get_data(as_text=True)
    assert "evil.example" not in page


# ---- logout and sessions ------------------------------------------------------------------
def test_logout_needs_post(client, alice):
    login(client)
    assert client.get("/auth/logout").status_code == 405
    assert is_logged_in(client)


def test_logout_ends_the_session_and_its_copies(app, client, alice):
    login(client)
    stolen = client.get_cookie("session").value
    # a copy of the cookie works while the session is open ...
    thief = app.test_client()
    thief.set_cookie("session", stolen)
    assert is_logged_in(thief)

    resp = post(client, "/auth/logout")
    assert resp.status_code == 302 and resp.headers["Location"] == "/auth/login"
    assert "You are logged out." in text(client.get("/auth/login"))
    assert not is_logged_in(client)

    # ... and not after the logout, even replayed into the same browser
    replay = app.test_client()
    replay.set_cookie("session", stolen)
    resp = replay.get("/")
    assert resp.status_code == 302 and resp.headers["Location"].startswith("/auth/login")
    client.set_cookie("session", stolen)
    assert not is_logged_in(client)


def test_remember_me_sets_an_httponly_cookie_that_logout_revokes(app, client, alice):
    resp = login(client, remember="y")
    header = cookie_header(resp, "remember_token")
    assert "httponly" in cookie_attributes(header)
    remembered = client.get_cookie("remember_token").value

    # a browser restarted with only the remember cookie is still logged in
    restarted = app.test_client()
    restarted.set_cookie("remember_token", remembered)
    assert is_logged_in(restarted)

    post(client, "/auth/logout")
    again = app.test_client()
    again.set_cookie("remember_token", remembered)
    assert not is_logged_in(again)


def test_without_remember_me_there_is_no_remember_cookie(client, alice):
    resp = login(client)
    assert not any(h.startswith("remember_token=") for h in resp.headers.getlist("Set-Cookie"))
    assert client.get_cookie("remember_token") is None


def test_session_cookie_is_httponly_samesite_lax_and_not_secure_by_default_over_http(make_app, monkeypatch):
    monkeypatch.delenv("SESSION_COOKIE_SECURE", raising=False)
    app = make_app(PUBLIC_URL="http://127.0.0.1:5000")  # as `make run` serves it (https: tests/test_https.py)
    quick_user(app, "alice@example.com")
    attrs = cookie_attributes(cookie_header(login(app.test_client(), password=PASSWORD), "session"))
    assert "httponly" in attrs
    assert "samesite=lax" in attrs
    assert "secure" not in attrs  # plain-HTTP development would lose the session otherwise


def https_login(client, **extra):
    """Log in over HTTPS, as a browser would (the CSRF check wants a same-origin Referer there)."""
    from conftest import TOKEN_RE

    page = client.get("/auth/login", base_url="https://localhost").get_data(as_text=True)
    token = TOKEN_RE.search(page).group(1)
    resp = client.post("/auth/login", base_url="https://localhost", headers={"Referer": "https://localhost/auth/login"},
                       data={"email": "alice@example.com", "password": PASSWORD, "csrf_token": token, **extra})
    assert resp.status_code == 302
    return resp


def test_secure_cookie_setting(make_app):
    app = make_app(SESSION_COOKIE_SECURE=True)
    quick_user(app, "alice@example.com")
    client = app.test_client()
    resp = client.get("/auth/login", base_url="https://localhost")
    assert {"secure", "httponly", "samesite=lax"} <= cookie_attributes(cookie_header(resp, "session"))
    # and logging in over HTTPS works with it
    assert "secure" in cookie_attributes(cookie_header(https_login(client), "session"))
    assert client.get("/accounts/", base_url="https://localhost").status_code == 200


def test_secure_cookie_setting_from_the_environment_covers_the_remember_cookie(make_app, monkeypatch):
    monkeypatch.setenv("SESSION_COOKIE_SECURE", "true")  # how a deployment sets it
    app = make_app()
    quick_user(app, "alice@example.com")
    resp = https_login(app.test_client(), remember="y")
    assert "secure" in cookie_attributes(cookie_header(resp, "session"))
    assert "secure" in cookie_attributes(cookie_header(resp, "remember_token"))


def test_the_session_changes_at_login(app, client, alice):
    client.get("/auth/login")
    before = client.get_cookie("session").value
    old_token = csrf_token(client)
    login(client)
    after = client.get_cookie("session").value
    assert before != after

    # the pre-login cookie (e.g. planted by an attacker) is not logged in
    planted = app.test_client()
    planted.set_cookie("session", before)
    assert not is_logged_in(planted)

    # and the pre-login form token is no longer accepted
    resp = client.post("/accounts/", data={"name": "Main", "kind": "brokerage", "csrf_token": old_token})
    assert resp.status_code == 400
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Account)) == 0
