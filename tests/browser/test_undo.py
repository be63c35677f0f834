"""Delete → confirm → undo on the dashboard, in Chromium against the live server: the holding
comes back with its id, quantity and cost, and the total follows without a reload."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
import sqlalchemy as sa
from conftest import make_user, set_price
from playwright.sync_api import expect

from webapp.extensions import db
from webapp.models import Account, Activity, Holding, User
from webapp.services import assets

from .ui import assert_not_reloaded, holding_row, login, open_dashboard

pytestmark = pytest.mark.browser


def stored(app, user_id: int) -> tuple[list, list]:
    with app.app_context():
        holdings = db.session.execute(
            sa.select(Holding.id, Holding.account_id, Holding.instrument_id, Holding.quantity, Holding.cost_basis)
            .join(Account).where(Account.owner_id == user_id).order_by(Holding.id)).all()
        activities = db.session.execute(
            sa.select(Activity.id, Activity.type, Activity.quantity, Activity.amount, Activity.date)
            .join(Account).where(Account.owner_id == user_id).order_by(Activity.id)).all()
        return holdings, activities


def test_delete_confirm_and_undo_on_the_dashboard(browse, server, app):
    uid = make_user(app, "fay@example.com", display_name="Fay")
    with app.app_context():
        account = assets.create_account(db.session.get(User, uid), "Fay Brokerage")
        aapl = assets.add_holding(account, "AAPL", "stock", Decimal("5"), cost=Decimal("812.40")).id
        msft = assets.add_holding(account, "MSFT", "stock", Decimal("4"), cost=Decimal("1500")).id
        account_id = account.id
    earlier = datetime.now(timezone.utc) - timedelta(minutes=10)
    set_price(app, "AAPL", "200.00", as_of=earlier)
    set_price(app, "MSFT", "400.00", as_of=earlier)
    before = stored(app, uid)

    page = browse.context().new_page()
    login(page, "fay@example.com")
    open_dashboard(page)
    total = page.locator("#portfolio-total")
    expect(total).to_have_text("2,600.00 USD")
    remove = holding_row(page, aapl).get_by_role("link", name="Remove AAPL from Fay Brokerage")

    # the confirmation, declined: nothing happens
    dialogs: list[str] = []
    page.once("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    remove.click()
    expect(holding_row(page, aapl)).to_be_visible()
    assert dialogs and re.match(r"Remove AAPL from “Fay Brokerage”\? You can undo it for 10 seconds\.", dialogs[0])
    assert stored(app, uid) == before

    # accepted: the holding goes, the dashboard offers Undo
    page.once("dialog", lambda d: d.accept())
    remove.click()
    expect(holding_row(page, aapl)).to_have_count(0)
    expect(total).to_have_text("1,600.00 USD")
    offer = page.locator("#undo-offer")
    expect(offer).to_contain_text("AAPL removed.")
    assert stored(app, uid)[0] == [h for h in before[0] if h.id != aapl]
    page.evaluate("window.__folioMark = 'still the same page'")

    # Undo: in place, no reload; the holding and the total come back
    offer.get_by_role("button", name="Undo").click()
    expect(offer).to_contain_text("AAPL is back.")
    expect(holding_row(page, aapl)).to_contain_text("200.00 USD")
    expect(total).to_have_text("2,600.00 USD")
    assert_not_reloaded(page)
    assert stored(app, uid) == before  # same ids, quantities, costs and activities

    # an account deleted from the dashboard: its Undo goes away when the 10 seconds are over
    page.once("dialog", lambda d: d.accept())
    page.locator(f"#account-{account_id}").get_by_role("link", name="Delete…").click()
    expect(page.locator(f"#account-{account_id}")).to_have_count(0)
    expect(offer).to_contain_text("Account “Fay Brokerage” and its holdings were deleted.")
    expect(offer.get_by_role("button", name="Undo")).to_be_visible()
    expect(offer).to_have_count(0, timeout=15_000)
    assert stored(app, uid) == ([], [])
    assert msft in [h.id for h in before[0]]
    browse.assert_no_console_errors()
