"""Stooq and Tiingo batches through the chain: how many symbols a request carries, what
a partial answer does, and what the throttle is charged."""
from __future__ import annotations

from decimal import Decimal

import payloads as P
import pytest
from replay import replay_fixture  # noqa: F401  (fixture, also with --noconftest)

from pricing_providers.base import InstrumentRef, MalformedAnswer, ProviderDown, Quote, UnknownSymbol
from pricing_providers.chain import Chain, MemoryThrottle
from pricing_providers.stooq import StooqProvider
from pricing_providers.tiingo import TiingoProvider

FAST = {"timeout": 0.3, "backoff": 0.01, "retries": 0}
STOOQ_NOW = 1704715200.0  # 2024-01-08 12:00 UTC
TICKERS = [f"T{i:03d}" for i in range(120)]


def stooq(replay) -> StooqProvider:
    return StooqProvider(base_url=replay.url, clock=lambda: STOOQ_NOW, **FAST)


def tiingo(replay) -> TiingoProvider:
    return TiingoProvider(base_url=replay.url, api_key="K", **FAST)


def serve_stooq(replay, unknown: set[str] = frozenset()) -> None:
    def handler(path, query, headers):
        asked = [s.upper() for s in query["s"].split(" ") if s]  # "+" reads as a space
        rows = [P.stooq_nd(s) if s in unknown else P.stooq_row(s, "10.5") for s in asked]
        return 200, {"Content-Type": "text/csv"}, P.stooq_csv(rows)

    replay.handle(P.STOOQ_QUOTE, handler)


def test_stooq_120_symbols_are_3_requests_of_at_most_50(replay):
    serve_stooq(replay, unknown={"T007.US", "T100.US"})
    throttle = MemoryThrottle()
    result = Chain([stooq(replay)], throttle=throttle).fetch([InstrumentRef(t) for t in TICKERS])
    sizes = [len(r.raw_query.split("&")[0].split("+")) for r in replay.requests]
    assert sizes == [50, 50, 20]
    assert replay.requests[0].raw_query.startswith("s=t000.us+t001.us+")
    assert replay.requests[0].raw_query.endswith("&f=sd2t2ohlcv&h&e=csv")
    assert len(replay.requests[0].raw_query) < 600  # the URL stays short
    assert result.requests["stooq"] == 3 == len(throttle.calls["stooq"])
    assert len(result.quotes) == 118
    assert result.failed_symbols == ["T007", "T100"]
    assert all(isinstance(result.failures[s][0][1], UnknownSymbol) for s in ("T007", "T100"))


@pytest.mark.parametrize("body", [P.STOOQ_HTML, P.STOOQ_LIMIT])
def test_stooq_html_or_daily_limit_fails_the_whole_batch(replay, body):
    replay.route(P.STOOQ_QUOTE, body=body, content_type="text/html" if body.startswith("<") else None)
    result = Chain([stooq(replay)]).fetch([InstrumentRef(t) for t in TICKERS[:3]])
    assert result.failed_symbols == TICKERS[:3]
    assert all(isinstance(result.failures[t][0][1], ProviderDown) for t in TICKERS[:3])


def test_tiingo_partial_batch_missing_null_last_and_no_price(replay):
    replay.route(P.TIINGO_IEX, body=P.tiingo_iex([
        P.tiingo_item("aapl", "185.92"),
        P.tiingo_item("spy", None, tngo_last="571.04"),  # no IEX trade yet: Tiingo's own last
        P.tiingo_item("ibm", None),  # neither last nor tngoLast
    ]))
    out = tiingo(replay).fetch([InstrumentRef(s) for s in ("AAPL", "SPY", "IBM", "ZZZZ")])
    assert out["AAPL"].price == Decimal("185.92")
    assert out["SPY"].price == Decimal("571.04")
    assert isinstance(out["IBM"], MalformedAnswer)
    assert isinstance(out["ZZZZ"], UnknownSymbol)
    assert replay.requests[0].query == {"tickers": "aapl,spy,ibm,zzzz"}


def test_tiingo_120_tickers_are_2_requests(replay):
    def handler(path, query, headers):
        return 200, {}, P.tiingo_iex([P.tiingo_item(t, "10.5") for t in query["tickers"].split(",")])

    replay.handle(P.TIINGO_IEX, handler)
    throttle = MemoryThrottle()
    result = Chain([tiingo(replay)], throttle=throttle).fetch([InstrumentRef(t) for t in TICKERS])
    assert [len(r.query["tickers"].split(",")) for r in replay.requests] == [100, 20]
    assert len(result.quotes) == 120 and all(isinstance(q, Quote) for q in result.quotes.values())
    assert result.requests["tiingo"] == 2 == len(throttle.calls["tiingo"])


def test_tiingo_404_retry_inside_a_batch_is_charged_to_the_throttle(replay):
    def handler(path, query, headers):
        tickers = query["tickers"].split(",")
        if "zzzz" in tickers:
            return 404, {}, P.tiingo_not_found("zzzz")
        return 200, {}, P.tiingo_iex([P.tiingo_item(t, "10.5") for t in tickers])

    replay.handle(P.TIINGO_IEX, handler)
    throttle = MemoryThrottle()
    result = Chain([tiingo(replay)], throttle=throttle).fetch([InstrumentRef(s) for s in ("AAPL", "ZZZZ")])
    assert result.quotes["AAPL"].price == Decimal("10.5")
    assert result.calls["tiingo"] == 1
    assert result.requests["tiingo"] == 2 == len(throttle.calls["tiingo"])  # the second ask counts too
