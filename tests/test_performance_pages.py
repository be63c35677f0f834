"""One hand-computed year, through the CLI (`flask transactions import`, `flask portfolio
report`) and through the pages (/portfolio/returns, /gains, /income): a buy, a partial sale,
a dividend, a split, a transfer between two accounts, and a foreign-currency holding whose
gains are converted at each trade's own day's rate (base USD)."""
from __future__ import annotations

import json
from datetime import date, datetime, time, timezone
from decimal import Decimal as D

import pytest
from conftest import login

from pricing_providers.fx import published
from webapp.extensions import db
from webapp.models import FxRate, Instrument, Quote

LEDGER = """date,account,type,symbol,quantity,price,fee,amount,currency,note
2025-01-02,Broker,buy,AAPL,10,100,1,,USD,
2025-02-03,Depot,buy,SAP.DE,10,100,,,EUR,
2025-03-03,Broker,sell,AAPL,4,150,2,,USD,
2025-04-01,Broker,dividend,AAPL,,,,6,USD,
2025-05-02,Depot,sell,SAP.DE,5,120,,,EUR,
2025-06-02,Broker,split,AAPL,2:1,,,,USD,
2025-07-01,Broker,transfer_out,AAPL,2,,,,USD,to the pension
2025-07-01,Pension,transfer_in,AAPL,2,,,,USD,from the broker
"""
# Hand-computed (average cost; USD base; EUR→USD 1.04 on 3 Feb, 1.13 on 2 May, 1.10 on 31 Dec):
#   AAPL: cost 10 × 100 + 1 = 1001; sold 4 @ 150 − 2 = 598 for 400.40 of cost: +197.60;
#         2:1 → 12 shares at 600.60; 2 moved to the pension with 100.10 of it.
#   SAP.DE: 1,000 EUR = 1,040 USD; sold 5 @ 120 = 600 EUR = 678 USD for 500 EUR = 520 USD
#         of cost (bought at 1.04): +158.00 USD (+100 EUR; at the year-end rate it would be 110).
#   31 Dec: AAPL 12 × 80 = 960 (cost 600.60: +359.40); SAP.DE 5 × 130 EUR × 1.10 = 715 USD
#         (cost 520: +195). Net flows (no account records cash): 1,001 − 598 − 6 + 1,040 − 678 = 759;
#         the transfer is out of one account and into the other: 0 for the portfolio.
CLOSES = {"AAPL": ("USD", {date(2025, 1, 2): "100", date(2025, 3, 3): "150", date(2025, 6, 30): "75",
                           date(2025, 12, 31): "80"}),
          "SAP.DE": ("EUR", {date(2025, 2, 3): "100", date(2025, 5, 2): "120", date(2025, 12, 31): "130"})}
RATES = {date(2025, 1, 2): "1.03", date(2025, 2, 3): "1.04", date(2025, 5, 2): "1.13", date(2025, 12, 31): "1.10"}


@pytest.fixture
def year(app, runner, alice, tmp_path):
    with app.app_context():
        for symbol, (ccy, closes) in CLOSES.items():
            inst = Instrument(symbol=symbol, currency=ccy, asset_type="stock", provider_symbols={})
            db.session.add(inst)
            db.session.flush()
            for day, price in closes.items():
                db.session.add(Quote(instrument_id=inst.id, price=D(price), currency=ccy, source="test",
                                     as_of=datetime.combine(day, time(21), timezone.utc)))
        for day, rate in RATES.items():
            db.session.add(FxRate(base="EUR", quote="USD", rate=D(rate), as_of=published(day), source="test"))
        db.session.commit()
    path = tmp_path / "ledger.csv"
    path.write_text(LEDGER)
    result = runner.invoke(args=["transactions", "import", "alice@example.com", str(path), "--create-accounts"])
    assert result.output.strip() == "imported 8, skipped 0 duplicates"
    return alice


def test_the_report_of_the_year_to_the_cent(runner, year):
    result = runner.invoke(args=["portfolio", "report", "alice@example.com", "--from", "2025-01-01",
                                 "--to", "2025-12-31", "--json"])
    assert result.exit_code == 0, result.output
    r = json.loads(result.output)
    assert list(r) == ["currency", "from", "to", "value_start", "value_end", "net_flows", "twr", "twr_annualized",
                       "mwr", "realized_gain", "unrealized_gain", "dividends", "interest", "fees", "taxes", "holdings"]
    assert {k: r[k] for k in ("currency", "from", "to", "value_start", "value_end", "net_flows", "realized_gain",
                              "unrealized_gain", "dividends", "interest", "fees", "taxes", "twr_annualized")} == {
        # asked from 1 January, measured from the ledger's first day (nothing was held before)
        "currency": "USD", "from": "2025-01-02", "to": "2025-12-31", "value_start": "0.00", "value_end": "1675.00",
        "net_flows": "759.00", "realized_gain": "355.60", "unrealized_gain": "554.40", "dividends": "6.00",
        "interest": "0.00", "fees": "3.00", "taxes": "0.00", "twr_annualized": None}
    assert r["holdings"] == [
        {"symbol": "AAPL", "quantity": "12", "cost_basis": "600.60", "value": "960.00", "unrealized_gain": "359.40",
         "realized_gain": "197.60"},
        {"symbol": "SAP.DE", "quantity": "5", "cost_basis": "520.00", "value": "715.00", "unrealized_gain": "195.00",
         "realized_gain": "158.00"}]
    for key in ("twr", "mwr"):
        assert len(r[key].split(".")[1]) == 6  # a fraction with 6 places
    # FIFO sells the same lots here (one buy each): the same gains
    fifo = json.loads(runner.invoke(args=["portfolio", "report", "alice@example.com", "--from", "2025-01-01",
                                          "--to", "2025-12-31", "--method", "fifo", "--json"]).output)
    assert fifo["realized_gain"] == "355.60"
    pension = json.loads(runner.invoke(args=["portfolio", "report", "alice@example.com", "--account", "pension",
                                             "--from", "2025-01-01", "--to", "2025-12-31", "--json"]).output)
    assert pension["holdings"] == [{"symbol": "AAPL", "quantity": "2", "cost_basis": "100.10", "value": "160.00",
                                    "unrealized_gain": "59.90", "realized_gain": "0.00"}]
    table = runner.invoke(args=["portfolio", "report", "alice@example.com", "--from", "2025-01-01",
                                "--to", "2025-12-31"])
    assert "Realized gain" in table.output and "355.60" in table.output and "SAP.DE" in table.output


def test_report_arguments_are_checked(runner, year):
    for args, message in ((["--from", "2025-13-01"], "is not a date"), (["--account", "Nope"], "no account named"),
                          (["--from", "2025-06-01", "--to", "2025-01-01"], "")):
        result = runner.invoke(args=["portfolio", "report", "alice@example.com", *args])
        assert result.exit_code == 2, result.output
        assert message in result.output


def test_the_pages_show_the_same_figures(client, year):
    login(client)
    page = client.get("/portfolio/returns?period=CUSTOM&from=2025-01-01&to=2025-12-31").get_data(as_text=True)
    assert 'id="value-start">0.00 USD' in page
    assert 'id="value-end">1,675.00 USD' in page
    assert 'id="net-flows">+759.00 USD' in page
    # each figure says how it is computed
    assert "Time-weighted return: each day&#39;s value over the day before&#39;s value" in page
    assert "Money-weighted return (XIRR, Actual/365" in page
    gains = client.get("/portfolio/gains").get_data(as_text=True)
    assert "+197.60 USD" in gains and "+158.00 USD" in gains and "+100.00 EUR" in gains
    assert "+355.60 USD" in gains  # the year's total
    income = client.get("/portfolio/income?by=year").get_data(as_text=True)
    assert "6.00 USD" in income
    bad = client.get("/portfolio/returns?period=CUSTOM&from=2025-02-30")
    assert bad.status_code == 400 and "is not a date" in bad.get_data(as_text=True)
    assert client.get("/portfolio/returns?account=999999").status_code == 404


def test_the_benchmark_history_is_loaded_once_on_first_use(app, client, year):
    from webapp.models import Instrument
    from webapp.services import jobs
    from webapp.services.pricing.backfill import backfill

    login(client)
    page = client.get("/portfolio/returns?period=ALL").get_data(as_text=True)
    assert "No daily closes of ^GSPC yet; they are being loaded." in page
    client.get("/portfolio/returns?period=1Y")  # asked again: not enqueued again
    with app.app_context():
        low = jobs.queue("low")
        wanted = [j for j in low.get_jobs() if j.func_name == "workers.history.backfill" and j.args[0] == "^GSPC"]
        assert len(wanted) == 1 and wanted[0].kwargs["create_as"] == "etf"
        assert db.session.query(Instrument).filter_by(symbol="^GSPC").one_or_none() is None  # GET wrote nothing
        result = backfill(*wanted[0].args, **wanted[0].kwargs)  # what the worker runs
        assert result["stored"] > 0, result
    page = client.get("/portfolio/returns?period=1Y").get_data(as_text=True)
    assert 'class="line benchmark"' in page


def test_the_returns_chart_data_is_both_index_lines_exactly(app, client, year):
    """The interactive chart (static/charts.js) gets the SVG's two lines: the portfolio's TWR index
    and the benchmark's, on the union of their days, exact decimal strings and their texts."""
    import re

    from webapp.services import ledger
    from webapp.services.portfolio import performance

    with app.app_context():
        inst = Instrument(symbol="^GSPC", currency="USD", asset_type="etf", provider_symbols={})
        db.session.add(inst)
        db.session.flush()
        for day, price in ((date(2024, 12, 31), "5000"), (date(2025, 6, 30), "5500"), (date(2025, 12, 31), "6000")):
            db.session.add(Quote(instrument_id=inst.id, price=D(price), currency="USD", source="test",
                                 as_of=datetime.combine(day, time(21), timezone.utc)))
        db.session.commit()
        activities = ledger.activities_of(year)
        start, end = performance.period_range("CUSTOM", datetime.now(timezone.utc).date(),  # as the page
                                              min(a.date for a in activities), date(2025, 1, 2), date(2025, 12, 31))
        index = performance.twr_index(activities, "USD", start, end, user_id=year)
    login(client)
    page = client.get("/portfolio/returns?period=CUSTOM&from=2025-01-02&to=2025-12-31").get_data(as_text=True)
    m = re.search(r'<script type="application/json" class="chart-data">(.*?)</script>', page, re.S)
    assert m and 'id="returns-interactive"' in page
    data = json.loads(m.group(1))
    portfolio, bench = data["series"]
    assert (portfolio["label"], bench["label"]) == ("Portfolio", "^GSPC")
    at = {d: i for i, d in enumerate(data["days"])}
    for day, value in index:
        i = at[day.isoformat()]
        assert portfolio["values"][i] == (None if value is None else format(value, "f"))
    assert bench["values"][at["2025-12-31"]] == "120"  # 6000 / 5000 × 100, exactly
    assert bench["text"][at["2025-12-31"]] == "120.00" and bench["text"][at["2025-06-30"]] == "110.00"
