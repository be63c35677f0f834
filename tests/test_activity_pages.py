"""The activities pages, through the browser's requests: an account's activity list (filters,
pages, the htmx table), recording, editing and deleting activities with the ledger's reasons
when it refuses, and the Gains settings (the cost method re-derives the cost bases)."""
from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
import sqlalchemy as sa
from conftest import csrf_token, login, post, set_price
from quick_users import quick_user
from test_accounts import create_account, text

from webapp.extensions import db
from webapp.models import Activity, Holding, Instrument, User

DAY = "2025-03-03"
HTMX_TABLE = {"HX-Request": "true", "HX-Target": "activity-table"}


@pytest.fixture
def alice(app):
    return quick_user(app, "alice@example.com")


@pytest.fixture
def client(app, alice):
    client = app.test_client()
    login(client)
    return client


@pytest.fixture
def account(client) -> int:
    return create_account(client, "Broker")


def record(client, account_id, type="buy", symbol="AAPL", date=DAY, **fields):
    return post(client, f"/accounts/{account_id}/activities", {"date": date, "type": type, "symbol": symbol, **fields})


def recorded(client, account_id, **kw):
    resp = record(client, account_id, **kw)
    assert resp.status_code == 302, alerts(resp)
    assert resp.headers["Location"] == f"/accounts/{account_id}/activities"
    return resp


def held(app, account_id, symbol) -> tuple[Decimal, Decimal | None] | None:
    with app.app_context():
        row = db.session.execute(sa.select(Holding.quantity, Holding.cost_basis).join(Instrument).where(
            Holding.account_id == account_id, Instrument.symbol == symbol)).first()
        return tuple(row) if row else None


def activity_ids(app) -> list[int]:
    with app.app_context():
        return list(db.session.scalars(sa.select(Activity.id).order_by(Activity.id)))


def rows(body: str) -> list[str]:
    return re.findall(r'<tr id="activity-\d+">(.*?)</tr>', body, re.S)


def alerts(resp) -> list[str]:
    """The text of every element shown as an alert (a field's error, the form's problems)."""
    found = re.findall(r'<(\w+)[^>]*role="alert"[^>]*>(.*?)</\1>', text(resp), re.S)
    return [" ".join(re.sub(r"<[^>]+>", " ", inner).split()) for _, inner in found]


def cells(row: str) -> list[str]:
    return [" ".join(re.sub(r"<[^>]+>", " ", c).split()) for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]


# ---- the list ---------------------------------------------------------------------------------------------
def test_an_empty_account_says_what_to_do_and_links_both_ways(client, account):
    detail = text(client.get(f"/accounts/{account}"))
    assert f'href="/accounts/{account}/activities">Activities</a>' in detail
    page = client.get(f"/accounts/{account}/activities")
    assert page.status_code == 200
    body = text(page)
    assert "No activities in this account yet." in body and "Record your first buy…" in body
    assert f'<a href="/accounts/{account}">Holdings</a>' in body
    today = datetime.now(timezone.utc).date().isoformat()
    assert f'<input id="date" name="date" type="date" value="{today}">' in page.get_data(as_text=True)


def test_a_buy_sell_dividend_and_split_are_listed_with_their_labels(app, client, account):
    recorded(client, account, quantity="10", price="100", fee="1")
    page = client.get(f"/accounts/{account}/activities")
    assert "Buy of 10 AAPL on 2025-03-03 recorded." in text(page)
    recorded(client, account, type="sell", date="2025-03-05", quantity="4", price="120", fee="2", note="trim")
    recorded(client, account, type="dividend", date="2025-03-06", amount="5.25", currency="usd")
    recorded(client, account, type="split", date="2025-03-07", ratio="2-for-1")
    assert held(app, account, "AAPL") == (Decimal(12), Decimal("600.6"))  # 1001 × 6/10, split: same cost

    body = client.get(f"/accounts/{account}/activities").get_data(as_text=True)
    listed = [cells(r) for r in rows(body)]
    assert [c[:4] for c in listed] == [["2025-03-07", "Split", "AAPL", "2:1"],
                                        ["2025-03-06", "Dividend", "AAPL", "—"],
                                        ["2025-03-05", "Sell", "AAPL", "4"],
                                        ["2025-03-03", "Buy", "AAPL", "10"]]
    assert listed[2][4:9] == ["120.00", "2.00", "478.00", "USD", "trim"]  # price, fee, proceeds, currency, note
    assert listed[3][4:8] == ["100.00", "1.00", "1,001.00", "USD"]
    assert listed[1][6:8] == ["5.25", "USD"]
    assert "1 activity" not in body and "4 activities" in body


def test_cash_activities_need_no_symbol(app, client, account):
    recorded(client, account, type="deposit", symbol="", amount="1000")
    recorded(client, account, type="interest", symbol="", amount="1.5", currency="EUR")
    body = client.get(f"/accounts/{account}/activities").get_data(as_text=True)
    assert [cells(r)[1:3] for r in rows(body)] == [["Interest", "—"], ["Deposit", "—"]]


def test_a_transfer_moves_the_shares_and_their_cost_to_the_other_account(app, client, account):
    other = create_account(client, "IRA")
    recorded(client, account, symbol="MSFT", quantity="10", price="300")
    recorded(client, account, type="transfer_out", symbol="MSFT", date="2025-03-10", quantity="4")
    recorded(client, other, type="transfer_in", symbol="MSFT", date="2025-03-10", quantity="4")
    assert held(app, account, "MSFT") == (Decimal(6), Decimal(1800))
    assert held(app, other, "MSFT") == (Decimal(4), Decimal(1200))
    body = client.get(f"/accounts/{other}/activities").get_data(as_text=True)
    assert [cells(r)[1:4] for r in rows(body)] == [["Transfer in", "MSFT", "4"]]


def test_newest_first_fifty_a_page_and_the_filters(app, client, account):
    start = date(2024, 1, 1)
    for i in range(55):
        recorded(client, account, type="deposit", symbol="", date=(start + timedelta(days=i)).isoformat(),
                 amount=str(i + 1))
    recorded(client, account, symbol="AAPL", date="2024-01-10", quantity="1", price="10")
    recorded(client, account, symbol="MSFT", date="2024-01-11", quantity="1", price="10")

    first = client.get(f"/accounts/{account}/activities").get_data(as_text=True)
    dates = [cells(r)[0] for r in rows(first)]
    assert len(dates) == 50 and dates == sorted(dates, reverse=True) and dates[0] == "2024-02-24"
    assert "57 activities · page 1 of 2" in text(first)
    second = client.get(f"/accounts/{account}/activities?page=2").get_data(as_text=True)
    assert len(rows(second)) == 7 and cells(rows(second)[-1])[0] == "2024-01-01"
    assert len(rows(client.get(f"/accounts/{account}/activities?page=99").get_data(as_text=True))) == 7  # the last
    assert client.get(f"/accounts/{account}/activities?page=99999999999999999999").status_code == 200

    buys = client.get(f"/accounts/{account}/activities?type=buy&type=sell").get_data(as_text=True)
    assert [cells(r)[2] for r in rows(buys)] == ["MSFT", "AAPL"]
    assert "2 activities match" in text(buys)
    assert [cells(r)[2] for r in rows(client.get(f"/accounts/{account}/activities?symbol=aapl")
                                      .get_data(as_text=True))] == ["AAPL"]
    ranged = client.get(f"/accounts/{account}/activities?type=deposit&from=2024-01-05&to=2024-01-07")
    assert [cells(r)[0] for r in rows(ranged.get_data(as_text=True))] == ["2024-01-07", "2024-01-06", "2024-01-05"]
    assert "checked" in re.search(r'<input[^>]*value="deposit"[^>]*>', ranged.get_data(as_text=True)).group(0)
    none = text(client.get(f"/accounts/{account}/activities?symbol=NVDA"))
    assert "No activities match these filters." in none

    # the page links keep the filters
    many = client.get(f"/accounts/{account}/activities?type=deposit&to=2024-12-31").get_data(as_text=True)
    assert f'href="/accounts/{account}/activities?page=2&amp;type=deposit&amp;to=2024-12-31"' in many


def test_a_filter_typed_wrong_is_said_and_left_out(client, account):
    recorded(client, account, quantity="1", price="10")
    resp = client.get(f"/accounts/{account}/activities?from=yesterday&symbol=<b>&type=nonsense")
    assert resp.status_code == 200
    body = text(resp)
    assert "From: “yesterday” is not a date: write it as YYYY-MM-DD" in body
    assert "A symbol is 1–20 letters" in body
    assert len(rows(resp.get_data(as_text=True))) == 1
    assert "<b>" not in resp.get_data(as_text=True)


def test_htmx_gets_only_the_table(client, account):
    recorded(client, account, quantity="1", price="10")
    recorded(client, account, type="sell", quantity="1", price="11")
    resp = client.get(f"/accounts/{account}/activities?type=sell", headers=HTMX_TABLE)
    assert resp.status_code == 200
    body = resp.get_data(as_text=True)
    assert body.lstrip().startswith("<div id=\"activity-table\">") and "<html" not in body
    assert [cells(r)[1] for r in rows(body)] == ["Sell"]
    assert "HX-Request" in resp.headers["Vary"]
    # the page itself: the filter form swaps that table and pushes its URL
    page = client.get(f"/accounts/{account}/activities").get_data(as_text=True)
    form = re.search(r'<form method="get"[^>]*role="search"[^>]*>', page).group(0)
    assert 'hx-target="#activity-table"' in form and 'hx-push-url="true"' in form
    assert f'hx-get="/accounts/{account}/activities"' in form
    # a history restore wants the whole page
    restore = client.get(f"/accounts/{account}/activities", headers={**HTMX_TABLE, "HX-History-Restore-Request": "true"})
    assert "<html" in restore.get_data(as_text=True)


# ---- what the ledger refuses: shown by the form, input kept, 400 ------------------------------------------
REFUSED = [
    ({"type": "sell", "date": "2025-03-05", "quantity": "5", "price": "120"},
     "You held 4 AAPL on 2025-03-05; you cannot sell 5.", "5"),
    ({"date": (date.today() + timedelta(days=3)).isoformat(), "quantity": "1", "price": "1"},
     "The date is in the future.", (date.today() + timedelta(days=3)).isoformat()),  # ahead of UTC too
    ({"quantity": "0", "price": "10"}, "The quantity must be more than zero.", "0"),
    ({"quantity": "-2", "price": "10"}, "The quantity must be more than zero.", "-2"),
    ({"quantity": "1", "price": "-10"}, "The price must be more than zero.", "-10"),
    ({"quantity": "1", "price": "10", "fee": "-1"}, "The fee cannot be negative.", "-1"),
    ({"type": "dividend", "amount": "-3"}, "The amount must be more than zero.", "-3"),
    ({"type": "dividend"}, "Enter an amount.", "dividend"),
    ({"quantity": "1", "price": "10", "currency": "EUX"}, "“EUX” is not an ISO 4217 currency code", "EUX"),
    ({"quantity": "1", "price": "10", "currency": "euro"}, "“EURO” is not an ISO 4217 currency code", "EURO"),
    ({"symbol": "", "quantity": "1", "price": "10"}, "Enter a symbol.", "10"),
    ({"type": "split"}, "A split needs a ratio like 2:1 (new shares for old) or 1:10.", "split"),
    ({"type": "split", "ratio": "2:x"}, "Both sides of a split ratio are whole numbers from 1 to 1,000,000", "2:x"),
    ({"type": "split", "ratio": "3:3"}, "A 1:1 split changes nothing.", "3:3"),
    ({"type": "split", "ratio": "half"}, "“half” is not a split ratio", "half"),
    ({"quantity": "ten", "price": "10"}, "“ten” is not a number.", "ten"),
    ({"quantity": "1", "price": "NaN"}, "Enter a finite number.", "NaN"),
    ({"type": "dividend", "amount": "5 dollars"}, "“5 dollars” is not an amount.", "5 dollars"),
    ({"quantity": "0.00000000001", "price": "1"}, "Use at most 10 decimal places.", "0.00000000001"),
    ({"quantity": "1e15", "price": "1"}, "That number is too large", "1e15"),
    ({"quantity": "999999999999999", "price": "2"}, "That makes the AAPL holding too large", "999999999999999"),
    ({"date": "2025-02-30", "quantity": "1", "price": "1"}, "“2025-02-30” is not a date", "2025-02-30"),
    ({"date": "", "quantity": "1", "price": "1"}, "Enter the date (YYYY-MM-DD).", "1"),
    ({"date": "1850-01-01", "quantity": "1", "price": "1"}, "Enter a date from 1900 on.", "1850-01-01"),
    ({"type": "dividend", "amount": "5", "price": "3"}, "A dividend has no price: leave it empty.", "3"),
    ({"type": "split", "ratio": "2:1", "quantity": "8"}, "A split has no quantity: leave it empty.", "8"),
    ({"type": "buy", "quantity": "1", "price": "1", "ratio": "2:1"}, "A buy has no ratio: leave it empty.", "2:1"),
    ({"type": "swap", "quantity": "1"}, "Choose what kind of activity this is", "1"),
    ({"symbol": "<b>x", "quantity": "1", "price": "1"}, "A symbol is 1–20 letters", "&lt;B&gt;X"),
    ({"quantity": "1", "price": "1", "note": "n" * 501}, "Keep the note under 500 characters.", "n" * 501),
]


@pytest.mark.parametrize("fields, message, kept", REFUSED, ids=[m[:40] for _, m, _ in REFUSED])
def test_a_refused_activity_is_shown_again_with_the_reason(app, client, account, fields, message, kept):
    recorded(client, account, quantity="4", price="100")
    before = activity_ids(app)
    resp = record(client, account, **fields)
    assert resp.status_code == 400
    assert any(message in alert for alert in alerts(resp)), alerts(resp)
    assert kept in resp.get_data(as_text=True)
    if kept.strip() and kept not in ("dividend", "split"):
        assert f'value="{kept}"' in resp.get_data(as_text=True)  # what was typed, in its field
    assert activity_ids(app) == before and held(app, account, "AAPL") == (Decimal(4), Decimal(400))


def test_a_refused_form_keeps_every_field(client, account):
    resp = record(client, account, type="sell", symbol="msft", quantity="3", price="250.5", fee="1.25",
                  currency="usd", note="not held")
    assert resp.status_code == 400
    body = resp.get_data(as_text=True)
    assert "You held 0 MSFT on 2025-03-03; you cannot sell 3." in text(resp)
    for value in ('value="MSFT"', 'value="3"', 'value="250.5"', 'value="1.25"', 'value="USD"', 'value="not held"',
                  'value="2025-03-03"', '<option selected value="sell">'):
        assert value in body, value


# ---- edit and delete --------------------------------------------------------------------------------------
def test_edit_shows_the_activity_and_saves_the_change(app, client, account):
    recorded(client, account, quantity="10", price="100", note="first")
    [buy] = activity_ids(app)
    page = client.get(f"/activities/{buy}/edit")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert 'value="10"' in body and 'value="100"' in body and 'value="first"' in body and 'value="AAPL"' in body
    assert "Edit: Buy of 10 AAPL on 2025-03-03" in text(page)

    resp = post(client, f"/activities/{buy}/edit", {"date": DAY, "type": "buy", "symbol": "AAPL", "quantity": "12",
                                                     "price": "100", "currency": "USD", "account": str(account)})
    assert resp.status_code == 302 and resp.headers["Location"] == f"/accounts/{account}/activities"
    assert held(app, account, "AAPL") == (Decimal(12), Decimal(1200))
    assert "Buy of 12 AAPL on 2025-03-03 saved." in text(client.get(resp.headers["Location"]))


def test_an_edit_the_ledger_refuses_is_shown_again(app, client, account):
    recorded(client, account, quantity="10", price="100")
    recorded(client, account, type="sell", date="2025-03-04", quantity="8", price="110")
    buy = activity_ids(app)[0]
    resp = post(client, f"/activities/{buy}/edit", {"date": DAY, "type": "buy", "symbol": "AAPL", "quantity": "5",
                                                     "price": "100", "account": str(account)})
    assert resp.status_code == 400
    assert "You held 5 AAPL on 2025-03-04; you cannot sell 8." in text(resp)
    assert 'value="5"' in resp.get_data(as_text=True)
    assert held(app, account, "AAPL") == (Decimal(2), Decimal(200))


def test_an_edit_may_move_the_activity_to_another_account(app, client, account):
    other = create_account(client, "IRA")
    recorded(client, account, quantity="3", price="10")
    [buy] = activity_ids(app)
    resp = post(client, f"/activities/{buy}/edit", {"date": DAY, "type": "buy", "symbol": "AAPL", "quantity": "3",
                                                     "price": "10", "account": str(other)})
    assert resp.status_code == 302 and resp.headers["Location"] == f"/accounts/{other}/activities"
    assert held(app, account, "AAPL") is None and held(app, other, "AAPL") == (Decimal(3), Decimal(30))


def test_delete_asks_first_then_deletes_with_or_without_htmx(app, client, account):
    recorded(client, account, quantity="10", price="100")
    recorded(client, account, symbol="MSFT", quantity="1", price="300")
    buy, msft = activity_ids(app)
    confirm = client.get(f"/activities/{buy}/delete")
    assert confirm.status_code == 200
    assert "Delete this activity?" in text(confirm) and "Buy of 10 AAPL on 2025-03-03" in text(confirm)
    list_page = client.get(f"/accounts/{account}/activities").get_data(as_text=True)
    assert f'hx-post="/activities/{buy}/delete"' in list_page
    assert "hx-confirm=\"Delete this buy of AAPL on 2025-03-03? You can undo it for 10 seconds.\"" in list_page

    resp = post(client, f"/activities/{buy}/delete")
    assert resp.status_code == 302 and resp.headers["Location"] == f"/accounts/{account}/activities"
    assert activity_ids(app) == [msft] and held(app, account, "AAPL") is None
    assert "Buy of 10 AAPL on 2025-03-03 deleted." in text(client.get(resp.headers["Location"]))
    resp = client.post(f"/activities/{msft}/delete", headers={"HX-Request": "true", "X-CSRFToken": csrf_token(client)})
    assert resp.status_code == 204 and resp.headers["HX-Redirect"] == f"/accounts/{account}/activities"
    assert activity_ids(app) == [] and held(app, account, "MSFT") is None


def test_a_delete_the_ledger_refuses_says_why_with_409(app, client, account):
    recorded(client, account, symbol="NVDA", quantity="10", price="100")
    recorded(client, account, type="sell", symbol="NVDA", date="2025-03-04", quantity="8", price="110")
    buy = activity_ids(app)[0]
    reason = "This buy cannot be deleted: without it, you held 0 NVDA on 2025-03-04; you cannot sell 8."
    resp = post(client, f"/activities/{buy}/delete")
    assert resp.status_code == 409
    assert reason in text(resp)
    # with htmx: the list page says it (htmx swaps no 409, but follows HX-Redirect)
    resp = client.post(f"/activities/{buy}/delete", headers={"HX-Request": "true", "X-CSRFToken": csrf_token(client)})
    assert resp.status_code == 409 and resp.headers["HX-Redirect"] == f"/accounts/{account}/activities"
    assert reason in text(client.get(resp.headers["HX-Redirect"]))
    assert len(activity_ids(app)) == 2 and held(app, account, "NVDA") == (Decimal(2), Decimal(200))


# ---- whose, and forged ------------------------------------------------------------------------------------
def test_another_users_account_and_activities_are_404(app, client, account):
    recorded(client, account, quantity="10", price="100")
    [buy] = activity_ids(app)
    quick_user(app, "bob@example.com")
    bob = app.test_client()
    login(bob, "bob@example.com")
    bobs = create_account(bob, "Bob's")
    form = {"date": DAY, "type": "sell", "symbol": "AAPL", "quantity": "10", "price": "1", "account": str(bobs)}
    for method, url in [("GET", f"/accounts/{account}/activities"), ("POST", f"/accounts/{account}/activities"),
                        ("GET", f"/activities/{buy}/edit"), ("POST", f"/activities/{buy}/edit"),
                        ("GET", f"/activities/{buy}/delete"), ("POST", f"/activities/{buy}/delete"),
                        ("GET", "/activities/2147483647/edit"), ("GET", "/activities/99999999999/edit")]:
        resp = post(bob, url, form) if method == "POST" else bob.get(url)
        assert resp.status_code == 404, (method, url)
        assert "There is nothing here, or it is not yours." in text(resp)
    assert activity_ids(app) == [buy] and held(app, account, "AAPL") == (Decimal(10), Decimal(1000))
    # nor may alice move her activity into bob's account
    resp = post(client, f"/activities/{buy}/edit", form)
    assert resp.status_code == 400 and "Choose one of your accounts." in text(resp)


def test_every_form_needs_the_csrf_token(app, client, account):
    recorded(client, account, quantity="10", price="100")
    [buy] = activity_ids(app)
    form = {"date": DAY, "type": "buy", "symbol": "AAPL", "quantity": "1", "price": "1"}
    for url, headers in [(f"/accounts/{account}/activities", {}), (f"/activities/{buy}/edit", {}),
                         (f"/activities/{buy}/delete", {}), (f"/activities/{buy}/delete", {"HX-Request": "true"}),
                         ("/settings/gains", {})]:
        resp = client.post(url, data={**form, "cost_method": "fifo", "benchmark": "^DJI"}, headers=headers)
        assert resp.status_code == 400, url
        assert "The form was missing its security token" in text(resp)
    assert activity_ids(app) == [buy] and held(app, account, "AAPL") == (Decimal(10), Decimal(1000))


def test_user_text_is_escaped(client, account):
    recorded(client, account, quantity="1", price="1", note="<script>alert(1)</script>")
    body = client.get(f"/accounts/{account}/activities").get_data(as_text=True)
    assert "<script>alert(1)" not in body and "&lt;script&gt;alert(1)&lt;/script&gt;" in body


# ---- revalued at once ------------------------------------------------------------------------------------
def dashboard_total(client) -> str:
    return re.search(r'id="portfolio-total">([^<]+)<', client.get("/").get_data(as_text=True)).group(1)


def test_the_dashboard_value_changes_right_after_a_buy(app, client, account):
    recorded(client, account, quantity="10", price="100")
    set_price(app, "AAPL", "150")
    assert dashboard_total(client) == "1,500.00 USD"
    recorded(client, account, date="2025-03-04", quantity="5", price="140")
    assert dashboard_total(client) == "2,250.00 USD"
    recorded(client, account, type="sell", date="2025-03-05", quantity="15", price="160")
    assert dashboard_total(client) == "0.00 USD"


# ---- settings: gains --------------------------------------------------------------------------------------
def cost_shown(client) -> str:
    return re.search(r"on a cost of ([^<]+)<", client.get("/").get_data(as_text=True)).group(1)


def test_the_cost_method_re_derives_the_cost_basis_after_a_partial_sale(app, client, account, alice):
    recorded(client, account, quantity="10", price="100", fee="1")
    recorded(client, account, date="2025-04-02", quantity="10", price="130")
    recorded(client, account, type="sell", date="2025-05-02", quantity="5", price="150", fee="2")
    set_price(app, "AAPL", "200")
    assert cost_shown(client) == "1,725.75 USD"  # (1001 + 1300) × 15/20
    page = text(client.get("/settings/"))
    assert "Average cost (default)" in page and 'value="^GSPC"' in page

    resp = post(client, "/settings/gains", {"cost_method": "fifo", "benchmark": "^GSPC"})
    assert resp.status_code == 302
    assert "Cost bases and gains are now worked out by FIFO (first in, first out)." in text(client.get("/settings/"))
    assert cost_shown(client) == "1,800.50 USD"  # 5 left of the first buy at 100.10, and the second buy
    assert held(app, account, "AAPL") == (Decimal(15), Decimal("1800.5"))

    assert post(client, "/settings/gains", {"cost_method": "average", "benchmark": "^GSPC"}).status_code == 302
    assert cost_shown(client) == "1,725.75 USD"
    with app.app_context():
        assert db.session.get(User, alice).cost_method == "average"


def test_the_benchmark_is_a_symbol(app, client, alice):
    assert post(client, "/settings/gains", {"cost_method": "average", "benchmark": " ^ixic "}).status_code == 302
    with app.app_context():
        assert db.session.get(User, alice).benchmark == "^IXIC"
    for form, message in [({"cost_method": "average", "benchmark": "<b>"}, "A symbol is 1–20 letters"),
                          ({"cost_method": "average", "benchmark": ""}, "Enter a symbol"),
                          ({"cost_method": "lifo", "benchmark": "^GSPC"}, "Choose average cost or FIFO.")]:
        resp = post(client, "/settings/gains", form)
        assert resp.status_code == 400 and message in text(resp)
    with app.app_context():
        user = db.session.get(User, alice)
        assert (user.cost_method, user.benchmark) == ("average", "^IXIC")
