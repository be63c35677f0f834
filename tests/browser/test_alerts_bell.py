"""In Chromium: create a price alert on the alerts page, move the price across its threshold (a
cycle's store and recompute, in the test process, against the live server's database and Redis)
and watch the top bar's bell count the notification without a reload (it polls every
BELL_SECONDS: one second here); then read it on the notifications page."""
from __future__ import annotations

import re
from decimal import Decimal

import pytest
import sqlalchemy as sa
from conftest import make_user, set_price
from playwright.sync_api import expect

from webapp.extensions import db
from webapp.models import Account, AlertRule, Holding, Instrument

from .ui import assert_not_reloaded, login, open_dashboard

pytestmark = pytest.mark.browser

SYMBOL = "ZZBEL"
BELL_TIMEOUT_MS = 10_000  # the bell polls every second


def _holding(app, uid: int, symbol: str, quantity: str) -> None:
    with app.app_context():
        inst = Instrument(symbol=symbol, asset_type="stock", currency="USD", provider_symbols={})
        account = Account(owner_id=uid, name="Broker", kind="brokerage")
        db.session.add_all([inst, account])
        db.session.flush()
        db.session.add(Holding(account_id=account.id, instrument_id=inst.id, quantity=Decimal(quantity)))
        db.session.commit()


def test_a_price_alert_lights_the_bell_without_a_reload(browse, server, app):
    uid = make_user(app, "bell@example.com", display_name="Bell")
    _holding(app, uid, SYMBOL, "10")
    set_price(app, SYMBOL, "100")
    page = browse.context().new_page()
    login(page, "bell@example.com")

    page.goto("/alerts/")
    expect(page.locator("#bell-count")).to_have_count(0)
    form = page.locator("#new-alert form")
    form.get_by_label("Watch").select_option("price_above")
    form.get_by_label("Holding (price alerts)").fill(SYMBOL)
    form.get_by_label(re.compile(r"^Threshold")).fill("150")
    expect(form.get_by_label("in the app")).to_be_checked()
    form.get_by_label("Cool-down (minutes)").fill("0")
    form.get_by_role("button", name="Create alert").click()
    expect(page.locator(".flash.success")).to_contain_text("Alert created.")
    row = page.locator("tr[id^='rule-']")
    expect(row).to_have_count(1)
    expect(row).to_contain_text(f"Price above · {SYMBOL}: 150")
    expect(row).to_contain_text("armed")
    with app.app_context():
        [rule] = db.session.scalars(sa.select(AlertRule).where(AlertRule.user_id == uid)).all()
        assert (rule.kind, rule.threshold, rule.in_app, rule.cooldown_minutes) == ("price_above", 150, True, 0)

    open_dashboard(page)
    bell = page.locator("#bell")
    expect(bell).to_be_visible()
    expect(page.locator("#bell-count")).to_have_count(0)
    bell_polls: list[int] = []
    page.on("response", lambda r: bell_polls.append(r.status) if "/notifications/bell" in r.url else None)
    page.wait_for_timeout(1500)  # a poll or so while nothing changed: 204, the bell stays as it is
    expect(page.locator("#bell-count")).to_have_count(0)

    set_price(app, SYMBOL, "120")  # still below: nothing
    set_price(app, SYMBOL, "151")  # crosses: one in-app notification
    expect(page.locator("#bell-count")).to_have_text("1", timeout=BELL_TIMEOUT_MS)
    expect(bell).to_have_class(re.compile(r"\bunread\b"))
    expect(bell).to_have_attribute("title", "Notifications: 1 unread")
    assert_not_reloaded(page)
    assert 204 in bell_polls and 200 in bell_polls, bell_polls

    set_price(app, SYMBOL, "155")  # still above: fired once per crossing, the count stays
    page.wait_for_timeout(1500)
    expect(page.locator("#bell-count")).to_have_text("1")
    assert_not_reloaded(page)

    bell.click()
    expect(page).to_have_url(re.compile(r"/notifications/$"))
    note = page.locator("li[id^='notification-']")
    expect(note).to_have_count(1)
    expect(note).to_have_class(re.compile(r"\bunread\b"))
    expect(note.locator("strong")).to_have_text(f"{SYMBOL} is above 150.00 USD")
    expect(note).to_contain_text(f"{SYMBOL} is at 151.00 USD")
    note.get_by_role("button", name="Mark read").click()
    expect(page.locator("li[id^='notification-'].unread")).to_have_count(0)
    expect(page.locator("#bell-count")).to_have_count(0)
    browse.assert_no_console_errors()
