"""Fuzzing of every form field and CLI argument.

Whatever is typed (unicode, huge numbers, NaN, 1e309, -0, SQL and HTML fragments, 1 MB,
nothing, control characters): never a 500 or a traceback, a clear 4xx (or a clear CLI error),
and nothing stored that the forms would not accept — checked in the database after each try.

Each form and command has one `check_…` function; it runs on values drawn by Hypothesis
(`test_<form>`), and on every value of the NASTY list in every field in turn, the others
valid (`test_every_nasty_value_in_every_field`): Hypothesis alone would draw each listed
value too rarely. FOLIO_FUZZ_EXAMPLES=500 digs deeper than the default for `make test`.
"""
from __future__ import annotations

import os
import re
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
import sqlalchemy as sa
from conftest import TOKEN_RE, login
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from quick_users import PASSWORD, quick_user

from webapp.extensions import db
from webapp.models import (
    ACCOUNT_KINDS,
    ASSET_TYPES,
    Account,
    Activity,
    Holding,
    Instrument,
    Quote,
    User,
)
from webapp.web.forms import CONTROL_RE, SYMBOL_RE, valid_email

EXAMPLES = int(os.environ.get("FOLIO_FUZZ_EXAMPLES", "25"))
fuzz = settings(max_examples=EXAMPLES, deadline=None, database=None, print_blob=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large, HealthCheck.large_base_example])

MEGABYTE = "x" * 1_000_000
NASTY = [
    "", " ", "\t", "\n", "\r\n", "NaN", "nan", "-NaN", "sNaN", "Infinity", "-inf", "1e309", "-1e309", "1e-400",
    "-0", "-0.0", "+0", "0", "0e5", "1e15", "999999999999999.9999999999", "1e14", "0.00000000001", "0.0000000001",
    "9" * 400, "1e99999999999", "-1", "1_000", "1,000.5", "1.2.3", "0x10", "1/2", "١٠", "１２", "½",
    "' OR '1'='1", "'; DROP TABLE users; --", "\" OR 1=1 --", "1; SELECT pg_sleep(5)",
    "<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "\"><svg onload=alert(1)>", "{{7*7}}", "${7*7}",
    "%s%s%n", "../../etc/passwd", "\x00", "a\x00b", "\x1b[31m", "\x7f", "\x85", "\u202eevil", "\u2066x\u2069",
    "\ufeff", "\u200b", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "😀" * 50, "ß", "ſpy", "İ", "AAPL\n", "aapl", "BRK-B", "^GSPC", "A" * 21,
    "alice@example.com", "ALICE@EXAMPLE.COM ", "a@b", "a@b.cd\n", "<b>@example.com", "x@example.com\x00",
    "ÄÖÜ", "€€€", "usd ", "0001-01-01T00:00-23:59", "9999-12-31T23:59:59+00:00", "1969-12-31", "2024-02-30",
    MEGABYTE, "é" * 300_000,
]


def nasty() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(NASTY),
        st.sampled_from(NASTY),
        st.text(max_size=120),
        st.text(alphabet=st.characters(codec="utf-8", categories=["Cc", "Cf", "Zs", "Nd", "No", "Lu", "Ll", "So"]),
                max_size=40),
        st.decimals(allow_nan=True, allow_infinity=True).map(str),
        st.integers(min_value=-10**40, max_value=10**40).map(str),
        st.floats().map(repr),
        st.tuples(st.sampled_from(NASTY[:60]), st.text(max_size=20)).map("".join),
    )


def field(*fixed: str) -> st.SearchStrategy[str]:
    """The nasty strings, and sometimes a value the form accepts (so that both paths run)."""
    return st.one_of(st.sampled_from(fixed), nasty()) if fixed else nasty()


# ---- helpers ------------------------------------------------------------------------------------
def token_of(client) -> str:
    return TOKEN_RE.search(client.get("/auth/login", follow_redirects=True).get_data(as_text=True)).group(1)


def send(client, url, form: dict, token: str):
    resp = client.post(url, data={**form, "csrf_token": token})
    assert resp.status_code < 500, resp.get_data(as_text=True)[:1000]
    if 400 <= resp.status_code < 500:
        body = resp.get_data(as_text=True)
        # a clear answer: the form again with its message, or the error page's message
        assert 'role="alert"' in body, body[:2000]
        assert len(body) < 4_000_000
    return resp


def clean_text(value: str, limit: int) -> bool:
    return len(value) <= limit and not CONTROL_RE.search(value)


def users(app):
    with app.app_context():
        return db.session.execute(sa.select(User.email, User.display_name, User.password_hash)).all()


def assert_users_clean(app):
    for email, display_name, password_hash in users(app):
        assert valid_email(email) and email == email.strip().lower(), email
        assert clean_text(display_name, 80) and display_name == display_name.strip(), display_name
        assert password_hash.startswith("scrypt:")


def assert_accounts_clean(app):
    with app.app_context():
        for name, institution, kind in db.session.execute(sa.select(Account.name, Account.institution, Account.kind)):
            assert name and clean_text(name, 80) and name == " ".join(name.split()), name
            assert clean_text(institution, 120) and institution == institution.strip(), institution
            assert kind in ACCOUNT_KINDS


def assert_holdings_clean(app):
    with app.app_context():
        for quantity, symbol, asset_type in db.session.execute(
                sa.select(Holding.quantity, Instrument.symbol, Instrument.asset_type).join(Instrument)):
            assert quantity.is_finite() and Decimal(0) < quantity < Decimal("1e15"), quantity
            assert SYMBOL_RE.match(symbol), symbol
            assert asset_type in ASSET_TYPES
        for (symbol,) in db.session.execute(sa.select(Instrument.symbol)):
            assert SYMBOL_RE.match(symbol), symbol
        for (cost,) in db.session.execute(sa.select(Holding.cost_basis)):
            assert cost is None or (cost.is_finite() and Decimal(0) <= cost < Decimal("1e15")), cost


@pytest.fixture(autouse=True)
def cheap_password_hashes(monkeypatch):
    """scrypt at N=2^10 instead of 2^15: registering and `users create` succeed hundreds of times here
    (the hashing itself is tested in test_auth.py)."""
    from werkzeug.security import generate_password_hash

    import webapp.models

    monkeypatch.setattr(webapp.models, "generate_password_hash",
                        lambda password: generate_password_hash(password, method="scrypt:1024:8:1"))


@pytest.fixture
def alice(app):
    quick_user(app, "alice@example.com")
    client = app.test_client()
    login(client)
    client.token = token_of(client)
    resp = send(client, "/accounts/", {"name": "Main", "kind": "brokerage"}, client.token)
    client.account_url = resp.headers["Location"]
    send(client, f"{client.account_url}/holdings", {"symbol": "AAPL", "asset_type": "stock", "quantity": "5"},
         client.token)
    with app.app_context():
        client.holding_id = db.session.scalar(sa.select(Holding.id))
        client.activity_id = db.session.scalar(sa.select(Activity.id))  # the holding's opening position
    return client


# ---- the web forms: one check per form ------------------------------------------------------------
def check_register(app, _, email="new@example.com", display_name="New", password="long enough pw",
                   confirm="long enough pw"):
    client = app.test_client()
    before = len(users(app))
    resp = send(client, "/auth/register", {"email": email, "display_name": display_name, "password": password,
                                          "confirm": confirm}, token_of(client))
    assert resp.status_code in (302, 400, 409, 413)
    assert_users_clean(app)
    if resp.status_code == 302:
        with app.app_context():
            user = db.session.scalar(sa.select(User).where(User.email == email.strip().lower()))
            assert user is not None and user.display_name == display_name.strip()
            assert user.check_password(password)
            db.session.delete(user)  # so that the next try may register the same address
            db.session.commit()
    else:
        assert len(users(app)) == before


def check_login(app, _, email="alice@example.com", password=PASSWORD, next="/accounts/", remember="y"):
    client = app.test_client()
    resp = send(client, "/auth/login", {"email": email, "password": password, "next": next, "remember": remember},
                token_of(client))
    assert resp.status_code in (302, 400, 401, 413)
    if resp.status_code == 302:  # only the right password, and only to a page of ours
        assert email.strip().lower() == "alice@example.com" and password == PASSWORD
        location = resp.headers["Location"]
        assert location.startswith("/") and not location.startswith("//") and "\\" not in location
    assert (client.get("/accounts/").status_code == 200) == (resp.status_code == 302)


def check_account_create(app, alice, name="Brokerage", institution="Fidelity", kind="brokerage"):
    resp = send(alice, "/accounts/", {"name": name, "institution": institution, "kind": kind}, alice.token)
    assert resp.status_code in (302, 400, 409, 413)
    assert_accounts_clean(app)
    if resp.status_code == 302:
        with app.app_context():
            account = db.session.get(Account, int(resp.headers["Location"].rsplit("/", 1)[1]))
            assert (account.name, account.institution, account.kind) == (" ".join(name.split()),
                                                                         institution.strip(), kind)
            db.session.delete(account)
            db.session.commit()


def check_account_rename(app, alice, name="Renamed"):
    resp = send(alice, f"{alice.account_url}/rename", {"name": name}, alice.token)
    assert resp.status_code in (302, 400, 409, 413)
    assert_accounts_clean(app)
    if resp.status_code == 302:
        with app.app_context():
            assert db.session.scalar(sa.select(Account.name)) == " ".join(name.split())


def typed_number(text: str) -> Decimal:
    """The number a person reads in what they typed: ASCII digits, "," and "_" as separators."""
    assert text.strip().isascii(), f"{text!r} was read as a number"  # Decimal("١٠") is 10, unseen
    return Decimal(text.strip().replace(",", "").replace("_", ""))


def check_holding_add(app, alice, symbol="MSFT", asset_type="stock", quantity="1", merge="", cost="",
                      cost_kind="total"):
    resp = send(alice, f"{alice.account_url}/holdings", {"symbol": symbol, "asset_type": asset_type,
                                                         "quantity": quantity, "merge": merge, "cost": cost,
                                                         "cost_kind": cost_kind}, alice.token)
    assert resp.status_code in (302, 400, 409, 413)
    assert_holdings_clean(app)
    if resp.status_code == 302:
        typed_number(quantity)
        with app.app_context():
            held = db.session.scalars(sa.select(Holding).join(Instrument)).all()
            [new] = [h for h in held if h.instrument.symbol.lower() == symbol.strip().lower()]  # what was typed
            if new.instrument.symbol != "AAPL":
                db.session.delete(new)
                db.session.commit()


def check_cost_edit(app, alice, cost="12.5", cost_kind="per_unit"):
    with app.app_context():
        before = db.session.scalar(sa.select(Holding.cost_basis))
    resp = send(alice, f"/accounts/holdings/{alice.holding_id}/cost", {"cost": cost, "cost_kind": cost_kind},
                alice.token)
    assert resp.status_code in (302, 400, 413)
    assert_holdings_clean(app)
    with app.app_context():
        after = db.session.scalar(sa.select(Holding.cost_basis))
    if resp.status_code != 302:
        assert after == before  # refused: nothing changed
    elif cost.strip():
        typed_number(cost)


def check_base_currency(app, alice, currency="EUR"):
    resp = send(alice, "/settings/currency", {"currency": currency}, alice.token)
    assert resp.status_code in (302, 400, 413)
    with app.app_context():
        stored = db.session.scalar(sa.select(User.base_currency).where(User.email == "alice@example.com"))
    assert re.fullmatch(r"[A-Z]{3}", stored), stored
    if resp.status_code == 302:
        assert stored == currency.strip().upper()


def check_split_form(app, alice, ratio="4:1", effective_date="2026-01-02"):
    with app.app_context():
        before = db.session.scalar(sa.select(Holding.quantity).where(Holding.id == alice.holding_id))
    resp = send(alice, f"/accounts/holdings/{alice.holding_id}/split",
                {"ratio": ratio, "effective_date": effective_date}, alice.token)
    assert resp.status_code in (302, 400, 409, 413)
    assert_holdings_clean(app)
    if resp.status_code != 302:
        with app.app_context():
            assert db.session.scalar(sa.select(Holding.quantity).where(Holding.id == alice.holding_id)) == before


def check_cli_split(app, alice, symbol="AAPL", ratio="1:1", date="2026-01-02"):
    with app.app_context():
        before = db.session.execute(sa.select(Holding.id, Holding.quantity).order_by(Holding.id)).all()
    result = invoke(app, ["holdings", "split", symbol, ratio, "--date", date])
    assert result.exit_code in (0, 1, 2), result.output
    assert "Traceback" not in result.output
    assert_holdings_clean(app)
    if result.exit_code != 0:
        with app.app_context():
            assert db.session.execute(sa.select(Holding.id, Holding.quantity).order_by(Holding.id)).all() == before


def check_quantity_edit(app, alice, quantity="3"):
    with app.app_context():
        before = db.session.scalar(sa.select(Holding.quantity))
    resp = send(alice, f"/accounts/holdings/{alice.holding_id}/quantity", {"quantity": quantity}, alice.token)
    assert resp.status_code in (302, 400, 413)
    assert_holdings_clean(app)
    with app.app_context():
        after = db.session.scalar(sa.select(Holding.quantity))
    assert after == (typed_number(quantity) if resp.status_code == 302 else before)


def check_change_password(app, alice, current_password=PASSWORD, password="a new password 1",
                          confirm="a new password 1"):
    with app.app_context():
        before = db.session.scalar(sa.select(User.password_hash))
    resp = send(alice, "/settings/password", {"current_password": current_password, "password": password,
                                              "confirm": confirm}, alice.token)
    assert resp.status_code in (302, 400, 401, 413)
    with app.app_context():
        user = db.session.scalar(sa.select(User))
        if resp.status_code == 302:
            assert user.check_password(password)
            user.password_hash = before  # back to PASSWORD for the next try
            db.session.commit()
        else:
            assert user.password_hash == before
    assert alice.get("/settings/").status_code == 200  # still logged in, whatever happened


def check_forgot_password(app, _, email="alice@example.com"):
    client = app.test_client()
    resp = send(client, "/auth/forgot", {"email": email}, token_of(client))
    assert resp.status_code in (200, 400, 413)
    assert_users_clean(app)


def check_reset_password(app, alice, password="a new password 1", confirm="a new password 1"):
    from webapp.services import users as user_service

    with app.app_context():
        user = db.session.scalar(sa.select(User))
        before, token = user.password_hash, user_service.make_token(user, user_service.RESET)
    client = app.test_client()
    resp = send(client, f"/auth/reset/{token}", {"password": password, "confirm": confirm}, token_of(client))
    assert resp.status_code in (302, 400, 413)
    with app.app_context():
        user = db.session.scalar(sa.select(User))
        if resp.status_code == 302:
            assert user.check_password(password) and password == confirm and 10 <= len(password) <= 200
            user.password_hash = before  # back to PASSWORD for the next try
            db.session.commit()
        else:
            assert user.password_hash == before


def check_two_factor_setup(app, alice, code="123456"):
    resp = send(alice, "/settings/two-factor", {"code": code}, alice.token)
    assert resp.status_code in (400, 413)  # no fuzzed code is the app's code of this 30 s
    with app.app_context():
        assert db.session.scalar(sa.select(User.totp_secret)) is None


def check_login_code(app, pending, code="000000"):
    client, _ = pending
    resp = send(client, "/auth/login/code", {"code": code}, client.token)
    assert resp.status_code in (400, 401, 413)
    assert client.get("/accounts/").status_code == 302  # not logged in


def check_two_factor_disable(app, pending, password=PASSWORD, code="aaaa-bbbb-cccc-dddd"):
    _, setup = pending
    resp = send(setup, "/settings/two-factor/disable", {"password": password, "code": code}, setup.token)
    assert resp.status_code in (400, 401, 413)
    with app.app_context():
        assert db.session.scalar(sa.select(User.totp_secret).where(User.email == "tfa@example.com")) is not None


@pytest.fixture
def pending(app):
    """A browser that passed the password step of a user with two-factor login on, and that
    user's own logged-in browser."""
    from test_two_factor import enable_two_factor

    quick_user(app, "tfa@example.com")
    setup = app.test_client()
    login(setup, "tfa@example.com")
    enable_two_factor(setup)
    client = app.test_client()
    assert send(client, "/auth/login", {"email": "tfa@example.com", "password": PASSWORD},
                token_of(client)).headers["Location"] == "/auth/login/code"
    client.token = TOKEN_RE.search(client.get("/auth/login/code").get_data(as_text=True)).group(1)
    setup.token = token_of(setup)
    return client, setup


# ---- the activities ledger -------------------------------------------------------------------------------
def assert_activities_clean(app):
    from webapp.domain.ledger import ISO_4217, TYPES

    today = datetime.now(timezone.utc).date()
    with app.app_context():
        for a in db.session.scalars(sa.select(Activity)):
            assert a.type in TYPES, a.type
            assert date(1900, 1, 1) <= a.date <= today, a.date
            for v in (a.quantity, a.price, a.fee, a.amount):
                assert v is None or (v.is_finite() and abs(v) < Decimal("1e15")), v
            assert a.fee >= 0 and (a.quantity is None or a.quantity > 0), (a.fee, a.quantity)
            assert a.currency is None or a.currency in ISO_4217, a.currency
            assert clean_text(a.note, 500) and a.note == a.note.strip(), a.note
            assert (a.ratio_numerator is None) == (a.type != "split")
    assert_holdings_clean(app)


def activity_ids(app) -> set[int]:
    with app.app_context():
        return set(db.session.scalars(sa.select(Activity.id)))


def today() -> str:
    return datetime.now(timezone.utc).date().isoformat()


def check_activity_add(app, alice, date=None, type="buy", symbol="MSFT", asset_type="stock", quantity="2",
                       price="10.5", fee="", amount="", currency="", ratio="", note=""):
    from webapp.services import ledger

    form = {"date": today() if date is None else date, "type": type, "symbol": symbol, "asset_type": asset_type,
            "quantity": quantity, "price": price, "fee": fee, "amount": amount, "currency": currency,
            "ratio": ratio, "note": note}
    before = activity_ids(app)
    resp = send(alice, f"{alice.account_url}/activities", form, alice.token)
    assert resp.status_code in (302, 400, 413)
    assert_activities_clean(app)
    new = activity_ids(app) - before
    if resp.status_code != 302:
        assert not new  # refused: nothing stored
        return
    with app.app_context():
        [row] = [db.session.get(Activity, i) for i in new]
        for name in ("quantity", "price", "fee", "amount"):
            if getattr(row, name) and form[name].strip():
                assert getattr(row, name) == typed_number(form[name]), name
        if symbol.strip():
            assert row.instrument.symbol == symbol.strip().upper()
        ledger.delete(db.session.scalar(sa.select(User).where(User.email == "alice@example.com")), row)  # as before


def check_dividend_add(app, alice, amount="5", fee="", quantity="", currency=""):
    check_activity_add(app, alice, type="dividend", symbol="AAPL", quantity=quantity, price="", amount=amount,
                       fee=fee, currency=currency)


def check_split_add(app, alice, ratio="2:1", date=None, symbol="AAPL"):
    check_activity_add(app, alice, type="split", symbol=symbol, quantity="", price="", ratio=ratio, date=date)


def check_activity_edit(app, alice, account=None, date=None, type="opening", symbol="AAPL", quantity="5",
                        price="", fee="", amount="", currency="", ratio="", note=""):
    from webapp.services import ledger

    columns = ("account_id", "instrument_id", "type", "date", "quantity", "price", "fee", "amount", "currency",
               "note", "ratio_numerator", "ratio_denominator")
    with app.app_context():
        row = db.session.get(Activity, alice.activity_id)
        before = {c: getattr(row, c) for c in columns}
    form = {"account": str(before["account_id"]) if account is None else account,
            "date": today() if date is None else date, "type": type, "symbol": symbol, "asset_type": "stock",
            "quantity": quantity, "price": price, "fee": fee, "amount": amount, "currency": currency, "ratio": ratio,
            "note": note}
    resp = send(alice, f"/activities/{alice.activity_id}/edit", form, alice.token)
    assert resp.status_code in (302, 400, 413)
    assert_activities_clean(app)
    with app.app_context():
        row = db.session.get(Activity, alice.activity_id)
        if resp.status_code != 302:
            assert {c: getattr(row, c) for c in columns} == before  # refused: nothing changed
            return
        if quantity.strip() and row.quantity is not None:
            assert row.quantity == typed_number(quantity)
        moved = (row.account_id, row.instrument_id)
        for c, v in before.items():  # back to the opening position it was
            setattr(row, c, v)
        ledger.sync_holdings(db.session.scalar(sa.select(User).where(User.email == "alice@example.com")),
                             also=[moved])
        db.session.commit()


def check_activity_filters(app, alice, type="buy", symbol="AAPL", since="2024-01-01", until="", page="1"):
    resp = alice.get(f"{alice.account_url}/activities", query_string={"type": type, "symbol": symbol,
                                                                        "from": since, "to": until, "page": page})
    assert resp.status_code == 200, resp.status_code
    assert 'id="activity-table"' in resp.get_data(as_text=True)


def check_gains(app, alice, cost_method="fifo", benchmark="^GSPC"):
    resp = send(alice, "/settings/gains", {"cost_method": cost_method, "benchmark": benchmark}, alice.token)
    assert resp.status_code in (302, 400, 413)
    with app.app_context():
        stored = db.session.execute(sa.select(User.cost_method, User.benchmark)
                                    .where(User.email == "alice@example.com")).one()
    assert stored.cost_method in ("average", "fifo") and SYMBOL_RE.match(stored.benchmark), stored
    if resp.status_code == 302:
        assert tuple(stored) == (cost_method, benchmark.strip().upper())
    assert_holdings_clean(app)


def check_alert_create(app, alice, kind="price_above", symbol="AAPL", threshold="150", hours="6",
                       cooldown_minutes="60", webhook_url="", in_app="y", email="", webhook=""):
    from webapp.domain.alerts import PERCENT_KINDS
    from webapp.models import ALERT_KINDS, AlertRule

    form = {"kind": kind, "symbol": symbol, "threshold": threshold, "hours": hours, "cooldown_minutes": cooldown_minutes,
            "webhook_url": webhook_url, "in_app": in_app, "email": email, "webhook": webhook}
    resp = send(alice, "/alerts/", form, alice.token)
    assert resp.status_code in (302, 400, 413)
    with app.app_context():
        for r in db.session.scalars(sa.select(AlertRule)):
            assert r.kind in ALERT_KINDS and 0 <= r.cooldown_minutes and (r.in_app or r.email or r.webhook)
            assert r.threshold is None or (r.threshold.is_finite() and r.threshold >= 0)
            assert r.kind not in PERCENT_KINDS or r.threshold > 0
            assert not r.webhook or (r.webhook_url or "").startswith("https://")
            assert r.webhook_url is None or not CONTROL_RE.search(r.webhook_url)


# ---- the command line: one check per command ---------------------------------------------------------
def invoke(app, args, stdin=None):
    result = app.test_cli_runner().invoke(args=args, input=stdin)
    # a clear failure is click's usage error or our one-line "Error: …", exit code 2; never a traceback
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    assert result.exit_code in (0, 2), result.output
    if result.exit_code == 2:
        assert "Error" in result.output, result.output
    return result


def assert_quotes_clean(app):
    with app.app_context():
        for price, currency, as_of in db.session.execute(sa.select(Quote.price, Quote.currency, Quote.as_of)):
            assert price.is_finite() and price > 0, price
            assert re.fullmatch(r"[A-Z]{3}", currency), currency
            assert datetime(1970, 1, 1, tzinfo=timezone.utc) <= as_of <= datetime.now(timezone.utc) + timedelta(days=1)


def check_prices_set(app, alice, symbol="AAPL", price="123.45", currency=None, as_of=None):
    with app.app_context():
        db.session.execute(sa.delete(Quote))  # every try may store its price
        db.session.commit()
    args = ["prices", "set", symbol, price]
    args += ["--currency", currency] if currency is not None else []
    args += ["--as-of", as_of] if as_of is not None else []
    result = invoke(app, args)
    assert_quotes_clean(app)
    with app.app_context():
        stored = db.session.scalar(sa.select(Quote.price))
    assert stored == (typed_number(price) if result.exit_code == 0 else None)


def check_prices_show(app, alice, symbol="AAPL", history="3"):
    invoke(app, ["prices", "show", symbol, "--history", history])


def check_users_create(app, _, email="carol@example.com", password="carol's password"):
    before = len(users(app))
    result = invoke(app, ["users", "create", email, "--password-stdin"], stdin=password + "\n")
    assert_users_clean(app)
    if result.exit_code == 0:
        with app.app_context():
            user = db.session.scalar(sa.select(User).where(User.email == email.strip().lower()))
            assert user.check_password((password + "\n").split("\n")[0].rstrip("\r\n"))  # its first line
            db.session.delete(user)
            db.session.commit()
    else:
        assert len(users(app)) == before


USER_COMMANDS = [["users", "set-admin"], ["users", "set-admin", "--revoke"], ["users", "disable"],
                 ["users", "disable", "--enable"], ["users", "reset-password", "--password-stdin"], ["users", "reset-two-factor"],
                 ["portfolio", "recompute", "--user"]]


def check_user_commands(app, alice, email="alice@example.com", password="a reset password", command=None):
    for cmd in [command] if command else USER_COMMANDS:
        with app.app_context():
            before = db.session.execute(sa.select(User.is_admin, User.is_disabled, User.password_hash)).one()
        result = invoke(app, cmd[:2] + [email] + cmd[2:] if cmd[0] == "users" else cmd + [email],
                        stdin=password + "\n")
        if email.strip().lower() != "alice@example.com":
            assert result.exit_code == 2  # no such user: said so, and nothing changed
            with app.app_context():
                assert db.session.execute(sa.select(User.is_admin, User.is_disabled, User.password_hash)
                                          ).one() == before
        assert_users_clean(app)


# ---- Hypothesis ---------------------------------------------------------------------------------
@fuzz
@given(email=field("new@example.com"), display_name=field("New", ""), password=field("long enough pw"),
       confirm=field("long enough pw"))
def test_register(app, email, display_name, password, confirm):
    check_register(app, None, email, display_name, password, confirm)


@fuzz
@given(email=field("alice@example.com"), password=field(PASSWORD), next_=field("/accounts/", "//evil.example"),
       remember=field("y"))
def test_login(app, alice, email, password, next_, remember):
    check_login(app, alice, email, password, next_, remember)


@fuzz
@given(name=field("Brokerage"), institution=field("Fidelity", ""), kind=field(*ACCOUNT_KINDS))
def test_account_create(app, alice, name, institution, kind):
    check_account_create(app, alice, name, institution, kind)


@fuzz
@given(name=field("Renamed"))
def test_account_rename(app, alice, name):
    check_account_rename(app, alice, name)


@fuzz
@given(symbol=field("MSFT", "vod.l", "BRK-B"), asset_type=field(*ASSET_TYPES), quantity=field("1", "0.5", "12.25"),
       merge=field("", "1"))
def test_holding_add(app, alice, symbol, asset_type, quantity, merge):
    check_holding_add(app, alice, symbol, asset_type, quantity, merge)


@fuzz
@given(quantity=field("3", "0.0000000001", "999999999999999"))
def test_holding_quantity_edit(app, alice, quantity):
    check_quantity_edit(app, alice, quantity)


@fuzz
@given(current=field(PASSWORD), password=field("a new password 1"), confirm=field("a new password 1"))
def test_change_password(app, alice, current, password, confirm):
    check_change_password(app, alice, current, password, confirm)


@fuzz
@given(email=field("alice@example.com", "nobody@example.com"))
def test_forgot_password(app, alice, email):
    check_forgot_password(app, alice, email)


@fuzz
@given(password=field("a new password 1"), confirm=field("a new password 1"))
def test_reset_password(app, alice, password, confirm):
    check_reset_password(app, alice, password, confirm)


@fuzz
@given(code=field("123456"))
def test_two_factor_setup_code(app, alice, code):
    check_two_factor_setup(app, alice, code)


@fuzz
@given(code=field("000000", "aaaa-bbbb-cccc-dddd"))
def test_login_code(app, pending, code):
    check_login_code(app, pending, code)


@fuzz
@given(password=field(PASSWORD), code=field("000000", "aaaa-bbbb-cccc-dddd"))
def test_two_factor_disable(app, pending, password, code):
    check_two_factor_disable(app, pending, password, code)


@fuzz
@given(symbol=field("AAPL", "aapl"), price=field("123.45", "0.0000000001"), currency=st.none() | field("USD", "eur"),
       as_of=st.none() | field("2024-01-31", "2024-01-31T10:00:00+05:30"))
def test_cli_prices_set(app, alice, symbol, price, currency, as_of):
    check_prices_set(app, alice, symbol, price, currency, as_of)


@fuzz
@given(symbol=field("AAPL"), history=field("3", "1"))
def test_cli_prices_show(app, alice, symbol, history):
    check_prices_show(app, alice, symbol, history)


@fuzz
@given(email=field("carol@example.com"), password=field("carol's password"))
def test_cli_users_create(app, email, password):
    check_users_create(app, None, email, password)


@fuzz
@given(command=st.sampled_from(USER_COMMANDS), email=field("alice@example.com"), password=field("a reset password"))
def test_cli_user_commands(app, alice, command, email, password):
    check_user_commands(app, alice, email, password, command)


@fuzz
@given(type=field("buy", "sell", "dividend", "split", "opening"), symbol=field("MSFT", "aapl", ""),
       quantity=field("2", "0.5"), price=field("10.5", ""), fee=field("", "1"), amount=field("", "5"),
       currency=field("", "USD", "eur"), ratio=field("", "2:1"), date=field("2025-03-03", ""))
def test_activity_add(app, alice, type, symbol, quantity, price, fee, amount, currency, ratio, date):
    check_activity_add(app, alice, date, type, symbol, "stock", quantity, price, fee, amount, currency, ratio)


@fuzz
@given(type=field("opening", "buy", "sell"), symbol=field("AAPL", "MSFT"), quantity=field("5", "3"),
       price=field("", "10"), amount=field("", "100"), account=field(""), date=field("2025-03-03"))
def test_activity_edit(app, alice, type, symbol, quantity, price, amount, account, date):
    check_activity_edit(app, alice, account or None, date, type, symbol, quantity, price, "", amount)


@fuzz
@given(type=field("buy", "split"), symbol=field("AAPL", "aapl"), since=field("2024-01-01", ""),
       until=field("", "2030-01-01"), page=field("1", "2"))
def test_activity_filters(app, alice, type, symbol, since, until, page):
    check_activity_filters(app, alice, type, symbol, since, until, page)


@fuzz
@given(cost_method=field("average", "fifo"), benchmark=field("^GSPC", "spy", "^ixic"))
def test_gains_settings(app, alice, cost_method, benchmark):
    check_gains(app, alice, cost_method, benchmark)


@fuzz
@given(kind=field("price_above", "day_change_beyond", "portfolio_below", "price_stale"), symbol=field("AAPL", "aapl"),
       threshold=field("150", "2.5"), hours=field("6"), cooldown_minutes=field("60", "0"),
       webhook_url=field("", "https://hooks.example.com/x"), webhook=field("", "y"))
def test_alert_create(app, alice, kind, symbol, threshold, hours, cooldown_minutes, webhook_url, webhook):
    check_alert_create(app, alice, kind, symbol, threshold, hours, cooldown_minutes, webhook_url, webhook=webhook)


# ---- every listed value in every field -------------------------------------------------------------
# Passwords are only hashed and compared, and choices only compared with their list: a few of the
# nasty values are enough there; text that is stored or parsed gets all of them.
FEW = ["", " ", "\x00", "a\x00b", "\u202eevil", "' OR '1'='1", "<script>alert(1)</script>", "😀" * 50, "x" * 201,
       "NaN", "1e309", "-0", MEGABYTE]
SWEEP = {
    check_register: {"email": NASTY, "display_name": NASTY, "password": FEW, "confirm": FEW},
    check_login: {"email": NASTY, "password": FEW, "next": NASTY, "remember": FEW},
    check_account_create: {"name": NASTY, "institution": NASTY, "kind": FEW},
    check_account_rename: {"name": NASTY},
    check_holding_add: {"symbol": NASTY, "asset_type": FEW, "quantity": NASTY, "merge": FEW, "cost": NASTY,
                        "cost_kind": FEW},
    check_cost_edit: {"cost": NASTY, "cost_kind": FEW},
    check_base_currency: {"currency": NASTY},
    check_split_form: {"ratio": NASTY, "effective_date": NASTY},
    check_cli_split: {"symbol": NASTY, "ratio": NASTY, "date": NASTY},
    check_quantity_edit: {"quantity": NASTY},
    check_change_password: {"current_password": FEW, "password": FEW, "confirm": FEW},
    check_forgot_password: {"email": NASTY},
    check_reset_password: {"password": NASTY, "confirm": FEW},
    check_two_factor_setup: {"code": NASTY},
    check_login_code: {"code": NASTY},
    check_two_factor_disable: {"password": FEW, "code": NASTY},
    check_prices_set: {"symbol": NASTY, "price": NASTY, "currency": NASTY, "as_of": NASTY},
    check_prices_show: {"symbol": NASTY, "history": NASTY},
    check_users_create: {"email": NASTY, "password": FEW},
    check_user_commands: {"email": NASTY},
    check_activity_add: {"date": NASTY, "type": FEW, "symbol": NASTY, "asset_type": FEW, "quantity": NASTY,
                         "price": NASTY, "fee": NASTY, "amount": NASTY, "currency": NASTY, "ratio": NASTY,
                         "note": NASTY},
    check_dividend_add: {"amount": NASTY, "fee": NASTY, "quantity": NASTY, "currency": NASTY},
    check_split_add: {"ratio": NASTY, "date": NASTY, "symbol": NASTY},
    check_activity_edit: {"account": NASTY, "date": NASTY, "type": FEW, "symbol": NASTY, "quantity": NASTY,
                          "price": NASTY, "amount": NASTY, "currency": NASTY, "note": NASTY},
    check_activity_filters: {"type": NASTY, "symbol": NASTY, "since": NASTY, "until": NASTY, "page": NASTY},
    check_gains: {"cost_method": FEW, "benchmark": NASTY},
    check_alert_create: {"kind": FEW, "symbol": NASTY, "threshold": NASTY, "hours": NASTY, "cooldown_minutes": NASTY,
                         "webhook_url": NASTY, "in_app": FEW},
}


@pytest.mark.parametrize("check", list(SWEEP), ids=lambda f: f.__name__.removeprefix("check_"))
def test_every_nasty_value_in_every_field(app, request, check):
    fixture = request.getfixturevalue("pending" if check in (check_login_code, check_two_factor_disable) else "alice")
    for name, values in SWEEP[check].items():
        for value in values:
            try:
                check(app, fixture, **{name: value})
            except AssertionError as exc:
                raise AssertionError(f"{check.__name__}({name}={value[:80]!r}): {exc}") from exc
