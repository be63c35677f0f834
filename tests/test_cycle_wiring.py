"""The refresh cycle wired to the batch providers and the market calendars: provider state
kept in Redis across cycles, no request for a market closed since the last quote, crypto."""
from __future__ import annotations

from datetime import datetime, timezone

import payloads as P
import pytest
import sqlalchemy as sa
from conftest import login, make_user, post, set_price
from replay import ReplayServer

from webapp.extensions import db
from webapp.models import Account, Holding, Instrument

UTC = timezone.utc
WED_CLOSE = datetime(2026, 11, 25, 21, 0, tzinfo=UTC)  # Wednesday's NYSE close
THANKSGIVING_NOON = datetime(2026, 11, 26, 17, 0, tzinfo=UTC)  # NYSE shut, London trading


@pytest.fixture
def server():
    with ReplayServer() as s:
        yield s


def serve_yahoo_v7(server, prices: dict[str, str], epoch: int) -> list[list[str]]:
    """Cookie, crumb, a v7 quote answering the symbols it knows, and the v8 chart Yahoo's adapter
    uses for a batch of one; returns the batches asked."""
    asked: list[list[str]] = []
    server.handle(P.YAHOO_COOKIE, lambda path, query, headers: P.yahoo_cookie_answer())
    server.route(P.YAHOO_CRUMB, body=P.YAHOO_CRUMB_TEXT)

    def quote(path, query, headers):
        symbols = query["symbols"].split(",")
        asked.append(symbols)
        items = [P.yahoo_quote_item(s, prices[s], "GBP" if s.endswith(".L") else "USD", epoch)
                 for s in symbols if s in prices]
        return 200, {}, P.yahoo_quote(items)

    server.handle(P.YAHOO_QUOTE, quote)

    def chart(path, query, headers):
        sym = path.rsplit("/", 1)[1]
        asked.append([sym])
        if sym not in prices:
            return 404, {}, P.yahoo_not_found()
        return 200, {}, P.yahoo_chart(sym, prices[sym], "GBP" if sym.endswith(".L") else "USD", epoch)

    server.handle(P.YAHOO_CHART.format(symbol="*"), chart)
    return asked


def hold(app, symbols: dict[str, str]) -> None:
    """One user holding one unit of each symbol (symbol -> asset type), straight in the database."""
    uid = make_user(app)
    with app.app_context():
        acct = Account(owner_id=uid, name="Main")
        db.session.add(acct)
        for sym, kind in symbols.items():
            inst = Instrument(symbol=sym, asset_type=kind, provider_symbols={})
            db.session.add(inst)
            db.session.flush()
            db.session.add(Holding(account_id=acct.id, instrument_id=inst.id, quantity=1))
        db.session.commit()


def test_provider_state_lives_in_redis_so_the_next_cycle_reuses_yahoos_crumb(make_app, server):
    app = make_app(PRICE_PROVIDERS="yahoo", PROVIDER_YAHOO_URL=server.url, PROVIDER_RETRIES=0)
    asked = serve_yahoo_v7(server, {"AAPL": "190.10", "MSFT": "401.25"}, int(datetime.now(UTC).timestamp()))
    hold(app, {"AAPL": "stock", "MSFT": "stock"})
    from webapp.services import cache
    from webapp.services.pricing.refresh import refresh_prices

    with app.app_context():
        first = refresh_prices(["AAPL", "MSFT"], sync=True)
        second = refresh_prices(["AAPL", "MSFT"], sync=True)  # a new chain, as every cycle builds one
        assert cache.RedisStore().get(f"yahoo:127.0.0.1:{server.port}:crumb") == P.YAHOO_CRUMB_TEXT
    assert first["fetched"] == second["fetched"] == 2
    assert len(server.requests_to(P.YAHOO_CRUMB)) == 1 and len(server.requests_to(P.YAHOO_COOKIE)) == 1
    assert asked == [["AAPL", "MSFT"], ["AAPL", "MSFT"]]


def test_redis_store_values_expire(app):
    import time

    from webapp.services import cache

    with app.app_context():
        store = cache.RedisStore()
        store.set("coingecko:id:btc", "bitcoin", 0.05)
        assert store.get("coingecko:id:btc") == "bitcoin"
        time.sleep(0.1)
        assert store.get("coingecko:id:btc") is None


def test_a_cycle_spends_no_request_on_a_market_closed_since_the_last_quote(make_app, server, monkeypatch):
    """Thanksgiving: New York is shut all day, London trades. Wednesday's US closes are still
    fresh; the London price and the crypto (24/7) are asked for."""
    from webapp.services.pricing import refresh

    app = make_app(PRICE_PROVIDERS="yahoo,coingecko", PROVIDER_YAHOO_URL=server.url,
                   PROVIDER_COINGECKO_URL=server.url, PROVIDER_RETRIES=0, PRICE_SKIP_CLOSED_MARKETS=True)
    hold(app, {"AAPL": "stock", "VTI": "etf", "VOD.L": "stock", "BTC-USD": "crypto"})
    for sym, price in {"AAPL": "190", "VTI": "245", "VOD.L": "0.73", "BTC-USD": "91000"}.items():
        set_price(app, sym, price, "GBP" if sym.endswith(".L") else "USD", as_of=WED_CLOSE)
    noon = int(THANKSGIVING_NOON.timestamp()) - 60
    asked = serve_yahoo_v7(server, {"VOD.L": "0.74"}, noon)
    server.route(P.COINGECKO_PRICE, body=P.coingecko_price({"bitcoin": {"usd": "91500.5"}}, updated_at=noon))
    monkeypatch.setattr(refresh, "utcnow", lambda: THANKSGIVING_NOON)

    with app.app_context():
        stats = refresh.refresh_prices(sync=True)
        assert (stats["held"], stats["still_fresh"], stats["symbols"], stats["fetched"]) == (4, 2, 2, 2)
        assert asked == [["VOD.L"]]
        assert len(server.requests_to(P.COINGECKO_PRICE)) == 1
        from webapp.services import cache

        assert cache.last_cycle()["still_fresh"] == "2"
        # a symbol named by an operator is asked for all the same
        assert refresh.refresh_prices(["AAPL"], sync=True)["symbols"] == 1


def test_refresh_symbol_asks_even_when_the_market_is_closed(make_app, server, monkeypatch):
    from webapp.services.pricing import refresh

    app = make_app(PRICE_PROVIDERS="yahoo", PROVIDER_YAHOO_URL=server.url, PROVIDER_RETRIES=0,
                   PRICE_SKIP_CLOSED_MARKETS=True)
    hold(app, {"AAPL": "stock"})
    set_price(app, "AAPL", "190", as_of=WED_CLOSE)
    serve_yahoo_v7(server, {"AAPL": "190.5"}, int(WED_CLOSE.timestamp()) + 60)
    monkeypatch.setattr(refresh, "utcnow", lambda: THANKSGIVING_NOON)
    with app.app_context():
        iid = db.session.scalar(sa.select(Instrument.id).where(Instrument.symbol == "AAPL"))
        assert refresh.refresh_symbol(iid)["fetched"] == 1


def test_crypto_is_an_asset_type_a_user_can_hold_and_coingecko_is_in_the_default_chain(app, monkeypatch):
    from webapp.config import from_environment

    monkeypatch.delenv("PRICE_PROVIDERS", raising=False)
    monkeypatch.delenv("FOLIO_DEMO", raising=False)
    assert from_environment()["PRICE_PROVIDERS"].split(",")[-1] == "coingecko"

    make_user(app)
    client = app.test_client()
    login(client)
    url = post(client, "/accounts/", {"name": "Wallet", "kind": "other"}).headers["Location"]
    resp = post(client, f"{url}/holdings", {"symbol": "btc-usd", "asset_type": "crypto", "quantity": "0.125"})
    assert resp.status_code == 302
    with app.app_context():
        inst = db.session.scalar(sa.select(Instrument).where(Instrument.symbol == "BTC-USD"))
        assert inst is not None and inst.asset_type == "crypto"
