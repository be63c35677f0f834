"""The dashboard in German and in Spanish, in Chromium: local words and local number formats.

The browser itself asks for English (Accept-Language en-US): the language is the user's setting.
"""
from __future__ import annotations

import os
import re
from decimal import Decimal
from pathlib import Path

import pytest
from conftest import make_user, set_price
from playwright.sync_api import expect

from .test_dashboard import make_portfolio
from .ui import wait_priced

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = ROOT / "docs" / "screenshot-dashboard-de.png"
# "1.234,56 €": dots group thousands, a comma before the cents, the euro sign after (no-break space)
EURO_DE = re.compile(r"^\d{1,3}(\.\d{3})*,\d{2}\s€$")


def cell_texts(page, holding_id: int) -> list[str]:
    return [t.replace("\xa0", " ").strip() for t in page.locator(f"tr#h-{holding_id} td").all_inner_texts()]


def german_number(text: str) -> Decimal:
    return Decimal(re.sub(r"[^\d,−-]", "", text).replace(",", ".").replace("−", "-"))


@pytest.mark.parametrize("language", ["de", "es"])
def test_the_dashboard_speaks_the_users_language_with_local_numbers(browse, server, app, tmp_path, language):
    email = f"{language}@example.com"
    uid = make_user(app, email, language=language, base_currency="EUR")
    ids = make_portfolio(app, uid, {"Depot": ("Comdirect", "brokerage", [("SAP.DE", "stock", "1000.5")])})
    set_price(app, "SAP.DE", "1234.56", currency="EUR")
    page = browse.context().new_page()  # a Chromium that asks for English (the fixture's en-US)
    page.bring_to_front()
    page.goto("/auth/login")
    form = page.locator("form[action='/auth/login']")
    form.locator("#email").fill(email)
    form.locator("#password").fill("correct horse battery")
    form.locator("button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.locator("#portfolio-summary")).to_be_visible()
    wait_priced(page, ids["SAP.DE"])

    words = {"de": ("Gesamtwert", ["Symbol", "Anzahl", "Kurs", "Wert", "Heute", "Gewinn", "Kurs vom"], "Übersicht"),
             "es": ("Valor total", ["Símbolo", "Cantidad", "Precio", "Valor", "Hoy", "Ganancia", "Precio a"], "Panel")}
    total_label, headers, nav = words[language]
    expect(page.locator("html")).to_have_attribute("lang", language)
    expect(page.locator("#portfolio-total").locator("xpath=preceding-sibling::div[1]")).to_have_text(total_label)
    heads = [h.strip() for h in page.locator(f"#account-{_account_id(app, uid)} thead th").all_inner_texts()]
    assert heads == headers + [""]  # the last column holds each row's Remove… action
    expect(page.locator("nav a").first).to_have_text(nav)

    cells = cell_texts(page, ids["SAP.DE"])
    assert cells[1] == "1.000,5"  # the quantity
    price, value = cells[2], cells[3]
    assert EURO_DE.match(price), price
    assert EURO_DE.match(value), value
    # what is shown is the exact product, read back the German way
    assert german_number(value) == (Decimal("1000.5") * german_number(price)).quantize(Decimal("0.01"))
    total = page.locator("#portfolio-total").inner_text().replace("\xa0", " ")
    assert EURO_DE.match(total) and german_number(total) == german_number(value), total
    if language == "es":
        expect(page.locator("#portfolio-history h2")).to_have_text("Historial de valor")
    browse.assert_no_console_errors()

    if language == "de":
        # written when missing or with FOLIO_UPDATE_SCREENSHOT=1, like docs/screenshot-dashboard.png
        target = SCREENSHOT if (not SCREENSHOT.exists() or os.environ.get("FOLIO_UPDATE_SCREENSHOT") == "1") \
            else tmp_path / SCREENSHOT.name
        target.parent.mkdir(parents=True, exist_ok=True)
        page.set_viewport_size({"width": 1200, "height": 600})
        page.screenshot(path=str(target), full_page=True, animations="disabled")
        assert target.stat().st_size > 10_000


def _account_id(app, uid: int) -> int:
    import sqlalchemy as sa

    from webapp.extensions import db
    from webapp.models import Account

    with app.app_context():
        return db.session.scalar(sa.select(Account.id).where(Account.owner_id == uid))
