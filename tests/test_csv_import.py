"""CSV import (preview, per-line errors, nothing written until confirmed, idempotent) and export."""
import io
import re
from decimal import Decimal

import sqlalchemy as sa
from conftest import login, make_user, post

from webapp.extensions import db
from webapp.models import Account, Holding, Instrument


def setup(app, client, accounts=("Broker", "IRA")):
    make_user(app, "alice@example.com")
    login(client)
    for name in accounts:
        assert post(client, "/accounts/", {"name": name, "kind": "brokerage"}).status_code == 302


def holdings(app):
    with app.app_context():
        return sorted(
            (a, s, q, c) for a, s, q, c in db.session.execute(
                sa.select(Account.name, Instrument.symbol, Holding.quantity, Holding.cost_basis)
                .join(Holding, Holding.account_id == Account.id).join(Instrument)))


GOOD = """account,symbol,quantity,cost,currency,asset_type
Broker,aapl,10,1500.50,USD,stock
Broker,VOD.L,1000,,GBP,stock
IRA,VTSAX,104.237,,USD,mutual fund
ira,VTI,"1,234.5",,USD,ETF
"""


def upload(client, text, **extra):
    return post(client, "/accounts/import", {"file": (io.BytesIO(text.encode()), "h.csv"), **extra},
                content_type="multipart/form-data")


def test_preview_then_confirm_then_reimport_changes_nothing(app, client):
    setup(app, client)
    resp = upload(client, GOOD)
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert "4 rows: <strong>4</strong> new holdings" in html
    assert holdings(app) == []  # nothing written by the preview

    resp = post(client, "/accounts/import", {"csv_text": GOOD, "confirm": "1"})
    assert resp.status_code == 302
    assert holdings(app) == [
        ("Broker", "AAPL", Decimal("10"), Decimal("1500.50")),
        ("Broker", "VOD.L", Decimal("1000"), None),
        ("IRA", "VTI", Decimal("1234.5"), None),
        ("IRA", "VTSAX", Decimal("104.237"), None),
    ]
    with app.app_context():
        assert db.session.scalar(sa.select(Instrument.currency).where(Instrument.symbol == "VOD.L")) == "GBP"
        assert db.session.scalar(sa.select(Instrument.asset_type).where(Instrument.symbol == "VTSAX")) == "mutual_fund"
    before = holdings(app)
    html = upload(client, GOOD).get_data(as_text=True)
    assert "<strong>0</strong> new holdings" in html and "4 unchanged" in html
    post(client, "/accounts/import", {"csv_text": GOOD, "confirm": "1"})
    assert holdings(app) == before


def test_a_changed_row_updates_the_holding(app, client):
    setup(app, client)
    post(client, "/accounts/import", {"csv_text": GOOD, "confirm": "1"})
    changed = GOOD.replace("Broker,aapl,10,1500.50", "Broker,aapl,12,1800")
    html = upload(client, changed).get_data(as_text=True)
    assert "<strong>1</strong> updated" in html
    post(client, "/accounts/import", {"csv_text": changed, "confirm": "1"})
    assert ("Broker", "AAPL", Decimal("12"), Decimal("1800")) in holdings(app)


BAD = """account,symbol,quantity,cost,currency,asset_type
Broker,AAPL,10,,USD,stock
Nowhere,AAPL,1,,USD,stock
Broker,,1,,USD,stock
Broker,AA PL,1,,USD,stock
Broker,<b>x</b>,1,,USD,stock
Broker,MSFT,0,,USD,stock
Broker,MSFT,-3,,USD,stock
Broker,MSFT,abc,,USD,stock
Broker,MSFT,NaN,,USD,stock
Broker,MSFT,1e309,,USD,stock
Broker,MSFT,1e16,,USD,stock
Broker,MSFT,,,USD,stock
Broker,MSFT,1,-5,USD,stock
Broker,MSFT,1,lots,USD,stock
Broker,MSFT,1,,DOLLARS,stock
Broker,MSFT,1,,USD,bond
Broker,AAPL,2,,USD,stock
,MSFT,1,,USD,stock
Broker,TOOLONGSYMBOLNAMEXXXXX,1,,USD,stock
Broker,MSFT,0.00000000001,,USD,stock
Broker,MSFT,1,Infinity,USD,stock
"""


def test_twenty_bad_rows_are_each_reported_with_their_line_and_nothing_is_written(app, client):
    setup(app, client)
    resp = upload(client, BAD)
    assert resp.status_code == 400
    html = resp.get_data(as_text=True)
    lines = sorted(int(n) for n in re.findall(r"Line (\d+):", html))
    assert lines == list(range(3, 23))  # line 2 is fine; lines 3-22 are 20 different mistakes
    for expected in ("Line 3: there is no account named “Nowhere”",
                     "Line 4: the symbol is empty",
                     "Line 5: “AA PL” is not a valid symbol",
                     "Line 7: quantity: The quantity must be greater than zero",
                     "Line 9: quantity: “abc” is not a number",
                     "Line 15: the cost “lots” is not a number",
                     "Line 16: “DOLLARS” is not a three-letter currency code",
                     "Line 17: “bond” is not an asset type",
                     "Line 18: AAPL in “Broker” already appears on line 2",
                     "Line 19: the account is empty"):
        assert expected in html, expected
    assert "&lt;b&gt;x&lt;/b&gt;" in html and "<b>x</b>" not in html
    assert "nothing was imported" in html
    # confirming anyway writes nothing either
    assert post(client, "/accounts/import", {"csv_text": BAD, "confirm": "1"}).status_code == 400
    assert holdings(app) == []


def test_unknown_and_missing_columns_are_reported_on_line_one(app, client):
    setup(app, client)
    html = upload(client, "account,ticker,qty,notes\nBroker,AAPL,1,x\n").get_data(as_text=True)
    assert "Line 1: unknown columns “qty”, “notes”" in html
    assert "Line 1: missing column quantity." in html  # "qty" is not "quantity"
    html = upload(client, "account,symbol\nBroker,AAPL\n").get_data(as_text=True)
    assert "Line 1: missing column quantity." in html


def test_empty_binary_and_non_utf8_files_get_clear_messages(app, client):
    setup(app, client)
    for body, message in ((b"", "Choose a CSV file"), (b"\xff\xfe\x00\x00garbage", "not UTF-8"),
                          ("account,symbol,quantity\n".encode(), "a header but no rows")):
        resp = post(client, "/accounts/import", {"file": (io.BytesIO(body), "x.csv")},
                    content_type="multipart/form-data")
        assert resp.status_code == 400
        assert message in resp.get_data(as_text=True)


def test_a_line_number_counts_quoted_newlines_like_a_spreadsheet(app, client):
    setup(app, client, accounts=("Broker",))
    text = 'account,symbol,quantity\n"Broker",AAPL,1\n"Bro\nker",MSFT,1\nBroker,X Y,1\n'
    html = upload(client, text).get_data(as_text=True)
    assert "Line 4: there is no account named" in html  # the quoted name spans lines 3-4
    assert "Line 5: “X Y” is not a valid symbol" in html


def test_5000_rows_import_correctly(app, client):
    setup(app, client)
    rows = "".join(f"{'Broker' if i % 2 else 'IRA'},S{i:05d},{i + 1}.5,{i * 3},USD,stock\n" for i in range(5000))
    text = "account,symbol,quantity,cost,currency,asset_type\n" + rows
    assert "5000 rows: <strong>5000</strong> new" in upload(client, text).get_data(as_text=True)
    assert post(client, "/accounts/import", {"csv_text": text, "confirm": "1"}).status_code == 302
    with app.app_context():
        total = db.session.scalar(sa.select(sa.func.count()).select_from(Holding))
        q = db.session.scalar(sa.select(Holding.quantity).join(Instrument).where(Instrument.symbol == "S04999"))
    assert total == 5000 and q == Decimal("5000.5")


def test_export_round_trips_and_escapes_formulas(app, client):
    setup(app, client, accounts=("Broker", "=HYPERLINK(1)"))
    post(client, "/accounts/import", {"csv_text": GOOD.replace("IRA,", "Broker,").replace("ira,", "=HYPERLINK(1),"),
                                      "confirm": "1"})
    exported = client.get("/accounts/export.csv")
    assert exported.headers["Content-Type"].startswith("text/csv")
    text = exported.get_data(as_text=True)
    assert "\n'=HYPERLINK(1),VTI,1234.5,,USD,etf\n" in text
    html = upload(client, text).get_data(as_text=True)
    assert not re.findall(r"Line \d+:[^<]*", html)
    assert "<strong>0</strong> new holdings" in html and "<strong>0</strong> updated" in html
    assert "4 unchanged" in html


def test_another_users_accounts_cannot_be_imported_into(app, client):
    make_user(app, "bob@example.com")
    bob = app.test_client()
    login(bob, "bob@example.com")
    post(bob, "/accounts/", {"name": "Secret", "kind": "brokerage"})
    setup(app, client)
    html = upload(client, "account,symbol,quantity\nSecret,AAPL,1\n").get_data(as_text=True)
    assert "there is no account named “Secret”" in html


def test_crypto_rows_import_as_crypto_and_a_bond_is_refused_by_line(app, client):
    setup(app, client)
    text = "account,symbol,quantity,asset_type\nBroker,btc-usd,0.125,crypto\nBroker,ETH-EUR,2,Cryptocurrency\nIRA,US10Y,1,bond\n"
    html = upload(client, text).get_data(as_text=True)
    assert "Line 4:" in html and "is not an asset type (stock, etf, mutual fund or crypto)" in html
    assert holdings(app) == []
    text = "\n".join(text.splitlines()[:3]) + "\n"
    assert post(client, "/accounts/import", {"csv_text": text, "confirm": "1"}).status_code == 302
    with app.app_context():
        kinds = dict(db.session.execute(sa.select(Instrument.symbol, Instrument.asset_type)).all())
    assert kinds == {"BTC-USD": "crypto", "ETH-EUR": "crypto"}
    assert [(s, q) for _, s, q, _ in holdings(app)] == [("BTC-USD", Decimal("0.125")), ("ETH-EUR", Decimal("2"))]


def test_a_value_in_a_column_the_header_does_not_name_is_an_error_with_its_line_and_column(app, client):
    setup(app, client, accounts=("Broker",))
    text = ("account,symbol,quantity,,currency\n"
            "Broker,AAPL,10,,USD\n"          # fine: empty cells under no name, none past the header
            "Broker,MSFT,5,,USD,\n"           # an empty trailing field is no value either
            "Broker,VTI,3,,USD,oops\n"        # a trailing field
            "Broker,BRK-B,2,12,USD\n")        # a value under the unnamed column 4
    resp = upload(client, text)
    assert resp.status_code == 400
    html = resp.get_data(as_text=True)
    assert sorted(int(n) for n in re.findall(r"Line (\d+):", html)) == [4, 5]
    assert "Line 4: column 6 has a value (“oops”) in a column the header does not name." in html
    assert "Line 5: column 4 has a value (“12”) in a column the header does not name." in html
    assert post(client, "/accounts/import", {"csv_text": text, "confirm": "1"}).status_code == 400
    assert holdings(app) == []
