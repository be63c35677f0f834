"""A portfolio across USD, EUR, GBP (one listing in pence) and INR (an AMFI fund), priced and
converted through the real adapters on a replay server, valued in two base currencies."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import payloads
import pytest
from conftest import login, make_user, post
from replay import ReplayServer
from rq import Queue

from webapp.services.jobs import FolioWorker
from webapp.web.filters import money

PER_EUR = {"USD": "1.1186", "GBP": "0.8412", "INR": "93.215", "JPY": "171.32"}
# symbol -> (yahoo price, currency as Yahoo states it)
YAHOO = {"AAPL": ("187.11", "USD"), "SAP.DE": ("201.35", "EUR"), "VOD.L": ("73.12", "GBp"),
         "VUSA.L": ("85.4215", "GBP")}
FUND, NAV = "122639", "91.1834"
HOLDINGS = {"Broker": [("AAPL", "10", "stock"), ("SAP.DE", "3", "stock"), ("VOD.L", "1000", "stock"),
                       ("VUSA.L", "12.5", "etf")],
            "India": [(FUND, "150.375", "mutual_fund")]}


def native(symbol: str) -> tuple[Decimal, str]:
    """What the holding is worth per unit, in the currency it trades in (pence made pounds)."""
    if symbol == FUND:
        return Decimal(NAV), "INR"
    price, ccy = YAHOO[symbol]
    return (Decimal(price) / 100, "GBP") if ccy == "GBp" else (Decimal(price), ccy)


def expected_total(base: str) -> Decimal:
    """Σ quantity × price × rate, holding by holding, with rates taken straight from the ECB file."""
    per_eur = {c: Decimal(v) for c, v in PER_EUR.items()} | {"EUR": Decimal(1)}
    total = Decimal(0)
    for holdings in HOLDINGS.values():
        for symbol, qty, _ in holdings:
            price, ccy = native(symbol)
            total += Decimal(qty) * price * per_eur[base] / per_eur[ccy]
    return total


@pytest.fixture
def server():
    with ReplayServer() as s:
        when = int((datetime.now(timezone.utc) - timedelta(minutes=5)).timestamp())
        for symbol, (price, ccy) in YAHOO.items():
            s.route(payloads.YAHOO_CHART.format(symbol=symbol), body=payloads.yahoo_chart(symbol, price, ccy, when),
                    content_type="application/json")
        day = (datetime.now(timezone.utc) - timedelta(days=1)).strftime("%d-%b-%Y")
        s.route(payloads.AMFI_NAVALL, body=payloads.amfi_navall(
            [payloads.AmfiScheme(FUND, "INF879O01027", "-", "Parag Parikh Flexi Cap Fund", NAV, day=day)]))
        s.route(payloads.ECB_DAILY, body=payloads.ecb_daily(datetime.now(timezone.utc).strftime("%Y-%m-%d"), PER_EUR),
                content_type="text/xml")
        yield s


@pytest.fixture
def app(make_app, server):
    return make_app(PRICE_PROVIDERS="yahoo,amfi", PROVIDER_YAHOO_URL=server.url, PROVIDER_AMFI_URL=server.url,
                    FX_PROVIDERS="ecb", PROVIDER_ECB_URL=server.url, PROVIDER_RETRIES=0, BASE_CURRENCY="USD")


def seed(app):
    make_user(app, "alice@example.com")
    client = app.test_client()
    login(client)
    for name, holdings in HOLDINGS.items():
        url = post(client, "/accounts/", {"name": name, "kind": "brokerage"}).headers["Location"]
        for symbol, qty, kind in holdings:
            assert post(client, f"{url}/holdings", {"symbol": symbol, "asset_type": kind, "quantity": qty}).status_code == 302
    return client


def total_shown(html: str) -> str:
    start = html.index('id="portfolio-total"')
    return html[html.index(">", start) + 1: html.index("</div>", start)]


def test_totals_in_two_base_currencies_equal_an_independent_computation_to_the_cent(app):
    client = seed(app)
    with app.app_context():
        from workers.fx import refresh_fx

        refresh_fx()
    result = app.test_cli_runner().invoke(args=["prices", "refresh", "--sync"])
    assert result.exit_code == 0 and "5 fetched, 0 failed" in result.output, result.output

    html = client.get("/").get_data(as_text=True)
    assert total_shown(html) == money(expected_total("USD"), "USD")
    assert "not converted" not in html
    assert "0.7312" in html  # VOD.L quoted in pence, valued in pounds

    resp = post(client, "/settings/currency", {"currency": "EUR"})
    assert resp.status_code == 302
    html = client.get("/").get_data(as_text=True)  # at once: no cycle ran in between
    assert total_shown(html) == money(expected_total("EUR"), "EUR")
    assert total_shown(client.get("/portfolio/summary", headers={"HX-Request": "true"}).get_data(as_text=True)) \
        == money(expected_total("EUR"), "EUR")
    # the two figures are the same wealth: far apart in number, equal through the rate
    assert expected_total("USD") != expected_total("EUR")


def test_without_a_rate_the_foreign_holdings_are_shown_apart_then_converted_when_rates_arrive(app, redis_client):
    client = seed(app)
    app.test_cli_runner().invoke(args=["prices", "refresh", "--sync"])
    html = client.get("/").get_data(as_text=True)
    usd_only = Decimal(10) * Decimal(YAHOO["AAPL"][0])
    assert total_shown(html) == money(usd_only, "USD")  # never EUR, GBP or INR counted 1:1
    assert "not converted to USD" in html

    with app.app_context():
        from workers.fx import refresh_fx

        stats = refresh_fx()  # new rates: whoever holds another currency is revalued
        assert stats["revalued_users"] == 1
        FolioWorker([Queue("default", connection=redis_client)], connection=redis_client).work(burst=True)
        assert refresh_fx()["revalued_users"] == 0  # the same rates again: nothing to do
    html = client.get("/").get_data(as_text=True)
    assert total_shown(html) == money(expected_total("USD"), "USD")
    assert "not converted" not in html


def test_an_unknown_base_currency_is_refused_with_the_form_again(app):
    client = seed(app)
    resp = post(client, "/settings/currency", {"currency": "XYZ<script>"})
    assert resp.status_code == 400
    body = resp.get_data(as_text=True)
    assert "Choose one of" in body and "<script>" not in body.split("Choose one of")[0][-200:]
    assert "Total value" in client.get("/").get_data(as_text=True)
    assert "USD" in total_shown(client.get("/").get_data(as_text=True))


def test_a_base_currency_changed_while_redis_missed_it_is_caught_by_the_next_recompute(app):
    client = seed(app)
    with app.app_context():
        from workers.fx import refresh_fx

        refresh_fx()
    app.test_cli_runner().invoke(args=["prices", "refresh", "--sync"])
    assert "USD" in total_shown(client.get("/").get_data(as_text=True))
    with app.app_context():  # as if the settings page committed while Redis was down
        import sqlalchemy as sa

        from webapp.extensions import db
        from webapp.models import User
        from workers.portfolios import recompute_portfolios

        db.session.execute(sa.update(User).values(base_currency="GBP"))
        db.session.commit()
        stats = recompute_portfolios()
    assert stats["positions_rebuilt"] == 1  # the cached positions named the old currency
    assert total_shown(client.get("/").get_data(as_text=True)) == money(expected_total("GBP"), "GBP")
