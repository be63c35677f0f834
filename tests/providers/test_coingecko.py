"""CoinGecko adapter against the replay server, with CoinGecko's real answers."""
from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import payloads as P
import pytest
from replay import replay_fixture  # noqa: F401  (fixture, also with --noconftest)

from pricing_providers import registry
from pricing_providers.base import (
    ASSET_TYPES,
    InstrumentRef,
    MalformedAnswer,
    MemoryStore,
    ProviderDown,
    Quote,
    RateLimit,
    RateLimited,
    UnknownSymbol,
)
from pricing_providers.chain import Chain, MemoryThrottle
from pricing_providers.coingecko import CoinGeckoProvider, price_24h_ago, split_symbol

UPDATED = 1711356300  # 2024-03-25 08:45 UTC
COINS = [
    ("bitcoin", "btc", "Bitcoin"),
    ("wrapped-bitcoin", "wbtc", "Wrapped Bitcoin"),
    ("osmosis-allbtc", "btc", "Osmosis allBTC"),  # another "btc": the pinned id wins
    ("chainlink", "link", "Chainlink"),
    ("pepe", "pepe", "Pepe"),
    ("pepe-2", "pepe", "Pepe 2.0"),  # two "pepe": ambiguous
]


def make(replay, **kw) -> CoinGeckoProvider:
    kw = {"timeout": 0.3, "backoff": 0.01, "retries": 0, **kw}
    return CoinGeckoProvider(base_url=replay.url, **kw)


def crypto(*symbols: str) -> list[InstrumentRef]:
    return [InstrumentRef(s, "crypto") for s in symbols]


def test_batch_quote_exact_decimals_and_currencies_from_the_suffix(replay):
    replay.route(P.COINGECKO_PRICE, body=P.coingecko_price(
        {"bitcoin": {"usd": "67187.33", "eur": "61234.1"}, "ethereum": {"usd": "3456.789012345678901", "eur": "3150.5"}},
        UPDATED,
        change_24h={"bitcoin": {"usd": "-1.2", "eur": "0.5"}},
    ))
    out = make(replay).fetch(crypto("BTC-USD", "BTC-EUR", "ETH-USD"))
    [req] = replay.requests
    assert req.query == {"ids": "bitcoin,ethereum", "vs_currencies": "eur,usd",
                         "include_last_updated_at": "true", "include_24hr_change": "true"}
    b = out["BTC-USD"]
    assert isinstance(b, Quote) and (b.price, b.currency, b.source) == (Decimal("67187.33"), "USD", "coingecko")
    assert b.as_of == datetime.fromtimestamp(UPDATED, tz=timezone.utc)
    assert b.previous_close == Decimal("68003.37")  # 67187.33 / 0.988, to the cent
    assert out["BTC-EUR"].price == Decimal("61234.1") and out["BTC-EUR"].currency == "EUR"
    assert out["BTC-EUR"].previous_close == Decimal("60929.45")  # 61234.1 / 1.005
    e = out["ETH-USD"]
    assert e.price == Decimal("3456.789012345678901")  # never through a float
    assert e.previous_close is None  # no 24h change sent: no previous close invented
    assert replay.paths == [P.COINGECKO_PRICE]  # pinned ids: coins/list not needed


def test_partial_batch_unknown_ids_missing_and_null_price(replay):
    replay.route(P.COINGECKO_PRICE, body='{"bitcoin":{"usd":67187.33,"last_updated_at":1711356300},'
                                        '"ethereum":{"usd":null,"last_updated_at":1711356300}}')
    inst = InstrumentRef("FOO-USD", "crypto", provider_symbols={"coingecko": "no-such-coin"})
    out = make(replay).fetch(crypto("BTC-USD", "ETH-USD") + [inst])
    assert out["BTC-USD"].price == Decimal("67187.33")
    assert isinstance(out["ETH-USD"], MalformedAnswer)
    assert isinstance(out["FOO-USD"], UnknownSymbol)
    assert replay.requests[0].query["ids"] == "bitcoin,ethereum,no-such-coin"


def test_other_tickers_resolve_through_coins_list_cached_in_the_store(replay):
    replay.route(P.COINGECKO_LIST, body=P.coingecko_coins_list(COINS))
    replay.route(P.COINGECKO_PRICE, body=P.coingecko_price(
        {"bitcoin": {"usd": "67187.33"}, "chainlink": {"usd": "18.41"}, "wrapped-bitcoin": {"usd": "67100"}}))
    store = MemoryStore()
    out = make(replay, store=store).fetch(crypto("BTC-USD", "LINK-USD", "WBTC-USD", "PEPE-USD", "NOPE-USD"))
    assert out["BTC-USD"].price == Decimal("67187.33")  # pinned, despite two "btc" coins
    assert out["LINK-USD"].price == Decimal("18.41")
    assert out["WBTC-USD"].price == Decimal("67100")
    assert isinstance(out["PEPE-USD"], UnknownSymbol) and "pepe-2" in str(out["PEPE-USD"])
    assert isinstance(out["NOPE-USD"], UnknownSymbol)
    assert replay.paths == [P.COINGECKO_LIST, P.COINGECKO_PRICE]
    assert replay.requests[1].query["ids"] == "bitcoin,chainlink,wrapped-bitcoin"

    replay.requests.clear()  # another instance (the next cycle), same store: no list download
    make(replay, store=store).fetch(crypto("LINK-USD", "NOPE-USD"))
    assert replay.paths == [P.COINGECKO_PRICE]


def test_the_list_is_asked_again_after_a_day(replay):
    replay.route(P.COINGECKO_LIST, body=P.coingecko_coins_list(COINS))
    replay.route(P.COINGECKO_PRICE, body=P.coingecko_price({"chainlink": {"usd": "18.41"}}))
    now = [1_000_000.0]
    store = MemoryStore(clock=lambda: now[0])
    provider = make(replay, store=store, clock=lambda: now[0])
    provider.fetch(crypto("LINK-USD"))
    now[0] += 3600
    provider.fetch(crypto("LINK-USD"))
    assert replay.paths.count(P.COINGECKO_LIST) == 1
    now[0] += 24 * 3600
    provider.fetch(crypto("LINK-USD"))
    assert replay.paths.count(P.COINGECKO_LIST) == 2


def test_429_is_rate_limited_with_retry_after(replay):
    replay.route(P.COINGECKO_PRICE, status=429, body=P.coingecko_rate_limited(), headers={"Retry-After": "60"},
                 content_type="application/json")
    with pytest.raises(RateLimited, match="exceeded the Rate Limit") as info:
        make(replay, max_retry_after=5).fetch(crypto("BTC-USD"))
    assert info.value.retry_after == 60
    assert len(replay.requests) == 1


def test_429_without_retry_after_and_429_body_with_200(replay):
    replay.route(P.COINGECKO_PRICE, status=429, body=P.coingecko_rate_limited(), content_type="application/json")
    with pytest.raises(RateLimited) as info:
        make(replay).fetch(crypto("BTC-USD"))
    assert info.value.retry_after is None
    replay.route(P.COINGECKO_PRICE, body=P.coingecko_rate_limited())
    with pytest.raises(RateLimited):
        make(replay).fetch(crypto("BTC-USD"))


def test_429_on_coins_list_fails_the_request_when_nothing_else_was_asked(replay):
    replay.route(P.COINGECKO_LIST, status=429, body=P.coingecko_rate_limited(), content_type="application/json")
    with pytest.raises(RateLimited):
        make(replay).fetch(crypto("LINK-USD", "UNI-USD"))
    assert replay.paths == [P.COINGECKO_LIST]  # asked once for both


def test_5xx_and_garbage(replay):
    replay.route(P.COINGECKO_PRICE, status=503, body="down")
    with pytest.raises(ProviderDown):
        make(replay).fetch(crypto("BTC-USD"))
    replay.route(P.COINGECKO_PRICE, body="<html>cloudflare</html>")
    with pytest.raises(MalformedAnswer):
        make(replay).fetch(crypto("BTC-USD"))


def test_120_coins_are_2_requests_through_the_chain(replay):
    ids = [f"coin-{i}" for i in range(120)]

    def handler(path, query, headers):
        return 200, {}, P.coingecko_price({i: {"usd": "1.5"} for i in query["ids"].split(",")})

    replay.handle(P.COINGECKO_PRICE, handler)
    insts = [InstrumentRef(f"C{i}-USD", "crypto", provider_symbols={"coingecko": i}) for i in ids]
    throttle = MemoryThrottle()
    result = Chain([make(replay)], throttle=throttle).fetch(insts)
    assert len(result.quotes) == 120
    assert [len(r.query["ids"].split(",")) for r in replay.requests] == [100, 20]
    assert result.requests["coingecko"] == 2 == len(throttle.calls["coingecko"])
    assert max(len(r.raw_query) for r in replay.requests) < 2000


def test_demo_key_goes_in_a_header_when_configured(replay):
    replay.route(P.COINGECKO_PRICE, body=P.coingecko_price({"bitcoin": {"usd": "1"}}))
    make(replay, api_key="CG-demo").fetch(crypto("BTC-USD"))
    assert replay.requests[0].headers["x-cg-demo-api-key"] == "CG-demo"
    assert "CG-demo" not in replay.requests[0].raw_query


@pytest.mark.parametrize("symbol,expected", [("BTC-USD", ("btc", "usd")), ("eth-eur", ("eth", "eur")), ("BTC", ("btc", None))])
def test_split_symbol(symbol, expected):
    assert split_symbol(symbol) == expected


def test_symbol_without_a_currency_uses_the_instruments_or_is_unknown(replay):
    replay.route(P.COINGECKO_PRICE, body=P.coingecko_price({"bitcoin": {"gbp": "53000.5"}}))
    out = make(replay).fetch([InstrumentRef("BTC", "crypto", "GBP"), InstrumentRef("ETH", "crypto")])
    assert (out["BTC"].price, out["BTC"].currency) == (Decimal("53000.5"), "GBP")
    assert isinstance(out["ETH"], UnknownSymbol)


def test_price_24h_ago_is_decimal_and_rounded_to_the_quotes_places():
    assert price_24h_ago(Decimal("0.00001234"), Decimal("2.5")) == Decimal("0.00001204")
    assert price_24h_ago(Decimal("100"), Decimal("-50")) == Decimal("200.00")
    assert price_24h_ago(Decimal("100"), Decimal("-100")) is None  # no meaningful price
    assert price_24h_ago(Decimal("100"), None) is None


def test_registered_keyless_and_crypto_only():
    cls = registry.get("coingecko")
    assert cls is CoinGeckoProvider and not cls.needs_key and CoinGeckoProvider().configured
    assert cls.asset_types == frozenset({"crypto"}) and "crypto" in ASSET_TYPES
    assert cls.batch_size == 100 and cls.rate_limit == RateLimit(5, 60)
    assert cls.probe_symbol.asset_type == "crypto"
    assert registry.build("coingecko", {"PROVIDER_COINGECKO_URL": "http://127.0.0.1:9"}).base_url == "http://127.0.0.1:9"
