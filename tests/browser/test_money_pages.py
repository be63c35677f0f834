"""In Chromium: the value history chart (ranges swapped by htmx, no reload), the allocation page,
and the dashboard in dark mode; the README's screenshots of them are taken here."""
from __future__ import annotations

import os
import random
import re
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import make_user, set_price
from playwright.sync_api import expect

from webapp.extensions import db
from webapp.models import PortfolioSnapshot

from .test_dashboard import make_portfolio
from .ui import assert_not_reloaded, login, open_dashboard

pytestmark = pytest.mark.browser

DOCS = Path(__file__).resolve().parents[2] / "docs"


def screenshot_path(name: str, tmp_path: Path) -> Path:
    """docs/<name> when missing or with FOLIO_UPDATE_SCREENSHOT=1, else a temporary file: a test run
    does not rewrite tracked images with new prices every time."""
    target = DOCS / name
    if target.exists() and os.environ.get("FOLIO_UPDATE_SCREENSHOT") != "1":
        return tmp_path / name
    target.parent.mkdir(parents=True, exist_ok=True)
    return target


@pytest.fixture
def pat(app):
    """A priced portfolio with a year of value history ending at its current value."""
    uid = make_user(app, "pat@example.com", display_name="Pat")
    make_portfolio(app, uid, {
        "Fidelity Brokerage": ("Fidelity", "brokerage", [("AAPL", "stock", "10"), ("MSFT", "stock", "25"),
                                                         ("VTI", "etf", "40")]),
        "Vanguard IRA": ("Vanguard", "retirement", [("VTSAX", "mutual_fund", "120.5"), ("GOOGL", "stock", "15")]),
        "Trading 212": ("", "brokerage", [("SAP.DE", "stock", "12")]),
    })
    earlier = datetime.now(timezone.utc) - timedelta(minutes=5)
    for symbol, price, ccy in (("AAPL", "189.25", "USD"), ("MSFT", "415.10", "USD"), ("VTI", "262.48", "USD"),
                               ("VTSAX", "128.91", "USD"), ("GOOGL", "171.05", "USD"), ("SAP.DE", "201.40", "EUR")):
        set_price(app, symbol, price, currency=ccy, as_of=earlier)
    with app.app_context():
        current = db.session.scalars(sa.select(PortfolioSnapshot.total_value)
                                     .where(PortfolioSnapshot.user_id == uid)
                                     .order_by(PortfolioSnapshot.id.desc()).limit(1)).one()
        # a random walk backwards from today's value: one snapshot every 6 hours for a year
        rng, value, rows = random.Random(7), current, []
        now = datetime.now(timezone.utc)
        for i in range(1, 4 * 365):
            value = (value * (Decimal(1) - Decimal(rng.randint(-90, 100)) / 10000)).quantize(Decimal("0.01"))
            rows.append({"user_id": uid, "as_of": now - timedelta(hours=6 * i) - timedelta(minutes=10),
                         "currency": "USD", "total_value": value, "account_values": {}})
        db.session.execute(sa.insert(PortfolioSnapshot), rows)
        db.session.commit()
    return uid


def test_value_history_ranges_swap_in_place_and_the_chart_is_drawn(browse, server, app, pat, tmp_path):
    page = browse.context().new_page()
    login(page, "pat@example.com")
    open_dashboard(page)
    chart = page.locator("#portfolio-history")
    expect(chart.locator("svg.chart path.line")).to_have_count(1)
    expect(chart.locator(".ranges a.current")).to_have_text("1M")
    month_start = chart.locator(".x-axis time").first.inner_text()

    chart.get_by_role("link", name="1W", exact=True).click()
    expect(page.locator("#portfolio-history .ranges a.current")).to_have_text("1W")
    expect(page).to_have_url(re.compile(r"/\?range=1W$"))  # the address can be shared or reloaded
    expect(page.locator("#portfolio-history .x-axis time").first).not_to_have_text(month_start)
    page.locator("#portfolio-history").get_by_role("link", name="1Y", exact=True).click()
    expect(page.locator("#portfolio-history .ranges a.current")).to_have_text("1Y")
    expect(page.locator("#portfolio-history")).to_contain_text("recorded values drawn")  # downsampled
    assert_not_reloaded(page)
    low = page.locator("#portfolio-history .y-axis .low").inner_text()
    high = page.locator("#portfolio-history .y-axis .high").inner_text()
    assert low.endswith(" USD") and high.endswith(" USD") and low != high

    # the standalone page (nav "History") shows the same chart
    page.get_by_role("link", name="History", exact=True).click()
    expect(page.locator("h1")).to_have_text("Value history")
    expect(page.locator("#portfolio-history svg.chart path.line")).to_have_count(1)
    # docs/screenshot-history.png shows the interactive chart: test_phone_and_chart.py takes it
    browse.assert_no_console_errors()


def test_allocation_page_shows_tables_bars_and_the_unconverted_holding(browse, server, app, pat, tmp_path):
    page = browse.context().new_page()
    login(page, "pat@example.com")
    page.get_by_role("link", name="Allocation", exact=True).click()
    expect(page.locator("h1")).to_have_text("Allocation")
    for section in ("account", "asset-type", "currency", "top"):
        expect(page.locator(f"#allocation-{section} svg.bars rect.bar").first).to_be_visible()
    shares = page.locator("#allocation-account tbody td:nth-child(3)").all_inner_texts()
    assert abs(sum(Decimal(s.split()[0]) for s in shares) - 100) <= Decimal("0.01") * len(shares)
    expect(page.locator("#allocation-unconverted")).to_contain_text("SAP.DE")
    expect(page.locator("#allocation-unconverted")).to_contain_text("2,416.80 EUR")  # 12 x 201.40, not in USD
    page.set_viewport_size({"width": 1200, "height": 600})
    page.screenshot(path=str(screenshot_path("screenshot-allocation.png", tmp_path)), full_page=True,
                    animations="disabled")
    browse.assert_no_console_errors()


def test_dashboard_follows_the_systems_dark_mode(browse, server, app, pat, tmp_path):
    page = browse.context(color_scheme="dark").new_page()
    login(page, "pat@example.com")
    open_dashboard(page)
    expect(page.locator("#portfolio-history svg.chart path.line")).to_have_count(1)
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(20, 23, 27)", background  # --bg of the dark palette
    page.set_viewport_size({"width": 1200, "height": 600})
    page.screenshot(path=str(screenshot_path("screenshot-dashboard-dark.png", tmp_path)), full_page=True,
                    animations="disabled")
    browse.assert_no_console_errors()


def test_pages_fit_a_phone_screen(browse, server, app, pat):
    """At a phone's width nothing runs off the side: no page scrolls horizontally, and the
    total, each holding's value and gain, the chart and the allocation bars are on screen."""
    page = browse.context().new_page()
    page.set_viewport_size({"width": 375, "height": 740})
    login(page, "pat@example.com")
    for url, visible in (("/", ["#portfolio-total", "#portfolio-history svg.chart", "table.holdings td.num"]),
                         ("/portfolio/allocation", ["#allocation-account svg.bars"]),
                         ("/portfolio/history?range=1Y", ["#history-interactive canvas"]),  # uPlot's, in the SVG's place
                         ("/accounts/", ["table"]),
                         ("/settings/", ["#currency select"]),
                         ("/accounts/import", ["form"]),
                         ("/activities/import", ["form"]),
                         ("/portfolio/returns?period=ALL", ["h1"]),
                         ("/portfolio/gains", ["#unrealized .table-wrap"]),
                         ("/portfolio/income", ["h1"])):
        page.goto(url)
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"{url} is {overflow}px wider than the screen"
        for selector in visible:
            box = page.locator(selector).first.bounding_box()
            assert box and box["x"] >= 0 and box["x"] + box["width"] <= 375 + 1, (url, selector, box)
    # an account's page: its holdings' row forms scroll inside their card, the page does not
    page.goto("/accounts/")
    page.get_by_role("link", name="Fidelity Brokerage").click()
    expect(page.locator("h1")).to_have_text("Fidelity Brokerage")
    page.wait_for_load_state("load")  # the text is there before the stylesheet: measure once it applies
    assert page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth") <= 0
    page.get_by_role("link", name="Activities").click()  # its ledger: the opening positions of its holdings
    expect(page.locator("table.activities")).to_contain_text("Opening position")
    page.wait_for_load_state("load")
    assert page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth") <= 0
    browse.assert_no_console_errors()
