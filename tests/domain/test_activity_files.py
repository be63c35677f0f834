"""Activity files: Folio's CSV, Ghostfolio's JSON export and Trading 212's History CSV, read
to exact activities (hand-written expectations), every problem with its line, column and
reason; identities for re-imports; and write → parse round trips (Hypothesis)."""
import json
from datetime import date
from math import gcd
from decimal import Decimal as D
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from webapp.domain import activity_csv, broker_csv, ghostfolio
from webapp.domain.activity_files import detect_format, parse_any
from webapp.domain.activity_rows import RowError
from webapp.domain.csv_format import MAX_BYTES
from webapp.domain.inputs import CONTROL_RE
from webapp.domain.ledger import ISO_4217, Activity, check, positions
from webapp.domain.splits import Ratio

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "activities"
TODAY = date(2024, 6, 1)


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def A(day, kind, symbol=None, quantity=None, price=None, fee="0", amount=None, currency="USD", note="", ratio=None):
    return Activity(date.fromisoformat(day), 0, kind, symbol, None if quantity is None else D(quantity),
                    None if price is None else D(price), D(fee), None if amount is None else D(amount), currency,
                    note, ratio)


def folio(text: str):
    return activity_csv.parse(text.encode("utf-8"), TODAY)


def where(errors):
    return [(e.line, e.column) for e in errors]


# ---- Folio's CSV: the valid file ---------------------------------------------------------------


def test_the_valid_file_reads_to_exactly_these_activities():
    rows, errors = activity_csv.parse(fixture("folio_valid.csv"), TODAY)
    assert errors == []
    assert [(r.line, r.account, r.activity) for r in rows] == [
        (2, "Broker", A("2024-01-05", "buy", "AAPL", "10", "150.50", "1.00", note="first lot")),
        (3, "Broker", A("2024-01-05", "buy", "AAPL", "10", "150.5", "1", note="first lot")),
        (4, "Broker", A("2024-02-15", "dividend", "AAPL", amount="4.80")),
        (5, "Broker", A("2024-03-01", "sell", "AAPL", "5", "180", "0.5", note="sold, half")),
        (6, "Broker", A("2024-03-10", "split", "AAPL", ratio=Ratio(2, 1))),
        (7, "IRA", A("2024-04-01", "opening", "VTI", "12.5", amount="2500", note="moved in")),
        (8, "IRA", A("2024-04-02", "deposit", amount="1000")),
        (9, "IRA", A("2024-04-03", "withdrawal", amount="200")),
        (10, "IRA", A("2024-04-30", "interest", amount="1.23", note="cash interest")),
        # line 11 is blank; the note's leading ' kept a spreadsheet from running it
        (12, "ISA", A("2024-05-01", "fee", amount="5", currency="GBP", note="=account fee")),
        (13, "ISA", A("2024-05-02", "tax", "VOD.L", amount="0.72", currency="GBP", note="withholding")),
        (14, "ISA", A("2024-05-03", "transfer_in", "VOD.L", "100", "0.72", currency="GBP")),
        (15, "ISA", A("2024-05-04", "transfer_out", "VOD.L", "50", currency="GBP")),
    ]
    # the ledger they make: 20 bought, 5 sold, then 2:1
    accounts = {"Broker": 1, "IRA": 2, "ISA": 3}
    ledger = [Activity(**{**r.activity.__dict__, "account": accounts[r.account]}) for r in rows]
    assert check(ledger, TODAY) == []
    assert positions(ledger) == {(1, "AAPL"): D(30), (2, "VTI"): D("12.5"), (3, "VOD.L"): D(50)}


def test_a_byte_order_mark_case_spaces_and_column_order_are_fine():
    rows, errors = folio("\ufeff Currency ,TYPE,date,Account,symbol,quantity,price\n"
                         "EUR,Buy,2024-01-02,  Depot ,sap,1,100\n")
    assert errors == []
    assert [(r.account, r.activity) for r in rows] == [("Depot", A("2024-01-02", "buy", "SAP", "1", "100",
                                                                      currency="EUR"))]


# ---- Folio's CSV: every error with its line, column and reason -----------------------------------


def test_every_error_of_the_file_has_its_line_column_and_reason():
    rows, errors = activity_csv.parse(fixture("folio_errors.csv"), TODAY)
    assert [(r.line, r.activity.note) for r in rows] == [(2, "a good row")]
    expected = [
        (3, "date", "“05/01/2024” is not a date written YYYY-MM-DD"),
        (4, "type", "“purchase” is not an activity type"),
        (5, "quantity", "“ten” is not a number"),
        (6, "quantity", "The quantity must be more than zero."),
        (7, "column 11", "A value in a column the header does not name (“surplus”)."),
        (8, "quantity", "“1,234.5” has a comma: write numbers without thousands separators"),
        (9, "price", "The price must be more than zero."),
        (10, "currency", "“XYZ” is not an ISO 4217 currency code"),
        (11, "quantity", "“2x1” is not a split ratio"),
        (12, "amount", "Enter an amount."),
        (13, "account", "Enter the account's name."),
        (13, "price", "“NaN” is not a finite number."),
        (13, "symbol", "Enter a symbol."),
        (13, "fee", "The fee cannot be negative."),
        (14, "date", "The date is in the future."),
    ]
    assert len(errors) == len(expected)
    for error, (line, column, reason) in zip(errors, expected):
        assert (error.line, error.column) == (line, column)
        assert error.message.startswith(reason), error
    assert str(errors[4]) == "line 7, column 11: A value in a column the header does not name (“surplus”)."
    assert str(errors[0]).startswith("line 3, date: “05/01/2024”")


def test_extra_values_each_reported_but_empty_trailing_fields_are_not():
    rows, errors = folio("date,account,type,amount,currency\n2024-01-02,B,deposit,5,USD,,\n"
                         "2024-01-03,B,deposit,5,USD,x,,y\n")
    assert [r.line for r in rows] == [2]
    assert where(errors) == [(3, "column 6"), (3, "column 8")]


def test_header_problems_are_reported_on_the_header_line():
    rows, errors = folio("date,account,type,currency,amount,colour\n2024-01-02,B,deposit,USD,5,red\n")
    assert [r.line for r in rows] == [2]  # an unknown column is reported, and the rows are still read
    assert where(errors) == [(1, "colour")]
    assert "“colour” is not a column of Folio's activities file" in errors[0].message

    rows, errors = folio("\n\ndate,type,type,amount\n2024-01-02,deposit,deposit,5\n")
    assert rows == []
    assert where(errors) == [(3, "type"), (3, None), (3, None)]
    assert [e.message for e in errors] == [
        "The header names “type” twice.",
        "The header has no “account” column (required: date, account, type, currency).",
        "The header has no “currency” column (required: date, account, type, currency).",
    ]


def test_columns_no_row_needs_may_be_left_out_and_a_needed_one_is_named():
    rows, errors = folio("date,account,type,amount,currency\n2024-01-02,B,deposit,5,USD\n2024-01-03,B,buy,,USD\n")
    assert [r.line for r in rows] == [2]
    assert [(e.line, e.column, e.message) for e in errors] == [
        (3, "symbol", "Enter a symbol."), (3, "quantity", "Enter a quantity."), (3, "price", "Enter a price.")]


@pytest.mark.parametrize("data, line, message", [
    (b"", 1, "The file is empty"),
    (b"\n \n", 1, "The file is empty"),
    (b"date,account,type,currency\n", 2, "The file has a header but no activities."),
    (b"date,account,type,currency\n2024-01-02,\xff,deposit,USD\n", 2, "The file is not UTF-8 text"),
    (b"date,account\x00", 1, "The file is not a text file."),
    (b"x" * (MAX_BYTES + 1), 1, "The file is larger than 5 MB"),
])
def test_files_that_cannot_be_read(data, line, message):
    rows, errors = activity_csv.parse(data, TODAY)
    assert rows == [] and len(errors) == 1 and errors[0].message.startswith(message)
    assert errors[0].line == line


def test_too_many_rows(monkeypatch):
    monkeypatch.setattr(activity_csv, "MAX_ROWS", 2)
    rows, errors = folio("date,account,type,amount,currency\n" + "2024-01-02,B,deposit,5,USD\n" * 3)
    assert len(rows) == 2 and where(errors) == [(4, None)] and "More than 2 activities" in errors[0].message


@pytest.mark.parametrize("text, reason", [
    ("1,234.5", "has a comma"), ("12,5", "has a comma"), ("NaN", "is not a finite number"),
    ("-Infinity", "is not a finite number"), ("1e5", "is not a number"), ("١٠", "is not a number"),
    ("1_000", "is not a number"), ("0.00000000001", "has more than 10 decimal places"),
    ("1000000000000000", "is too large"), ("1 000", "is not a number"),
])
def test_numbers_are_plain_and_exact(text, reason):
    rows, errors = folio(f'date,account,type,amount,currency\n2024-01-02,B,deposit,"{text}",USD\n')
    assert rows == [] and where(errors) == [(2, "amount")] and reason in errors[0].message


@pytest.mark.parametrize("text, value", [("+5", "5"), ("5.", "5"), (".5", "0.5"), ("0.0000000001", "1E-10"),
                                         (" 12.50 ", "12.5")])
def test_numbers_read(text, value):
    rows, errors = folio(f'date,account,type,amount,currency\n2024-01-02,B,deposit,{text},USD\n')
    assert errors == [] and rows[0].activity.amount == D(value)


@pytest.mark.parametrize("cells, column, reason", [
    ("2024-02-30,B,deposit,,,5,USD", "date", "2024-02-30 is not a day of the calendar."),
    ("2024-1-2,B,deposit,,,5,USD", "date", "is not a date written YYYY-MM-DD"),
    (",B,deposit,,,5,USD", "date", "Enter a date (YYYY-MM-DD)."),
    ("2024-01-02,B,,,,5,USD", "type", "Enter a type"),
    ("2024-01-02,B,deposit,,,5,", "currency", "Enter a currency"),
    ("2024-01-02,B,deposit,,,5,usdollar", "currency", "is not an ISO 4217 currency code"),
    ("2024-01-02,B,split,AAPL,,,USD", "quantity", "A split needs a ratio like 2:1"),
    ("2024-01-02,B,split,AAPL,1:1,,USD", "quantity", "A 1:1 split changes nothing."),
    ("2024-01-02,B,dividend,AA PL,,5,USD", "symbol", "“AA PL” is not a symbol"),
    ("2024-01-02,B\u202e,deposit,,,5,USD", "account", "control characters"),
    (f"2024-01-02,{'x' * 81},deposit,,,5,USD", "account", "longer than 80 characters"),
    ("2024-01-02,B,deposit,,,0,USD", "amount", "The amount must be more than zero."),
])
def test_one_problem_each(cells, column, reason):
    rows, errors = folio(f"date,account,type,symbol,quantity,amount,currency\n{cells}\n")
    assert rows == []
    assert [(e.line, e.column) for e in errors] == [(2, column)] and reason in errors[0].message, errors


# ---- identities ---------------------------------------------------------------------------------


def test_identity_is_the_same_for_the_same_activity_written_another_way():
    a = A("2024-01-05", "buy", "AAPL", "10", "150.5", "1", note="first lot")
    b = A("2024-01-05", "buy", "AAPL", "10.00", "150.50", "1.0", note="  first lot ")
    assert activity_csv.identity("Broker", a) == activity_csv.identity("  broker ", b)
    assert activity_csv.identity("My  Broker", a) == activity_csv.identity("my broker", a)
    assert len({activity_csv.identity("Broker", x) for x in (
        a, A("2024-01-06", "buy", "AAPL", "10", "150.5", "1", note="first lot"),
        A("2024-01-05", "buy", "AAPL", "10", "150.5", "1", note="second lot"),
        A("2024-01-05", "buy", "AAPL", "10", "150.5", "1", currency="EUR", note="first lot"),
        A("2024-01-05", "sell", "AAPL", "10", "150.5", "1", note="first lot"))}) == 5
    assert activity_csv.identity("IRA", a) != activity_csv.identity("Broker", a)
    split = A("2024-03-10", "split", "AAPL", ratio=Ratio(2, 1))
    assert activity_csv.identity("B", split) != activity_csv.identity("B", A("2024-03-10", "split", "AAPL",
                                                                              ratio=Ratio(1, 2)))


def test_identity_is_stable_across_runs_and_versions():
    # pinned: changing what goes into an identity makes every earlier import look new
    a = A("2024-01-05", "buy", "AAPL", "10", "150.5", "1", note="first lot")
    assert activity_csv.identity("Broker", a) == activity_csv.identity("Broker", a)
    assert activity_csv.identity("Broker", a) == PINNED


PINNED = "a4720ca6af162dee72de0b586a3937a9cb89eb0ae1af178e6e1e0aa485c8db2e"


def test_keyed_counts_occurrences_of_the_same_identity():
    rows, _ = activity_csv.parse(fixture("folio_valid.csv"), TODAY)
    keyed = activity_csv.keyed(rows)
    lines = [line for line in range(4, 16) if line != 11]  # 11 is blank
    assert [(row.line, n) for row, _, n in keyed] == [(2, 1), (3, 2)] + [(line, 1) for line in lines]
    assert keyed[0][1] == keyed[1][1] and len({key for _, key, _ in keyed}) == 12
    again = activity_csv.keyed(activity_csv.parse(fixture("folio_valid.csv"), TODAY)[0])
    assert [(k, n) for _, k, n in again] == [(k, n) for _, k, n in keyed]


# ---- writing, and reading back ---------------------------------------------------------------------


def test_write_csv_escapes_formulas_and_reads_back():
    items = [("=Broker", A("2024-01-02", "deposit", amount="5", note="+1")),
             ("'quoted", A("2024-01-03", "fee", amount="1.50", note="'=x")),
             ("B", A("2024-01-04", "split", "-X", ratio=Ratio(1, 10)))]
    text = activity_csv.write_csv(items)
    assert text.splitlines() == [
        "date,account,type,symbol,quantity,price,fee,amount,currency,note",
        "2024-01-02,'=Broker,deposit,,,,,5,USD,'+1",
        "2024-01-03,''quoted,fee,,,,,1.5,USD,''=x",
        "2024-01-04,B,split,'-X,1:10,,,,USD,"]
    rows, errors = folio(text)
    assert errors == [] and [(r.account, r.activity) for r in rows] == items


def _text(max_size):
    return st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=max_size).filter(
        lambda s: s == s.strip() and not CONTROL_RE.search(s))


def _number(low=1):
    return st.builds(lambda n, k: D(n).scaleb(-k), st.integers(low, 10 ** 15 - 1), st.integers(0, 10)).filter(
        lambda d: d < D("1e15"))


@st.composite
def activities(draw):
    kind = draw(st.sampled_from(["buy", "sell", "dividend", "interest", "fee", "tax", "split", "transfer_in",
                                 "transfer_out", "deposit", "withdrawal", "opening"]))
    symbol = draw(st.from_regex(r"[A-Z0-9.\-^=]{1,20}", fullmatch=True))
    maybe = lambda s: draw(st.none() | s)  # noqa: E731
    fields = dict(date=draw(st.dates(date(1970, 1, 1), TODAY)), account=0, type=kind,
                  currency=draw(st.sampled_from(sorted(ISO_4217))), note=draw(_text(40)), fee=draw(_number(0)))
    if kind in ("buy", "sell"):
        fields.update(symbol=symbol, quantity=draw(_number()), price=draw(_number()))
    elif kind in ("opening", "transfer_in", "transfer_out"):
        fields.update(symbol=symbol, quantity=draw(_number()), price=maybe(_number(0)))
        if kind != "transfer_out":
            fields["amount"] = draw(_number(0)) if kind == "opening" and fields["price"] is None else maybe(_number(0))
    elif kind == "split":
        n, d = draw(st.tuples(st.integers(1, 1000), st.integers(1, 1000)).filter(lambda t: t[0] != t[1]))
        fields.update(symbol=symbol, ratio=Ratio(n // gcd(n, d), d // gcd(n, d)))
    else:
        fields.update(symbol=symbol if kind == "dividend" else maybe(st.just(symbol)), amount=draw(_number()))
    return Activity(**fields)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(st.lists(st.tuples(_text(80).filter(bool), activities()), min_size=1, max_size=8))
def test_write_then_parse_gives_the_same_activities_and_identities(items):
    rows, errors = activity_csv.parse(activity_csv.write_csv(items).encode("utf-8"), TODAY)
    assert errors == []
    assert [(r.account, r.activity) for r in rows] == items
    assert [k for _, k, _ in activity_csv.keyed(rows)] == [activity_csv.identity(n, a) for n, a in items]


# ---- Ghostfolio ------------------------------------------------------------------------------------


def test_ghostfolio_export_maps_to_these_activities_and_refuses_items_and_liabilities():
    rows, errors = ghostfolio.parse(fixture("ghostfolio_export.json"), TODAY)
    trading = "My Online Trading Account"
    assert [(r.line, r.account, r.activity) for r in rows] == [
        (1, trading, A("2021-09-01", "fee", amount="49")),  # fee 49, quantity 0, unitPrice 0
        (2, trading, A("2021-09-16", "buy", "MSFT", "5", "298.58", "19", note="My first order 🤓")),
        (3, trading, A("2021-11-17", "dividend", "MSFT", amount="3.10")),  # 5 × 0.62
        (4, trading, A("2021-12-31", "interest", amount="12.34", note="Cash interest")),  # 1 × 12.34
        (5, trading, A("2022-02-01", "sell", "MSFT", "2", "310.2", "4.95")),
        (6, "ISA", A("2022-03-01", "buy", "VOD.L", "100", "72.50", currency="GBP")),  # 7250 GBp
        (9, "Ghostfolio", A("2022-05-02", "buy", "BITCOIN", "0.3", "41000")),  # 0.30000000000000004, no account
    ]
    assert [(e.line, e.column, e.message) for e in errors] == [
        (7, "type", "A valuable (ITEM) is not supported: Folio records securities, cash and income, not "
                    "valuables or debts; leave it out."),
        (8, "type", "A liability is not supported: Folio records securities, cash and income, not valuables "
                    "or debts; leave it out."),
        (10, "date", "The date is in the future."),
        (10, "quantity", "The quantity must be more than zero."),
        (10, "unitPrice", "The price must be more than zero."),
    ]


def gf(*activities, accounts=()):
    return ghostfolio.parse(json.dumps({"meta": {}, "accounts": list(accounts), "activities": list(activities)}),
                            TODAY, "Elsewhere")


BASE = {"accountId": None, "comment": None, "fee": 0, "quantity": 1, "type": "BUY", "unitPrice": 10,
        "currency": "USD", "dataSource": "YAHOO", "date": "2024-01-02T00:00:00.000Z", "symbol": "MSFT"}


def test_ghostfolio_accounts_fall_back_to_the_id_then_the_default():
    rows, errors = gf({**BASE, "accountId": "a1"}, {**BASE, "accountId": "zz"}, BASE,
                      accounts=[{"id": "a1", "name": "Main", "currency": "USD"}])
    assert errors == [] and [r.account for r in rows] == ["Main", "zz", "Elsewhere"]


def test_ghostfolio_fee_interest_and_numbers():
    rows, errors = gf({**BASE, "type": "FEE", "fee": 0, "quantity": 2, "unitPrice": "1.25"},
                      {**BASE, "type": "INTEREST", "quantity": 1, "unitPrice": 3, "fee": 0.5, "date": "2024-01-02"},
                      {**BASE, "type": "DIVIDEND", "quantity": 3, "unitPrice": 120, "currency": "GBX", "fee": 10})
    assert errors == []
    assert [r.activity for r in rows] == [
        A("2024-01-02", "fee", amount="2.50"),
        A("2024-01-02", "interest", fee="0.5", amount="3"),
        A("2024-01-02", "dividend", "MSFT", fee="0.10", amount="3.60", currency="GBP")]


def test_ghostfolio_errors_name_the_json_field():
    rows, errors = gf({**BASE, "type": "VALUABLE"}, {**BASE, "type": "SPLIT"}, "BUY",
                      {**BASE, "quantity": True, "unitPrice": "1,5", "date": "16.09.2021", "currency": ""},
                      {**BASE, "type": "DIVIDEND", "quantity": "NaN", "symbol": "a b"},
                      {**BASE, "type": "FEE", "fee": -3, "accountId": 7})
    assert rows == []
    assert [(e.line, e.column) for e in errors] == [
        (1, "type"), (2, "type"), (3, None),
        (4, "date"), (4, "quantity"), (4, "unitPrice"), (4, "currency"),
        (5, "quantity"), (5, "symbol"),
        (6, "accountId"), (6, "fee")]
    assert errors[1].message.startswith("“SPLIT” is not an activity type Folio reads (BUY, SELL, DIVIDEND")
    assert errors[4].message == "“true” is not a number."
    assert errors[7].message == "“NaN” is not a finite number."
    assert errors[10].message == "The amount must be more than zero."


@pytest.mark.parametrize("data, message", [
    ("{", "The file is not JSON (line 1, column 2"),
    ("[]", "This is not a Ghostfolio export: it has no “activities” list."),
    ('{"activities": []}', "The export has no activities."),
    ('{"activities": [{"type": "BUY", "quantity": NaN}]}', None),
])
def test_ghostfolio_files_that_cannot_be_read(data, message):
    rows, errors = ghostfolio.parse(data.encode(), TODAY)
    assert rows == []
    if message:
        assert [(e.line, e.message[:len(message)]) for e in errors] == [(0, message)]
    else:
        assert (1, "quantity", "The value is not a finite number.") in [(e.line, e.column, e.message) for e in errors]


# ---- Trading 212 -----------------------------------------------------------------------------------


def test_trading212_export_maps_to_these_activities_with_withholding_tax_apart():
    rows, errors = broker_csv.parse(fixture("trading212_export.csv"), TODAY)
    assert all(r.account == "Trading 212" for r in rows)
    assert [(r.line, r.activity) for r in rows] == [
        (2, A("2024-01-02", "deposit", amount="1000", currency="EUR",
              note="Trading 212 3f1c2b7a-5d6e-4f80-9a1b-2c3d4e5f6a7b")),
        # 0.63 EUR conversion fee × 1.0925 USD/EUR
        (3, A("2024-01-03", "buy", "AAPL", "2.5", "185", "0.688275", note="Trading 212 EOF1000000001")),
        # 72.50 GBX is 0.725 GBP; fee 0.13 EUR × 86.1 GBX/EUR = 11.193 GBX = 0.11193 GBP, + 0.36 GBP stamp duty
        (4, A("2024-01-04", "buy", "VOD", "100", "0.725", "0.47193", currency="GBP",
              note="Trading 212 EOF1000000002")),
        (5, A("2024-02-15", "dividend", "AAPL", amount="0.60")),  # 2.5 × 0.24, gross
        (5, A("2024-02-15", "tax", "AAPL", amount="0.09", note="withholding tax")),
        (6, A("2024-03-01", "sell", "AAPL", "1", "180", "0.27", note="Trading 212 EOF1000000003")),
        (7, A("2024-03-31", "interest", amount="1.23", currency="EUR",
              note="Trading 212 8ffba791-cfc3-4002-b65d-bd63cf483d9d")),
        (8, A("2024-04-02", "withdrawal", amount="200", currency="EUR",
              note="Trading 212 5d72520a-388c-428a-90bf-6d9fcff55534")),
        # 683.566852 × 0.70 GBX, no withholding (0.00)
        (10, A("2024-04-12", "dividend", "DUKE", amount="4.784967964", currency="GBP")),
    ]
    assert [(e.line, e.column) for e in errors] == [(9, "Action"), (11, "Action")]
    assert errors[0].message.startswith("“Currency conversion” is not supported (Folio reads buys, sells")
    assert errors[1].message.startswith("“Stock split open” is not supported")


T212 = ("Action,Time (UTC),Ticker,No. of shares,Price / share,Currency (Price / share),Exchange rate,Total,"
        "Currency (Total),Withholding tax,Currency (Withholding tax),ID,Finra fee,Currency (Finra fee),"
        "Deposit fee,Currency (Deposit fee)\n")


def t212(*lines):
    return broker_csv.parse((T212 + "\n".join(lines) + "\n").encode(), TODAY, "T212 ISA")


def test_trading212_row_errors():
    rows, errors = t212(
        "Stop limit buy,2024-01-02T10:00:00Z,TSLA,1,200,USD,Not available,190,EUR,,,E1,0.02,GBP,,",
        "Limit sell,2024-13-02 10:00:00,TSLA,x,200,USD,1.1,190,EUR,,,E2,,,,",
        "Deposit,2024-01-02 10:00:00,,,,,,100,EUR,,,E3,,,0.70,EUR",
        "Dividend (Ordinary),2024-01-03 10:00:00,TSLA,1,0.5,USD,,0.4,EUR,0.07,USD,,,,,,extra",
        "Withdrawal,2024-01-04 10:00:00,,,,,,-50.5,EUR,,,E4,,,,",
        "Dividend (Return of capital),2024-01-05 10:00:00,TSLA,1,0.5,USD,,0.4,EUR,,,,,,,",
        ",2024-01-05 10:00:00,,,,,,,,,,,,,,",
    )
    assert [(r.line, r.account, r.activity) for r in rows] == [
        (6, "T212 ISA", A("2024-01-04", "withdrawal", amount="50.5", currency="EUR", note="Trading 212 E4"))]
    assert [(e.line, e.column) for e in errors] == [
        (2, "Finra fee"), (3, "Time (UTC)"), (3, "No. of shares"), (4, "Deposit fee"), (5, "column 17"),
        (7, "Action"), (8, "Action")]
    assert errors[0].message == "The Finra fee is in GBP, and the row has no exchange rate to USD."
    assert errors[6].message == "The Action is empty."


def test_trading212_needs_its_header():
    rows, errors = broker_csv.parse(b"date,account\n1,2\n", TODAY)
    assert rows == [] and where(errors) == [(1, None)] and "not a Trading 212 History export" in errors[0].message


# ---- choosing the parser ---------------------------------------------------------------------------


@pytest.mark.parametrize("name, kind, count, errors", [
    ("folio_valid.csv", "folio", 13, 0), ("folio_errors.csv", "folio", 1, 15),
    ("ghostfolio_export.json", "ghostfolio", 7, 5), ("trading212_export.csv", "trading212", 9, 2)])
def test_parse_any_picks_the_format(name, kind, count, errors):
    data = fixture(name)
    assert detect_format(name, data) == kind
    assert detect_format("upload", data) == kind  # by content, whatever the name
    rows, problems, found = parse_any(data, name, TODAY, "Mine" if kind != "folio" else None)
    assert (found, len(rows), len(problems)) == (kind, count, errors)
    assert all(isinstance(e, RowError) for e in problems)
    if kind == "trading212":
        assert {r.account for r in rows} == {"Mine"}


def test_parse_any_default_accounts():
    rows, _, _ = parse_any(fixture("trading212_export.csv"), "t.csv", TODAY)
    assert {r.account for r in rows} == {"Trading 212"}
    rows, _, _ = parse_any(fixture("ghostfolio_export.json"), "g.json", TODAY)
    assert rows[-1].account == "Ghostfolio"
    assert detect_format("x.json", b"") == "ghostfolio" and detect_format("x.csv", b"") == "folio"


# ---- whatever the file holds, a parser answers with rows and errors -------------------------------

CELLS = st.sampled_from(["", "2024-01-02", "2099-01-01", "B", "buy", "split", "dividend", "deposit", "AAPL", "1",
                         "-1", "0", "1.5", "1,5", "NaN", "2:1", "1:1", "9" * 5000, "USD", "GBX", "'=x", "\u202e",
                         "Market buy", "Dividend (Ordinary)", "Withdrawal", "Not available", '"', "\x00"])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(CELLS, max_size=12), max_size=6), st.booleans())
def test_any_csv_gives_rows_and_errors_never_an_exception(lines, trading212):
    header = T212 if trading212 else "date,account,type,symbol,quantity,price,fee,amount,currency,note\n"
    data = (header + "\n".join(",".join(cells) for cells in lines)).encode("utf-8")
    rows, errors, _ = parse_any(data, "upload.csv", TODAY)
    assert all(isinstance(e, RowError) and isinstance(e.line, int) and e.message for e in errors)
    assert not ({r.line for r in rows} & {e.line for e in errors if e.column != "Action"})


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5)
                    | st.sampled_from(["BUY", "ITEM", "FEE", "GBp", "2024-01-02T00:00:00Z", "1e400"]),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
                        st.sampled_from(list(BASE) + ["activities", "accounts", "id", "name"]), inner, max_size=6),
                    max_leaves=20)


@settings(max_examples=200, deadline=None)
@given(st.one_of(JSON, st.lists(st.fixed_dictionaries({}, optional={k: JSON for k in BASE}), max_size=4)
                 .map(lambda items: {"activities": items})), st.binary(max_size=200))
def test_any_json_or_bytes_gives_rows_and_errors_never_an_exception(doc, junk):
    for data in (json.dumps(doc).encode(), junk):
        rows, errors, _ = parse_any(data, "upload.json", TODAY)
        assert all(isinstance(e, RowError) for e in errors)
        rows, errors, _ = parse_any(junk, "upload.csv", TODAY)
        assert all(isinstance(e, RowError) for e in errors)
