"""Attacks on every route, enumerated from the app's URL map so that a new route cannot be
forgotten: forged forms (CSRF), malformed htmx headers, missing security headers; the RQ
dashboard's own guard; production cookies and secret; secrets kept out of the logs."""
from __future__ import annotations

import html
import io
import logging
import os
import subprocess
import sys

import pytest
import sqlalchemy as sa
from conftest import ROOT, TOKEN_RE, csrf_token, login, post
from quick_users import PASSWORD, quick_user
from rq import Queue
from rq.job import Job

from webapp import create_app
from webapp.extensions import db
from webapp.models import Account, Activity, Holding, Instrument, RecoveryCode, User

STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}
CSRF_MESSAGE = "The form was missing its security token or it expired."
# what every form of the app could want: were a route's CSRF check missing, this would change something
FORM = {"name": "Forged", "institution": "Forged", "kind": "brokerage", "symbol": "FORGED", "asset_type": "stock",
        "quantity": "7", "type": "buy", "date": "2025-03-03", "price": "1", "cost_method": "fifo", "benchmark": "^DJI", "email": "forged@example.com", "display_name": "Forged", "password": "forged password 1",
        "confirm": "forged password 1", "current_password": PASSWORD, "code": "123456", "remember": "y"}


def text(resp) -> str:
    return html.unescape(resp.get_data(as_text=True))


def rules(app, *, methods=None, rq=False):
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or (rule.endpoint.startswith("rq_dashboard.") != rq):
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            if methods is None or method in methods:
                yield rule, method


def url_of(rule, ids: dict) -> str:
    values = {"account_id": ids["account"], "holding_id": ids["holding"], "activity_id": ids["activity"],
              "instance_number": 0, "token_id": 1, "symbol": "AAPL",
              "rule_id": ids.get("rule", 999999), "notification_id": ids.get("notification", 999999),
              "queue_name": "default", "registry_name": "queued", "per_page": 10, "order": "asc", "page": 1,
              "job_id": ids.get("job", "no-such-job"), "filename": "app.css",
              "token": ids.get("tokens", {}).get(rule.endpoint, "no-such-token")}
    _, path = rule.build({k: v for k, v in values.items() if k in rule.arguments}, append_unknown=False)
    return path


def snapshot(app):
    """Every row a forged request could change."""
    with app.app_context():
        def rows(*cols):
            return db.session.execute(sa.select(*cols).order_by(cols[0])).all()

        return (rows(User.id, User.email, User.password_hash, User.session_token, User.totp_secret,
                     User.display_name, User.is_admin, User.email_confirmed_at),
                rows(Account.id, Account.owner_id, Account.name, Account.institution),
                rows(Holding.id, Holding.account_id, Holding.quantity),
                rows(Activity.id, Activity.account_id, Activity.type, Activity.quantity, Activity.date),
                rows(Instrument.id, Instrument.symbol),
                rows(RecoveryCode.id, RecoveryCode.used_at))


@pytest.fixture
def world(app):
    """Alice logged in with an account and a holding; an admin logged in."""
    quick_user(app, "alice@example.com", display_name="Alice")
    quick_user(app, "root@example.com", is_admin=True)
    alice, admin = app.test_client(), app.test_client()
    login(alice)
    login(admin, "root@example.com")
    account_url = post(alice, "/accounts/", {"name": "Main", "kind": "brokerage"}).headers["Location"]
    assert post(alice, f"{account_url}/holdings", {"symbol": "AAPL", "asset_type": "stock",
                                                   "quantity": "3"}).status_code == 302
    with app.app_context():
        ids = {"account": db.session.scalar(sa.select(Account.id)), "holding": db.session.scalar(sa.select(Holding.id)),
               "activity": db.session.scalar(sa.select(Activity.id))}  # the holding's opening position
        from webapp.services import users

        alice_user = db.session.scalar(sa.select(User).where(User.email == "alice@example.com"))
        # alice's mailed links: the sweeps reach the reset and confirmation pages, not only their 400
        ids["tokens"] = {"auth.reset_password": users.make_token(alice_user, users.RESET),
                         "auth.confirm_email": users.make_token(alice_user, users.CONFIRM)}
    return {"alice": alice, "admin": admin, "ids": ids}


def is_logged_in(client) -> bool:
    return client.get("/accounts/").status_code == 200


# ---- CSRF ---------------------------------------------------------------------------------------------
def test_the_route_enumeration_sees_the_forms(app):
    found = {rule.endpoint for rule, _ in rules(app, methods=STATE_CHANGING)}
    assert {"auth.login", "auth.register", "auth.logout", "auth.login_code", "accounts.index", "accounts.rename",
            "accounts.delete", "accounts.add_holding", "accounts.edit_quantity", "accounts.delete_holding",
            "settings.change_password", "settings.two_factor_setup", "settings.two_factor_disable",
            "settings.recovery_codes", "settings.gains", "activities.index", "activities.edit",
            "activities.delete", "settings.create_api_token", "settings.revoke_api_token", "api.create_account",
            "api.rename_account", "api.delete_account", "api.add_holding", "api.edit_holding", "api.delete_holding",
            "api.add_activity", "api.delete_activity", "auth.forgot_password", "auth.reset_password", "auth.confirm_email",
            "settings.resend_confirmation", "alerts.create", "alerts.set_enabled", "alerts.delete",
            "alerts.rotate_secret", "alerts.set_digest", "notifications.mark_read", "notifications.mark_all_read"} <= found
    rq = {rule.endpoint for rule, _ in rules(app, methods=STATE_CHANGING, rq=True)}
    assert {"rq_dashboard.delete_job_view", "rq_dashboard.requeue_job_view", "rq_dashboard.empty_queue"} <= rq


def test_every_state_changing_route_needs_the_csrf_token(app, world, subtests):
    alice = world["alice"]
    others_token = csrf_token(app.test_client())  # valid, but of another browser: what an attacker has
    before = snapshot(app)
    for rule, method in rules(app, methods=STATE_CHANGING):
        url = url_of(rule, world["ids"])
        for kind, form, headers in [
            ("no token", FORM, {}),
            ("garbage token", {**FORM, "csrf_token": "garbage"}, {}),
            ("another session's token", {**FORM, "csrf_token": others_token}, {}),
            ("htmx with another session's token", FORM, {"X-CSRFToken": others_token, "HX-Request": "true"}),
            ("empty token", {**FORM, "csrf_token": ""}, {}),
        ]:
            for who, client in (("alice", alice), ("anonymous", app.test_client())):
                with subtests.test(method=method, url=url, kind=kind, who=who):
                    resp = client.open(url, method=method, data=form, headers=headers)
                    if rule.endpoint.startswith("api."):  # no CSRF token there: a cookie never authorizes
                        assert resp.status_code == 401
                        assert resp.get_json()["error"]["code"] == "unauthorized"
                        continue
                    assert resp.status_code == 400
                    assert CSRF_MESSAGE in text(resp)
    assert snapshot(app) == before
    assert is_logged_in(alice)


def test_with_the_right_token_the_same_requests_pass_the_check(app, world, subtests):
    """The control of the test above: its 400s come from the token, not from anything else."""
    for n, (rule, method) in enumerate(rules(app, methods=STATE_CHANGING)):
        url = url_of(rule, world["ids"])
        with subtests.test(method=method, url=url):
            quick_user(app, f"control{n}@example.com")  # each its own: these requests do change things
            client = app.test_client()
            login(client, f"control{n}@example.com")
            resp = client.open(url, method=method, data={**FORM, "csrf_token": csrf_token(client)})
            assert resp.status_code < 500
            assert CSRF_MESSAGE not in text(resp)


def test_the_rq_dashboards_actions_are_for_admins_only_and_from_its_own_page(app, world, redis_client, subtests):
    with app.app_context():
        from webapp.services import jobs

        job = jobs.enqueue("default", "workers.prices.refresh_prices")
    ids = {**world["ids"], "job": job.id}
    own_page = {"X-Requested-With": "XMLHttpRequest", "Origin": "http://localhost"}
    for rule, method in rules(app, methods=STATE_CHANGING, rq=True):
        url = url_of(rule, ids)
        for who, client, headers, status in [
            ("anonymous", app.test_client(), own_page, 302),
            ("a user", world["alice"], own_page, 403),
            ("an admin, from a form on another site", world["admin"], {"Origin": "https://evil.example"}, 400),
            ("an admin, by a script of another site", world["admin"],
             {"X-Requested-With": "XMLHttpRequest", "Origin": "https://evil.example"}, 400),
            ("an admin, with another site's referer", world["admin"],
             {"X-Requested-With": "XMLHttpRequest", "Referer": "https://evil.example/admin/rq/"}, 400),
            ("an admin, with no headers", world["admin"], {}, 400),
        ]:
            with subtests.test(url=url, who=who):
                resp = client.open(url, method=method, headers=headers)
                assert resp.status_code == status
                if status == 302:
                    assert resp.headers["Location"].startswith("/auth/login")
    assert Job.exists(job.id, connection=redis_client)
    assert Queue("default", connection=redis_client).count == 1
    # "requeue all" also answered GET: a link on any page could have triggered it
    assert world["admin"].get("/admin/rq/requeue/default").status_code == 405


# ---- htmx headers ---------------------------------------------------------------------------------------
MALFORMED_HTMX = [
    {"HX-Request": "garbage"},
    {"HX-Request": ""},
    {"HX-Request": "1"},
    {"HX-Request": "true" * 600},
    {"HX-Request": "true", "HX-Current-URL": "http://localhost/" + "a" * 1_000_000},
    {"HX-Request": "true", "HX-Current-URL": "http://localhost/" + "a" * 5000},
    {"HX-Request": "true", "HX-Target": "portfolio-summary\x1b[31m"},
    {"HX-Request": "true", "HX-Trigger": "x" * 3000},
    {"HX-Boosted": "yes"},
    {"HX-History-Restore-Request": "maybe"},
]


def test_malformed_htmx_headers_are_400_on_every_route(app, world, subtests):
    alice = world["alice"]
    token = csrf_token(alice)
    before = snapshot(app)
    for rule, method in rules(app):
        url = url_of(rule, world["ids"])
        for headers in MALFORMED_HTMX:
            label = {k: (v[:20] + "…" if len(v) > 20 else v) for k, v in headers.items()}
            with subtests.test(method=method, url=url, headers=label):
                data = {**FORM, "csrf_token": token} if method != "GET" else None
                resp = alice.open(url, method=method, data=data, headers=headers)
                assert resp.status_code == 400
                assert "header is malformed" in text(resp)
                assert "HX-Redirect" not in resp.headers
    assert snapshot(app) == before
    # what htmx really sends is fine
    resp = alice.get("/portfolio/summary", headers={"HX-Request": "true", "HX-Current-URL": "http://localhost/",
                                                    "HX-Target": "portfolio-summary", "HX-Trigger": "portfolio-summary"})
    assert resp.status_code in (200, 204)


# ---- security headers -----------------------------------------------------------------------------------
def csp(resp) -> dict[str, list[str]]:
    return {name: values for name, *values in (part.split() for part in
                                               resp.headers["Content-Security-Policy"].split(";"))}


def test_security_headers_on_every_page(app, world, subtests):
    with app.app_context():
        from webapp.services import jobs

        job = jobs.enqueue("default", "workers.prices.refresh_prices")
    ids = {**world["ids"], "job": job.id}
    pages = [(rule, "admin") for rule, _ in rules(app, methods={"GET"}, rq=True)]
    pages += [(rule, who) for rule, _ in rules(app, methods={"GET"}) for who in ("anonymous", "alice", "admin")]
    clients = {"anonymous": app.test_client(), "alice": world["alice"], "admin": world["admin"]}
    for rule, who in pages:
        url = url_of(rule, ids)
        with subtests.test(url=url, who=who):
            resp = clients[who].get(url)
            assert resp.status_code < 500
            policy = csp(resp)
            assert policy["frame-ancestors"] == ["'none'"]
            assert policy["object-src"] == ["'none'"]
            assert policy["base-uri"] == ["'self'"]
            if not rule.endpoint.startswith("rq_dashboard."):  # its own inline scripts: admins only
                assert policy["script-src"] == ["'self'"]
            assert resp.headers["X-Content-Type-Options"] == "nosniff"
            # a page whose URL carries a mailed token sends no Referer at all, not even to us
            assert resp.headers["Referrer-Policy"] == (
                "no-referrer" if rule.endpoint in ("auth.reset_password", "auth.confirm_email") else "same-origin")
            assert resp.headers["X-Frame-Options"] == "DENY"


def test_error_answers_carry_the_headers_too(app, client):
    for resp in (client.get("/no/such/page"), client.post("/auth/login", data={"csrf_token": "x"}),
                 client.get("/", headers={"HX-Request": "garbage"}),
                 client.post("/auth/login", data={"email": "x" * 300_000})):
        assert resp.status_code in (400, 404, 413)
        assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]
        assert resp.headers["Referrer-Policy"] == "same-origin"


def test_a_body_too_large_for_any_form_is_413_with_a_message(app, client):
    token = csrf_token(client)
    resp = client.post("/auth/register", data={"csrf_token": token, "email": "a@example.com",
                                               "display_name": "x" * 300_000})
    assert resp.status_code == 413
    assert "That was more than a form of Folio ever needs." in text(resp)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 0


def test_the_csv_import_still_takes_a_file_larger_than_a_form(app, world):
    rows = "".join(f"Main,SYM{i},stock,{i + 1}\n" for i in range(30_000))  # about 600 KB
    resp = world["alice"].post("/accounts/import", data={"csv_text": "account,symbol,asset_type,quantity\n" + rows,
                                                         "csrf_token": csrf_token(world["alice"])})
    assert len(rows) > 256 * 1024
    assert resp.status_code != 413
    assert resp.status_code < 500


# ---- concurrent requests ------------------------------------------------------------------------------
def test_an_object_deleted_by_a_concurrent_request_is_404_not_500(app, world, monkeypatch, subtests):
    """The scanner's parallel requests found it: a quantity edit (or rename) whose holding (or account)
    another request deleted meanwhile crashed when it read the object back. The other request is
    simulated here, on its own connection, right after the edit's commit: a real race is a matter
    of timing."""
    from webapp.services import assets

    alice, ids = world["alice"], world["ids"]
    for name, url, form, table in [
        ("set_quantity", f"/accounts/holdings/{ids['holding']}/quantity", {"quantity": "9"}, Holding),
        ("rename_account", f"/accounts/{ids['account']}/rename", {"name": "Renamed"}, Account),
    ]:
        real = getattr(assets, name)

        def racing(obj, value, real=real, table=table):
            real(obj, value)
            with db.engine.begin() as conn:  # the other request
                conn.execute(sa.delete(Holding))
                if table is Account:
                    conn.execute(sa.delete(Account))

        monkeypatch.setattr(assets, name, racing)
        with subtests.test(name):
            resp = post(alice, url, form)
            assert resp.status_code == 404
            assert "There is nothing here, or it is not yours." in text(resp)


# ---- reading never writes ---------------------------------------------------------------------------
def test_get_and_head_change_nothing_on_any_route(app, world, subtests):
    """CSRF tokens are only checked on POST and the like: a view that acted on another method
    (HEAD reaches the GET view, with request.method == "HEAD") would be open to forgery."""
    before = snapshot(app)
    for rule, method in rules(app, methods={"GET"}):
        url = url_of(rule, world["ids"])
        for verb in ("GET", "HEAD"):
            with subtests.test(method=verb, url=url):
                resp = world["alice"].open(url, method=verb, data=FORM if verb == "HEAD" else None)
                assert resp.status_code < 400 or resp.status_code in (401, 403, 404), resp.status_code
                assert snapshot(app) == before
    assert app.test_client().head("/auth/login").status_code == 200


# ---- production configuration ---------------------------------------------------------------------------
def cookie_attributes(resp, name: str) -> set[str]:
    for header in resp.headers.getlist("Set-Cookie"):
        if header.startswith(f"{name}="):
            return {p.strip().lower() for p in header.split(";")[1:]}
    raise AssertionError(f"no {name} cookie in {resp.headers.getlist('Set-Cookie')}")


def https_login(client):
    page = client.get("/auth/login", base_url="https://folio.example").get_data(as_text=True)
    return client.post("/auth/login", base_url="https://folio.example",
                       headers={"Referer": "https://folio.example/auth/login"},
                       data={"email": "alice@example.com", "password": PASSWORD, "remember": "y",
                             "csrf_token": TOKEN_RE.search(page).group(1)})


def test_production_cookies_are_secure_httponly_and_samesite(make_app, monkeypatch):
    monkeypatch.setenv("FOLIO_ENV", "production")
    monkeypatch.delenv("SESSION_COOKIE_SECURE", raising=False)
    app = make_app(SECRET_KEY="a-real-secret-of-the-deployment")
    quick_user(app, "alice@example.com")
    resp = https_login(app.test_client())
    assert resp.status_code == 302
    for name in ("session", "remember_token"):
        assert {"secure", "httponly", "samesite=lax"} <= cookie_attributes(resp, name), name


def test_production_over_plain_http_must_say_so(make_app, monkeypatch):
    monkeypatch.setenv("FOLIO_ENV", "production")
    monkeypatch.setenv("SESSION_COOKIE_SECURE", "0")
    app = make_app(SECRET_KEY="a-real-secret-of-the-deployment")
    assert app.config["SESSION_COOKIE_SECURE"] is False


def app_without_secret(database_url, redis_url):
    return create_app({"SQLALCHEMY_DATABASE_URI": database_url, "REDIS_URL": redis_url, "TESTING": True})


def test_production_refuses_to_start_with_the_development_secret(database_url, redis_url, monkeypatch):
    monkeypatch.setenv("FOLIO_ENV", "production")
    for value in (None, ""):
        if value is None:
            monkeypatch.delenv("SECRET_KEY", raising=False)
        else:
            monkeypatch.setenv("SECRET_KEY", value)
        with pytest.raises(RuntimeError, match="SECRET_KEY must be set in production"):
            app_without_secret(database_url, redis_url)
    monkeypatch.setenv("SECRET_KEY", "a-real-secret-of-the-deployment")
    app = app_without_secret(database_url, redis_url)
    assert app.secret_key == "a-real-secret-of-the-deployment"
    monkeypatch.delenv("FOLIO_ENV")
    monkeypatch.delenv("SECRET_KEY")
    assert app_without_secret(database_url, redis_url).secret_key  # development: the default is fine


def test_the_flask_command_refuses_too(database_url, redis_url):
    env = {k: v for k, v in os.environ.items() if k != "SECRET_KEY"}
    env.update(FOLIO_ENV="production", FLASK_APP="wsgi:app", DATABASE_URL=database_url, REDIS_URL=redis_url)
    result = subprocess.run([sys.executable, "-m", "flask", "users", "list"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "SECRET_KEY must be set in production (FOLIO_ENV=production)" in result.stderr


# ---- secrets in logs ------------------------------------------------------------------------------------
@pytest.fixture
def captured_logs():
    """Everything logged, formatted as production formats it (one JSON line per record)."""
    from webapp.observability import JsonFormatter

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.setLevel(logging.DEBUG)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    yield stream
    root.removeHandler(handler)
    root.setLevel(level)


def test_secrets_are_never_logged(make_app, captured_logs):
    import payloads
    from replay import ReplayServer
    from test_two_factor import enable_two_factor, next_code

    api_key = "PROVIDERKEY4242"
    with ReplayServer() as replay:
        replay.route("/query", body=payloads.alphavantage_global_quote("IBM", "104.0000", "2019-11-29"))
        app = make_app(LOG_LEVEL="DEBUG", PRICE_PROVIDERS="alphavantage", PROVIDER_ALPHAVANTAGE_URL=replay.url,
                       PROVIDER_ALPHAVANTAGE_API_KEY=api_key)
        logging.getLogger().setLevel(logging.DEBUG)
        runner = app.test_cli_runner()
        outputs = []

        client = app.test_client()
        register_pw = "register password 1"
        assert post(client, "/auth/register", {"email": "carol@example.com", "password": register_pw,
                                               "confirm": register_pw}).status_code == 302
        secret, codes = enable_two_factor(client)
        changed_pw = "changed password 2"
        assert post(client, "/settings/password", {"current_password": register_pw, "password": changed_pw,
                                                   "confirm": changed_pw}).status_code == 302
        post(client, "/auth/logout")
        assert post(client, "/auth/login", {"email": "carol@example.com", "password": "wrong guess 3"}
                    ).status_code == 401
        code = next_code(secret)
        post(client, "/auth/login", {"email": "carol@example.com", "password": changed_pw})
        assert post(client, "/auth/login/code", {"code": code}).status_code == 302

        cli_pw, reset_pw = "cli created password 4", "cli reset password 5"
        for args, stdin in [(["users", "create", "dave@example.com", "--password-stdin"], cli_pw + "\n"),
                            (["users", "reset-password", "dave@example.com", "--password-stdin"], reset_pw + "\n"),
                            (["providers", "check", "--symbol", "IBM"], None)]:
            result = runner.invoke(args=args, input=stdin)
            assert result.exit_code == 0, result.output
            outputs.append(result.output)
        assert "ok: IBM 104" in outputs[-1]
        assert replay.requests and replay.requests[0].query["apikey"] == api_key  # the key was used

    with app.app_context():
        token = db.session.scalar(sa.select(User.session_token).where(User.email == "carol@example.com"))
    logged = captured_logs.getvalue()
    assert '"path": "/auth/login/code"' in logged  # the capture works: the requests were logged
    assert "urllib3" in logged or "connectionpool" in logged  # so were the provider's HTTP calls
    secrets = [register_pw, changed_pw, "wrong guess 3", cli_pw, reset_pw, secret, code, token, api_key,
               *codes, *(c.replace("-", "") for c in codes)]
    for s in secrets:
        assert s not in logged, s
        assert all(s not in out for out in outputs), s
