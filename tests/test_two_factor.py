"""Two-factor login end to end: set it up, log in with a real TOTP code, recovery codes, limits.

The codes are computed here by `reference_code`, an implementation of RFC 6238 of its own
(checked against the RFC's test vectors), not by the app's `webapp.totp`.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import html
import re
import time

import pytest
import sqlalchemy as sa
from conftest import csrf_token, login, post
from quick_users import PASSWORD, quick_user

from webapp.domain import totp
from webapp.extensions import db
from webapp.models import RecoveryCode, User


def reference_code(secret: str, at: float | None = None) -> str:
    """RFC 6238: HMAC-SHA1 of the 30-second counter, dynamic truncation, 6 digits."""
    key = base64.b32decode(secret.upper() + "=" * (-len(secret) % 8))
    counter = int(time.time() if at is None else at) // 30
    digest = hmac.new(key, counter.to_bytes(8, "big"), hashlib.sha1).digest()
    offset = digest[19] & 0x0F
    return "%06d" % ((int.from_bytes(digest[offset:offset + 4], "big") & 0x7FFFFFFF) % 1_000_000)


def next_code(secret: str) -> str:
    """The code of the next 30-second step: accepted (clocks drift), and newer than any code
    used to set up or log in just before, which may not be used twice."""
    return reference_code(secret, time.time() + 30)


def text(resp) -> str:
    return html.unescape(resp.get_data(as_text=True))


def is_logged_in(client) -> bool:
    resp = client.get("/accounts/")
    assert resp.status_code in (200, 302)
    return resp.status_code == 200


def enable_two_factor(client) -> tuple[str, list[str]]:
    """Set up two-factor login through the settings page, as a person would; returns the secret
    read from the page and the recovery codes shown."""
    page = client.get("/settings/two-factor")
    assert page.status_code == 200
    secret = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', page.get_data(as_text=True)).group(1).replace(" ", "")
    resp = post(client, "/settings/two-factor", {"code": reference_code(secret)})
    assert resp.status_code == 200, text(resp)[:2000]
    codes = re.findall(r"<li><code>([a-z2-7-]+)</code></li>", resp.get_data(as_text=True))
    assert len(codes) == 10
    return secret, codes


def password_step(client, email="alice@example.com", password=PASSWORD, **extra):
    return post(client, "/auth/login", {"email": email, "password": password, **extra})


@pytest.fixture
def alice(app):
    return quick_user(app, "alice@example.com")


@pytest.fixture
def alice_2fa(app, alice):
    """Alice with two-factor login on, logged out; her secret and recovery codes."""
    client = app.test_client()
    login(client)
    secret, codes = enable_two_factor(client)
    post(client, "/auth/logout")
    return secret, codes


# ---- the algorithm ----------------------------------------------------------------------------
RFC6238_SHA1 = [(59, "94287082"), (1111111109, "07081804"), (1111111111, "14050471"),
                (1234567890, "89005924"), (2000000000, "69279037"), (20000000000, "65353130")]


def test_codes_match_the_rfc_6238_test_vectors():
    secret = base64.b32encode(b"12345678901234567890").decode()
    for at, eight_digits in RFC6238_SHA1:
        assert reference_code(secret, at) == eight_digits[-6:]
        assert totp.code_at(secret, at // 30) == eight_digits[-6:]
    # the window: the previous and the next step are accepted, no further
    assert totp.matching_step(secret, "287082", when=59) == 1
    assert totp.matching_step(secret, "287082", when=59 + 30) == 1
    assert totp.matching_step(secret, "287082", when=59 - 30) == 1
    assert totp.matching_step(secret, "287082", when=59 + 60) is None
    assert totp.matching_step(secret, "٢٨٧٠٨٢", when=59) is None  # the same digits, but not ASCII


# Codes the hand-written implementation (before pyotp) gave, at its steps: secrets stored by it,
# upper- or lower-case, keep working. Generated with the old webapp/totp.py's code_at.
OLD_IMPLEMENTATION_CODES = {
    "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP": [(1, "503347"), (59652323, "178813"), (66666666, "978524")],
    "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ": [(1, "287082"), (59652323, "263126"), (66666666, "279037")],
    "mfrggzdfmztwq2lkmfrggzdfmztwq2lk": [(1, "326399"), (59652323, "555830"), (66666666, "874044")],
}


def test_secrets_and_codes_of_the_old_implementation_still_verify():
    for secret, codes in OLD_IMPLEMENTATION_CODES.items():
        for step, code in codes:
            assert totp.code_at(secret, step) == code
            assert totp.matching_step(secret, code, when=step * 30 + 29) == step
            assert totp.matching_step(secret, code, when=(step + 2) * 30) is None


def test_the_qr_code_uri_names_the_account_and_the_secret():
    uri = totp.provisioning_uri("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", "alice@example.com")
    assert uri.startswith("otpauth://totp/Folio:alice%40example.com?")
    assert "secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP" in uri and "issuer=Folio" in uri
    # a new secret is 160 bits of base32, as before
    assert re.fullmatch(r"[A-Z2-7]{32}", totp.new_secret())


# ---- turning it on ------------------------------------------------------------------------------
def test_setting_up_two_factor_login(app, client, alice):
    login(client)
    settings = text(client.get("/settings/"))
    assert "Two-factor login" in settings and "Off." in settings

    page = client.get("/settings/two-factor")
    body = page.get_data(as_text=True)
    assert page.headers["Cache-Control"] == "no-store"
    assert re.search(r'<img class="qr" src="data:image/svg\+xml[^"]+"', body)  # allowed by img-src data:
    secret = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', body).group(1).replace(" ", "")
    assert len(secret) == 32  # 160 bits
    # a reload shows the same secret (an app may have scanned it already)
    assert secret in client.get("/settings/two-factor").get_data(as_text=True).replace(" ", "")

    # a wrong code does not turn it on
    wrong = "000000" if reference_code(secret) != "000000" else "111111"
    resp = post(client, "/settings/two-factor", {"code": wrong})
    assert resp.status_code == 400
    assert "That code does not match." in text(resp)
    with app.app_context():
        assert db.session.get(User, alice).totp_secret is None

    resp = post(client, "/settings/two-factor", {"code": reference_code(secret)})
    assert resp.status_code == 200
    assert resp.headers["Cache-Control"] == "no-store"
    body = text(resp)
    assert "Two-factor login is on." in body and "They are shown only now." in body
    codes = re.findall(r"<li><code>([a-z2-7-]+)</code></li>", body)
    assert len(codes) == 10 and len(set(codes)) == 10
    assert all(re.fullmatch(r"[a-z2-7]{4}(-[a-z2-7]{4}){3}", c) for c in codes)
    with app.app_context():
        user = db.session.get(User, alice)
        assert user.totp_secret == secret
        stored = list(db.session.scalars(sa.select(RecoveryCode.code_hash).where(RecoveryCode.user_id == alice)))
    assert len(stored) == 10
    assert not any(c.replace("-", "") in h for c in codes for h in stored)  # hashed, never in clear

    assert is_logged_in(client)  # this session stays
    assert "On" in text(client.get("/settings/")) and 'id="codes-left">10<' in client.get(
        "/settings/").get_data(as_text=True)
    # set up once: the setup page now sends back to the settings
    assert client.get("/settings/two-factor").headers["Location"] == "/settings/"


def test_turning_it_on_ends_the_other_sessions(app, alice):
    laptop, phone = app.test_client(), app.test_client()
    login(laptop)
    login(phone)
    enable_two_factor(laptop)
    assert is_logged_in(laptop)
    assert not is_logged_in(phone)  # opened with the password alone


# ---- logging in -----------------------------------------------------------------------------------
def test_login_asks_for_the_code_after_the_password(app, client, alice, alice_2fa):
    secret, _ = alice_2fa
    resp = password_step(client)
    assert resp.status_code == 302 and resp.headers["Location"] == "/auth/login/code"
    assert not is_logged_in(client)  # the password alone is no login
    page = client.get("/auth/login/code")
    assert page.status_code == 200
    assert "Enter the 6-digit code your authenticator app shows" in text(page)

    for bad, status, message in [("", 400, "Enter the 6-digit code"),
                                 ("12345", 400, "Enter the 6-digit code from your authenticator app, or a recovery code."),
                                 ("abcdef", 400, "or a recovery code."),
                                 ("999999" if next_code(secret) != "999999" else "999998", 401,
                                  "That code is not right, or it was used already.")]:
        resp = post(client, "/auth/login/code", {"code": bad})
        assert resp.status_code == status, bad
        assert message in text(resp)
        assert not is_logged_in(client)

    resp = post(client, "/auth/login/code", {"code": next_code(secret)})
    assert resp.status_code == 302 and resp.headers["Location"] == "/"
    assert is_logged_in(client)
    with app.app_context():
        assert db.session.get(User, alice).last_login_at is not None


def test_a_code_cannot_be_used_twice(app, alice, alice_2fa):
    secret, _ = alice_2fa
    code = next_code(secret)
    first, second = app.test_client(), app.test_client()
    password_step(first)
    password_step(second)
    assert post(first, "/auth/login/code", {"code": code}).status_code == 302
    # the same code at once, from another browser (someone looking over the shoulder) ...
    resp = post(second, "/auth/login/code", {"code": code})
    assert resp.status_code == 401
    assert "That code is not right, or it was used already." in text(resp)
    # ... and an older code of the window, still fresh by the clock, are refused
    assert post(second, "/auth/login/code", {"code": reference_code(secret)}).status_code == 401
    assert not is_logged_in(second)


def test_a_recovery_code_logs_in_once(app, alice, alice_2fa):
    _, codes = alice_2fa
    client = app.test_client()
    password_step(client)
    typed = " " + codes[3].upper().replace("-", " ") + " "  # as read out of a printout
    resp = post(client, "/auth/login/code", {"code": typed})
    assert resp.status_code == 302
    assert "You logged in with a recovery code; 9 of them left." in text(client.get("/"))
    assert is_logged_in(client)
    post(client, "/auth/logout")

    again = app.test_client()
    password_step(again)
    assert post(again, "/auth/login/code", {"code": codes[3]}).status_code == 401
    assert not is_logged_in(again)
    assert post(again, "/auth/login/code", {"code": codes[4]}).status_code == 302


def test_the_code_page_needs_the_password_step_first(app, client, alice, alice_2fa, monkeypatch):
    secret, _ = alice_2fa
    resp = client.get("/auth/login/code")
    assert resp.status_code == 302 and resp.headers["Location"] == "/auth/login"
    assert post(client, "/auth/login/code", {"code": next_code(secret)}).status_code == 302
    assert not is_logged_in(client)

    # a started login lasts five minutes
    password_step(client)
    from webapp.blueprints import auth

    monkeypatch.setattr(auth, "PENDING_SECONDS", -1)
    resp = post(client, "/auth/login/code", {"code": next_code(secret)})
    assert resp.status_code == 302 and resp.headers["Location"] == "/auth/login"
    assert "Log in with your password first" in text(client.get("/auth/login"))
    assert not is_logged_in(client)


def test_a_password_change_meanwhile_voids_the_started_login(app, alice, alice_2fa):
    secret, _ = alice_2fa
    attacker = app.test_client()
    password_step(attacker)  # knows the old password
    with app.app_context():
        from webapp.models import new_session_token

        user = db.session.get(User, alice)
        user.session_token = new_session_token()  # what a password change does
        db.session.commit()
    assert post(attacker, "/auth/login/code", {"code": next_code(secret)}).headers["Location"] == "/auth/login"
    assert not is_logged_in(attacker)


def test_the_session_changes_at_each_step(app, client, alice, alice_2fa):
    secret, _ = alice_2fa
    client.get("/auth/login")
    anonymous = client.get_cookie("session").value
    password_step(client)
    pending = client.get_cookie("session").value
    post(client, "/auth/login/code", {"code": next_code(secret)})
    logged_in = client.get_cookie("session").value
    assert len({anonymous, pending, logged_in}) == 3
    for old in (anonymous, pending):
        replay = app.test_client()
        replay.set_cookie("session", old)
        assert not is_logged_in(replay)


def test_next_is_kept_through_the_code_step_and_still_checked(app, alice, alice_2fa):
    secret, codes = alice_2fa
    client = app.test_client()
    password_step(client, next="/accounts/")
    assert post(client, "/auth/login/code", {"code": next_code(secret)}).headers["Location"] == "/accounts/"

    client = app.test_client()
    password_step(client, next="//evil.example/")
    # a recovery code: the TOTP codes of the window are spent by now
    assert post(client, "/auth/login/code", {"code": codes[0]}).headers["Location"] == "/"


def test_remember_me_survives_the_code_step(app, alice, alice_2fa):
    secret, _ = alice_2fa
    client = app.test_client()
    password_step(client, remember="y")
    resp = post(client, "/auth/login/code", {"code": next_code(secret)})
    assert any(h.startswith("remember_token=") for h in resp.headers.getlist("Set-Cookie"))
    restarted = app.test_client()
    restarted.set_cookie("remember_token", client.get_cookie("remember_token").value)
    assert is_logged_in(restarted)


def test_wrong_codes_are_rate_limited_per_user(make_app):
    app = make_app(LOGIN_CODE_RATE_LIMIT="3 per minute")
    quick_user(app, "alice@example.com")
    setup = app.test_client()
    login(setup)
    secret, codes = enable_two_factor(setup)
    wrong = "000000" if next_code(secret) != "000000" else "000001"

    attacker = app.test_client()
    password_step(attacker)
    for _ in range(3):
        assert post(attacker, "/auth/login/code", {"code": wrong}).status_code == 401
    resp = post(attacker, "/auth/login/code", {"code": next_code(secret)})  # even the right one
    assert resp.status_code == 429
    assert "Too many wrong codes. Wait a minute, then try again." in text(resp)
    assert not is_logged_in(attacker)

    # starting over with the password (or another browser) does not reset the count
    fresh = app.test_client()
    password_step(fresh)
    assert post(fresh, "/auth/login/code", {"code": codes[0]}).status_code == 429
    assert not is_logged_in(fresh)


# ---- turning it off, new recovery codes --------------------------------------------------------
def test_turning_it_off_needs_the_password_and_a_code(app, client, alice):
    login(client)
    secret, codes = enable_two_factor(client)
    other = app.test_client()
    password_step(other)
    assert post(other, "/auth/login/code", {"code": codes[0]}).status_code == 302

    for form, status, message in [
        ({"password": "wrong password", "code": next_code(secret)}, 401, "That is not your password."),
        ({"password": PASSWORD, "code": "000000" if next_code(secret) != "000000" else "000001"}, 401,
         "That code is not right, or it was used already."),
        ({"password": PASSWORD, "code": ""}, 400, "Enter the 6-digit code"),
    ]:
        resp = post(client, "/settings/two-factor/disable", form)
        assert resp.status_code == status
        assert message in text(resp)
        with app.app_context():
            assert db.session.get(User, alice).totp_secret == secret

    resp = post(client, "/settings/two-factor/disable", {"password": PASSWORD, "code": codes[1]})
    assert resp.status_code == 302
    assert "Two-factor login is off." in text(client.get("/settings/"))
    assert is_logged_in(client)
    assert not is_logged_in(other)  # its other sessions ended
    with app.app_context():
        assert db.session.get(User, alice).totp_secret is None
        assert db.session.scalar(sa.select(sa.func.count()).select_from(RecoveryCode)) == 0
    # and the password alone logs in again
    assert password_step(app.test_client()).headers["Location"] == "/"


def test_new_recovery_codes_replace_the_old_ones(app, client, alice):
    login(client)
    secret, old = enable_two_factor(client)
    resp = post(client, "/settings/two-factor/recovery-codes", {"password": PASSWORD, "code": next_code(secret)})
    assert resp.status_code == 200
    assert "The old ones no longer work." in text(resp)
    new = re.findall(r"<li><code>([a-z2-7-]+)</code></li>", resp.get_data(as_text=True))
    assert len(new) == 10 and not set(new) & set(old)

    c = app.test_client()
    password_step(c)
    assert post(c, "/auth/login/code", {"code": old[0]}).status_code == 401
    assert post(c, "/auth/login/code", {"code": new[0]}).status_code == 302


# ---- admins -------------------------------------------------------------------------------------
ADMIN_PAGES = ["/", "/accounts/", "/admin/", "/admin/rq/", "/settings/", "/portfolio/summary", "/metrics"]


def test_admins_must_set_it_up_first_when_required(make_app):
    app = make_app(ADMIN_REQUIRE_2FA=True)
    quick_user(app, "root@example.com", is_admin=True)
    quick_user(app, "alice@example.com")
    admin = app.test_client()
    login(admin, "root@example.com")
    for url in ADMIN_PAGES:
        resp = admin.get(url)
        assert resp.status_code == 302 and resp.headers["Location"] == "/settings/two-factor", url
    resp = admin.get("/portfolio/summary", headers={"HX-Request": "true"})
    assert resp.status_code == 204 and resp.headers["HX-Redirect"] == "/settings/two-factor"
    # nor can it change anything before
    assert post(admin, "/accounts/", {"name": "Main", "kind": "brokerage"}).headers[
        "Location"] == "/settings/two-factor"
    page = admin.get("/settings/two-factor")
    assert page.status_code == 200
    assert "Administrators must turn on two-factor login before anything else." in text(page)
    assert admin.get("/healthz").status_code == 200

    # users who are not admins are not asked
    user = app.test_client()
    login(user)
    assert user.get("/").status_code == 200

    secret, codes = enable_two_factor(admin)
    for url in ADMIN_PAGES:
        assert admin.get(url).status_code == 200, url
    # and an admin may not turn it off while it is required
    resp = post(admin, "/settings/two-factor/disable", {"password": PASSWORD, "code": codes[0]})
    assert resp.status_code == 403
    assert "Administrators must keep two-factor login on." in text(resp)
    with app.app_context():
        assert db.session.scalar(sa.select(User.totp_secret).where(User.email == "root@example.com")) == secret

    # logging in again takes the code
    again = app.test_client()
    assert password_step(again, "root@example.com").headers["Location"] == "/auth/login/code"
    assert post(again, "/auth/login/code", {"code": codes[1]}).status_code == 302
    assert again.get("/admin/").status_code == 200


def test_admins_are_not_forced_without_the_setting(app):
    quick_user(app, "root@example.com", is_admin=True)
    admin = app.test_client()
    login(admin, "root@example.com")
    assert admin.get("/admin/").status_code == 200


def test_the_setting_is_read_from_the_environment(make_app, monkeypatch):
    monkeypatch.setenv("ADMIN_REQUIRE_2FA", "1")
    app = make_app()
    assert app.config["ADMIN_REQUIRE_2FA"] is True
    quick_user(app, "root@example.com", is_admin=True)
    admin = app.test_client()
    login(admin, "root@example.com")
    assert admin.get("/admin/").headers["Location"] == "/settings/two-factor"


def test_settings_need_a_login(client):
    for url in ["/settings/", "/settings/two-factor"]:
        resp = client.get(url)
        assert resp.status_code == 302 and resp.headers["Location"].startswith("/auth/login")
    token = csrf_token(client)
    for url in ["/settings/password", "/settings/two-factor", "/settings/two-factor/disable",
                "/settings/two-factor/recovery-codes"]:
        resp = client.post(url, data={"csrf_token": token})
        assert resp.status_code == 302 and resp.headers["Location"].startswith("/auth/login")


def test_an_operator_can_turn_it_off_for_a_user_who_lost_the_phone(app, alice, alice_2fa):
    client = app.test_client()
    password_step(client)
    assert post(client, "/auth/login/code", {"code": alice_2fa[1][0]}).status_code == 302
    runner = app.test_cli_runner()
    result = runner.invoke(args=["users", "reset-two-factor", "Alice@Example.com"])
    assert result.exit_code == 0, result.output
    assert "two-factor login of alice@example.com is off; their sessions have ended" in result.output
    assert not is_logged_in(client)
    assert password_step(app.test_client()).headers["Location"] == "/"  # the password alone again
    again = runner.invoke(args=["users", "reset-two-factor", "alice@example.com"])
    assert again.exit_code == 2 and "alice@example.com has no two-factor login." in again.output
