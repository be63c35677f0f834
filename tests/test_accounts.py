"""Accounts and holdings through the web UI: what the user sees and what is stored."""
from __future__ import annotations

import html
import re
from decimal import Decimal

import pytest
import sqlalchemy as sa
from conftest import login, post
from quick_users import quick_user

from webapp.extensions import db
from webapp.models import Account, Holding, Instrument


@pytest.fixture
def alice(app):
    return quick_user(app, "alice@example.com")


@pytest.fixture
def client(app, alice):
    """Alice's logged-in browser."""
    client = app.test_client()
    login(client)
    return client


# ---- helpers ------------------------------------------------------------------------------
def text(resp_or_html) -> str:
    """The page as a reader sees it: entities decoded, runs of whitespace as one space."""
    raw = resp_or_html if isinstance(resp_or_html, str) else resp_or_html.get_data(as_text=True)
    return " ".join(html.unescape(raw).split())


def create_account(client, name="Main", institution="", kind="brokerage") -> int:
    resp = post(client, "/accounts/", {"name": name, "institution": institution, "kind": kind})
    assert resp.status_code == 302, text(resp)[:2000]
    return int(re.fullmatch(r"/accounts/(\d+)", resp.headers["Location"]).group(1))


def add(client, account_id, symbol, quantity, asset_type="stock", **extra):
    return post(client, f"/accounts/{account_id}/holdings",
                {"symbol": symbol, "asset_type": asset_type, "quantity": quantity, **extra})


def accounts(app) -> dict[str, Account]:
    with app.app_context():
        return {a.name: a for a in db.session.scalars(sa.select(Account))}


def holdings(app, account_id=None) -> dict[str, Decimal]:
    """{symbol: quantity} of one account (or of every account)."""
    with app.app_context():
        q = sa.select(Instrument.symbol, Holding.quantity).join(Instrument, Instrument.id == Holding.instrument_id)
        if account_id is not None:
            q = q.where(Holding.account_id == account_id)
        return dict(db.session.execute(q).all())


def holding_id(app, account_id, symbol) -> int:
    with app.app_context():
        return db.session.scalar(
            sa.select(Holding.id).join(Instrument, Instrument.id == Holding.instrument_id)
            .where(Holding.account_id == account_id, Instrument.symbol == symbol)
        )


def count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def row(page: str, hid: int) -> str:
    m = re.search(rf'<tr id="holding-{hid}">(.*?)</tr>', page, re.S)
    assert m, f"no row for holding {hid}"
    return m.group(1)


# ---- accounts -----------------------------------------------------------------------------
def test_create_account_opens_its_page(app, client, alice):
    resp = post(client, "/accounts/", {"name": "  Main   brokerage ", "institution": " Fidelity ",
                                       "kind": "retirement"})
    assert resp.status_code == 302
    page = client.get(resp.headers["Location"])
    assert page.status_code == 200
    body = text(page)
    assert "<h1>Main brokerage</h1>" in body
    assert "Account “Main brokerage” created. Add its holdings below." in body
    assert "Retirement · Fidelity" in body
    assert "No holdings yet." in body

    acc = accounts(app)["Main brokerage"]  # whitespace collapsed
    assert (acc.owner_id, acc.institution, acc.kind) == (alice, "Fidelity", "retirement")


def test_accounts_are_listed_by_name_with_their_holding_counts(app, client):
    b = create_account(client, "Brokerage", institution="Schwab")
    create_account(client, "Algo fund", kind="fund_folio")
    add(client, b, "AAPL", "1")
    add(client, b, "MSFT", "2")

    body = text(client.get("/accounts/"))
    assert body.index("Algo fund") < body.index("Brokerage")
    brokerage_row = re.search(r"<tr>\s*<td><a[^>]*>Brokerage</a></td>(.*?)</tr>", body, re.S).group(1)
    assert "Schwab" in brokerage_row and "Brokerage" in brokerage_row
    assert '<td class="num">2</td>' in brokerage_row
    assert "Fund folio" in body


def test_duplicate_account_name_is_409_and_not_stored(app, client):
    create_account(client, "Main")
    resp = post(client, "/accounts/", {"name": " Main ", "kind": "brokerage"})
    assert resp.status_code == 409
    assert "You already have an account named “Main”." in text(resp)
    assert list(accounts(app)) == ["Main"]


def test_another_user_may_use_the_same_account_name(app, client):
    create_account(client, "Main")
    quick_user(app, "bob@example.com")
    bob = app.test_client()
    login(bob, "bob@example.com")
    create_account(bob, "Main")
    assert count(app, Account) == 2


ACCOUNTS_INVALID = [
    ({"name": "", "kind": "brokerage"}, "Give the account a name."),
    ({"name": "   ", "kind": "brokerage"}, "Give the account a name."),
    ({"name": "x" * 81, "kind": "brokerage"}, "Keep the name under 80 characters."),
    ({"name": "Main", "kind": "crypto"}, "Not a valid choice."),
    ({"name": "Main", "institution": "i" * 121, "kind": "brokerage"}, "Field cannot be longer than 120 characters."),
    ({"name": "Ma\x00in", "kind": "brokerage"}, "Remove the invisible control characters from this field."),
    ({"name": "Main", "institution": "Bank\x00", "kind": "brokerage"},
     "Remove the invisible control characters from this field."),
    ({"kind": "brokerage"}, "Give the account a name."),
]


def test_invalid_account_is_400_with_a_message(app, client, subtests):
    for form, message in ACCOUNTS_INVALID:
        with subtests.test(message, form=form):
            resp = post(client, "/accounts/", form)
            assert resp.status_code == 400
            assert message in text(resp)
    assert count(app, Account) == 0


def test_an_80_character_name_is_fine(app, client):
    name = "é" * 80  # characters, not bytes
    create_account(client, name)
    assert list(accounts(app)) == [name]


def test_rename(app, client):
    aid = create_account(client, "Old name")
    resp = post(client, f"/accounts/{aid}/rename", {"name": "  New   name "})
    assert resp.status_code == 302 and resp.headers["Location"] == f"/accounts/{aid}"
    body = text(client.get(f"/accounts/{aid}"))
    assert "Account renamed." in body and "<h1>New name</h1>" in body
    assert list(accounts(app)) == ["New name"]


def test_rename_to_an_existing_name_is_409_and_changes_nothing(app, client):
    aid = create_account(client, "First")
    create_account(client, "Second")
    resp = post(client, f"/accounts/{aid}/rename", {"name": "Second"})
    assert resp.status_code == 409
    body = text(resp)
    assert "You already have an account named “Second”." in body
    assert "<h1>First</h1>" in body
    assert sorted(accounts(app)) == ["First", "Second"]


def test_invalid_rename_is_400_and_changes_nothing(app, client, subtests):
    aid = create_account(client, "Keep me")
    for name, message in [("", "Give the account a name."), ("  ", "Give the account a name."),
                          ("y" * 81, "Keep the name under 80 characters."),
                          ("Bad\x00name", "Remove the invisible control characters from this field.")]:
        with subtests.test(message, name=name):
            resp = post(client, f"/accounts/{aid}/rename", {"name": name})
            assert resp.status_code == 400
            assert message in text(resp)
    assert list(accounts(app)) == ["Keep me"]


def test_delete_asks_for_confirmation_first(app, client):
    aid = create_account(client, "Doomed")
    add(client, aid, "AAPL", "1")
    add(client, aid, "MSFT", "1")
    resp = client.get(f"/accounts/{aid}/delete")
    assert resp.status_code == 200
    body = text(resp)
    assert "Delete “Doomed”?" in body
    assert "its 2 holdings" in body
    assert f'action="/accounts/{aid}/delete"' in body
    assert list(accounts(app)) == ["Doomed"] and len(holdings(app)) == 2


def test_delete_removes_the_account_and_its_holdings_only(app, client):
    doomed = create_account(client, "Doomed")
    kept = create_account(client, "Kept")
    add(client, doomed, "AAPL", "1")
    add(client, doomed, "MSFT", "2")
    add(client, kept, "AAPL", "5")

    resp = post(client, f"/accounts/{doomed}/delete")
    assert resp.status_code == 302 and resp.headers["Location"] == "/accounts/"
    assert "Account “Doomed” and its holdings were deleted." in text(client.get("/accounts/"))

    assert list(accounts(app)) == ["Kept"]
    with app.app_context():
        rows = db.session.execute(sa.select(Holding.account_id, Holding.quantity)).all()
    assert rows == [(kept, Decimal("5"))]
    assert client.get(f"/accounts/{doomed}").status_code == 404


def test_delete_with_htmx_answers_with_an_hx_redirect(app, client):
    aid = create_account(client, "Doomed")
    add(client, aid, "AAPL", "1")
    resp = post(client, f"/accounts/{aid}/delete", headers={"HX-Request": "true"})
    assert resp.status_code == 204
    assert resp.headers["HX-Redirect"] == "/accounts/"
    assert accounts(app) == {} and holdings(app) == {}


# ---- holdings -----------------------------------------------------------------------------
def test_add_holding_upper_cases_the_symbol(app, client):
    aid = create_account(client)
    resp = add(client, aid, " aapl ", "3")
    assert resp.status_code == 302 and resp.headers["Location"] == f"/accounts/{aid}"
    body = text(client.get(f"/accounts/{aid}"))
    assert "AAPL: 3 held." in body
    assert "<td>AAPL</td>" in body
    assert holdings(app, aid) == {"AAPL": Decimal("3")}


def test_the_dashboard_shows_a_new_holding(client):
    aid = create_account(client, "Main")
    add(client, aid, "MSFT", "2.5")
    body = text(client.get("/"))
    assert "Main" in body and "MSFT" in body and "2.5" in body


SYMBOLS_OK = {"BRK-B": "BRK-B", "vod.l": "VOD.L", "^GSPC": "^GSPC", "EURUSD=X": "EURUSD=X", "brk.a": "BRK.A",
              "0P0000KSPA.L": "0P0000KSPA.L", "A": "A", "X" * 20: "X" * 20}


def test_symbols_with_punctuation_are_accepted(app, client, subtests):
    aid = create_account(client)
    for typed in SYMBOLS_OK:
        with subtests.test(symbol=typed):
            assert add(client, aid, typed, "1").status_code == 302
    add(client, aid, "vtsax", "1", asset_type="mutual_fund")
    assert holdings(app, aid) == {**{s: Decimal("1") for s in SYMBOLS_OK.values()}, "VTSAX": Decimal("1")}
    with app.app_context():
        assert db.session.scalar(sa.select(Instrument.asset_type).where(Instrument.symbol == "VTSAX")) == "mutual_fund"


SYMBOL_RULE = "A symbol is 1–20 letters, digits or . - ^ = (e.g. BRK-B, VOD.L, ^GSPC)."
SYMBOLS_BAD = {
    "AA PL": SYMBOL_RULE,
    "<script>": SYMBOL_RULE,
    "A" * 21: SYMBOL_RULE,
    "AAPL;DROP": SYMBOL_RULE,
    "ÄPPLE": SYMBOL_RULE,
    "AAPL\x00": SYMBOL_RULE,
    "../AAPL/": SYMBOL_RULE,
    "": "Enter a symbol, e.g. AAPL, VOD.L or VTSAX.",
    "   ": "Enter a symbol, e.g. AAPL, VOD.L or VTSAX.",
}


def test_invalid_symbols_are_400_with_a_message(app, client, subtests):
    aid = create_account(client)
    for typed, message in SYMBOLS_BAD.items():
        with subtests.test(symbol=typed):
            resp = add(client, aid, typed, "1")
            assert resp.status_code == 400
            assert message in text(resp)
    assert count(app, Holding) == 0 and count(app, Instrument) == 0


def test_unknown_asset_type_is_400(app, client):
    aid = create_account(client)
    resp = add(client, aid, "AAPL", "1", asset_type="bond")
    assert resp.status_code == 400
    assert "Not a valid choice." in text(resp)
    assert count(app, Holding) == 0


QUANTITIES_BAD = {
    "0": "The quantity must be greater than zero.",
    "-0": "The quantity must be greater than zero.",
    "-1": "The quantity must be greater than zero.",
    "0.00": "The quantity must be greater than zero.",
    "abc": "“abc” is not a number.",
    "1.2.3": "“1.2.3” is not a number.",
    "0x10": "“0x10” is not a number.",
    "NaN": "Enter a finite number.",
    "sNaN": "Enter a finite number.",
    "Infinity": "Enter a finite number.",
    "-inf": "Enter a finite number.",
    "1e309": "That quantity is too large (the limit is 1,000,000,000,000,000).",
    "1e16": "That quantity is too large (the limit is 1,000,000,000,000,000).",
    "1000000000000000": "That quantity is too large (the limit is 1,000,000,000,000,000).",
    "1e999999999999": "That quantity is too large (the limit is 1,000,000,000,000,000).",
    "0.00000000001": "Use at most 10 decimal places.",
    "1.23456789012": "Use at most 10 decimal places.",
    "1e-11": "Use at most 10 decimal places.",
    "": "Enter a quantity.",
    "   ": "Enter a quantity.",
}


def test_invalid_quantities_are_400_with_a_human_message(app, client, subtests):
    aid = create_account(client)
    for typed, message in QUANTITIES_BAD.items():
        with subtests.test(quantity=typed):
            resp = add(client, aid, "AAPL", typed)
            assert resp.status_code == 400
            body = text(resp)
            assert message in body
            assert f'value="{typed}"' in body or not typed.strip()  # what was typed stays in the box
    assert count(app, Holding) == 0


QUANTITIES_OK = {
    "1,234.5": "1234.5",
    "0.0000000001": "0.0000000001",
    "1e-10": "0.0000000001",
    "123456789.0123456789": "123456789.0123456789",
    "999999999999999.9999999999": "999999999999999.9999999999",
    " 7 ": "7",
    "+2": "2",
    "1.50000000000000": "1.5",  # zeros past the 10th place change nothing
    "1_000": "1000",
    "2E+3": "2000",
    "0.1": "0.1",
}


def test_valid_quantities_are_stored_exactly(app, client, subtests):
    aid = create_account(client)
    for i, typed in enumerate(QUANTITIES_OK):
        with subtests.test(quantity=typed):
            assert add(client, aid, f"SYM{i}", typed).status_code == 302
    assert holdings(app, aid) == {f"SYM{i}": Decimal(v) for i, v in enumerate(QUANTITIES_OK.values())}


def test_the_account_page_shows_quantities_in_full(app, client):
    aid = create_account(client)
    add(client, aid, "TINY", "0.0000000001")
    add(client, aid, "ROUND", "2000")
    add(client, aid, "BIG", "123456789.0123456789")
    page = client.get(f"/accounts/{aid}").get_data(as_text=True)
    for symbol, shown in [("TINY", "0.0000000001"), ("ROUND", "2000"), ("BIG", "123456789.0123456789")]:
        assert f'value="{shown}"' in row(page, holding_id(app, aid, symbol)), symbol


def test_adding_a_held_symbol_offers_to_merge(app, client):
    aid = create_account(client)
    add(client, aid, "AAPL", "1.5")
    resp = add(client, aid, "aapl", "2")
    assert resp.status_code == 409
    body = text(resp)
    assert "You already hold 1.5 AAPL in this account." in body
    assert "Add 2 more to make it 3.5?" in body
    assert "Merge quantities" in body
    assert re.search(r'<input[^>]*name="merge"[^>]*value="1"', body)
    assert holdings(app, aid) == {"AAPL": Decimal("1.5")}  # nothing changed yet

    resp = add(client, aid, "AAPL", "2", merge="1")
    assert resp.status_code == 302
    assert "AAPL: 3.5 held." in text(client.get(f"/accounts/{aid}"))
    assert holdings(app, aid) == {"AAPL": Decimal("3.5")}


def test_merging_adds_exactly(app, client, subtests):
    aid = create_account(client)
    for symbol, first, second, total in [
        ("VTI", "0.1", "0.2", "0.3"),
        ("VXUS", "0.0000000001", "123456789.9999999999", "123456790"),
        ("BND", "1,000,000", "0.0000000003", "1000000.0000000003"),
        ("VOO", "999999999999999", "0.9999999999", "999999999999999.9999999999"),  # right under the limit
    ]:
        with subtests.test(symbol=symbol):
            add(client, aid, symbol, first)
            assert add(client, aid, symbol, second).status_code == 409
            assert add(client, aid, symbol, second, merge="1").status_code == 302
            assert holdings(app, aid)[symbol] == Decimal(total)


def test_merging_past_the_quantity_limit_is_refused(app, client):
    aid = create_account(client)
    add(client, aid, "VTI", "600000000000000")
    resp = add(client, aid, "VTI", "600000000000000", merge="1")
    assert resp.status_code == 400
    assert "over the limit of 1,000,000,000,000,000" in text(resp)
    assert holdings(app, aid) == {"VTI": Decimal("600000000000000")}


def test_merge_with_an_invalid_quantity_is_400(app, client):
    aid = create_account(client)
    add(client, aid, "VTI", "1")
    resp = add(client, aid, "VTI", "-1", merge="1")
    assert resp.status_code == 400
    assert "The quantity must be greater than zero." in text(resp)
    assert holdings(app, aid) == {"VTI": Decimal("1")}


def test_the_same_symbol_in_two_accounts_is_two_holdings(app, client):
    a, b = create_account(client, "A"), create_account(client, "B")
    add(client, a, "AAPL", "1")
    assert add(client, b, "AAPL", "2").status_code == 302
    assert holdings(app, a) == {"AAPL": Decimal("1")} and holdings(app, b) == {"AAPL": Decimal("2")}
    assert count(app, Instrument) == 1


def test_edit_quantity(app, client):
    aid = create_account(client)
    add(client, aid, "AAPL", "1")
    hid = holding_id(app, aid, "AAPL")
    resp = post(client, f"/accounts/holdings/{hid}/quantity", {"quantity": "12.3456789012"})
    assert resp.status_code == 302 and resp.headers["Location"] == f"/accounts/{aid}"
    body = text(client.get(f"/accounts/{aid}"))
    assert "AAPL: quantity set to 12.3456789012." in body
    assert holdings(app, aid) == {"AAPL": Decimal("12.3456789012")}


def test_invalid_quantity_edit_is_400_and_changes_nothing(app, client, subtests):
    aid = create_account(client)
    add(client, aid, "AAPL", "5")
    add(client, aid, "MSFT", "6")
    hid = holding_id(app, aid, "AAPL")
    for typed, message in [
        ("0", "The quantity must be greater than zero."),
        ("-3", "The quantity must be greater than zero."),
        ("abc", "“abc” is not a number."),
        ("", "Enter a quantity."),
        ("NaN", "Enter a finite number."),
        ("1e16", "That quantity is too large"),
        ("0.12345678901", "Use at most 10 decimal places."),
    ]:
        with subtests.test(quantity=typed):
            resp = post(client, f"/accounts/holdings/{hid}/quantity", {"quantity": typed})
            assert resp.status_code == 400
            page = resp.get_data(as_text=True)
            assert message in text(row(page, hid))  # the error is shown on the right row ...
            assert message not in text(row(page, holding_id(app, aid, "MSFT")))  # ... only there
    assert holdings(app, aid) == {"AAPL": Decimal("5"), "MSFT": Decimal("6")}


def test_remove_holding(app, client):
    aid = create_account(client)
    add(client, aid, "AAPL", "1")
    add(client, aid, "MSFT", "2")
    hid = holding_id(app, aid, "AAPL")
    resp = post(client, f"/accounts/holdings/{hid}/delete")
    assert resp.status_code == 302 and resp.headers["Location"] == f"/accounts/{aid}"
    body = text(client.get(f"/accounts/{aid}"))
    assert "AAPL removed." in body and "<td>AAPL</td>" not in body
    assert holdings(app, aid) == {"MSFT": Decimal("2")}
    assert count(app, Instrument) == 2  # the instrument stays for others
    # removing it again: it is gone
    assert post(client, f"/accounts/holdings/{hid}/delete").status_code == 404


def test_remove_holding_with_htmx(app, client):
    aid = create_account(client)
    add(client, aid, "AAPL", "1")
    hid = holding_id(app, aid, "AAPL")
    resp = post(client, f"/accounts/holdings/{hid}/delete", headers={"HX-Request": "true"})
    assert resp.status_code == 204 and resp.headers["HX-Redirect"] == f"/accounts/{aid}"
    assert holdings(app, aid) == {}


def test_ids_that_do_not_exist_are_404_even_beyond_the_integer_range(app, client, subtests):
    create_account(client)
    for missing in ["987654", "2147483647", "2147483648", "9223372036854775808", "1" + "0" * 30]:
        with subtests.test(id=missing):
            assert client.get(f"/accounts/{missing}").status_code == 404
            assert client.get(f"/accounts/{missing}/delete").status_code == 404
            assert post(client, f"/accounts/{missing}/delete").status_code == 404
            assert post(client, f"/accounts/{missing}/rename", {"name": "X"}).status_code == 404
            assert add(client, missing, "AAPL", "1").status_code == 404
            assert post(client, f"/accounts/holdings/{missing}/quantity", {"quantity": "1"}).status_code == 404
            assert post(client, f"/accounts/holdings/{missing}/delete").status_code == 404
    assert list(accounts(app)) == ["Main"] and holdings(app) == {}


def test_a_currency_picked_with_a_suggestion_is_kept_where_none_is_known(app, client):
    aid = create_account(client)
    assert add(client, aid, "SAP.DE", "5", currency="eur").status_code == 302
    assert add(client, aid, "VTI", "5", asset_type="etf").status_code == 302  # no currency given
    with app.app_context():
        currencies = dict(db.session.execute(sa.select(Instrument.symbol, Instrument.currency)).all())
    assert currencies == {"SAP.DE": "EUR", "VTI": None}
    # another account adding VTI with a currency teaches it; a known currency is never overwritten
    other = create_account(client, "Second")
    assert add(client, other, "VTI", "1", asset_type="etf", currency="USD").status_code == 302
    assert add(client, other, "SAP.DE", "1", currency="GBP").status_code == 302
    with app.app_context():
        currencies = dict(db.session.execute(sa.select(Instrument.symbol, Instrument.currency)).all())
    assert currencies == {"SAP.DE": "EUR", "VTI": "USD"}


def test_a_currency_that_is_not_three_letters_is_refused_with_a_message(app, client):
    aid = create_account(client)
    for bad in ("EURO", "€", "U$D", "12"):
        resp = add(client, aid, "SAP.DE", "5", currency=bad)
        assert resp.status_code == 400, bad
        assert "Enter a three-letter currency code like USD" in text(resp)
    assert holdings(app) == {}
