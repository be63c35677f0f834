"""Every main form, refused, is shown again with what the person typed (a 4xx, never a 500)."""
from __future__ import annotations

import html
import re

import pytest
from conftest import csrf_token, login, make_user, post

LONG = "N" * 90  # over the 80 characters of an account's name


def selected(value: str) -> re.Pattern:
    """An <option> or a radio/checkbox of that value, chosen."""
    v = re.escape(value)
    return re.compile(rf'<(?:option|input)\b(?=[^>]*\bvalue="{v}")(?=[^>]*\b(?:selected|checked)\b)[^>]*>')


def typed(name: str, value: str) -> re.Pattern:
    """An <input> of that name showing that value, or a <textarea> of that name holding it."""
    n, v = re.escape(name), re.escape(html.escape(value))
    return re.compile(rf'<input\b(?=[^>]*\bname="{n}")(?=[^>]*\bvalue="{v}")[^>]*>'
                      rf'|<textarea\b[^>]*\bname="{n}"[^>]*>\s*{v}\s*</textarea>')


# (what, url (ids filled from the world), the form's fields with one mistake, what must be shown again)
CASES = [
    ("register", "/auth/register",
     {"email": "nora@example.com", "display_name": "Nora N", "password": "short", "confirm": "short"},
     [typed("email", "nora@example.com"), typed("display_name", "Nora N")]),
    ("login", "/auth/login", {"email": "alice@example.com", "password": "not the password"},
     [typed("email", "alice@example.com")]),
    ("account create", "/accounts/", {"name": LONG, "institution": "Fidelity Inv", "kind": "retirement"},
     [typed("name", LONG), typed("institution", "Fidelity Inv"), selected("retirement")]),
    ("account rename", "/accounts/{account}/rename", {"name": LONG}, [typed("name", LONG)]),
    ("holding add", "/accounts/{account}/holdings",
     {"symbol": "MSFT", "asset_type": "etf", "quantity": "twelve", "cost": "99.5", "cost_kind": "per_unit",
      "currency": "EUR"},
     [typed("symbol", "MSFT"), selected("etf"), typed("quantity", "twelve"), typed("cost", "99.5"),
      selected("per_unit"), typed("currency", "EUR")]),
    ("holding quantity", "/accounts/holdings/{holding}/quantity", {"quantity": "-4"}, [typed("quantity", "-4")]),
    ("holding cost", "/accounts/holdings/{holding}/cost", {"cost": "lots", "cost_kind": "per_unit"},
     [typed("cost", "lots"), selected("per_unit")]),
    ("activity add", "/accounts/{account}/activities",
     {"date": "2025-01-06", "type": "sell", "symbol": "AAPL", "asset_type": "stock", "quantity": "999",
      "price": "123.45", "fee": "1.5", "currency": "USD", "note": "too many"},
     [typed("date", "2025-01-06"), selected("sell"), typed("symbol", "AAPL"), typed("quantity", "999"),
      typed("price", "123.45"), typed("fee", "1.5"), typed("note", "too many")]),
    ("activity edit", "/activities/{activity}/edit",
     {"account": "{account}", "date": "2025-01-03", "type": "dividend", "symbol": "AAPL", "asset_type": "stock",
      "amount": "abc", "currency": "USD", "note": "oops"},
     [typed("date", "2025-01-03"), selected("dividend"), typed("amount", "abc"), typed("note", "oops")]),
    ("alert rule", "/alerts/",
     {"kind": "price_below", "symbol": "ZZZZ", "threshold": "321.5", "cooldown_minutes": "45", "in_app": "y"},
     [selected("price_below"), typed("symbol", "ZZZZ"), typed("threshold", "321.5"),
      typed("cooldown_minutes", "45")]),
    ("settings gains", "/settings/gains", {"cost_method": "fifo", "benchmark": "NOT A SYMBOL"},
     [selected("fifo"), typed("benchmark", "NOT A SYMBOL")]),
    ("holdings import", "/accounts/import", {"csv_text": "account,symbol,quantity\nNowhere,AAPL,1\n"},
     [typed("csv_text", "account,symbol,quantity\nNowhere,AAPL,1\n")]),
    ("activities import", "/activities/import", {"text": "date,account,type\n2025-01-02,Broker,bogus\n"},
     [typed("text", "date,account,type\n2025-01-02,Broker,bogus\n")]),
]


@pytest.fixture
def world(app, client):
    """Alice, logged in, with an account holding AAPL (entered by hand) and a recorded buy."""
    make_user(app, "alice@example.com")
    login(client)
    account = int(post(client, "/accounts/", {"name": "Broker", "kind": "brokerage"}).headers["Location"]
                  .rsplit("/", 1)[1])
    post(client, f"/accounts/{account}/holdings", {"symbol": "VTI", "asset_type": "etf", "quantity": "3"})
    assert post(client, f"/accounts/{account}/activities",
                {"date": "2025-01-02", "type": "buy", "symbol": "AAPL", "asset_type": "stock", "quantity": "10",
                 "price": "150", "fee": "0", "currency": "USD"}).status_code == 302
    page = client.get(f"/accounts/{account}").get_data(as_text=True)
    holding = re.search(r'/accounts/holdings/(\d+)/quantity', page).group(1)
    activities = client.get(f"/accounts/{account}/activities").get_data(as_text=True)
    activity = re.search(r'/activities/(\d+)/edit', activities).group(1)
    return {"account": account, "holding": holding, "activity": activity}


@pytest.mark.parametrize("what, url, data, shown", CASES, ids=[c[0] for c in CASES])
def test_a_refused_form_shows_what_was_typed(app, client, world, what, url, data, shown):
    if url.startswith("/auth/"):
        client.post("/auth/logout", data={"csrf_token": csrf_token(client)})
    fill = {k: v.format(**world) if isinstance(v, str) else v for k, v in data.items()}
    resp = post(client, url.format(**world), fill)
    assert 400 <= resp.status_code < 500, (what, resp.status_code)
    page = resp.get_data(as_text=True)
    missing = [p.pattern for p in shown if not p.search(page)]
    assert not missing, (what, missing)
