"""What a refresh cycle costs with the default chain: 1,000 held instruments (US, London and
Xetra listings, AMFI scheme codes, crypto) in a few dozen requests, not a thousand."""
from __future__ import annotations

import payloads as P
import pytest
from conftest import make_user
from replay import ReplayServer

from webapp.extensions import db
from webapp.models import Account, Holding, Instrument

T = 1790726918
MIX = {"us": 700, "L": 100, "DE": 100, "amfi": 50, "crypto": 50}


@pytest.fixture
def server():
    with ReplayServer() as s:
        yield s


def serve_everything(server) -> None:
    server.handle(P.YAHOO_COOKIE, lambda path, query, headers: P.yahoo_cookie_answer())
    server.route(P.YAHOO_CRUMB, body=P.YAHOO_CRUMB_TEXT)

    def ccy(sym: str) -> str:
        return "GBp" if sym.endswith(".L") else "EUR" if sym.endswith(".DE") else "USD"

    server.handle(P.YAHOO_QUOTE, lambda path, query, headers: (200, {}, P.yahoo_quote(
        [P.yahoo_quote_item(s, "123.45", ccy(s), T) for s in query["symbols"].split(",")])))
    schemes = [P.AmfiScheme(str(100000 + i), f"INF{i:09d}", "-", f"Fund {i} - Direct Plan - Growth", "91.18")
               for i in range(MIX["amfi"])]
    server.route(P.AMFI_NAVALL, body=P.amfi_navall(["Open Ended Schemes(Equity Scheme - Flexi Cap Fund)", *schemes]))
    server.handle(P.COINGECKO_PRICE, lambda path, query, headers: (200, {}, P.coingecko_price(
        {coin: {"usd": "1.5"} for coin in query["ids"].split(",")}, updated_at=T)))


def hold_the_mix(app) -> None:
    uid = make_user(app)
    rows = ([(f"U{i:03d}", "stock", {}) for i in range(MIX["us"])]
            + [(f"L{i:03d}.L", "stock", {}) for i in range(MIX["L"])]
            + [(f"D{i:03d}.DE", "etf", {}) for i in range(MIX["DE"])]
            + [(str(100000 + i), "mutual_fund", {}) for i in range(MIX["amfi"])]
            + [(f"C{i:03d}-USD", "crypto", {"coingecko": f"coin-{i}"}) for i in range(MIX["crypto"])])
    with app.app_context():
        acct = Account(owner_id=uid, name="Everything")
        db.session.add(acct)
        db.session.flush()
        for symbol, kind, ps in rows:
            inst = Instrument(symbol=symbol, asset_type=kind, provider_symbols=ps)
            db.session.add(inst)
            db.session.flush()
            db.session.add(Holding(account_id=acct.id, instrument_id=inst.id, quantity=1))
        db.session.commit()


def test_a_cycle_of_1000_instruments_on_the_default_chain_costs_about_20_requests(make_app, server):
    from webapp.config import from_environment
    from webapp.services import cache
    from webapp.services.pricing import refresh

    serve_everything(server)
    app = make_app(PRICE_PROVIDERS=from_environment()["PRICE_PROVIDERS"], PROVIDER_RETRIES=0,
                   **{f"PROVIDER_{n}_URL": server.url for n in ("YAHOO", "STOOQ", "AMFI", "MFAPI", "COINGECKO")})
    assert app.config["PRICE_PROVIDERS"] == "yahoo,stooq,amfi,mfapi,coingecko"
    hold_the_mix(app)
    with app.app_context():
        first = refresh.refresh_prices(sync=True)
        server.requests.clear()
        second = refresh.refresh_prices(sync=True)
        records = cache.coverage_history()
    assert first["fetched"] == second["fetched"] == 1000
    # 900 listings in 18 v7 batches of 50 (+ cookie and crumb the first time), every NAV in one
    # download, 50 coins in one request
    assert first["requests"] == {"yahoo": 20, "amfi": 1, "coingecko": 1}
    assert second["requests"] == {"yahoo": 18, "amfi": 1, "coingecko": 1}
    assert len(server.requests) == 20
    assert [r["coverage"] for r in records] == [1.0, 1.0]
