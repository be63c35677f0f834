"""Symbol search of the providers that have one (yahoo, amfi, coingecko), against the replay server."""
from __future__ import annotations

import payloads as P
import pytest
from payloads import AmfiScheme
from replay import replay_fixture  # noqa: F401  (fixture, also with --noconftest)

from pricing_providers.amfi import AmfiProvider
from pricing_providers.base import MalformedAnswer, ProviderDown, RateLimited, Suggestion
from pricing_providers.coingecko import CoinGeckoProvider
from pricing_providers.yahoo import YahooProvider, search_currency

FAST = {"timeout": 0.5, "backoff": 0.01, "retries": 0}


def yahoo(replay) -> YahooProvider:
    return YahooProvider(base_url=replay.url, **FAST)


# ---- Yahoo ---------------------------------------------------------------------------------
def test_yahoo_search_reads_name_symbol_exchange_type_and_infers_the_currency(replay):
    replay.route(P.YAHOO_SEARCH, body=P.yahoo_search([
        P.yahoo_search_quote("AAPL", "Apple Inc."),
        P.yahoo_search_quote("APC.DE", "Apple Inc.", exchange="GER", exch_disp="XETRA"),
        P.yahoo_search_quote("VOD.L", "Vodafone Group Plc", exchange="LSE", exch_disp="London"),
        P.yahoo_search_quote("^NDX", "NASDAQ 100", quote_type="INDEX", exchange="NIM"),  # not a holding
        P.yahoo_search_quote("QQQ", "Invesco QQQ Trust, Series 1", quote_type="ETF", exchange="NGM"),
        P.yahoo_search_quote("VFIAX", "Vanguard 500 Index Fund Admiral", quote_type="MUTUALFUND", exchange="NAS"),
        P.yahoo_search_quote("BTC-USD", "Bitcoin USD", quote_type="CRYPTOCURRENCY", exchange="CCC", exch_disp="CCC"),
        P.yahoo_search_quote("RELIANCE.NS", "Reliance Industries Limited", exchange="NSI", exch_disp="NSE"),
        P.yahoo_search_quote("7203.T", "Toyota Motor Corporation", exchange="JPX", exch_disp="Tokyo"),
        P.yahoo_search_quote("APPLE", "Something Far Away", exchange="XYZ", exch_disp="Elsewhere"),
        P.yahoo_search_quote("ES=F", "E-Mini S&P 500", quote_type="FUTURE", exchange="CME"),
    ]))
    found = yahoo(replay).search("apple")
    [req] = replay.requests
    assert req.path == P.YAHOO_SEARCH
    assert req.query == {"q": "apple", "quotesCount": "10", "newsCount": "0"}
    assert "cookie" not in req.headers  # search needs no cookie or crumb
    assert found[0] == Suggestion("AAPL", "Apple Inc.", "NASDAQ", "USD", "stock", "yahoo")
    assert [(s.symbol, s.currency, s.asset_type) for s in found] == [
        ("AAPL", "USD", "stock"),
        ("APC.DE", "EUR", "stock"),
        ("VOD.L", "GBP", "stock"),
        ("QQQ", "USD", "etf"),
        ("VFIAX", "USD", "mutual_fund"),
        ("BTC-USD", "USD", "crypto"),
        ("RELIANCE.NS", "INR", "stock"),
        ("7203.T", "JPY", "stock"),
        ("APPLE", "", "stock"),  # no suffix, not a US exchange: the currency is not guessed
    ]
    assert found[2].exchange == "London"


def test_yahoo_search_prefers_the_long_name_and_falls_back_to_the_short_one(replay):
    item = P.yahoo_search_quote("MSFT", "Microsoft Corporation", shortname="Microsoft Corp")
    bare = P.yahoo_search_quote("XYZ", "", shortname="XYZ Short")
    del bare["longname"]
    replay.route(P.YAHOO_SEARCH, body=P.yahoo_search([item, bare]))
    assert [s.name for s in yahoo(replay).search("m")] == ["Microsoft Corporation", "XYZ Short"]


def test_yahoo_search_with_nothing_found_is_an_empty_list(replay):
    replay.route(P.YAHOO_SEARCH, body=P.yahoo_search([]))
    assert yahoo(replay).search("qqqqzz") == []


def test_yahoo_search_429_is_rate_limited(replay):
    replay.route(P.YAHOO_SEARCH, status=429, body=P.YAHOO_TOO_MANY, headers={"Retry-After": "30"})
    with pytest.raises(RateLimited) as exc:
        yahoo(replay).search("apple")
    assert exc.value.retry_after == 30
    assert len(replay.requests) == 1  # no retry for a search (retries=0)


@pytest.mark.parametrize("status, body, error", [
    (200, "<html>Will be right back</html>", MalformedAnswer),  # not JSON
    (200, '{"finance":{"result":null,"error":null}}', MalformedAnswer),  # JSON without quotes
    (200, '{"quotes":"AAPL"}', MalformedAnswer),
    (404, "Not Found", ProviderDown),
    (503, "", ProviderDown),
])
def test_yahoo_search_malformed_or_failed_answers(replay, status, body, error):
    replay.route(P.YAHOO_SEARCH, status=status, body=body)
    with pytest.raises(error):
        yahoo(replay).search("apple")


def test_yahoo_search_skips_entries_without_a_symbol(replay):
    replay.route(P.YAHOO_SEARCH, body='{"quotes":[{"quoteType":"EQUITY"},{"symbol":null,"quoteType":"EQUITY"},'
                                      '"junk",{"symbol":"ibm","quoteType":"EQUITY","exchange":"NYQ"}],"news":[]}')
    [s] = yahoo(replay).search("ibm")
    assert (s.symbol, s.name, s.exchange, s.currency) == ("IBM", "IBM", "NYQ", "USD")


@pytest.mark.parametrize("symbol, exchange, kind, currency", [
    ("SAP.DE", "GER", "stock", "EUR"),
    ("SHOP.TO", "TOR", "stock", "CAD"),
    ("ETH-EUR", "CCC", "crypto", "EUR"),
    ("ETH", "CCC", "crypto", ""),
    ("FOO.ZZ", "ZZZ", "stock", ""),
    ("MSFT", "NMS", "stock", "USD"),
])
def test_search_currency(symbol, exchange, kind, currency):
    assert search_currency(symbol, exchange, kind) == currency


# ---- AMFI ----------------------------------------------------------------------------------
SCHEMES = [
    AmfiScheme("122639", "INF879O01027", "INF879O01019", "Parag Parikh Flexi Cap Fund - Direct Plan - Growth", "91.18"),
    AmfiScheme("119598", "INF200K01RJ1", "-", "SBI Large & Mid Cap Fund - Direct Plan - Growth", "612.3361"),
    AmfiScheme("120503", "INF200K01QX4", "-", "SBI Flexi Cap Fund - Direct Plan - Growth", "101.5"),
]


def test_amfi_search_matches_every_word_of_the_name_in_any_case(replay):
    replay.route(P.AMFI_NAVALL, body=P.amfi_navall(SCHEMES))
    amfi = AmfiProvider(base_url=replay.url, **FAST)
    assert [s.symbol for s in amfi.search("flexi cap")] == ["122639", "120503"]
    [sbi] = amfi.search("sbi FLEXI")
    assert sbi == Suggestion("120503", "SBI Flexi Cap Fund - Direct Plan - Growth", "AMFI", "INR", "mutual_fund", "amfi")
    assert [s.symbol for s in amfi.search("119598")] == ["119598"]  # a scheme code
    assert [s.symbol for s in amfi.search("INF879O01027")] == ["122639"]  # an ISIN
    assert amfi.search("nothing like it") == []
    assert len(replay.requests) == 1  # the file is read once and kept


def test_amfi_search_when_the_file_cannot_be_had(replay):
    replay.route(P.AMFI_NAVALL, status=503)
    with pytest.raises(ProviderDown):
        AmfiProvider(base_url=replay.url, **FAST).search("flexi")


# ---- CoinGecko -----------------------------------------------------------------------------
COINS = [
    ("bitcoin", "btc", "Bitcoin"),
    ("osmosis-allbtc", "btc", "Osmosis allBTC"),  # another "btc": the pinned coin wins
    ("wrapped-bitcoin", "wbtc", "Wrapped Bitcoin"),
    ("bitcoin-cash", "bch", "Bitcoin Cash"),
    ("pepe", "pepe", "Pepe"),
    ("pepe-2", "pepe", "Pepe 2.0"),  # ambiguous: neither is offered
    ("odd", "b$t", "Bitcoin Odd"),  # no symbol the form takes
]


def test_coingecko_search_offers_pairs_in_the_given_currency_ranked_by_ticker(replay):
    replay.route(P.COINGECKO_LIST, body=P.coingecko_coins_list(COINS))
    cg = CoinGeckoProvider(base_url=replay.url, **FAST)
    found = cg.search("btc", currency="eur")
    assert found[0] == Suggestion("BTC-EUR", "Bitcoin", "CoinGecko", "EUR", "crypto", "coingecko")
    assert [s.symbol for s in found] == ["BTC-EUR"]
    assert [s.symbol for s in cg.search("bitcoin")] == ["BTC-USD", "WBTC-USD", "BCH-USD"]  # by name; USD by default
    assert cg.search("pepe") == []
    assert len(replay.requests) == 1  # the list is kept in memory


def test_coingecko_search_429_then_recovers(replay):
    replay.queue(P.COINGECKO_LIST, {"status": 429, "body": P.coingecko_rate_limited()})
    replay.route(P.COINGECKO_LIST, body=P.coingecko_coins_list(COINS))
    cg = CoinGeckoProvider(base_url=replay.url, **FAST)
    with pytest.raises(RateLimited):
        cg.search("btc")
    assert [s.symbol for s in cg.search("btc")] == ["BTC-USD"]  # the earlier failure does not stick
