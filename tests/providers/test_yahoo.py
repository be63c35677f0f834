"""Yahoo chart adapter against the replay server, with Yahoo's real answers."""
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
from pricing_providers.yahoo import YahooProvider

T = 1790726918  # 2026-09-30 00:08:38 UTC
CHART = "/v8/finance/chart/{}"


def make(replay, **kw) -> YahooProvider:
    kw = {"timeout": 0.3, "backoff": 0.01, "retries": 1, **kw}
    return YahooProvider(base_url=replay.url, **kw)


def test_quote_exact_decimal_currency_and_provider_time(replay):
    replay.route(CHART.format("AAPL"), body=P.yahoo_chart("AAPL", "182.650000000000000001", "USD", T, previous_close="185.57"))
    out = make(replay).fetch([InstrumentRef("AAPL", "stock")])
    q = out["AAPL"]
    assert isinstance(q, Quote)
    # a float would have rounded this to 182.65
    assert q.price == Decimal("182.650000000000000001") and isinstance(q.price, Decimal)
    assert q.previous_close == Decimal("185.57") and isinstance(q.previous_close, Decimal)
    assert (q.symbol, q.currency, q.source, q.currency_inferred) == ("AAPL", "USD", "yahoo", False)
    assert q.as_of == datetime.fromtimestamp(T, tz=timezone.utc)
    [req] = replay.requests
    assert req.path == "/v8/finance/chart/AAPL"
    assert req.query == {"range": "1d", "interval": "1d"}
    assert "Mozilla/5.0" in req.headers["user-agent"]


def test_previous_close_falls_back_to_previousClose(replay):
    body = P.yahoo_chart("VTSAX", "182.65", "USD", T, instrument_type="MUTUALFUND").replace(
        '"priceHint"', '"previousClose": 181.5, "priceHint"'
    )
    replay.route(CHART.format("VTSAX"), body=body)
    q = make(replay).fetch([InstrumentRef("VTSAX", "mutual_fund")])["VTSAX"]
    assert q.previous_close == Decimal("181.5")


def test_provider_symbol_is_asked_and_result_keyed_by_canonical_symbol(replay):
    replay.route(CHART.format("BRK-B"), body=P.yahoo_chart("BRK-B", "410.12", "USD", T))
    inst = InstrumentRef("BRK.B", "stock", "USD", {"yahoo": "BRK-B"})
    out = make(replay).fetch([inst])
    assert list(out) == ["BRK.B"]
    assert out["BRK.B"].symbol == "BRK.B" and out["BRK.B"].price == Decimal("410.12")
    assert replay.paths == ["/v8/finance/chart/BRK-B"]


def test_symbols_with_special_characters_are_percent_encoded(replay):
    replay.route(CHART.format("^GSPC"), body=P.yahoo_chart("^GSPC", "5702.55", "USD", T, instrument_type="INDEX"))
    q = make(replay).fetch([InstrumentRef("^GSPC", "etf")])["^GSPC"]
    assert q.price == Decimal("5702.55")
    assert replay.requests[0].raw_path == "/v8/finance/chart/%5EGSPC"


@pytest.mark.parametrize(
    "symbol,reported,price,prev,expected,expected_prev,currency",
    [
        ("VOD.L", "GBp", "7250.5", "7200", Decimal("72.505"), Decimal("72"), "GBP"),
        ("BARC.L", "GBX", "199.1", None, Decimal("1.991"), None, "GBP"),
        ("NPN.JO", "ZAc", "350000", "349000", Decimal("3500"), Decimal("3490"), "ZAR"),
    ],
)
def test_pence_and_cents_are_converted_to_the_major_unit(replay, symbol, reported, price, prev, expected, expected_prev, currency):
    replay.route(CHART.format(symbol), body=P.yahoo_chart(symbol, price, reported, T, previous_close=prev))
    q = make(replay).fetch([InstrumentRef(symbol, "stock")])[symbol]
    assert (q.price, q.currency, q.previous_close) == (expected, currency, expected_prev)


def test_missing_currency_is_taken_from_the_instrument_and_marked_inferred(replay):
    replay.route(CHART.format("XYZ"), body=P.yahoo_chart("XYZ", "10.5", None, T))
    q = make(replay).fetch([InstrumentRef("XYZ", "stock", "EUR")])["XYZ"]
    assert (q.currency, q.currency_inferred) == ("EUR", True)
    out = make(replay).fetch([InstrumentRef("XYZ", "stock")])
    assert isinstance(out["XYZ"], MalformedAnswer)


def test_unknown_symbol_404_is_a_per_symbol_failure_and_not_retried(replay):
    replay.route(CHART.format("NOPE"), status=404, body=P.yahoo_not_found(), content_type="application/json")
    replay.route(CHART.format("AAPL"), body=P.yahoo_chart("AAPL", "182.65", "USD", T))
    out = make(replay, retries=2).fetch([InstrumentRef("NOPE"), InstrumentRef("AAPL")])
    assert isinstance(out["NOPE"], UnknownSymbol)
    assert "delisted" in str(out["NOPE"]) and out["NOPE"].provider == "yahoo"
    assert isinstance(out["AAPL"], Quote)
    assert replay.paths.count("/v8/finance/chart/NOPE") == 1


def test_404_that_is_not_yahoos_json_means_the_provider_is_wrong_not_the_symbol(replay):
    replay.route(CHART.format("AAPL"), status=404, body="<html>Not Found</html>", content_type="text/html")
    with pytest.raises(ProviderDown):
        make(replay).fetch([InstrumentRef("AAPL")])


def test_422_is_a_malformed_answer(replay):
    replay.route(CHART.format("AAPL"), status=422, body=P.yahoo_unprocessable())
    assert isinstance(make(replay).fetch([InstrumentRef("AAPL")])["AAPL"], MalformedAnswer)


@pytest.mark.parametrize("text", [P.YAHOO_TOO_MANY, P.YAHOO_EDGE_TOO_MANY])
def test_429_plain_text_raises_rate_limited_after_bounded_retries(replay, text):
    replay.route(CHART.format("AAPL"), status=429, body=text)
    with pytest.raises(RateLimited) as info:
        make(replay, retries=2).fetch([InstrumentRef("AAPL")])
    assert "Too Many Requests" in str(info.value)
    assert len(replay.requests) == 3


def test_retry_after_is_honoured(replay):
    replay.queue(CHART.format("AAPL"), {"status": 429, "body": P.YAHOO_TOO_MANY, "headers": {"Retry-After": "0.3"}})
    replay.route(CHART.format("AAPL"), body=P.yahoo_chart("AAPL", "182.65", "USD", T))
    started = time.monotonic()
    q = make(replay, backoff=0.01).fetch([InstrumentRef("AAPL")])["AAPL"]
    assert q.price == Decimal("182.65")
    assert time.monotonic() - started >= 0.3  # waited as told, not the 0.01 backoff
    assert len(replay.requests) == 2


def test_retry_after_beyond_the_cap_gives_up_at_once(replay):
    replay.route(CHART.format("AAPL"), status=429, body=P.YAHOO_TOO_MANY, headers={"Retry-After": "120"})
    with pytest.raises(RateLimited) as info:
        make(replay, retries=3, max_retry_after=5).fetch([InstrumentRef("AAPL")])
    assert info.value.retry_after == 120
    assert len(replay.requests) == 1


def test_5xx_then_success_is_retried(replay):
    replay.queue(CHART.format("AAPL"), 500, 502)
    replay.route(CHART.format("AAPL"), body=P.yahoo_chart("AAPL", "182.65", "USD", T))
    q = make(replay, retries=2).fetch([InstrumentRef("AAPL")])["AAPL"]
    assert q.price == Decimal("182.65")
    assert len(replay.requests) == 3


def test_5xx_always_is_provider_down_after_bounded_retries(replay):
    replay.route(CHART.format("AAPL"), status=503, body="Service Unavailable")
    with pytest.raises(ProviderDown, match="503"):
        make(replay, retries=2).fetch([InstrumentRef("AAPL")])
    assert len(replay.requests) == 3


def test_slow_answer_beyond_the_timeout_is_provider_down(replay):
    replay.route(CHART.format("AAPL"), body=P.yahoo_chart("AAPL", "182.65", "USD", T), delay=1.5)
    started = time.monotonic()
    with pytest.raises(ProviderDown, match="timed out"):
        make(replay, timeout=0.3, retries=1).fetch([InstrumentRef("AAPL")])
    assert time.monotonic() - started < 1.2
    assert len(replay.requests) == 2


@pytest.mark.parametrize(
    "body",
    [
        "<!DOCTYPE html><html><body>consent.yahoo.com</body></html>",
        '{"unexpected": true}',
        '{"chart": {"result": [{"meta": {"currency": "USD", "regularMarketTime": 1790726918}}], "error": null}}',
        '{"chart": {"result": [{"meta": {"currency": "USD", "regularMarketPrice": "abc", "regularMarketTime": 1}}], "error": null}}',
        '{"chart": {"result": [], "error": null}}',
        "",
    ],
)
def test_garbage_is_a_malformed_answer_never_a_crash(replay, body):
    replay.route(CHART.format("AAPL"), body=body)
    out = make(replay).fetch([InstrumentRef("AAPL", currency="USD")])
    assert isinstance(out["AAPL"], MalformedAnswer)


def test_200_with_chart_error_is_unknown_symbol(replay):
    body = P.yahoo_not_found()
    replay.route(CHART.format("GONE"), body=body)
    assert isinstance(make(replay).fetch([InstrumentRef("GONE")])["GONE"], UnknownSymbol)


def chart_only(replay) -> None:
    """No crumb and no spark: a batch falls through to one chart request a symbol."""
    replay.route(P.YAHOO_CRUMB, status=404, body="<html>Not Found</html>", content_type="text/html")
    replay.route(P.YAHOO_SPARK, status=404, body="<html>Not Found</html>", content_type="text/html")


def chart_paths(replay) -> list[str]:
    return [p for p in replay.paths if p.startswith("/v8/finance/chart/")]


def test_rate_limit_midway_keeps_earlier_quotes_and_stops_asking(replay):
    chart_only(replay)
    replay.route(CHART.format("AAPL"), body=P.yahoo_chart("AAPL", "182.65", "USD", T))
    replay.route(CHART.format("MSFT"), status=429, body=P.YAHOO_TOO_MANY)
    replay.route(CHART.format("IBM"), body=P.yahoo_chart("IBM", "104", "USD", T))
    out = make(replay, retries=0).fetch([InstrumentRef("AAPL"), InstrumentRef("MSFT"), InstrumentRef("IBM")])
    assert isinstance(out["AAPL"], Quote)
    assert isinstance(out["MSFT"], RateLimited) and isinstance(out["IBM"], RateLimited)
    assert "/v8/finance/chart/IBM" not in replay.paths


def test_rate_limit_on_the_first_symbol_raises_for_the_request(replay):
    chart_only(replay)
    replay.route(CHART.format("AAPL"), status=429, body=P.YAHOO_TOO_MANY)
    with pytest.raises(RateLimited):
        make(replay, retries=0).fetch([InstrumentRef("AAPL"), InstrumentRef("MSFT")])
    assert chart_paths(replay) == ["/v8/finance/chart/AAPL"]


def test_history_skips_null_closes_and_converts_pence(replay):
    now = 1_790_000_000
    day = 86400
    points = [(now - 3 * day, "7100"), (now - 2 * day, None), (now - day, "7150.5"), (now, "7200")]
    replay.route(CHART.format("VOD.L"), body=P.yahoo_chart("VOD.L", "7200", "GBp", now, history=points))
    quotes = make(replay, clock=lambda: now + 0.5).history(InstrumentRef("VOD.L"), 30)
    assert [q.price for q in quotes] == [Decimal("71"), Decimal("71.505"), Decimal("72")]
    assert {q.currency for q in quotes} == {"GBP"}
    assert [q.as_of for q in quotes] == [datetime.fromtimestamp(now - n * day, tz=timezone.utc) for n in (3, 1, 0)]
    [req] = replay.requests
    assert req.query == {"period1": str(now - 30 * day), "period2": str(now), "interval": "1d"}


def test_history_of_an_unknown_symbol_raises(replay):
    replay.route(CHART.format("NOPE"), status=404, body=P.yahoo_not_found())
    with pytest.raises(UnknownSymbol):
        make(replay).history(InstrumentRef("NOPE"), 30)
