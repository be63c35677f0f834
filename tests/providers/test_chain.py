"""The fallback chain with the real adapters, over real HTTP to the replay server."""
from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import payloads as P
import pytest
from payloads import AmfiScheme
from replay import replay_fixture  # noqa: F401  (fixture, also with --noconftest)

from pricing_providers import registry
from pricing_providers.amfi import AmfiProvider
from pricing_providers.base import (
    ASSET_TYPES,
    InstrumentRef,
    MalformedAnswer,
    Provider,
    ProviderDown,
    Quote,
    RateLimit,
    RateLimited,
    UnknownSymbol,
)
from pricing_providers.chain import Chain, MemoryHealth, MemoryThrottle
from pricing_providers.mfapi import MfapiProvider
from pricing_providers.stooq import StooqProvider
from pricing_providers.tiingo import TiingoProvider
from pricing_providers.yahoo import YahooProvider

T = 1790726918
FAST = {"timeout": 0.3, "backoff": 0.01, "retries": 0}
STOOQ_NOW = 1704715200.0  # 2024-01-08 12:00 UTC


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def yahoo(replay, **kw) -> YahooProvider:
    return YahooProvider(base_url=replay.url, **{**FAST, **kw})


def stooq(replay, **kw) -> StooqProvider:
    return StooqProvider(base_url=replay.url, clock=lambda: STOOQ_NOW, **{**FAST, **kw})


def chart(symbol: str, price: str) -> str:
    return P.yahoo_chart(symbol, price, "USD", T)


def stooq_requests(replay) -> list[str]:
    return [r.query["s"] for r in replay.requests if r.path == "/q/l/"]


def yahoo_requests(replay) -> list[str]:
    return [r.path.rsplit("/", 1)[1] for r in replay.requests if r.path.startswith("/v8/finance/chart/")]


def test_first_provider_with_a_quote_wins_and_only_the_rest_fall_through(replay):
    replay.route("/v8/finance/chart/AAPL", body=chart("AAPL", "182.65"))
    replay.route("/v8/finance/chart/XYZ", status=404, body=P.yahoo_not_found())
    replay.route("/q/l/", body=P.stooq_csv([P.stooq_row("XYZ.US", "12.5")]))
    result = Chain([yahoo(replay), stooq(replay)]).fetch([InstrumentRef("AAPL"), InstrumentRef("XYZ")])

    assert result.quotes["AAPL"].source == "yahoo" and result.quotes["AAPL"].price == Decimal("182.65")
    assert result.quotes["XYZ"].source == "stooq" and result.quotes["XYZ"].price == Decimal("12.5")
    [(name, err)] = result.failures["XYZ"]
    assert name == "yahoo" and isinstance(err, UnknownSymbol)
    assert result.failed_symbols == []
    assert stooq_requests(replay) == ["xyz.us"]  # Stooq is asked only for what Yahoo lacked
    # Yahoo gets both symbols in one batch; this replay has no crumb nor spark, so the
    # batch ends on the chart, one request a symbol, after the cookie, getcrumb and spark
    assert dict(result.calls) == {"yahoo": 1, "stooq": 1}
    assert dict(result.requests) == {"yahoo": 5, "stooq": 1}


def test_order_is_the_chains_order(replay):
    replay.route("/v8/finance/chart/AAPL", body=chart("AAPL", "182.65"))
    replay.route("/q/l/", body=P.stooq_csv([P.stooq_row("AAPL.US", "181.18")]))
    result = Chain([stooq(replay), yahoo(replay)]).fetch([InstrumentRef("AAPL")])
    assert result.quotes["AAPL"].source == "stooq"
    assert yahoo_requests(replay) == []


def test_build_chain_from_settings(replay):
    replay.route("/v8/finance/chart/AAPL", body=chart("AAPL", "182.65"))
    settings = {"PROVIDER_YAHOO_URL": replay.url, "PROVIDER_STOOQ_URL": replay.url, "PROVIDER_TIMEOUT": "0.3"}
    chain = registry.build_chain("Yahoo, stooq", settings)
    assert chain.names == ["yahoo", "stooq"]
    assert [p.base_url for p in chain.providers] == [replay.url, replay.url]
    assert chain.providers[0].timeout == 0.3
    assert chain.fetch([InstrumentRef("AAPL")]).quotes["AAPL"].price == Decimal("182.65")


def test_circuit_breaker_skips_a_failing_provider_for_the_cool_down(replay):
    clock = Clock()
    replay.route("/v8/finance/chart/AAPL", status=503, body="down")
    replay.route("/q/l/", body=P.stooq_csv([P.stooq_row("AAPL.US", "181.18")]))
    chain = Chain([yahoo(replay), stooq(replay)], health=MemoryHealth(threshold=2, cooldown=60, clock=clock))

    for _ in range(2):
        result = chain.fetch([InstrumentRef("AAPL")])
        assert result.quotes["AAPL"].source == "stooq"
        assert isinstance(result.failures["AAPL"][0][1], ProviderDown)
    assert len(yahoo_requests(replay)) == 2

    result = chain.fetch([InstrumentRef("AAPL")])  # circuit open: Yahoo is not asked
    assert len(yahoo_requests(replay)) == 2
    name, err = result.failures["AAPL"][0]
    assert name == "yahoo" and "circuit open" in str(err)
    assert result.quotes["AAPL"].source == "stooq"

    clock.now += 61  # cool-down over: asked again, and a success closes the circuit
    replay.route("/v8/finance/chart/AAPL", body=chart("AAPL", "182.65"))
    result = chain.fetch([InstrumentRef("AAPL")])
    assert result.quotes["AAPL"].source == "yahoo"
    assert len(yahoo_requests(replay)) == 3
    assert chain.health.failures["yahoo"] == 0


def test_rate_limit_opens_the_circuit_at_once_for_retry_after(replay):
    clock = Clock()
    replay.route("/v8/finance/chart/AAPL", status=429, body=P.YAHOO_TOO_MANY, headers={"Retry-After": "120"})
    replay.route("/q/l/", body=P.stooq_csv([P.stooq_row("AAPL.US", "181.18")]))
    health = MemoryHealth(threshold=5, cooldown=60, clock=clock)
    chain = Chain([yahoo(replay, retries=2, max_retry_after=5), stooq(replay)], health=health)

    result = chain.fetch([InstrumentRef("AAPL")])
    assert isinstance(result.failures["AAPL"][0][1], RateLimited)
    assert health.open_until["yahoo"] == clock.now + 120
    assert len(yahoo_requests(replay)) == 1  # a wait beyond the cap is not slept through

    chain.fetch([InstrumentRef("AAPL")])
    assert len(yahoo_requests(replay)) == 1
    clock.now += 121
    chain.fetch([InstrumentRef("AAPL")])
    assert len(yahoo_requests(replay)) == 2


def test_own_rate_limit_sends_the_rest_to_the_next_provider(replay):
    clock = Clock()
    for sym in ("A", "B", "C"):
        replay.route(f"/v8/finance/chart/{sym}", body=chart(sym, "10"))
    replay.route("/q/l/", body=P.stooq_csv([P.stooq_row("C.US", "11")]))
    limited = yahoo(replay)
    limited.rate_limit = RateLimit(2, 60)
    limited.batch_size = 1  # one chart request a batch, as PROVIDER_YAHOO_BATCH_SIZE=1 would
    chain = Chain([limited, stooq(replay)], throttle=MemoryThrottle(clock=clock))

    result = chain.fetch([InstrumentRef("A"), InstrumentRef("B"), InstrumentRef("C")])
    assert yahoo_requests(replay) == ["A", "B"]
    assert [result.quotes[s].source for s in "ABC"] == ["yahoo", "yahoo", "stooq"]
    name, err = result.failures["C"][0]
    assert name == "yahoo" and isinstance(err, RateLimited) and "own rate limit" in str(err)
    assert stooq_requests(replay) == ["c.us"]
    assert chain.health.allow("yahoo")  # our own limit is no failure of Yahoo's

    clock.now += 61
    chain.fetch([InstrumentRef("C")])
    assert yahoo_requests(replay) == ["A", "B", "C"]


def test_validation_rejects_a_quote_and_the_next_provider_is_tried(replay):
    replay.route("/v8/finance/chart/AAPL", body=chart("AAPL", "1826.5"))
    replay.route("/q/l/", body=P.stooq_csv([P.stooq_row("AAPL.US", "181.18")]))

    def validate(quote):
        return "moved more than 50% since the last quote" if quote.price > 1000 else None

    result = Chain([yahoo(replay), stooq(replay)]).fetch([InstrumentRef("AAPL")], validate=validate)
    assert result.quotes["AAPL"].source == "stooq"
    name, err = result.failures["AAPL"][0]
    assert name == "yahoo" and isinstance(err, MalformedAnswer) and "50%" in str(err)


def test_non_positive_price_is_rejected_even_without_a_validator(replay):
    replay.route("/q/l/", body=P.stooq_csv([P.stooq_row("AAPL.US", "0")]))
    result = Chain([stooq(replay)]).fetch([InstrumentRef("AAPL")])
    assert result.failed_symbols == ["AAPL"]
    assert "not positive" in str(result.failures["AAPL"][0][1])


def test_symbols_missing_from_a_batch_answer_are_failures(replay):
    replay.route("/q/l/", body=P.stooq_csv([P.stooq_row("AAPL.US", "181.18")]))
    health = MemoryHealth(threshold=3)
    result = Chain([stooq(replay)], health=health).fetch([InstrumentRef("AAPL"), InstrumentRef("MSFT")])
    assert list(result.quotes) == ["AAPL"]
    assert result.failed_symbols == ["MSFT"]
    assert isinstance(result.failures["MSFT"][0][1], MalformedAnswer)
    assert health.failures["stooq"] == 0  # part of the batch worked: the provider is up

    result = Chain([stooq(replay)], health=health).fetch([InstrumentRef("MSFT")])
    assert result.failed_symbols == ["MSFT"]
    assert health.failures["stooq"] == 1  # nothing usable at all counts against it


def test_unknown_symbols_do_not_count_against_the_provider(replay):
    replay.route("/q/l/", body=P.stooq_csv([P.stooq_nd("BOGUS.US")]))
    health = MemoryHealth(threshold=1)
    chain = Chain([stooq(replay)], health=health)
    result = chain.fetch([InstrumentRef("BOGUS")])
    assert result.failed_symbols == ["BOGUS"]
    assert health.allow("stooq")


def test_whole_batch_failure_applies_to_every_symbol_and_falls_through(replay):
    replay.route("/q/l/", body=P.STOOQ_HTML, content_type="text/html")
    replay.route("/v8/finance/chart/AAPL", body=chart("AAPL", "182.65"))
    replay.route("/v8/finance/chart/MSFT", body=chart("MSFT", "367.75"))
    health = MemoryHealth()
    result = Chain([stooq(replay), yahoo(replay)], health=health).fetch([InstrumentRef("AAPL"), InstrumentRef("MSFT")])
    assert {s: q.source for s, q in result.quotes.items()} == {"AAPL": "yahoo", "MSFT": "yahoo"}
    assert all(isinstance(result.failures[s][0][1], ProviderDown) for s in ("AAPL", "MSFT"))
    assert health.failures["stooq"] == 1


def test_funds_and_stocks_go_to_the_providers_that_cover_them(replay):
    scheme = AmfiScheme("122639", "INF879O01027", "-", "Parag Parikh Flexi Cap Fund", "91.18", "28-Aug-2026")
    gone = AmfiScheme("100027", "-", "-", "Grand Prix Fund", "N.A.", "01-Apr-2010")
    replay.route("/spages/NAVAll.txt", body=P.amfi_navall(["PPFAS Mutual Fund", scheme, gone]))
    replay.route("/mf/100027/latest", body=P.mfapi_latest(100027, "12.34", "28-08-2026"))
    replay.route("/v8/finance/chart/AAPL", body=chart("AAPL", "182.65"))
    chain = Chain([AmfiProvider(base_url=replay.url, **FAST), MfapiProvider(base_url=replay.url, **FAST), yahoo(replay)])
    funds = [InstrumentRef("122639", "mutual_fund", "INR"), InstrumentRef("100027", "mutual_fund", "INR")]
    result = chain.fetch(funds + [InstrumentRef("AAPL", "stock")])
    assert {s: (q.source, q.price) for s, q in result.quotes.items()} == {
        "122639": ("amfi", Decimal("91.18")),
        "100027": ("mfapi", Decimal("12.34")),
        "AAPL": ("yahoo", Decimal("182.65")),
    }
    assert replay.paths.count("/spages/NAVAll.txt") == 1
    assert [p for p in replay.paths if p.startswith("/mf/")] == ["/mf/100027/latest"]
    assert yahoo_requests(replay) == ["AAPL"]  # funds found earlier are not asked of Yahoo


def test_provider_without_its_key_is_skipped(replay):
    replay.route("/v8/finance/chart/AAPL", body=chart("AAPL", "182.65"))
    result = Chain([TiingoProvider(base_url=replay.url, **FAST), yahoo(replay)]).fetch([InstrumentRef("AAPL")])
    assert result.quotes["AAPL"].source == "yahoo"
    assert "/iex/" not in replay.paths


class Buggy(Provider):
    """An adapter with a bug (no HTTP needed to show the chain survives it)."""

    name = "buggy"
    batch_size = 10

    def __init__(self, answer):
        super().__init__()
        self.answer = answer

    def fetch(self, instruments):
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer(instruments)


def _wrong_symbol(insts):
    now = datetime.now(timezone.utc)
    return {i.symbol: Quote("MSFT", Decimal("1"), "USD", now, "buggy") for i in insts}


@pytest.mark.parametrize(
    "answer",
    [
        KeyError("meta"),  # raises
        lambda insts: [1, 2, 3],  # not a dict
        lambda insts: {i.symbol: Decimal("182.65") for i in insts},  # a price, not a Quote
        _wrong_symbol,  # a quote for another symbol under this one's key
    ],
    ids=["raises", "not-a-dict", "not-a-quote", "wrong-symbol"],
)
def test_an_adapter_bug_is_a_failure_and_the_chain_goes_on(replay, answer):
    replay.route("/v8/finance/chart/AAPL", body=chart("AAPL", "182.65"))
    result = Chain([Buggy(answer), yahoo(replay)]).fetch([InstrumentRef("AAPL")])
    assert result.quotes["AAPL"].source == "yahoo"
    name, err = result.failures["AAPL"][0]
    assert name == "buggy" and isinstance(err, MalformedAnswer)


EXPECTED = {
    # name: (needs_key, batched, asset types)
    "yahoo": (False, True, {"stock", "etf", "mutual_fund"}),
    "stooq": (False, True, {"stock", "etf"}),
    "tiingo": (True, True, {"stock", "etf"}),
    "finnhub": (True, False, {"stock", "etf"}),
    "alphavantage": (True, False, {"stock", "etf", "mutual_fund"}),
    "amfi": (False, True, {"mutual_fund"}),
    "mfapi": (False, False, {"mutual_fund"}),
    "coingecko": (False, True, {"crypto"}),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_adapters_are_registered_and_describe_themselves(name):
    cls = registry.get(name)
    needs_key, batched, assets = EXPECTED[name]
    assert cls.name == name and cls.label
    assert cls.needs_key is needs_key
    assert (cls.batch_size > 1) is batched
    assert set(cls.asset_types) == assets and set(cls.asset_types) <= set(ASSET_TYPES)
    assert isinstance(cls.rate_limit, RateLimit) and cls.rate_limit.calls > 0 and cls.rate_limit.period > 0
    assert cls.default_url.startswith("https://")
    assert isinstance(cls.probe_symbol, InstrumentRef) and cls.probe_symbol.asset_type in cls.asset_types
    assert cls().base_url == cls.default_url
