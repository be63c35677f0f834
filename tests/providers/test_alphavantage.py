"""Alpha Vantage GLOBAL_QUOTE adapter against the replay server (every answer is HTTP 200)."""
from __future__ import annotations

import time
from datetime import datetime, timezone
from decimal import Decimal

import payloads as P
import pytest
from replay import replay_fixture  # noqa: F401  (fixture, also with --noconftest)

from pricing_providers.alphavantage import AlphaVantageProvider
from pricing_providers.base import (
    InstrumentRef,
    MalformedAnswer,
    ProviderDown,
    Quote,
    RateLimited,
    UnknownSymbol,
)

QUERY = "/query"
LATER = datetime(2027, 1, 1, tzinfo=timezone.utc).timestamp()


def make(replay, now: float = LATER, **kw) -> AlphaVantageProvider:
    kw = {"api_key": "av-key", "timeout": 0.3, "backoff": 0.01, "retries": 1, "min_interval": 0, **kw}
    return AlphaVantageProvider(base_url=replay.url, clock=lambda: now, **kw)


def test_global_quote_sends_key_and_dates_the_us_close(replay):
    replay.route(QUERY, body=P.alphavantage_global_quote("IBM", "104.0000", "2019-11-29", "105.1500"))
    q = make(replay).fetch([InstrumentRef("IBM")])["IBM"]
    assert isinstance(q, Quote)
    assert q.price == Decimal("104.0000") and str(q.price) == "104.0000"
    assert q.previous_close == Decimal("105.1500")
    assert (q.currency, q.currency_inferred, q.source) == ("USD", True, "alphavantage")
    assert q.as_of == datetime(2019, 11, 29, 21, 0, tzinfo=timezone.utc)  # 16:00 EST
    [req] = replay.requests
    assert req.query == {"function": "GLOBAL_QUOTE", "symbol": "IBM", "apikey": "av-key"}


def test_summer_close_and_instrument_currency(replay):
    replay.route(QUERY, body=P.alphavantage_global_quote("SHOP.TRT", "100.5", "2024-07-01"))
    q = make(replay).fetch([InstrumentRef("SHOP.TO", currency="CAD", provider_symbols={"alphavantage": "SHOP.TRT"})])["SHOP.TO"]
    assert q.as_of == datetime(2024, 7, 1, 20, 0, tzinfo=timezone.utc)  # 16:00 EDT
    assert q.currency == "CAD"
    assert replay.requests[0].query["symbol"] == "SHOP.TRT"


def test_intraday_quote_is_not_dated_in_the_future(replay):
    replay.route(QUERY, body=P.alphavantage_global_quote("IBM", "104.0000", "2019-11-29"))
    now = datetime(2019, 11, 29, 17, 0, tzinfo=timezone.utc)
    assert make(replay, now=now.timestamp()).fetch([InstrumentRef("IBM")])["IBM"].as_of == now


def test_empty_global_quote_is_unknown_symbol(replay):
    replay.route(QUERY, body=P.alphavantage_empty())
    assert isinstance(make(replay).fetch([InstrumentRef("BOGUS")])["BOGUS"], UnknownSymbol)


def test_invalid_call_is_unknown_symbol(replay):
    replay.route(QUERY, body=P.alphavantage_invalid_call())
    assert isinstance(make(replay).fetch([InstrumentRef("B@D")])["B@D"], UnknownSymbol)


def test_bad_key_is_provider_down(replay):
    replay.route(QUERY, body=P.alphavantage_bad_key())
    with pytest.raises(ProviderDown, match="apikey is invalid"):
        make(replay).fetch([InstrumentRef("IBM")])


def test_premium_endpoint_is_provider_down_not_a_rate_limit(replay):
    replay.route(QUERY, body=P.alphavantage_premium())
    with pytest.raises(ProviderDown, match="premium endpoint"):
        make(replay).fetch([InstrumentRef("IBM")])


@pytest.mark.parametrize(
    "body,retry_after",
    [(P.alphavantage_daily_limit(), None), (P.alphavantage_per_second(), 1.0), (P.alphavantage_note(), 60.0)],
)
def test_information_and_note_bodies_are_rate_limited(replay, body, retry_after):
    replay.route(QUERY, body=body)
    with pytest.raises(RateLimited) as info:
        make(replay).fetch([InstrumentRef("IBM"), InstrumentRef("MSFT")])
    assert info.value.retry_after == retry_after
    assert len(replay.requests) == 1  # a 200 is not retried, and MSFT is not asked


def test_calls_are_spaced_by_min_interval(replay):
    replay.route(QUERY, body=P.alphavantage_global_quote("IBM", "104.0000"))
    provider = make(replay, min_interval=0.25)
    started = time.monotonic()
    out = provider.fetch([InstrumentRef("IBM"), InstrumentRef("IBM2")])
    assert all(isinstance(v, Quote) for v in out.values())
    assert time.monotonic() - started >= 0.25
    assert len(replay.requests) == 2


def test_5xx_then_success(replay):
    replay.queue(QUERY, 500)
    replay.route(QUERY, body=P.alphavantage_global_quote("IBM", "104.0000"))
    assert make(replay).fetch([InstrumentRef("IBM")])["IBM"].price == Decimal("104.0000")


def test_5xx_always_is_provider_down(replay):
    replay.route(QUERY, status=503)
    with pytest.raises(ProviderDown):
        make(replay, retries=2).fetch([InstrumentRef("IBM")])
    assert len(replay.requests) == 3


@pytest.mark.parametrize(
    "body",
    [
        "<html>maintenance</html>",
        '{"Meta Data": {}}',
        '{"Global Quote": {"01. symbol": "IBM", "05. price": "n/a", "07. latest trading day": "2019-11-29"}}',
        '{"Global Quote": {"01. symbol": "IBM", "05. price": "1.5", "07. latest trading day": "29/11/2019"}}',
    ],
)
def test_garbage_is_malformed(replay, body):
    replay.route(QUERY, body=body)
    assert isinstance(make(replay).fetch([InstrumentRef("IBM")])["IBM"], MalformedAnswer)


def test_slow_answer_is_provider_down(replay):
    replay.route(QUERY, body=P.alphavantage_global_quote("IBM", "104.0000"), delay=1.5)
    with pytest.raises(ProviderDown):
        make(replay, retries=0).fetch([InstrumentRef("IBM")])
