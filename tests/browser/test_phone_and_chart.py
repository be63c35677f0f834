"""In Chromium: every page readable on a phone (375 px: no number clipped or cut off with an
ellipsis, no page scrolling sideways), and the interactive value chart (uPlot) reading the same
values as the page's table, with its range buttons, under the app's real CSP."""
from __future__ import annotations

import random
import re
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal

import pytest
import sqlalchemy as sa
from conftest import make_user, set_price
from playwright.sync_api import expect

from pricing_providers.fx import published
from webapp.extensions import db
from webapp.models import Account, FxRate, Instrument, PortfolioSnapshot, Quote, User
from webapp.services import assets, ledger
from webapp.services.ledger import Change

from .test_money_pages import pat, screenshot_path  # noqa: F401  (pat: a fixture)
from .ui import login

pytestmark = pytest.mark.browser

TODAY = datetime.now(timezone.utc).date()
PHONE = {"width": 375, "height": 740}

# What "clipped" means, measured in the page: an element holding a digit whose content is wider
# than its box (scrollWidth > clientWidth + 1), that hides text behind an ellipsis, or that lies
# outside the screen. A table wrapper that scrolls sideways (.table-wrap, overflow-x: auto) is the
# one allowed exception, by design: its numbers are whole and the user swipes to them; the page
# itself never scrolls sideways.
CLIPPED_JS = r"""
() => {
  const vw = document.documentElement.clientWidth;
  const out = [];
  let checked = 0;
  const scrolls = el => { const o = getComputedStyle(el).overflowX; return o === "auto" || o === "scroll"; };
  const inScroller = el => { for (let p = el.parentElement; p; p = p.parentElement) if (scrolls(p)) return true; return false; };
  const name = el => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") + (el.className && typeof el.className === "string" ? "." + el.className.trim().split(/\s+/).join(".") : "");
  for (const el of document.body.querySelectorAll("*")) {
    if (el.closest("script, style, svg, [hidden]")) continue;
    const text = (el.matches("input, textarea") ? el.value : el.innerText || "").trim();  // a quantity to edit too
    if (!/\d/.test(text)) continue;
    const style = getComputedStyle(el);
    if (style.display === "none" || style.visibility === "hidden") continue;
    checked += 1;
    const scroller = scrolls(el);
    if (!scroller && el.scrollWidth > el.clientWidth + 1)
      out.push(`${name(el)} is ${el.scrollWidth - el.clientWidth}px too narrow for “${text.slice(0, 60)}”`);
    if (style.textOverflow !== "clip")
      out.push(`${name(el)} has text-overflow: ${style.textOverflow} (“${text.slice(0, 60)}”)`);
    const r = el.getBoundingClientRect();
    if (r.width && !inScroller(el) && (r.left < -1 || r.right > vw + 1))
      out.push(`${name(el)} runs off the screen (${Math.round(r.left)}..${Math.round(r.right)} of ${vw}px): “${text.slice(0, 60)}”`);
  }
  const wide = document.documentElement.scrollWidth - document.documentElement.clientWidth;
  if (wide > 0) out.push(`the page scrolls sideways by ${wide}px`);
  return {problems: out, checked: checked};
}
"""


def _closes(app, symbol: str, currency: str, days: int, price_of) -> None:
    """A daily close (21:00 UTC) for each of the last `days` days before today."""
    with app.app_context():
        inst = db.session.scalar(sa.select(Instrument).where(Instrument.symbol == symbol))
        if inst is None:  # the benchmark: held by nobody
            inst = Instrument(symbol=symbol, asset_type="stock", currency=currency, provider_symbols={})
            db.session.add(inst)
            db.session.flush()
        rows = []
        for back in range(1, days + 1):
            at = datetime.combine(TODAY - timedelta(days=back), time(21), timezone.utc)
            rows.append({"instrument_id": inst.id, "price": price_of(back), "currency": currency, "as_of": at,
                         "fetched_at": at, "source": "replay"})
        db.session.execute(sa.insert(Quote), rows)
        db.session.commit()


@pytest.fixture
def max_user(app):
    """A user with big numbers in two currencies, a year of activities (buys, a sale, dividends, a
    fee, a deposit) in two accounts, exchange rates, daily closes, a benchmark and value history."""
    uid = make_user(app, "max@example.com", display_name="Maximilian")
    ago = lambda n: TODAY - timedelta(days=n)  # noqa: E731
    with app.app_context():
        for day, rate in ((ago(400), "1.0812"), (ago(200), "1.0934"), (TODAY - timedelta(days=1), "1.1047")):
            db.session.add(FxRate(base="EUR", quote="USD", rate=Decimal(rate), as_of=published(day), source="test"))
        db.session.commit()
        user = db.session.get(User, uid)
        us = assets.create_account(user, "Interactive Brokers Individual", "Interactive Brokers", "brokerage")
        de = assets.create_account(user, "Comdirect Depot", "Comdirect", "brokerage")
        for acc, change in (
            (us, Change(ago(360), "buy", "AAPL", Decimal("8216.5"), Decimal("151.37"), fee=Decimal("12.50"),
                        currency="USD")),
            (us, Change(ago(300), "buy", "MSFT", Decimal("2150"), Decimal("402.18"), fee=Decimal("9.99"),
                        currency="USD")),
            (us, Change(ago(120), "sell", "MSFT", Decimal("350"), Decimal("431.95"), fee=Decimal("9.99"),
                        currency="USD")),
            (us, Change(ago(90), "dividend", "AAPL", amount=Decimal("1631.13"), currency="USD")),
            (us, Change(ago(60), "fee", amount=Decimal("125.00"), currency="USD")),
            (de, Change(ago(350), "buy", "SAP.DE", Decimal("5300"), Decimal("180.12"), fee=Decimal("24.90"),
                        currency="EUR")),
            (de, Change(ago(150), "sell", "SAP.DE", Decimal("1000"), Decimal("205.40"), fee=Decimal("14.90"),
                        currency="EUR")),
            (de, Change(ago(40), "dividend", "SAP.DE", amount=Decimal("9460.00"), currency="EUR")),
        ):
            ledger.add(user, db.session.get(Account, acc.id), change)
    earlier = datetime.now(timezone.utc) - timedelta(minutes=5)
    for symbol, price, ccy in (("AAPL", "189.25", "USD"), ("MSFT", "415.10", "USD"), ("SAP.DE", "201.40", "EUR")):
        set_price(app, symbol, price, currency=ccy, as_of=earlier)
    _closes(app, "AAPL", "USD", 400, lambda back: Decimal("150") + Decimal(400 - back) / 10)
    _closes(app, "MSFT", "USD", 400, lambda back: Decimal("400") + Decimal(back % 37))
    _closes(app, "SAP.DE", "EUR", 400, lambda back: Decimal("180") + Decimal(back % 23))
    _closes(app, "^GSPC", "USD", 400, lambda back: Decimal("5000") + Decimal(400 - back) * 2)
    with app.app_context():
        rng, now = random.Random(3), datetime.now(timezone.utc)
        value, rows = Decimal("2123456.78"), []
        for i in range(1, 365):
            value = (value * (1 - Decimal(rng.randint(-90, 100)) / 10000)).quantize(Decimal("0.01"))
            rows.append({"user_id": uid, "as_of": now - timedelta(days=i, minutes=10), "currency": "USD",
                         "total_value": value, "account_values": {}})
        db.session.execute(sa.insert(PortfolioSnapshot), rows)
        db.session.commit()
    return uid


def test_every_page_is_readable_on_a_phone(browse, server, app, max_user, tmp_path):
    page = browse.context().new_page()
    page.set_viewport_size(PHONE)
    login(page, "max@example.com")
    expect(page.locator("#portfolio-total")).to_contain_text(re.compile(r"\d,\d{3},\d{3}\.\d\d USD"))
    with app.app_context():
        us = db.session.scalar(sa.select(Account.id).where(Account.name == "Interactive Brokers Individual"))
        de = db.session.scalar(sa.select(Account.id).where(Account.name == "Comdirect Depot"))
    pages = {
        "/": "#portfolio-total",
        "/accounts/": "table",
        f"/accounts/{us}": "table",
        f"/accounts/{us}/activities": "table.activities",
        f"/accounts/{de}/activities": "table.activities",  # in euros
        "/portfolio/allocation": "#allocation-account svg.bars",
        "/portfolio/history": "#daily-values",
        "/portfolio/returns?period=1Y": "#returns-figures",
        "/portfolio/gains": "h1",
        "/portfolio/income": "h1",
    }
    seen_numbers, texts = {}, {}
    for url, ready in pages.items():
        page.goto(url)
        expect(page.locator(ready).first).to_be_visible()
        page.wait_for_load_state("load")  # measure once the stylesheets apply
        if url == "/portfolio/history":
            expect(page.locator("#history-interactive .u-over")).to_be_visible()
        if url.startswith("/portfolio/returns"):  # the TWR-vs-benchmark chart, interactive too
            expect(page.locator("#returns-interactive .u-over")).to_be_visible()
            expect(page.locator("#benchmark svg.chart")).to_be_hidden()  # uPlot's chart in its place
            expect(page.locator("#returns-interactive .chart-readout")).to_contain_text(
                re.compile(r"^\d{4}-\d\d-\d\d: Portfolio [\d,.]+, \^GSPC [\d,.]+$"))
        measured = page.evaluate(CLIPPED_JS)
        assert not measured["problems"], f"{url} at 375 px:\n" + "\n".join(measured["problems"])
        assert measured["checked"] >= 3, (url, measured, page.locator("main").inner_text()[:800])  # it held numbers
        texts[url] = page.locator("main").inner_text()
        seen_numbers[url] = re.findall(r"\d{1,3}(?:,\d{3})+\.\d\d", texts[url])
    # the money pages showed long numbers (millions, to the cent): the widths were tested on them
    for url in ("/", f"/accounts/{us}/activities", "/portfolio/allocation", "/portfolio/history",
                "/portfolio/returns?period=1Y", "/portfolio/gains"):
        assert any(len(n) >= len("1,234,567.89") for n in seen_numbers[url]), (url, seen_numbers[url])
    assert "EUR" in texts[f"/accounts/{de}/activities"] and seen_numbers[f"/accounts/{de}/activities"]
    page.goto("/")
    page.wait_for_load_state("load")
    page.screenshot(path=str(screenshot_path("screenshot-dashboard-phone.png", tmp_path)), full_page=True,
                    animations="disabled")
    browse.assert_no_console_errors()


def _readout_at(page, day: str) -> str:
    """Point the mouse at `day` on the interactive chart and read the readout."""
    box = page.locator("#history-interactive")
    over = box.locator(".u-over")
    lo = datetime.fromisoformat(box.get_attribute("data-from")).replace(tzinfo=timezone.utc)
    hi = datetime.fromisoformat(box.get_attribute("data-to")).replace(tzinfo=timezone.utc)
    target = datetime.fromisoformat(day).replace(tzinfo=timezone.utc)
    rect = over.bounding_box()
    # the x scale of the visible range runs from data-from to data-to over the plot's width
    x = rect["x"] + rect["width"] * (target - lo).total_seconds() / (hi - lo).total_seconds()
    page.mouse.move(x, rect["y"] + rect["height"] / 2)
    readout = box.locator(".chart-readout")
    expect(readout).to_have_attribute("data-day", day)
    return readout.inner_text()


def test_the_interactive_chart_reads_the_tables_values_and_its_ranges_zoom(browse, server, app, pat, tmp_path):
    page = browse.context().new_page()
    csp = []
    page.on("response", lambda r: csp.append(r.headers.get("content-security-policy"))
            if r.url.endswith("/portfolio/history") else None)
    login(page, "pat@example.com")
    page.goto("/portfolio/history")
    assert csp and "unsafe-inline" not in csp[-1] and "script-src 'self'" in csp[-1], csp
    box = page.locator("#history-interactive")
    expect(box.locator(".u-over")).to_be_visible()  # uPlot drew the chart
    expect(page.locator("#portfolio-history figure.history-chart")).to_be_hidden()  # in place of the SVG
    expect(box.locator(".chart-ranges button[aria-pressed=true]")).to_have_text("1M")

    rows = page.locator("#daily-values tbody tr")
    expect(rows.first).to_be_visible()
    # a day a week ago and the newest day: the readout says what the table says, to the cent
    for i in (7, 0):
        row = rows.nth(i)
        day = row.get_attribute("data-day")
        shown = row.locator("td.num").inner_text()
        assert re.fullmatch(r"[\d,]+\.\d\d USD", shown), shown
        assert _readout_at(page, day) == f"{day}: {shown}"

    # range buttons: 1M shows the last 30 days, All the whole year, YTD from January 1st
    last = date.fromisoformat(rows.first.get_attribute("data-day"))
    first = date.fromisoformat(rows.last.get_attribute("data-day"))
    assert date.fromisoformat(box.get_attribute("data-from")) == last - timedelta(days=30)
    box.get_by_role("button", name="All").click()
    expect(box).to_have_attribute("data-from", first.isoformat())
    expect(box).to_have_attribute("data-to", last.isoformat())
    old = rows.nth(300)
    assert _readout_at(page, old.get_attribute("data-day")) == \
        f"{old.get_attribute('data-day')}: {old.locator('td.num').inner_text()}"
    box.get_by_role("button", name="3M").click()
    expect(box).to_have_attribute("data-from", (last - timedelta(days=91)).isoformat())
    box.get_by_role("button", name="YTD").click()
    expect(box).to_have_attribute("data-from", max(first, date(last.year, 1, 1)).isoformat())
    expect(box.locator(".chart-ranges button[aria-pressed=true]")).to_have_text("YTD")
    box.get_by_role("button", name="1Y").click()
    expect(box).to_have_attribute("data-from", max(first, last - timedelta(days=365)).isoformat())
    page.locator("#portfolio-history").screenshot(path=str(screenshot_path("screenshot-history.png", tmp_path)),
                                                  animations="disabled")
    browse.assert_no_console_errors()  # CSP violations are console errors: there were none


def test_the_chart_follows_dark_mode_and_is_absent_without_javascript(browse, server, app, pat):
    page = browse.context(color_scheme="dark").new_page()
    login(page, "pat@example.com")
    page.goto("/portfolio/history")
    expect(page.locator("#history-interactive .u-over")).to_be_visible()
    accent = page.evaluate("getComputedStyle(document.documentElement).getPropertyValue('--accent').trim()")
    assert accent == "#7aa2ff"  # the dark palette's
    # the line is drawn in the palette's accent: some canvas pixels have exactly its colour
    found = page.evaluate("""() => {
      const c = document.querySelector('#history-interactive canvas');
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      for (let i = 0; i < d.length; i += 4) if (d[i] === 0x7a && d[i+1] === 0xa2 && d[i+2] === 0xff && d[i+3] === 255) return true;
      return false;
    }""")
    assert found, "no pixel of the dark accent colour on the chart"
    browse.assert_no_console_errors()

    plain = browse.context(java_script_enabled=False).new_page()
    login(plain, "pat@example.com")
    plain.goto("/portfolio/history")
    expect(plain.locator("#portfolio-history svg.chart path.line")).to_be_visible()  # the server's chart
    expect(plain.locator("#history-interactive")).to_be_hidden()
    expect(plain.locator("#daily-values tbody tr").first).to_be_visible()
