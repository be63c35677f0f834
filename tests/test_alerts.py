"""User alerts: rules judged after each recompute (`set_price` runs a cycle's store and recompute),
fired once per crossing, re-armed, cool-down; portfolio and stale rules; one rules query per
cycle; in-app notifications, the bell and the pages; isolation; the CLI."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
import sqlalchemy as sa
from conftest import login, post, set_price
from quick_users import quick_user
from rq import Queue

from webapp.extensions import db
from webapp.models import Account, AlertRule, Holding, Instrument, Notification, User


def holding(app, uid: int, symbol: str = "AAPL", quantity: str = "10") -> int:
    """An account holding `symbol` (the instrument made when missing); returns the instrument id."""
    with app.app_context():
        inst = db.session.scalar(sa.select(Instrument).where(Instrument.symbol == symbol))
        if inst is None:
            inst = Instrument(symbol=symbol, asset_type="stock", currency="USD", provider_symbols={})
            db.session.add(inst)
        account = Account(owner_id=uid, name=f"Main {symbol}", kind="brokerage")
        db.session.add(account)
        db.session.flush()
        db.session.add(Holding(account_id=account.id, instrument_id=inst.id, quantity=Decimal(quantity)))
        db.session.commit()
        return inst.id


def rule(app, uid: int, kind: str, threshold: str | None = None, instrument_id: int | None = None, **fields) -> int:
    with app.app_context():
        r = AlertRule(user_id=uid, kind=kind, instrument_id=instrument_id,
                      threshold=None if threshold is None else Decimal(threshold), **fields)
        db.session.add(r)
        db.session.commit()
        return r.id


def notifications(app, uid: int) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(sa.select(Notification.title).where(Notification.user_id == uid)
                                       .order_by(Notification.id)))


def state(app, rule_id: int) -> AlertRule:
    with app.app_context():
        r = db.session.get(AlertRule, rule_id)
        db.session.expunge(r)
        return r


@pytest.fixture
def alice_aapl(app):
    uid = quick_user(app, "alice@example.com", email_confirmed_at=datetime.now(timezone.utc))
    iid = holding(app, uid, "AAPL")
    set_price(app, "AAPL", "100")
    return uid, iid


def test_a_price_rule_fires_once_per_crossing_and_rearms(app, alice_aapl):
    uid, iid = alice_aapl
    rid = rule(app, uid, "price_above", "150", iid, cooldown_minutes=0)
    set_price(app, "AAPL", "120")
    assert notifications(app, uid) == []
    set_price(app, "AAPL", "151")
    assert notifications(app, uid) == ["AAPL is above 150.00 USD"]
    assert state(app, rid).armed is False and state(app, rid).last_fired_at is not None
    set_price(app, "AAPL", "160")  # still above: no second firing
    set_price(app, "AAPL", "155")
    assert len(notifications(app, uid)) == 1
    set_price(app, "AAPL", "140")  # below again: armed
    assert state(app, rid).armed is True
    assert len(notifications(app, uid)) == 1
    set_price(app, "AAPL", "150")  # crosses again (≥): fires again
    assert len(notifications(app, uid)) == 2


def test_the_cooldown_holds_a_second_crossing_back(app, alice_aapl):
    uid, iid = alice_aapl
    rid = rule(app, uid, "price_below", "90", iid, cooldown_minutes=60)
    set_price(app, "AAPL", "89")
    set_price(app, "AAPL", "95")
    set_price(app, "AAPL", "85")  # a second crossing within the hour: held back, the rule stays armed
    assert notifications(app, uid) == ["AAPL is below 90.00 USD"]
    assert state(app, rid).armed is True
    with app.app_context():  # the hour has passed
        r = db.session.get(AlertRule, rid)
        r.last_fired_at = datetime.now(timezone.utc) - timedelta(minutes=61)
        db.session.commit()
    set_price(app, "AAPL", "84")
    assert len(notifications(app, uid)) == 2


def test_day_change_rule_on_the_previous_close(app, alice_aapl):
    import dataclasses

    from webapp.services import alerts, cache
    from webapp.services.pricing.quotes import current_quotes

    uid, iid = alice_aapl
    rule(app, uid, "day_change_beyond", "5", iid, cooldown_minutes=0)
    with app.app_context():  # the cache keeps the previous close the provider gave
        q = dataclasses.replace(current_quotes({"AAPL": iid})["AAPL"], previous_close=Decimal("100"))
        cache.write_quotes({"AAPL": q}, datetime.now(timezone.utc))
        assert alerts.evaluate([uid])["fired"] == 0
        cache.write_quotes({"AAPL": dataclasses.replace(q, price=Decimal("94"))}, datetime.now(timezone.utc))
        assert alerts.evaluate([uid])["fired"] == 1
        cache.write_quotes({"AAPL": dataclasses.replace(q, price=Decimal("97"))}, datetime.now(timezone.utc))
        assert alerts.evaluate([uid])["rearmed"] == 1
    assert notifications(app, uid) == ["AAPL moved -6.00% today"]


def test_portfolio_rules_in_the_base_currency(app, alice_aapl):
    uid, iid = alice_aapl  # 10 × 100 = 1000 USD
    above = rule(app, uid, "portfolio_above", "1500", cooldown_minutes=0)
    below = rule(app, uid, "portfolio_below", "800", cooldown_minutes=0)
    set_price(app, "AAPL", "151")
    assert notifications(app, uid) == ["Portfolio above 1500.00 USD"]
    set_price(app, "AAPL", "79")
    assert notifications(app, uid)[1:] == ["Portfolio below 800.00 USD"]
    assert state(app, above).armed is True and state(app, below).armed is False


def test_portfolio_rules_read_the_cached_total_else_the_database(app, alice_aapl):
    """The recompute's cached summary gives the total; without one the user is valued from the database."""
    from webapp.services import alerts, cache

    uid, iid = alice_aapl  # 10 × 100 = 1000 USD
    above = rule(app, uid, "portfolio_above", "1500", cooldown_minutes=0)
    set_price(app, "AAPL", "151")  # the recompute caches 1510 and the rule fires on it
    assert notifications(app, uid) == ["Portfolio above 1500.00 USD"]
    with app.app_context():
        assert alerts._cached_totals([uid], {uid: "USD"})[uid].total == Decimal("1510")
        assert alerts._cached_totals([uid], {uid: "EUR"}) == {}  # a summary in another currency: not used
        db.session.execute(sa.update(AlertRule).where(AlertRule.id == above).values(armed=True))
        db.session.commit()
        cache.forget_portfolio(uid)
        assert alerts._cached_totals([uid], {uid: "USD"}) == {}
        assert alerts.evaluate([uid])["fired"] == 1  # valued from the database
    assert notifications(app, uid)[1:] == ["Portfolio above 1500.00 USD"]


def test_a_stale_price_rule(app):
    uid = quick_user(app, "alice@example.com")
    iid = holding(app, uid, "OLD")
    rule(app, uid, "price_stale", instrument_id=iid, hours=6)
    set_price(app, "OLD", "102", as_of=datetime.now(timezone.utc) - timedelta(hours=7))  # its first price
    assert notifications(app, uid) == ["OLD's price is stale"]


def test_the_sweep_finds_a_price_that_stopped_moving(app, alice_aapl):
    from webapp.services import alerts
    from workers.alerts import evaluate_stale_alerts

    uid, iid = alice_aapl
    rule(app, uid, "price_stale", instrument_id=iid, hours=6)
    rule(app, uid, "price_above", "50", iid)  # holds (100 ≥ 50), but it is not a stale rule: not swept
    with app.app_context():
        # a fresh price: the stale rule is armed and cannot hold, so not even brought back to be judged
        assert evaluate_stale_alerts() == {"rules": 0, "fired": 0, "rearmed": 0}
        later = datetime.now(timezone.utc) + timedelta(hours=7)
        assert alerts.evaluate(None, kinds=["price_stale"], now=later) == {"rules": 1, "fired": 1, "rearmed": 0}
    assert notifications(app, uid) == ["AAPL's price is stale"]


def test_disabled_rules_and_other_users_are_not_judged(app, alice_aapl):
    uid, iid = alice_aapl
    bob = quick_user(app, "bob@example.com")
    holding(app, bob, "MSFT")  # other instruments: a cycle moving AAPL recomputes AAPL's holders only
    holding(app, bob, "IBM")
    rule(app, uid, "price_above", "150", iid, enabled=False)
    rule(app, bob, "price_above", "150", iid)  # bob holds no AAPL: not recomputed, not judged
    set_price(app, "AAPL", "151")
    assert notifications(app, uid) == [] and notifications(app, bob) == []


def test_one_rules_query_per_cycle(app):
    uids = [quick_user(app, f"u{i}@example.com") for i in range(6)]
    iid = None
    for uid in uids:
        iid = holding(app, uid, "MSFT")
        for threshold in ("10", "20", "30"):
            rule(app, uid, "price_above", threshold, iid, cooldown_minutes=0)
        rule(app, uid, "portfolio_above", "100", cooldown_minutes=0)
    set_price(app, "MSFT", "5")
    statements: list[str] = []

    def seen(conn, cursor, statement, *args):
        statements.append(statement)

    with app.app_context():
        sa.event.listen(db.engine, "before_cursor_execute", seen)
        try:
            set_price(app, "MSFT", "25")
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", seen)
    selects = [s for s in statements if s.lstrip().upper().startswith(("SELECT", "WITH")) and "alert_rules" in s]
    assert len(selects) == 1, selects
    assert sum(len(notifications(app, u)) for u in uids) == 6 * 3  # 10, 20 and portfolio (25 × 10 = 250 ≥ 100)


def test_an_alert_failure_never_breaks_the_recompute(app, alice_aapl, monkeypatch, caplog):
    from webapp.services import alerts

    def boom(*a, **k):
        raise RuntimeError("alerts down")

    monkeypatch.setattr(alerts, "evaluate", boom)
    set_price(app, "AAPL", "123")
    assert "alert evaluation failed" in caplog.text
    with app.app_context():
        from webapp.services.portfolio.read_model import portfolio_for

        assert portfolio_for(alice_aapl[0])[0].total == Decimal("1230")


def test_email_and_webhook_deliveries_are_enqueued(app, alice_aapl, redis_client):
    uid, iid = alice_aapl
    rule(app, uid, "price_above", "150", iid, email=True, webhook=True, in_app=False,
         webhook_url="https://hooks.example.com/folio")
    set_price(app, "AAPL", "151")
    jobs = Queue("default", connection=redis_client).get_jobs()
    names = sorted(j.func_name for j in jobs)
    assert names == ["workers.alerts.deliver_webhook", "workers.mail.deliver"]
    mail = next(j for j in jobs if j.func_name == "workers.mail.deliver")
    assert mail.kwargs["to"] == "alice@example.com" and "AAPL" in mail.kwargs["subject"]
    assert set(mail.kwargs) == {"to", "subject", "text", "html"}
    hook = next(j for j in jobs if j.func_name == "workers.alerts.deliver_webhook")
    assert hook.args[0] == uid and hook.args[1] == "https://hooks.example.com/folio"
    assert hook.args[2]["kind"] == "price_above" and hook.args[2]["value"] == "151"
    assert notifications(app, uid) == []  # in-app off


def test_no_email_to_an_unconfirmed_address(app, alice_aapl, redis_client, monkeypatch):
    from webapp.services import users

    monkeypatch.setattr(users, "email_confirmed", lambda user: False, raising=False)
    uid, iid = alice_aapl
    rule(app, uid, "price_above", "150", iid, email=True)
    set_price(app, "AAPL", "151")
    assert Queue("default", connection=redis_client).get_jobs() == []
    assert len(notifications(app, uid)) == 1


# ---- pages ------------------------------------------------------------------------------------
def page(client, url) -> str:
    resp = client.get(url)
    assert resp.status_code == 200, resp.status_code
    return resp.get_data(as_text=True)


def test_create_list_toggle_and_delete_a_rule(app, alice_aapl):
    uid, iid = alice_aapl
    client = app.test_client()
    login(client)
    assert "No alerts yet." in page(client, "/alerts/")
    resp = post(client, "/alerts/", {"kind": "price_above", "symbol": "aapl", "threshold": "1,500.5",
                                     "cooldown_minutes": "30", "in_app": "y"})
    assert resp.status_code == 302
    with app.app_context():
        r = db.session.scalar(sa.select(AlertRule))
        rid = r.id
        assert (r.kind, r.instrument_id, r.threshold, r.cooldown_minutes, r.in_app, r.email) == (
            "price_above", iid, Decimal("1500.5"), 30, True, False)
    html = page(client, "/alerts/")
    assert f'id="rule-{rid}"' in html and "armed" in html
    assert post(client, f"/alerts/{rid}/enabled", {"enabled": "0"}).status_code == 302
    assert state(app, rid).enabled is False
    assert post(client, f"/alerts/{rid}/enabled", {"enabled": "1"}).status_code == 302
    assert state(app, rid).enabled is True
    assert post(client, f"/alerts/{rid}/delete").status_code == 302
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(AlertRule)) == 0


def test_a_new_or_re_enabled_rule_whose_condition_holds_fires_at_once(app, alice_aapl):
    """A tick judges only the rules on what moved: a new rule must not wait for AAPL to move."""
    uid, iid = alice_aapl  # AAPL at 100, 10 held: 1000 USD
    client = app.test_client()
    login(client)
    assert post(client, "/alerts/", {"kind": "price_above", "symbol": "AAPL", "threshold": "99.99",
                                     "cooldown_minutes": "0", "in_app": "y"}).status_code == 302
    assert post(client, "/alerts/", {"kind": "portfolio_above", "threshold": "2000", "cooldown_minutes": "0",
                                     "in_app": "y"}).status_code == 302  # does not hold: silent
    assert notifications(app, uid) == ["AAPL is above 99.99 USD"]
    with app.app_context():
        rid = db.session.scalar(sa.select(AlertRule.id).where(AlertRule.kind == "price_above"))
    assert post(client, f"/alerts/{rid}/enabled", {"enabled": "0"}).status_code == 302
    assert post(client, f"/alerts/{rid}/enabled", {"enabled": "1"}).status_code == 302  # armed afresh, holds
    assert notifications(app, uid) == ["AAPL is above 99.99 USD"] * 2


@pytest.mark.parametrize("form, field, message", [
    ({"kind": "nonsense"}, "kind", "Choose what the alert watches."),
    ({"kind": "price_above", "symbol": "MSFT", "threshold": "1"}, "symbol", "You hold no MSFT"),
    ({"kind": "price_above", "symbol": "AAPL", "threshold": "abc"}, "threshold", "is not a number"),
    ({"kind": "price_above", "symbol": "AAPL", "threshold": ""}, "threshold", "Enter the threshold"),
    ({"kind": "price_above", "symbol": "AAPL", "threshold": "NaN"}, "threshold", "finite"),
    ({"kind": "day_change_beyond", "symbol": "AAPL", "threshold": "-3"}, "threshold", "greater than zero"),
    ({"kind": "portfolio_day_change_beyond", "threshold": "0"}, "threshold", "greater than zero"),
    ({"kind": "price_stale", "symbol": "AAPL", "hours": "1.5"}, "hours", "whole number of hours"),
    ({"kind": "portfolio_below", "threshold": "10", "cooldown_minutes": "-1"}, "cooldown_minutes", "whole number"),
    ({"kind": "portfolio_below", "threshold": "10", "in_app": ""}, "channels", "at least one"),
    ({"kind": "portfolio_below", "threshold": "10", "webhook": "y", "webhook_url": "http://example.com/"},
     "webhook_url", "https://"),
    ({"kind": "portfolio_below", "threshold": "10", "webhook": "y", "webhook_url": "https://10.0.0.1/"},
     "webhook_url", "not allowed"),
    ({"kind": "portfolio_below", "threshold": "10", "webhook": "y", "webhook_url": ""}, "webhook_url", "Enter"),
])
def test_a_wrong_form_is_400_with_the_message_by_its_field(app, alice_aapl, form, field, message):
    client = app.test_client()
    login(client)
    resp = post(client, "/alerts/", {"in_app": "y", **form})
    assert resp.status_code == 400
    html = resp.get_data(as_text=True)
    assert f'id="error-{field}"' in html and message in html
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(AlertRule)) == 0


def test_a_webhook_rule_makes_the_secret_which_the_page_shows_and_rotates(app, alice_aapl):
    uid, _ = alice_aapl
    client = app.test_client()
    login(client)
    assert "Made when you create your first webhook alert." in page(client, "/alerts/")
    assert post(client, "/alerts/", {"kind": "portfolio_above", "threshold": "5000", "webhook": "y",
                                     "webhook_url": "https://hooks.example.com/f"}).status_code == 302
    with app.app_context():
        secret = db.session.get(User, uid).webhook_secret
    assert secret and secret in page(client, "/alerts/")
    assert post(client, "/alerts/secret").status_code == 302
    with app.app_context():
        assert db.session.get(User, uid).webhook_secret not in (None, secret)


def test_the_bell_counts_and_the_notifications_page_marks_read(app, alice_aapl):
    uid, iid = alice_aapl
    rule(app, uid, "price_above", "150", iid, cooldown_minutes=0)
    rule(app, uid, "portfolio_above", "1500", cooldown_minutes=0)
    client = app.test_client()
    login(client)
    assert 'id="bell-count"' not in page(client, "/alerts/")
    set_price(app, "AAPL", "151")
    html = page(client, "/accounts/")
    assert 'id="bell-count">2<' in html and 'hx-get="/notifications/bell?n=2"' in html
    assert client.get("/notifications/bell?n=2").status_code == 204  # unchanged
    assert 'id="bell-count">2<' in page(client, "/notifications/bell?n=0")
    with app.app_context():
        first = db.session.scalar(sa.select(Notification.id).where(Notification.user_id == uid).order_by(Notification.id))
    html = page(client, "/notifications/")
    assert "AAPL is above 150.00 USD" in html and "Portfolio above 1500.00 USD" in html
    assert post(client, f"/notifications/{first}/read").status_code == 302
    assert 'id="bell-count">1<' in page(client, "/notifications/bell?n=2")
    assert post(client, "/notifications/read").status_code == 302
    html = page(client, "/notifications/bell?n=1")
    assert 'id="bell-count"' not in html and 'hx-get="/notifications/bell?n=0"' in html


def test_another_users_rules_and_notifications_are_404(app, alice_aapl):
    uid, iid = alice_aapl
    rid = rule(app, uid, "price_above", "150", iid)
    set_price(app, "AAPL", "151")
    with app.app_context():
        nid = db.session.scalar(sa.select(Notification.id))
    quick_user(app, "mallory@example.com")
    mallory = app.test_client()
    login(mallory, "mallory@example.com")
    for url in (f"/alerts/{rid}/enabled", f"/alerts/{rid}/delete", f"/notifications/{nid}/read"):
        assert post(mallory, url, {"enabled": "0"}).status_code == 404, url
    assert "AAPL" not in page(mallory, "/notifications/") and f"rule-{rid}" not in page(mallory, "/alerts/")
    assert 'id="bell-count"' not in page(mallory, "/notifications/bell")
    assert state(app, rid).enabled is True
    with app.app_context():
        assert db.session.get(Notification, nid).read_at is None


# ---- CLI --------------------------------------------------------------------------------------
def test_an_unconfirmed_address_gets_no_alert_mail(app, redis_client):
    uid = quick_user(app, "carol@example.com")  # never followed the confirmation link
    iid = holding(app, uid, "AAPL")
    set_price(app, "AAPL", "100")
    rule(app, uid, "price_above", "150", iid, email=True, in_app=True)
    set_price(app, "AAPL", "151")
    assert [j.func_name for j in Queue("default", connection=redis_client).get_jobs()] == []
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Notification.id))) == 1  # in-app still tells


def test_cli_list_and_test(app, alice_aapl, redis_client):
    uid, iid = alice_aapl
    rule(app, uid, "price_above", "150", iid, webhook=True, webhook_url="https://hooks.example.com/a", email=True)
    rule(app, uid, "price_stale", instrument_id=iid, hours=6, enabled=False)
    bob = quick_user(app, "bob@example.com")
    rule(app, bob, "portfolio_below", "10")
    runner = app.test_cli_runner()
    out = runner.invoke(args=["alerts", "list"])
    assert out.exit_code == 0, out.output
    assert "3 rules" in out.output and "bob@example.com" in out.output
    out = runner.invoke(args=["alerts", "list", "--user", "alice@example.com"])
    lines = out.output.splitlines()
    assert lines[-1] == "2 rules" and "bob" not in out.output
    assert "price_above" in lines[0] and "AAPL" in lines[0] and "in_app,email,webhook" in lines[0] and "armed" in lines[0]
    assert "disabled" in lines[1] and "6 h" in lines[1]
    out = runner.invoke(args=["alerts", "test", "alice@example.com"])
    assert out.exit_code == 0 and out.output.strip() == "in-app: 1, e-mail: 1, webhook: 1"
    assert notifications(app, uid) == ["Test alert"]
    names = sorted(j.func_name for j in Queue("default", connection=redis_client).get_jobs())
    assert names == ["workers.alerts.deliver_webhook", "workers.mail.deliver"]
    out = runner.invoke(args=["alerts", "test", "nobody@example.com"])
    assert out.exit_code == 2 and "no user" in out.output


# ---- the daily digest -------------------------------------------------------------------------
def test_the_daily_digest_at_the_users_hour(app, redis_client):
    import dataclasses

    from webapp.services import cache, digest
    from webapp.services.pricing.quotes import current_quotes

    uid = quick_user(app, "alice@example.com", email_confirmed_at=datetime.now(timezone.utc))
    aapl, msft = holding(app, uid, "AAPL"), holding(app, uid, "MSFT", "2")
    set_price(app, "AAPL", "110")
    set_price(app, "MSFT", "50", as_of=datetime.now(timezone.utc) - timedelta(days=10))
    quick_user(app, "bob@example.com", digest_hour=(datetime.now(timezone.utc).hour + 1) % 24)
    client = app.test_client()
    login(client)
    now = datetime.now(timezone.utc)
    assert post(client, "/alerts/digest", {"digest_hour": "25"}).status_code == 400
    assert post(client, "/alerts/digest", {"digest_hour": str(now.hour)}).status_code == 302
    with app.app_context():
        q = current_quotes({"AAPL": aapl})["AAPL"]
        cache.write_quotes({"AAPL": dataclasses.replace(q, previous_close=Decimal("100"))}, now)
        assert digest.send_due(now) == 1  # alice, not bob
    (job,) = Queue("default", connection=redis_client).get_jobs()
    assert job.func_name == "workers.mail.deliver" and job.kwargs["to"] == "alice@example.com"
    text = job.kwargs["text"]
    assert "Value: 1,200.00 USD" in text and "Day change: 100.00 USD (+10.00%)" in text  # of the holdings with a previous close
    assert "Top movers: AAPL +10.00%" in text and "Stale prices: MSFT" in text
    assert job.kwargs["subject"] == "Folio daily digest: 1,200.00 USD" and "<li>" in job.kwargs["html"]
    assert post(client, "/alerts/digest", {"digest_hour": ""}).status_code == 302
    with app.app_context():
        assert db.session.get(User, uid).digest_hour is None
