"""Tiingo IEX adapter against the replay server, with Tiingo's real answers."""
from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import payloads as P
import pytest
from replay import replay_fixture  # noqa: F401  (fixture, also with --noconftest)

from pricing_providers.base import (
    InstrumentRef,
    MalformedAnswer,
    ProviderDown,
    Quote,
    RateLimited,
    UnknownSymbol,
)
from pricing_providers.tiingo import TiingoProvider

IEX = "/iex/"


def make(replay, **kw) -> TiingoProvider:
    kw = {"api_key": "K123", "timeout": 0.3, "backoff": 0.01, "retries": 1, **kw}
    return TiingoProvider(base_url=replay.url, **kw)


def test_batch_quote_sends_token_and_joined_tickers(replay):
    replay.route(
        IEX,
        body=P.tiingo_iex(
            [
                P.tiingo_item("aapl", "185.92", "2026-09-30T16:00:00.123456789-04:00", prev_close="184.25"),
                P.tiingo_item("spy", "571.04", "2026-09-30T20:00:00+00:00"),
            ]
        ),
    )
    out = make(replay).fetch([InstrumentRef("AAPL"), InstrumentRef("SPY", "etf")])
    [req] = replay.requests
    assert req.query == {"tickers": "aapl,spy"}
    assert req.headers["Authorization"] == "Token K123"
    assert "K123" not in req.raw_query  # the key stays out of URLs and logs
    a = out["AAPL"]
    assert (a.price, a.currency, a.currency_inferred, a.source) == (Decimal("185.92"), "USD", True, "tiingo")
    assert a.previous_close == Decimal("184.25") and isinstance(a.previous_close, Decimal)
    assert a.as_of == datetime(2026, 9, 30, 20, 0, 0, 123456, tzinfo=timezone.utc)
    assert out["SPY"].price == Decimal("571.04")


def test_null_last_uses_tngo_last(replay):
    replay.route(IEX, body=P.tiingo_iex([P.tiingo_item("aapl", None, tngo_last="186.01")]))
    q = make(replay).fetch([InstrumentRef("AAPL")])["AAPL"]
    assert q.price == Decimal("186.01")


def test_share_class_and_non_us_symbols(replay):
    replay.route(IEX, body=P.tiingo_iex([P.tiingo_item("brk-b", "410.12")]))
    out = make(replay).fetch([InstrumentRef("BRK.B"), InstrumentRef("VOD.L")])
    assert out["BRK.B"].price == Decimal("410.12")
    assert isinstance(out["VOD.L"], UnknownSymbol)
    assert replay.requests[0].query == {"tickers": "brk-b"}


def test_ticker_missing_from_the_batch_is_unknown(replay):
    replay.route(IEX, body=P.tiingo_iex([P.tiingo_item("aapl", "185.92")]))
    out = make(replay).fetch([InstrumentRef("AAPL"), InstrumentRef("ZZZZ")])
    assert isinstance(out["AAPL"], Quote)
    assert isinstance(out["ZZZZ"], UnknownSymbol)


def test_404_for_a_single_ticker_is_unknown(replay):
    replay.route(IEX, status=404, body=P.tiingo_not_found("ZZZZ"))
    out = make(replay).fetch([InstrumentRef("ZZZZ")])
    assert isinstance(out["ZZZZ"], UnknownSymbol) and "not found" in str(out["ZZZZ"])
    assert len(replay.requests) == 1


def test_404_naming_one_ticker_of_a_batch_asks_again_for_the_rest(replay):
    def iex(path, query, headers):
        tickers = query["tickers"].split(",")
        if "zzzz" in tickers:
            return 404, {}, P.tiingo_not_found("zzzz")
        return 200, {}, P.tiingo_iex([P.tiingo_item(t, "10.5") for t in tickers])

    replay.handle(IEX, iex)
    out = make(replay).fetch([InstrumentRef("AAPL"), InstrumentRef("ZZZZ"), InstrumentRef("MSFT")])
    assert isinstance(out["ZZZZ"], UnknownSymbol)
    assert out["AAPL"].price == out["MSFT"].price == Decimal("10.5")
    assert [r.query["tickers"] for r in replay.requests] == ["aapl,zzzz,msft", "aapl,msft"]


def test_429_is_rate_limited(replay):
    replay.route(IEX, status=429, body=P.tiingo_rate_limited())
    with pytest.raises(RateLimited, match="hourly request allocation"):
        make(replay).fetch([InstrumentRef("AAPL")])
    assert len(replay.requests) == 2  # bounded retries


def test_rate_limit_detail_with_200_is_rate_limited(replay):
    replay.route(IEX, body=P.tiingo_rate_limited())
    with pytest.raises(RateLimited):
        make(replay).fetch([InstrumentRef("AAPL")])


def test_bad_token_is_provider_down(replay):
    replay.route(IEX, status=401, body=P.tiingo_invalid_token())
    with pytest.raises(ProviderDown, match="Invalid token"):
        make(replay).fetch([InstrumentRef("AAPL")])


def test_needs_a_key():
    assert TiingoProvider.needs_key
    assert not TiingoProvider(api_key=None).configured
    assert TiingoProvider(api_key="K").configured


def test_5xx_then_success(replay):
    replay.queue(IEX, 503)
    replay.route(IEX, body=P.tiingo_iex([P.tiingo_item("aapl", "185.92")]))
    assert make(replay).fetch([InstrumentRef("AAPL")])["AAPL"].price == Decimal("185.92")


def test_5xx_always_is_provider_down(replay):
    replay.route(IEX, status=500)
    with pytest.raises(ProviderDown):
        make(replay, retries=2).fetch([InstrumentRef("AAPL")])
    assert len(replay.requests) == 3


@pytest.mark.parametrize("body", ["<html>oops</html>", '{"foo": 1}', "42"])
def test_garbage_is_malformed(replay, body):
    replay.route(IEX, body=body)
    with pytest.raises(MalformedAnswer):
        make(replay).fetch([InstrumentRef("AAPL")])


def test_item_without_price_or_time_is_malformed_for_that_ticker(replay):
    bad_time = P.tiingo_item("msft", "367.75")
    bad_time["timestamp"] = bad_time["lastSaleTimestamp"] = "yesterday"
    replay.route(IEX, body=P.tiingo_iex([P.tiingo_item("aapl", None), bad_time, P.tiingo_item("ibm", "104")]))
    out = make(replay).fetch([InstrumentRef("AAPL"), InstrumentRef("MSFT"), InstrumentRef("IBM")])
    assert isinstance(out["AAPL"], MalformedAnswer)
    assert isinstance(out["MSFT"], MalformedAnswer)
    assert out["IBM"].price == Decimal("104")


def test_slow_answer_is_provider_down(replay):
    replay.route(IEX, body="[]", delay=1.5)
    with pytest.raises(ProviderDown):
        make(replay, retries=0).fetch([InstrumentRef("AAPL")])


def test_history_from_daily_prices(replay):
    replay.route("/tiingo/daily/aapl/prices", body=P.tiingo_daily([("2026-09-28", "180.1"), ("2026-09-29", "181.25")]))
    now = datetime(2026, 9, 30, 12, tzinfo=timezone.utc).timestamp()
    quotes = make(replay, clock=lambda: now).history(InstrumentRef("AAPL"), 7)
    assert [q.price for q in quotes] == [Decimal("180.1"), Decimal("181.25")]
    assert quotes[0].as_of == datetime(2026, 9, 28, 20, 0, tzinfo=timezone.utc)  # 16:00 New York
    assert replay.requests[0].query == {"startDate": "2026-09-23"}
    assert replay.requests[0].headers["authorization"] == "Token K123"
