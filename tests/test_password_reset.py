"""Password reset by a mailed link: through the test client, the RQ job run in-process, and a
real SMTP server (aiosmtpd) that receives the mail."""
from __future__ import annotations

import difflib
import html

import pytest
from conftest import TOKEN_RE, csrf_token, login, make_user, post
from mailhelpers import PUBLIC_URL, mail_app, run_mail_jobs, smtp_server  # noqa: F401  (fixtures)

from webapp.extensions import db
from webapp.models import User

NEW = "a brand new password"


def ask(client, email="alice@example.com"):
    return post(client, "/auth/forgot", {"email": email})


def reset_link(app, inbox, client, email="alice@example.com") -> str:
    assert ask(client, email).status_code == 200
    run_mail_jobs(app)
    [message] = inbox.to(email)
    return message, inbox.link(message, "/auth/reset/")


def local(url: str) -> str:
    return url.removeprefix(PUBLIC_URL)


def test_the_login_page_links_to_the_form(app, client):
    page = client.get("/auth/login").get_data(as_text=True)
    assert 'href="/auth/forgot"' in page and "Forgot password?" in page
    assert client.get("/auth/forgot").status_code == 200


def test_reset_happy_path(mail_app, smtp_server):
    make_user(mail_app)
    client = mail_app.test_client()
    message, link = reset_link(mail_app, smtp_server, client)
    assert message["subject"] == "Reset your Folio password"
    assert message["to"] == ["alice@example.com"]
    assert link.startswith(PUBLIC_URL + "/auth/reset/")
    assert {"text/plain", "text/html"} <= set(message["content_types"])
    assert "30 minutes" in message["text"]

    page = client.get(local(link))
    assert page.status_code == 200 and "Choose a new password" in page.get_data(as_text=True)
    assert page.headers["Cache-Control"] == "no-store"
    resp = post(client, local(link), {"password": NEW, "confirm": NEW})
    assert resp.status_code == 302 and resp.headers["Location"] == "/"
    assert client.get("/accounts/").status_code == 200  # logged in
    other = mail_app.test_client()
    old = {"email": "alice@example.com", "password": "correct horse battery"}
    assert post(other, "/auth/login", old).status_code == 401
    login(other, password=NEW)
    with mail_app.app_context():  # the mail reached the address's owner: it is confirmed too
        assert db.session.get(User, _id(mail_app)).email_confirmed_at is not None


def _id(app) -> int:
    import sqlalchemy as sa

    return db.session.scalar(sa.select(User.id).where(User.email == "alice@example.com"))


def test_the_same_answer_for_an_unknown_address(mail_app, smtp_server):
    make_user(mail_app)
    client = mail_app.test_client()
    known = ask(client, "alice@example.com")
    unknown = ask(client, "nobody@example.com")
    assert known.status_code == unknown.status_code == 200
    def body(resp, email):  # the CSRF token carries the second it was signed: it may differ
        text = resp.get_data(as_text=True)
        return text.replace(TOKEN_RE.search(text).group(1), "TOKEN").replace(email, "EMAIL")

    diff = "\n".join(difflib.unified_diff(body(known, "alice@example.com").splitlines(),
                                         body(unknown, "nobody@example.com").splitlines(), lineterm=""))
    assert not diff, diff
    # the first POST of a session refreshes its cookie, whichever address it names
    names = lambda r: sorted(set(r.headers.keys()) - {"Set-Cookie"})  # noqa: E731
    assert names(known) == names(unknown)
    assert known.headers["Cache-Control"] == unknown.headers["Cache-Control"] == "no-store"
    assert run_mail_jobs(mail_app) == 1
    assert [m["to"] for m in smtp_server] == [["alice@example.com"]]


def test_a_disabled_account_gets_no_mail(mail_app, smtp_server):
    make_user(mail_app, is_disabled=True)
    assert ask(mail_app.test_client()).status_code == 200
    run_mail_jobs(mail_app)
    assert smtp_server == []


def test_requests_are_rate_limited_per_address(make_app, smtp_server):
    app = make_app(RESET_ACCOUNT_RATE_LIMIT="2 per hour")
    client = app.test_client()
    assert [ask(client).status_code for _ in range(3)] == [200, 200, 429]
    assert "Too many requests for a reset link" in ask(client).get_data(as_text=True)
    assert ask(client, "ALICE@example.com ").status_code == 429  # the same address, however typed
    assert ask(client, "bob@example.com").status_code == 200  # another address is not held up


def test_requests_are_rate_limited_per_client_address(make_app):
    app = make_app(RESET_RATE_LIMIT="3 per hour")
    client = app.test_client()
    assert [ask(client, f"u{n}@example.com").status_code for n in range(4)] == [200, 200, 200, 429]


def test_the_link_works_once(mail_app, smtp_server):
    make_user(mail_app)
    client = mail_app.test_client()
    _, link = reset_link(mail_app, smtp_server, client)
    assert post(client, local(link), {"password": NEW, "confirm": NEW}).status_code == 302
    again = mail_app.test_client()
    other = {"password": "another one!!", "confirm": "another one!!"}
    for resp in (again.get(local(link)), post(again, local(link), other)):
        assert resp.status_code == 400
        text = html.unescape(resp.get_data(as_text=True))
        assert "This link was used already" in text and 'href="/auth/forgot"' in text
    login(mail_app.test_client(), password=NEW)


def test_the_link_dies_when_the_password_changes(mail_app, smtp_server):
    make_user(mail_app)
    client = mail_app.test_client()
    _, link = reset_link(mail_app, smtp_server, client)
    login(client)
    assert post(client, "/settings/password", {"current_password": "correct horse battery", "password": NEW,
                                               "confirm": NEW}).status_code == 302
    assert mail_app.test_client().get(local(link)).status_code == 400


def test_an_expired_link_is_refused(mail_app, smtp_server, monkeypatch):
    from itsdangerous.timed import TimestampSigner

    make_user(mail_app)
    client = mail_app.test_client()
    _, link = reset_link(mail_app, smtp_server, client)
    real = TimestampSigner.get_timestamp
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: real(self) + 29 * 60)
    assert client.get(local(link)).status_code == 200  # 29 minutes on: still good
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: real(self) + 31 * 60)
    resp = post(client, local(link), {"password": NEW, "confirm": NEW})
    assert resp.status_code == 400 and "This link has expired." in resp.get_data(as_text=True)
    login(mail_app.test_client())  # the password did not change


@pytest.mark.parametrize("tamper", [
    lambda t: t[:-6] + ("A" if t[-6] != "A" else "B") + t[-5:],  # the signature (not its last character,
    # whose low bits are base64 padding: changing only those would change nothing)
    lambda t: "x" + t[1:],  # the payload
    lambda t: t + ".extra",
    lambda t: "",
    lambda t: "%00%ff<script>",
    lambda t: "a" * 5000,
])
def test_a_tampered_link_is_400_never_500(mail_app, smtp_server, tamper):
    make_user(mail_app)
    client = mail_app.test_client()
    _, link = reset_link(mail_app, smtp_server, client)
    token = link.rsplit("/", 1)[1]
    resp = client.get(f"/auth/reset/{tamper(token)}")
    assert resp.status_code in (400, 404)  # an empty token is no such page
    if resp.status_code == 400:
        assert "Ask for a new link" in resp.get_data(as_text=True)
        assert post(client, f"/auth/reset/{tamper(token)}", {"password": NEW, "confirm": NEW}).status_code == 400
    login(mail_app.test_client())


def test_a_confirmation_token_is_no_reset_token(mail_app, smtp_server):
    uid = make_user(mail_app)
    with mail_app.app_context():
        from webapp.services import users

        token = users.make_token(db.session.get(User, uid), users.CONFIRM)
    assert mail_app.test_client().get(f"/auth/reset/{token}").status_code == 400


def test_a_reset_ends_every_other_session(mail_app, smtp_server):
    make_user(mail_app)
    elsewhere = mail_app.test_client()
    login(elsewhere, remember="y")
    assert elsewhere.get("/accounts/").status_code == 200
    client = mail_app.test_client()
    _, link = reset_link(mail_app, smtp_server, client)
    assert post(client, local(link), {"password": NEW, "confirm": NEW}).status_code == 302
    assert elsewhere.get("/accounts/").status_code == 302  # to the login page
    assert client.get("/accounts/").status_code == 200


def test_with_two_factor_on_the_reset_sends_to_the_login(mail_app, smtp_server):
    make_user(mail_app, totp_secret="JBSWY3DPEHPK3PXP")
    client = mail_app.test_client()
    _, link = reset_link(mail_app, smtp_server, client)
    resp = post(client, local(link), {"password": NEW, "confirm": NEW})
    assert resp.status_code == 302 and resp.headers["Location"] == "/auth/login"
    assert client.get("/accounts/").status_code == 302


def test_the_new_password_follows_the_registration_rules(mail_app, smtp_server):
    make_user(mail_app)
    client = mail_app.test_client()
    _, link = reset_link(mail_app, smtp_server, client)
    short = post(client, local(link), {"password": "short", "confirm": "short"})
    assert short.status_code == 400 and "Use between 10 and 200 characters." in short.get_data(as_text=True)
    mismatch = post(client, local(link), {"password": NEW, "confirm": NEW + "!"})
    assert mismatch.status_code == 400 and "The two passwords do not match." in mismatch.get_data(as_text=True)
    login(mail_app.test_client())  # unchanged, and the link still works
    assert post(client, local(link), {"password": NEW, "confirm": NEW}).status_code == 302


def test_the_forms_need_the_csrf_token(mail_app, smtp_server):
    make_user(mail_app)
    client = mail_app.test_client()
    csrf_token(client)
    assert client.post("/auth/forgot", data={"email": "alice@example.com"}).status_code == 400
    assert run_mail_jobs(mail_app) == 0
    _, link = reset_link(mail_app, smtp_server, client)
    assert client.post(local(link), data={"password": NEW, "confirm": NEW}).status_code == 400
    assert client.post(local(link), data={"password": NEW, "confirm": NEW, "csrf_token": "forged"}).status_code == 400
    login(mail_app.test_client())  # unchanged
