"""What a person does in Folio's UI, as Playwright steps, and how to read the dashboard."""
from __future__ import annotations

import re
from decimal import ROUND_HALF_EVEN, Decimal

from playwright.sync_api import Page, expect

PASSWORD = "correct horse battery"
PRICE_TIMEOUT_MS = 10_000  # a new holding's price must show within 10 s, without a reload
NUMBER_RE = re.compile(r"−?[\d,]+(?:\.\d+)?")


# ---- numbers as the templates print them --------------------------------------------------
def number(text: str) -> Decimal:
    """'1,234.56 USD' -> Decimal('1234.56'); the minus sign of `money` is U+2212."""
    m = NUMBER_RE.search(text)
    assert m, f"no number in {text!r}"
    return Decimal(m.group(0).replace(",", "").replace("−", "-"))


def money_text(amount: Decimal, currency: str = "USD") -> str:
    """How the dashboard prints an amount: cents, half-even, thousands separators."""
    q = amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)
    return f"{q:,.2f} {currency}"


# ---- auth ----------------------------------------------------------------------------------
def register(page: Page, email: str, display_name: str = "", password: str = PASSWORD) -> None:
    page.bring_to_front()
    page.goto("/auth/register")
    form = page.locator("form[action='/auth/register']")
    form.get_by_label("Email").fill(email)
    form.get_by_label("Display name (optional)").fill(display_name)
    form.get_by_label("Password", exact=True).fill(password)
    form.get_by_label("Confirm password").fill(password)
    form.get_by_role("button", name="Register").click()
    expect(page).to_have_url(re.compile(r"/accounts/$"))
    expect(page.locator(".flash.success")).to_contain_text("Welcome to Folio")


def login(page: Page, email: str, password: str = PASSWORD) -> None:
    page.bring_to_front()
    page.goto("/auth/login")
    form = page.locator("form[action='/auth/login']")
    form.get_by_label("Email").fill(email)
    form.get_by_label("Password").fill(password)
    form.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.locator("#portfolio-summary")).to_be_visible()


# ---- accounts and holdings -----------------------------------------------------------------
def create_account(page: Page, name: str, institution: str = "", kind: str = "brokerage") -> int:
    page.bring_to_front()
    page.goto("/accounts/")
    form = page.locator("form[action='/accounts/']")
    form.get_by_label("Name", exact=True).fill(name)
    form.get_by_label("Institution (optional)").fill(institution)
    form.get_by_label("Kind").select_option(kind)
    form.get_by_role("button", name="Create account").click()
    expect(page).to_have_url(re.compile(r"/accounts/\d+$"))
    expect(page.locator("h1")).to_have_text(name)
    return int(page.url.rsplit("/", 1)[1])


def add_holding(page: Page, account_id: int, symbol: str, quantity: str, asset_type: str = "stock") -> int:
    """Add a holding on the account page; returns the holding's id."""
    page.bring_to_front()  # a page behind another tab acts slowly (its animation frames are throttled)
    if not page.url.endswith(f"/accounts/{account_id}"):
        page.goto(f"/accounts/{account_id}")
    # by name, inside the form: every row's quantity field repeats the id "quantity", so the
    # add form's "Quantity" label points at the first row's field, not at its own
    form = page.locator(f"form[action='/accounts/{account_id}/holdings']")
    form.locator("[name=symbol]").fill(symbol)
    form.locator("[name=asset_type]").select_option(asset_type)
    form.locator("[name=quantity]").fill(quantity)
    form.get_by_role("button", name="Add holding").click()
    expect(page.locator(".flash.success")).to_contain_text(f"{symbol.upper()}: ")
    row = page.locator("tr[id^='holding-']").filter(has=page.locator("td:first-child", has_text=re.compile(
        rf"^{re.escape(symbol.upper())}$")))
    expect(row).to_have_count(1)
    return int(row.get_attribute("id").removeprefix("holding-"))


# ---- the dashboard -------------------------------------------------------------------------
def open_dashboard(page: Page) -> None:
    """Open the dashboard and mark the window: the mark survives only if the page never reloads."""
    page.bring_to_front()
    page.goto("/")
    expect(page.locator("#portfolio-summary")).to_be_visible()
    page.evaluate("window.__folioMark = 'still the same page'")


def assert_not_reloaded(page: Page) -> None:
    assert page.evaluate("window.__folioMark") == "still the same page", "the dashboard was reloaded"


def holding_row(page: Page, holding_id: int):
    return page.locator(f"tr#h-{holding_id}")


def wait_priced(page: Page, holding_id: int, timeout: int = PRICE_TIMEOUT_MS) -> None:
    row = holding_row(page, holding_id)
    expect(row).to_be_visible(timeout=timeout)
    expect(row.locator("td.pending")).to_have_count(0, timeout=timeout)
    expect(row).not_to_contain_text("fetching price", timeout=timeout)


def read_row(page: Page, holding_id: int) -> dict:
    """Symbol, quantity, price, value, today's change and gain of a priced row, as shown."""
    cells = holding_row(page, holding_id).locator("td").all_inner_texts()
    assert len(cells) == 8, f"unexpected row {cells}"  # the last: its Remove… link
    return {
        "symbol": cells[0].strip(),
        "quantity": number(cells[1]),
        "price": number(cells[2]),
        "value": number(cells[3]),
        "currency": cells[3].split()[-1],
        "day_change": cells[4].strip(),
        "gain": cells[5].strip(),
        "as_of": cells[6].strip(),
    }


def read_total(page: Page) -> Decimal:
    return number(page.locator("#portfolio-total").inner_text())


def summary_version(page: Page) -> str:
    return page.locator("#portfolio-summary").get_attribute("data-version")


def watch_polls(page: Page) -> list[int]:
    """Statuses of the summary's polls, in order (204: unchanged, 200: re-rendered)."""
    statuses: list[int] = []
    page.on("response", lambda r: statuses.append(r.status) if "/portfolio/summary" in r.url else None)
    return statuses
