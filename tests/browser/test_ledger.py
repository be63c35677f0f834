"""In Chromium: import a broker history as a CSV, read the preview's errors, fix the file,
import it, and read the time- and money-weighted returns on the returns page."""
from __future__ import annotations

import re
from datetime import datetime, time, timedelta, timezone
from decimal import Decimal

import pytest
import sqlalchemy as sa
from conftest import make_user
from playwright.sync_api import expect

from webapp.extensions import db
from webapp.models import Instrument, Quote

from .test_money_pages import screenshot_path
from .ui import login

pytestmark = pytest.mark.browser

TODAY = datetime.now(timezone.utc).date()


def _closes(app, symbol: str, days: int, price_of) -> None:
    """Daily closes (the last quote of each UTC day) for `days` days up to yesterday."""
    with app.app_context():
        inst = db.session.scalar(sa.select(Instrument).where(Instrument.symbol == symbol))
        if inst is None:
            inst = Instrument(symbol=symbol, asset_type="stock", currency="USD", provider_symbols={})
            db.session.add(inst)
            db.session.flush()
        rows = []
        for back in range(1, days + 1):
            day = TODAY - timedelta(days=back)
            at = datetime.combine(day, time(21), timezone.utc)
            rows.append({"instrument_id": inst.id, "price": price_of(back), "currency": "USD", "as_of": at,
                         "fetched_at": at, "source": "replay"})
        db.session.execute(sa.insert(Quote), rows)
        db.session.commit()


def test_import_a_csv_fix_its_errors_and_read_the_returns(browse, server, app, tmp_path):
    make_user(app, "lee@example.com", display_name="Lee")
    # ZZLED was 100 until 200 days ago, 120 since; the benchmark rose 10 % over the year
    _closes(app, "ZZLED", 500, lambda back: Decimal(100) if back > 200 else Decimal(120))
    _closes(app, "^GSPC", 500, lambda back: Decimal(5000) if back > 200 else Decimal(5500))
    bought = (TODAY - timedelta(days=450)).isoformat()
    broken = ("date,account,type,symbol,quantity,price,fee,currency\n"
              f"{bought},Broker,buy,ZZLED,ten,100,0,USD\n"
              f"{bought},Broker,buy,ZZLED,0,100,0,USD,surplus\n")
    page = browse.context().new_page()
    login(page, "lee@example.com")
    page.goto("/activities/import")
    page.get_by_label("…or paste it here").fill(broken)
    page.get_by_role("button", name="Preview").click()
    errors = page.locator("#import-errors")
    expect(errors).to_contain_text("nothing was imported")
    expect(errors).to_contain_text("Line 2, column quantity")
    expect(errors).to_contain_text("Line 3, column 9")

    fixed = page.get_by_label("…or paste it here").input_value()  # the input is kept
    assert fixed == broken
    fixed = fixed.replace(",ten,", ",10,").replace(
        f"{bought},Broker,buy,ZZLED,0,100,0,USD,surplus", f"{bought},Broker,buy,ZZLED,5,100,0,USD")
    page.get_by_label("…or paste it here").fill(fixed)
    page.get_by_role("button", name="Preview").click()
    preview = page.locator("#import-preview")
    expect(preview).to_contain_text("2 new activities")
    expect(preview).to_contain_text("accounts you do not have yet: Broker")
    page.get_by_role("button", name="Import 2 activities").click()
    expect(page.locator(".flash.success")).to_contain_text("Imported 2 activities")

    page.goto("/portfolio/returns?period=1Y")
    figures = page.locator("#returns-figures")
    # 15 shares: 1,500 at the close a year ago; nothing bought or sold in the year, so the
    # time-weighted return is the value's change and the money-weighted one (a year exactly) too
    expect(figures.locator("#value-start")).to_have_text("1,500.00 USD")
    end = Decimal(figures.locator("#value-end").inner_text().split()[0].replace(",", ""))
    expected = ((end / 1500 - 1) * 100).quantize(Decimal("0.01"))
    sign = "+" if expected > 0 else ("−" if expected < 0 else "")
    shown = f"{sign}{abs(expected):,.2f} %"
    expect(figures.locator("#twr")).to_have_text(shown)
    expect(figures.locator("#mwr")).to_have_text(shown)
    expect(figures.locator("#net-flows")).to_have_text(re.compile(r"^0\.00 USD$"))
    expect(page.locator("#benchmark svg path.benchmark")).to_have_count(1)
    expect(page.locator("#benchmark")).to_contain_text("110")  # ^GSPC's price return, rebased to 100
    page.screenshot(path=str(screenshot_path("screenshot-returns.png", tmp_path)), full_page=True,
                    animations="disabled")
