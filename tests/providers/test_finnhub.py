"""Finnhub quote adapter against the replay server, with Finnhub's real answers."""
from __future__ import annotations

import time
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
from pricing_providers.finnhub import FinnhubProvider

QUOTE = "/api/v1/quote"


def make(replay, **kw) -> FinnhubProvider:
    kw = {"api_key": "fh-key", "timeout": 0.3, "backoff": 0.01, "retries": 1, **kw}
    return FinnhubProvider(base_url=replay.url, **kw)


def test_quote_sends_symbol_and_token(replay):
    replay.route(QUOTE, body=P.finnhub_quote("291.15", "295.63", 1781294400))
    q = make(replay).fetch([InstrumentRef("AAPL")])["AAPL"]
    assert isinstance(q, Quote)
    assert (q.price, q.previous_close) == (Decimal("291.15"), Decimal("295.63"))
    assert isinstance(q.previous_close, Decimal)
    assert (q.currency, q.currency_inferred, q.source) == ("USD", True, "finnhub")
    assert q.as_of == datetime(2026, 6, 12, 20, 0, tzinfo=timezone.utc)
    [req] = replay.requests
    assert req.query == {"symbol": "AAPL", "token": "fh-key"}


def test_integer_price_is_a_decimal_too(replay):
    replay.route(QUOTE, body='{"c":291,"d":1,"dp":0.3,"h":292,"l":290,"o":290,"pc":290,"t":1781294400}')
    q = make(replay).fetch([InstrumentRef("AAPL")])["AAPL"]
    assert q.price == Decimal("291") and isinstance(q.price, Decimal)


def test_one_call_per_symbol_with_the_provider_symbol(replay):
    replay.route(QUOTE, body=P.finnhub_quote("410.12"), query={"symbol": "BRK.B"})
    replay.route(QUOTE, body=P.finnhub_quote("104.5"), query={"symbol": "IBM"})
    out = make(replay).fetch([InstrumentRef("BRK-B", provider_symbols={"finnhub": "BRK.B"}), InstrumentRef("IBM")])
    assert out["BRK-B"].price == Decimal("410.12") and out["IBM"].price == Decimal("104.5")
    assert [r.query["symbol"] for r in replay.requests] == ["BRK.B", "IBM"]


def test_all_zero_answer_is_unknown_symbol(replay):
    replay.route(QUOTE, body=P.finnhub_unknown(), query={"symbol": "BOGUS"})
    replay.route(QUOTE, body=P.finnhub_quote("104.5"), query={"symbol": "IBM"})
    out = make(replay).fetch([InstrumentRef("BOGUS"), InstrumentRef("IBM")])
    assert isinstance(out["BOGUS"], UnknownSymbol)
    assert isinstance(out["IBM"], Quote)


def test_price_without_time_is_malformed(replay):
    replay.route(QUOTE, body='{"c":12.5,"d":null,"dp":null,"h":0,"l":0,"o":0,"pc":0,"t":0}')
    assert isinstance(make(replay).fetch([InstrumentRef("X")])["X"], MalformedAnswer)


def test_429_is_rate_limited(replay):
    replay.route(QUOTE, status=429, body=P.finnhub_limit())
    with pytest.raises(RateLimited, match="API limit reached"):
        make(replay).fetch([InstrumentRef("AAPL")])
    assert len(replay.requests) == 2


def test_retry_after_is_honoured(replay):
    replay.queue(QUOTE, {"status": 429, "body": P.finnhub_limit(), "headers": {"Retry-After": "0"}})
    replay.route(QUOTE, body=P.finnhub_quote("291.15"))
    started = time.monotonic()
    # told to retry at once: the 5 s backoff is not slept
    assert make(replay, backoff=5).fetch([InstrumentRef("AAPL")])["AAPL"].price == Decimal("291.15")
    assert time.monotonic() - started < 2
    assert len(replay.requests) == 2


@pytest.mark.parametrize(
    "status,body,message",
    [(401, P.finnhub_invalid_key(), "Invalid API key"), (403, P.finnhub_no_access(), "have access")],
)
def test_auth_errors_are_provider_down_with_the_message(replay, status, body, message):
    replay.route(QUOTE, status=status, body=body)
    with pytest.raises(ProviderDown, match=message):
        make(replay).fetch([InstrumentRef("AAPL")])
    assert len(replay.requests) == 1


def test_5xx_then_success(replay):
    replay.queue(QUOTE, 502)
    replay.route(QUOTE, body=P.finnhub_quote("291.15"))
    assert make(replay).fetch([InstrumentRef("AAPL")])["AAPL"].price == Decimal("291.15")


def test_5xx_always_is_provider_down(replay):
    replay.route(QUOTE, status=500)
    with pytest.raises(ProviderDown):
        make(replay, retries=2).fetch([InstrumentRef("AAPL")])
    assert len(replay.requests) == 3


@pytest.mark.parametrize("body", ["<html></html>", "[]", '{"c": "abc", "t": 1781294400}'])
def test_garbage_is_malformed(replay, body):
    replay.route(QUOTE, body=body)
    assert isinstance(make(replay).fetch([InstrumentRef("AAPL")])["AAPL"], MalformedAnswer)


def test_slow_answer_is_provider_down(replay):
    replay.route(QUOTE, body=P.finnhub_quote("291.15"), delay=1.5)
    with pytest.raises(ProviderDown, match="timed out"):
        make(replay, retries=0).fetch([InstrumentRef("AAPL")])
