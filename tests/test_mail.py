"""E-mail: the job `workers.mail.deliver` delivering to a real SMTP server (aiosmtpd) started by
the test, its retries, the address confirmation link, `flask mail send-test`, the local
catch-all mailbox of `make run` and /admin/mail, and the mail settings."""
from __future__ import annotations

import html

import pytest
import sqlalchemy as sa
from conftest import login, make_user, post
from mailhelpers import PUBLIC_URL, mail_app, run_mail_jobs, smtp_server  # noqa: F401  (fixtures)
from rq import Queue
from rq.job import Job

from webapp import devmail, embedded
from webapp.extensions import db
from webapp.models import User


def test_send_enqueues_the_job_by_name_with_keywords_and_retries(app, redis_client):
    with app.app_context():
        from webapp.services import mail

        job = mail.send("bob@example.com", "Hello", "plain", "<p>html</p>")
    q = Queue("default", connection=redis_client)
    [queued] = q.jobs
    assert queued.id == job.id and queued.func_name == "workers.mail.deliver"
    assert queued.args == () and queued.kwargs == {"to": "bob@example.com", "subject": "Hello", "text": "plain",
                                                   "html": "<p>html</p>"}
    assert queued.retries_left == 5 and queued.retry_intervals == [30, 120, 600, 1800, 3600]


def test_the_job_delivers_text_and_html_over_smtp(mail_app, smtp_server):
    with mail_app.app_context():
        from webapp.services import jobs

        jobs.enqueue("default", "workers.mail.deliver", to="bob@example.com", subject="Über\nschrift",
                     text="Grüße: plain", html="<p>Grüße: <b>html</b></p>")
    assert run_mail_jobs(mail_app) == 1
    [m] = smtp_server
    assert m["to"] == ["bob@example.com"] and m["header_to"] == "bob@example.com"
    assert m["from"] == "Folio <folio@example.test>" and m["sender"] == "folio@example.test"
    assert m["subject"] == "Über schrift"  # one line
    assert m["text"].strip() == "Grüße: plain"
    assert m["html"].strip() == "<p>Grüße: <b>html</b></p>"
    assert {"multipart/alternative", "text/plain", "text/html"} <= set(m["content_types"])


def test_text_only_mail(mail_app, smtp_server):
    with mail_app.app_context():
        from workers.mail import deliver

        assert deliver("bob@example.com", "Plain", "only text") == {"sent": True}
    [m] = smtp_server
    assert m["html"] is None and m["text"].strip() == "only text"


def test_a_failed_delivery_is_retried_later(make_app, redis_client):
    app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=embedded.free_port(), MAIL_USE_TLS=False, MAIL_TIMEOUT=2)
    with app.app_context():
        from webapp.services import mail

        job = mail.send("bob@example.com", "Hello", "plain")
    run_mail_jobs(app)
    job = Job.fetch(job.id, connection=redis_client)
    assert job.get_status() == "scheduled"  # RQ retries it after the first interval
    assert job.retries_left == 4


def test_without_a_mail_server_nothing_is_sent_and_the_job_ends(app, redis_client):
    with app.app_context():
        from webapp.services import mail

        job = mail.send("bob@example.com", "Hello", "plain")
    run_mail_jobs(app)
    job = Job.fetch(job.id, connection=redis_client)
    assert job.get_status() == "finished" and job.return_value() == {"sent": False, "reason": "MAIL_SERVER unset"}


# ---- the address confirmation -----------------------------------------------------------------------
def register(client, email="carol@example.com"):
    return post(client, "/auth/register", {"email": email, "display_name": "Carol <b>",
                                            "password": "a long password", "confirm": "a long password"})


def test_registration_mails_a_confirmation_link(mail_app, smtp_server):
    client = mail_app.test_client()
    assert register(client).status_code == 302
    settings = html.unescape(client.get("/settings/").get_data(as_text=True))
    assert "not confirmed" in settings and "Resend the confirmation link" in settings
    run_mail_jobs(mail_app)
    [m] = smtp_server
    assert m["to"] == ["carol@example.com"] and m["subject"] == "Confirm your e-mail address for Folio"
    assert "Carol &lt;b&gt;" in m["html"] and "Carol <b>" in m["text"]  # escaped in HTML only
    assert "7 days" in m["text"]
    link = smtp_server.link(m, "/auth/confirm/")
    path = link.removeprefix(PUBLIC_URL)

    anonymous = mail_app.test_client()  # the link works in any browser; its GET changes nothing
    assert "Confirm my address" in anonymous.get(path).get_data(as_text=True)
    with mail_app.app_context():
        user = db.session.scalar(sa.select(User).where(User.email == "carol@example.com"))
        from webapp.services import users

        assert not users.email_confirmed(user)
    assert anonymous.post(path).status_code == 400  # no CSRF token
    resp = post(anonymous, path)
    assert resp.status_code == 302 and resp.headers["Location"] == "/auth/login"
    with mail_app.app_context():
        user = db.session.scalar(sa.select(User).where(User.email == "carol@example.com"))
        assert users.email_confirmed(user) and user.email_confirmed_at is not None
    assert "is confirmed already" in anonymous.get(path).get_data(as_text=True)
    assert "— confirmed." in html.unescape(client.get("/settings/").get_data(as_text=True))


def test_resend_from_the_settings(mail_app, smtp_server):
    make_user(mail_app)
    client = mail_app.test_client()
    login(client)
    assert client.post("/settings/email/confirm").status_code == 400  # CSRF
    resp = post(client, "/settings/email/confirm")
    assert resp.status_code == 302 and resp.headers["Location"] == "/settings/#email"
    run_mail_jobs(mail_app)
    [m] = smtp_server.to("alice@example.com")
    path = smtp_server.link(m, "/auth/confirm/").removeprefix(PUBLIC_URL)
    assert post(client, path).headers["Location"] == "/settings/"


def test_a_bad_or_expired_confirmation_link_is_400(mail_app, smtp_server, monkeypatch):
    uid = make_user(mail_app)
    with mail_app.app_context():
        from webapp.services import users

        token = users.make_token(db.session.get(User, uid), users.CONFIRM)
        reset = users.make_token(db.session.get(User, uid), users.RESET)
    client = mail_app.test_client()
    for bad in (token[:-2] + "xy", reset, "garbage"):
        resp = client.get(f"/auth/confirm/{bad}")
        assert resp.status_code == 400 and "Send a new link from your settings" in resp.get_data(as_text=True)
    from itsdangerous.timed import TimestampSigner

    real = TimestampSigner.get_timestamp
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: real(self) + 8 * 86400)
    assert "This link has expired." in client.get(f"/auth/confirm/{token}").get_data(as_text=True)


# ---- flask mail send-test ------------------------------------------------------------------------------
def test_send_test_with_sync_sends_now(mail_app, smtp_server):
    result = mail_app.test_cli_runner().invoke(args=["mail", "send-test", "Bob@Example.com", "--sync"])
    assert result.exit_code == 0, result.output
    [m] = smtp_server
    assert m["to"] == ["bob@example.com"] and m["subject"] == "Folio test message"
    assert PUBLIC_URL + "/" in m["text"] and PUBLIC_URL + "/" in m["html"]


def test_send_test_enqueues_by_default(mail_app, smtp_server):
    result = mail_app.test_cli_runner().invoke(args=["mail", "send-test", "bob@example.com"])
    assert result.exit_code == 0 and "enqueued" in result.output
    assert smtp_server == []
    run_mail_jobs(mail_app)
    assert [m["subject"] for m in smtp_server] == ["Folio test message"]


@pytest.mark.parametrize("address", ["not-an-address", "bob@", "", "a@b\n.com"])
def test_send_test_refuses_a_bad_address(mail_app, smtp_server, address):
    result = mail_app.test_cli_runner().invoke(args=["mail", "send-test", address, "--sync"])
    assert result.exit_code == 2 and "is not an e-mail address" in result.output
    assert smtp_server == []


def test_send_test_sync_without_a_server_says_so(app):
    result = app.test_cli_runner().invoke(args=["mail", "send-test", "bob@example.com", "--sync"])
    assert result.exit_code == 2 and "MAIL_SERVER is unset" in result.output


def test_send_test_sync_when_the_server_is_away(make_app):
    app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=embedded.free_port(), MAIL_USE_TLS=False)
    result = app.test_cli_runner().invoke(args=["mail", "send-test", "bob@example.com", "--sync"])
    assert result.exit_code == 2 and "sending failed" in result.output


# ---- the local catch-all mailbox and /admin/mail --------------------------------------------------
@pytest.fixture
def devmail_app(make_app):
    """The catch-all server of `make run` (keeping mail in Redis), and an app that sends to it."""
    port = embedded.free_port()
    app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=port, MAIL_USE_TLS=False, PUBLIC_URL=PUBLIC_URL)
    from webapp.services import cache

    def keep(message):
        with app.app_context():
            cache.catch_mail(message)

    controller = devmail.start(keep, port)
    yield app
    controller.stop()


def test_the_admin_mailbox_shows_what_the_local_server_caught(devmail_app):
    app = devmail_app
    make_user(app, "root@example.com", is_admin=True)
    make_user(app)
    with app.app_context():
        from workers.mail import deliver

        deliver("bob@example.com", "<script>alert(1)</script> hi", "text <b>body</b>", "<p onclick=x>html</p>")
    admin, alice, anonymous = app.test_client(), app.test_client(), app.test_client()
    login(admin, "root@example.com")
    login(alice)
    page = admin.get("/admin/mail")
    body = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "&lt;script&gt;alert(1)&lt;/script&gt; hi" in body and "<script>alert" not in body
    assert "text &lt;b&gt;body&lt;/b&gt;" in body and "bob@example.com" in body
    assert "&lt;p onclick=x&gt;" in body and "<p onclick" not in body
    assert alice.get("/admin/mail").status_code == 403
    resp = anonymous.get("/admin/mail")
    assert resp.status_code == 302 and "/auth/login" in resp.headers["Location"]
    assert "/admin/mail" in admin.get("/admin/").get_data(as_text=True)


def test_the_mailbox_keeps_the_last_50(app):
    from webapp.services import cache

    with app.app_context():
        for n in range(55):
            cache.catch_mail({"subject": f"m{n}", "to": ["x@example.com"], "text": ""})
        kept = cache.caught_mail()
    assert len(kept) == 50 and kept[0]["subject"] == "m54" and kept[-1]["subject"] == "m5"


def test_an_empty_mailbox(app):
    make_user(app, "root@example.com", is_admin=True)
    admin = app.test_client()
    login(admin, "root@example.com")
    assert "No mail received yet" in admin.get("/admin/mail").get_data(as_text=True)


# ---- settings ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name, value, message", [
    ("PUBLIC_URL", "folio.example.com", "PUBLIC_URL must be"),
    ("PUBLIC_URL", "https://x.example/?a=1", "PUBLIC_URL must be"),
    ("PUBLIC_URL", "ftp://x.example", "PUBLIC_URL must be"),
    ("MAIL_PORT", "70000", "MAIL_PORT must be a port number"),
    ("MAIL_PORT", "abc", "MAIL_PORT must be a port number"),
    ("MAIL_FROM", "nobody", "MAIL_FROM must be"),
])
def test_bad_mail_settings_stop_the_start(monkeypatch, name, value, message):
    from webapp import config

    monkeypatch.setenv(name, value)
    with pytest.raises(RuntimeError, match=message):
        config.from_environment()


def test_mail_settings_from_the_environment(monkeypatch):
    from webapp import config

    for k, v in {"MAIL_SERVER": "smtp.example.com", "MAIL_PORT": "2525", "MAIL_USE_TLS": "0",
                 "MAIL_USERNAME": "u", "MAIL_PASSWORD": "p", "MAIL_FROM": "Folio <f@example.com>",
                 "PUBLIC_URL": "https://folio.example.com/"}.items():
        monkeypatch.setenv(k, v)
    env = config.from_environment()
    assert (env["MAIL_SERVER"], env["MAIL_PORT"], env["MAIL_USE_TLS"], env["MAIL_USE_SSL"]) == \
        ("smtp.example.com", 2525, False, False)
    assert env["PUBLIC_URL"] == "https://folio.example.com" and env["MAIL_FROM"] == "Folio <f@example.com>"
    monkeypatch.setenv("MAIL_USE_SSL", "1")
    monkeypatch.delenv("MAIL_USE_TLS")
    monkeypatch.delenv("MAIL_PORT")
    env = config.from_environment()
    assert (env["MAIL_PORT"], env["MAIL_USE_TLS"], env["MAIL_USE_SSL"]) == (465, False, True)
    monkeypatch.setenv("MAIL_USE_TLS", "1")
    with pytest.raises(RuntimeError, match="exclude each other"):
        config.from_environment()


def test_the_user_service_answers_for_the_alerts(app):
    uid = make_user(app)
    with app.app_context():
        from webapp.services import users

        user = db.session.get(User, uid)
        assert users.email_confirmed(user) is False
        assert users.confirm_email(user) is True and users.email_confirmed(user) is True
        assert users.confirm_email(user) is False


# ---- make run ------------------------------------------------------------------------------------------
class Exec(Exception):
    pass


def run_plan(monkeypatch, tmp_path, redis_url, **env):
    """What `make run` would start: its Procfile and its environment (nothing is started)."""
    from webapp import run

    for name in ("MAIL_SERVER", "MAIL_PORT", "MAIL_USE_TLS", "PUBLIC_URL", "DEVMAIL_PORT", "PORT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in {"REDIS_URL": redis_url, "FOLIO_DEMO": "0", **env}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(run, "INSTANCE_DIR", tmp_path)
    monkeypatch.setattr(run, "load_dotenv", lambda: None)
    monkeypatch.setattr(run.subprocess, "run", lambda *a, **k: None)

    def execve(path, args, environ):
        raise Exec(environ)

    monkeypatch.setattr(run.os, "execve", execve)
    with pytest.raises(Exec) as caught:
        run.main()
    return (tmp_path / "Procfile.run").read_text(), caught.value.args[0]


def test_make_run_starts_a_catch_all_server_when_no_mail_server_is_set(monkeypatch, tmp_path, redis_url):
    procfile, env = run_plan(monkeypatch, tmp_path, redis_url, PORT="5123", DEVMAIL_PORT="2599")
    assert "mail: " in procfile and "-m webapp.devmail 2599" in procfile
    assert (env["MAIL_SERVER"], env["MAIL_PORT"], env["MAIL_USE_TLS"]) == ("127.0.0.1", "2599", "0")
    assert env["PUBLIC_URL"] == "http://127.0.0.1:5123"


def test_make_run_uses_the_configured_mail_server(monkeypatch, tmp_path, redis_url):
    procfile, env = run_plan(monkeypatch, tmp_path, redis_url, MAIL_SERVER="smtp.example.com",
                             PUBLIC_URL="https://folio.example.com")
    assert "devmail" not in procfile
    assert env["MAIL_SERVER"] == "smtp.example.com" and env["PUBLIC_URL"] == "https://folio.example.com"
