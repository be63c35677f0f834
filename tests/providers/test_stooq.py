"""Stooq CSV adapter against the replay server, with Stooq's real answers."""
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
from pricing_providers.stooq import StooqProvider, stooq_symbol

NOW = datetime(2024, 1, 8, 12, 0, tzinfo=timezone.utc).timestamp()
Q = "/q/l/"


def make(replay, now: float = NOW, **kw) -> StooqProvider:
    kw = {"timeout": 0.3, "backoff": 0.01, "retries": 1, **kw}
    return StooqProvider(base_url=replay.url, clock=lambda: now, **kw)


@pytest.mark.parametrize(
    "canonical,expected",
    [
        ("AAPL", "aapl.us"),
        ("VOD.L", "vod.uk"),
        ("SAP.DE", "sap.de"),
        ("7203.T", "7203.jp"),
        ("0700.HK", "700.hk"),
        ("700.HK", "700.hk"),
        ("BRK-B", "brk-b.us"),
        ("BRK.B", "brk-b.us"),
        ("PKN.WA", "pkn.pl"),
        ("ABC.F", None),
        ("^SPX", "^spx"),
        ("RELIANCE.NS", None),
    ],
)
def test_canonical_to_stooq_symbol(canonical, expected):
    assert stooq_symbol(canonical) == expected


def test_batch_quote_symbols_joined_currency_inferred_and_close_time_in_utc(replay):
    replay.route(
        Q,
        body=P.stooq_csv(
            [
                P.stooq_row("AAPL.US", "181.18", "2024-01-05", "22:00:04"),
                P.stooq_row("MSFT.US", "367.75", "2024-01-05", "22:00:09"),
                P.stooq_row("VOD.UK", "71.22", "2024-01-05", "17:35:12"),
                P.stooq_row("SAP.DE", "139.06", "2024-01-05", "17:36:00"),
                P.stooq_row("7203.JP", "2621.5", "2024-01-05", "07:00:00"),
                P.stooq_row("700.HK", "283.4", "2024-01-05", "09:08:00"),
            ]
        ),
    )
    insts = [InstrumentRef(s) for s in ("AAPL", "MSFT", "VOD.L", "SAP.DE", "7203.T", "0700.HK")]
    out = make(replay).fetch(insts)

    [req] = replay.requests
    assert req.path == "/q/l/"
    assert req.raw_query == "s=aapl.us+msft.us+vod.uk+sap.de+7203.jp+700.hk&f=sd2t2ohlcv&h&e=csv"

    def utc(*a):
        return datetime(*a, tzinfo=timezone.utc)

    expected = {
        # Stooq stamps the US close 22:00 (its own clock, CET): 16:00 New York = 21:00 UTC
        "AAPL": (Decimal("181.18"), "USD", utc(2024, 1, 5, 21, 0)),
        "MSFT": (Decimal("367.75"), "USD", utc(2024, 1, 5, 21, 0)),
        "VOD.L": (Decimal("0.7122"), "GBP", utc(2024, 1, 5, 16, 30)),  # pence → GBP
        "SAP.DE": (Decimal("139.06"), "EUR", utc(2024, 1, 5, 16, 30)),
        "7203.T": (Decimal("2621.5"), "JPY", utc(2024, 1, 5, 6, 0)),
        "0700.HK": (Decimal("283.4"), "HKD", utc(2024, 1, 5, 8, 0)),
    }
    for sym, (price, ccy, as_of) in expected.items():
        q = out[sym]
        assert isinstance(q, Quote), (sym, q)
        assert (q.symbol, q.price, q.currency, q.as_of, q.currency_inferred, q.source) == (
            sym, price, ccy, as_of, True, "stooq"
        )
        assert isinstance(q.price, Decimal)


def test_summer_time_close_and_intraday_trade_time(replay):
    replay.route(
        Q,
        body=P.stooq_csv(
            [P.stooq_row("AAPL.US", "226.34", "2024-07-05", "22:00:03"), P.stooq_row("MSFT.US", "460.1", "2024-07-05", "17:30:00")]
        ),
    )
    out = make(replay, now=datetime(2024, 7, 6, tzinfo=timezone.utc).timestamp()).fetch(
        [InstrumentRef("AAPL"), InstrumentRef("MSFT")]
    )
    assert out["AAPL"].as_of == datetime(2024, 7, 5, 20, 0, tzinfo=timezone.utc)  # 16:00 EDT
    assert out["MSFT"].as_of == datetime(2024, 7, 5, 15, 30, tzinfo=timezone.utc)  # 11:30 New York, market open


def test_as_of_is_never_in_the_future(replay):
    replay.route(Q, body=P.stooq_csv([P.stooq_row("AAPL.US", "181.18", "2024-01-05", "17:30:00")]))
    now = datetime(2024, 1, 5, 15, 0, tzinfo=timezone.utc)
    q = make(replay, now=now.timestamp()).fetch([InstrumentRef("AAPL")])["AAPL"]
    assert q.as_of == now


def test_nd_row_is_unknown_and_missing_row_is_malformed_in_a_partial_batch(replay):
    replay.route(Q, body=P.stooq_csv([P.stooq_row("AAPL.US", "181.18"), P.stooq_nd("BOGUS.US")]))
    out = make(replay).fetch([InstrumentRef("AAPL"), InstrumentRef("BOGUS"), InstrumentRef("MSFT")])
    assert out["AAPL"].price == Decimal("181.18")
    assert isinstance(out["BOGUS"], UnknownSymbol)
    assert isinstance(out["MSFT"], MalformedAnswer) and "missing" in str(out["MSFT"])


def test_unmapped_exchange_is_unknown_without_asking(replay):
    out = make(replay).fetch([InstrumentRef("RELIANCE.NS")])
    assert isinstance(out["RELIANCE.NS"], UnknownSymbol)
    assert replay.requests == []


def test_explicit_stooq_symbol_and_instrument_currency(replay):
    replay.route(Q, body=P.stooq_csv([P.stooq_row("^SPX", "4697.24", "2024-01-05", "22:04:00")]))
    inst = InstrumentRef("SPX", "etf", "USD", {"stooq": "^SPX"})
    q = make(replay).fetch([inst])["SPX"]
    assert (q.symbol, q.price, q.currency) == ("SPX", Decimal("4697.24"), "USD")
    assert q.as_of == datetime(2024, 1, 5, 21, 4, tzinfo=timezone.utc)  # Stooq's clock, no market known
    assert replay.requests[0].raw_query.startswith("s=%5Espx&")


def test_uk_listing_in_another_currency_is_not_divided(replay):
    replay.route(Q, body=P.stooq_csv([P.stooq_row("CSPX.UK", "512.34")]))
    q = make(replay).fetch([InstrumentRef("CSPX.L", "etf", "USD")])["CSPX.L"]
    assert (q.price, q.currency) == (Decimal("512.34"), "USD")


def test_uk_pence_conversion_can_be_turned_off(replay):
    replay.route(Q, body=P.stooq_csv([P.stooq_row("VOD.UK", "71.22")]))
    q = make(replay, uk_in_pence=False).fetch([InstrumentRef("VOD.L")])["VOD.L"]
    assert (q.price, q.currency) == (Decimal("71.22"), "GBP")


def test_same_stooq_symbol_for_two_instruments_is_asked_once(replay):
    replay.route(Q, body=P.stooq_csv([P.stooq_row("700.HK", "283.4")]))
    out = make(replay).fetch([InstrumentRef("0700.HK"), InstrumentRef("700.HK")])
    assert out["0700.HK"].price == out["700.HK"].price == Decimal("283.4")
    assert replay.requests[0].query["s"] == "700.hk"


@pytest.mark.parametrize(
    "body,message",
    [
        (P.STOOQ_LIMIT, "daily hits limit"),
        (P.STOOQ_HTML, "not the quote CSV"),
        ("", "not the quote CSV"),
        ("Date,Open,High,Low,Close,Volume\r\n2024-01-05,1,2,3,4,5\r\n", "not the quote CSV"),
    ],
)
def test_anything_but_the_csv_header_is_provider_down_for_the_batch(replay, body, message):
    replay.route(Q, body=body, content_type="text/html" if body.startswith("<") else None)
    with pytest.raises(ProviderDown, match=message):
        make(replay).fetch([InstrumentRef("AAPL"), InstrumentRef("MSFT")])


def test_garbage_close_is_malformed_for_that_symbol_only(replay):
    replay.route(Q, body=P.stooq_csv([P.stooq_row("AAPL.US", "abc"), P.stooq_row("MSFT.US", "367.75"), ("IBM.US", "2024-01-05")]))
    out = make(replay).fetch([InstrumentRef("AAPL"), InstrumentRef("MSFT"), InstrumentRef("IBM")])
    assert isinstance(out["AAPL"], MalformedAnswer)
    assert out["MSFT"].price == Decimal("367.75")
    assert isinstance(out["IBM"], MalformedAnswer)  # a short row counts as missing


def test_5xx_then_success(replay):
    replay.queue(Q, 500)
    replay.route(Q, body=P.stooq_csv([P.stooq_row("AAPL.US", "181.18")]))
    assert make(replay).fetch([InstrumentRef("AAPL")])["AAPL"].price == Decimal("181.18")
    assert len(replay.requests) == 2


def test_5xx_always_is_provider_down(replay):
    replay.route(Q, status=502, body="Bad Gateway")
    with pytest.raises(ProviderDown):
        make(replay, retries=2).fetch([InstrumentRef("AAPL")])
    assert len(replay.requests) == 3


def test_429_is_rate_limited(replay):
    replay.route(Q, status=429, body="Too Many Requests")
    with pytest.raises(RateLimited):
        make(replay, retries=0).fetch([InstrumentRef("AAPL")])


def test_slow_answer_is_provider_down(replay):
    replay.route(Q, body=P.stooq_csv([P.stooq_row("AAPL.US", "181.18")]), delay=1.5)
    started = time.monotonic()
    with pytest.raises(ProviderDown):
        make(replay, retries=0).fetch([InstrumentRef("AAPL")])
    assert time.monotonic() - started < 1.0
