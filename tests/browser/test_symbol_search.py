"""In Chromium: the add-holding form suggests instruments as one types (htmx, debounced), the
keyboard picks one, and the picked symbol and type are what gets held. The live server's
symbol search asks the package's replay server; AMFI is down there, which must not matter."""
from __future__ import annotations

import re

import payloads as P
import pytest
from conftest import make_user
from payloads import AmfiScheme
from playwright.sync_api import expect

from .ui import create_account, login

pytestmark = pytest.mark.browser


@pytest.fixture
def answers(search_replay):
    search_replay.reset()
    search_replay.route(P.YAHOO_SEARCH, body=P.yahoo_search([
        P.yahoo_search_quote("VTI", "Vanguard Total Stock Market Index Fund ETF Shares", quote_type="ETF",
                             exchange="PCX", exch_disp="NYSEArca"),
        P.yahoo_search_quote("VTSAX", "Vanguard Total Stock Market Index Fund Admiral Shares",
                             quote_type="MUTUALFUND", exchange="NAS", exch_disp="Nasdaq"),
        P.yahoo_search_quote("VOO", "Vanguard S&P 500 ETF", quote_type="ETF", exchange="PCX", exch_disp="NYSEArca"),
    ]))
    search_replay.route(P.AMFI_NAVALL, status=503)
    search_replay.route(P.COINGECKO_LIST, body=P.coingecko_coins_list([("vanar-chain", "vanry", "Vanar Chain")]))
    yield search_replay
    search_replay.reset()


def test_typing_suggests_and_the_keyboard_picks_symbol_and_type(app, browse, answers):
    make_user(app, "sam@example.com", display_name="Sam")
    page = browse.context().new_page()
    login(page, "sam@example.com")
    account_id = create_account(page, "Brokerage")
    form = page.locator(f"form[action='/accounts/{account_id}/holdings']")
    symbol = form.locator("[name=symbol]")
    expect(symbol).to_have_attribute("role", "combobox")
    expect(symbol).to_have_attribute("aria-expanded", "false")

    symbol.press_sequentially("vti", delay=60)
    options = page.locator("#symbol-listbox [role=option]")
    expect(options.first).to_be_visible()
    expect(options).to_have_count(3)  # Yahoo's three (the exact symbol first); no coin; AMFI did not answer
    expect(symbol).to_have_attribute("aria-expanded", "true")
    expect(options.first).to_contain_text("Vanguard Total Stock Market Index Fund ETF Shares")
    expect(options.first).to_contain_text("VTI")
    expect(options.first).to_contain_text("NYSEArca · USD · ETF")
    expect(page.locator("#symbol-suggestions .suggestions-note")).to_contain_text("Some sources did not answer")
    assert [r.query["q"] for r in answers.requests_to(P.YAHOO_SEARCH)] == ["vti"]  # debounced: one request

    symbol.press("ArrowDown")
    expect(options.first).to_have_attribute("aria-selected", "true")
    expect(symbol).to_have_attribute("aria-activedescendant", "symbol-option-1")
    symbol.press("ArrowDown")
    symbol.press("ArrowUp")
    expect(options.first).to_have_attribute("aria-selected", "true")
    symbol.press("Enter")  # picks; does not submit
    expect(symbol).to_have_value("VTI")
    expect(form.locator("[name=asset_type]")).to_have_value("etf")
    expect(form.locator("[name=currency]")).to_have_value("USD")
    expect(page.locator("#symbol-listbox")).to_be_hidden()
    expect(symbol).to_have_attribute("aria-expanded", "false")
    expect(page.locator("tr[id^='holding-']")).to_have_count(0)  # nothing was submitted

    form.locator("[name=quantity]").fill("12")
    form.get_by_role("button", name="Add holding").click()
    expect(page.locator(".flash.success")).to_contain_text("VTI: 12 held.")
    row = page.locator("tr[id^='holding-']").filter(has=page.locator("td:first-child", has_text=re.compile(r"^VTI$")))
    expect(row).to_have_count(1)
    expect(row.locator("td").nth(1)).to_have_text("ETF")
    browse.assert_no_console_errors()


def test_escape_closes_the_suggestions_and_typing_by_hand_still_works(app, browse, answers):
    make_user(app, "kim@example.com", display_name="Kim")
    page = browse.context().new_page()
    login(page, "kim@example.com")
    account_id = create_account(page, "Brokerage")
    form = page.locator(f"form[action='/accounts/{account_id}/holdings']")
    symbol = form.locator("[name=symbol]")
    symbol.press_sequentially("voo", delay=60)
    expect(page.locator("#symbol-listbox [role=option]").first).to_be_visible()
    symbol.press("Escape")
    expect(page.locator("#symbol-listbox")).to_be_hidden()
    form.locator("[name=quantity]").fill("3")
    symbol.press("Enter")  # nothing highlighted: Enter submits what was typed
    expect(page.locator(".flash.success")).to_contain_text("VOO: 3 held.")
    browse.assert_no_console_errors()
