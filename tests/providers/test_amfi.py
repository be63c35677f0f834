"""AMFI NAVAll.txt adapter against the replay server: both layouts, headings, conditional download."""
from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import payloads as P
import pytest
from payloads import AMFI_HEADER, AmfiScheme
from replay import replay_fixture  # noqa: F401  (fixture, also with --noconftest)

from pricing_providers.amfi import AmfiProvider, parse_navall
from pricing_providers.base import (
    InstrumentRef,
    MalformedAnswer,
    ProviderDown,
    Quote,
    UnknownSymbol,
)

NAV = "/spages/NAVAll.txt"
PPFAS = AmfiScheme("122639", "INF879O01027", "INF879O01019", "Parag Parikh Flexi Cap Fund", "91.1800", "28-Aug-2026")
SBI = AmfiScheme("119598", "INF200K01RJ1", "-", "SBI Large & Mid Cap Fund (Formerly SBI Magnum Multiplier)", "612.3361", "28-Aug-2026", option="IDCW")
OLD = AmfiScheme("100027", "-", "-", "Grand Prix Fund", "N.A.", "01-Apr-2010", plan="-", option="-")
STALE = AmfiScheme("101234", "INF000000AB1", "-", "Old Closed Plan", "10.0000", "15-mar-2019")


def navall(layout: int = 8, ppfas_nav: str = "91.1800") -> str:
    ppfas = AmfiScheme(**{**PPFAS.__dict__, "nav": ppfas_nav})
    return P.amfi_navall(
        [
            "Open Ended Schemes(Equity Scheme - Flexi Cap Fund)",
            "PPFAS Mutual Fund",
            ppfas,
            "Open Ended Schemes(Equity Scheme - Large & Mid Cap Fund)",
            AMFI_HEADER,  # the header repeats inside sections
            "SBI Mutual Fund",
            SBI,
            "Close Ended Schemes(Income)",
            "Grand Prix Mutual Fund",
            OLD,
            STALE,
        ],
        layout=layout,
    )


def make(replay, **kw) -> AmfiProvider:
    kw = {"timeout": 0.3, "backoff": 0.01, "retries": 1, **kw}
    return AmfiProvider(base_url=replay.url, **kw)


def fund(symbol: str, **kw) -> InstrumentRef:
    return InstrumentRef(symbol, "mutual_fund", "INR", **kw)


@pytest.mark.parametrize("layout", [8, 6])
def test_both_layouts_with_headings_and_repeated_header(replay, layout):
    replay.route(NAV, body=navall(layout))
    out = make(replay).fetch([fund("122639"), fund("119598")])
    q = out["122639"]
    assert isinstance(q, Quote)
    assert (q.price, q.currency, q.source) == (Decimal("91.1800"), "INR", "amfi")
    assert str(q.price) == "91.1800"
    assert q.as_of == datetime(2026, 8, 28, 10, 0, tzinfo=timezone.utc)  # 15:30 IST
    assert out["119598"].price == Decimal("612.3361")
    assert replay.paths == [NAV]


def test_lookup_by_isin_by_provider_symbol_and_not_found(replay):
    replay.route(NAV, body=navall())
    out = make(replay).fetch(
        [
            fund("INF879O01019"),  # the reinvestment ISIN
            fund("PPFAS-FLEXI", provider_symbols={"amfi": "122639"}),
            fund("PPFAS-GROWTH", provider_symbols={"amfi": "inf879o01027"}),
            fund("999999"),
        ]
    )
    assert out["INF879O01019"].price == Decimal("91.1800")
    assert out["PPFAS-FLEXI"].price == Decimal("91.1800") and out["PPFAS-FLEXI"].symbol == "PPFAS-FLEXI"
    assert out["PPFAS-GROWTH"].price == Decimal("91.1800")
    assert isinstance(out["999999"], UnknownSymbol)


def test_na_nav_gives_no_quote_and_dashes_are_no_isin(replay):
    replay.route(NAV, body=navall())
    out = make(replay).fetch([fund("100027"), fund("-")])
    assert isinstance(out["100027"], UnknownSymbol) and "N.A." in str(out["100027"])
    assert isinstance(out["-"], UnknownSymbol)


def test_old_nav_keeps_its_own_date(replay):
    replay.route(NAV, body=navall())
    q = make(replay).fetch([fund("101234")])["101234"]
    assert q.as_of == datetime(2019, 3, 15, 10, 0, tzinfo=timezone.utc)


def test_columns_come_from_the_header_not_the_position():
    text = (
        "Scheme Code;Scheme Name;Date;Net Asset Value;ISIN Div Payout/ ISIN Growth;ISIN Div Reinvestment\r\n"
        " \r\n"
        "Some Fund House\r\n"
        "123;Reordered Fund;05-Sep-2026;12.3400;INF123456789;-\r\n"
    )
    table = parse_navall(text)
    s = table.find("INF123456789")
    assert s is not None and (s.code, s.nav, str(s.day)) == ("123", Decimal("12.3400"), "2026-09-05")


def test_rows_before_any_header_and_semicolons_in_names():
    text = (
        "PPFAS Mutual Fund\n"
        "122639;INF879O01027;INF879O01019;Parag Parikh Flexi Cap Fund;Direct Plan;Growth;91.18;28-Aug-2026\n"
        "   \n"
        "119551;INF209KA12Z1;INF209KA13Z9;Banking; PSU Debt Fund - DIRECT;Direct Plan;IDCW;105.8123;26-Aug-2026\n"
        "not;a;row\n"
    )
    table = parse_navall(text)
    assert table.find("122639").nav == Decimal("91.18")
    s = table.find("119551")
    assert (s.nav, str(s.day)) == (Decimal("105.8123"), "2026-08-26")
    assert table.skipped == 1


def test_bad_date_is_malformed(replay):
    bad = AmfiScheme("555", "-", "-", "Bad Date Fund", "10.5", "2026-08-28")
    replay.route(NAV, body=P.amfi_navall(["X Mutual Fund", bad]))
    assert isinstance(make(replay).fetch([fund("555")])["555"], MalformedAnswer)


def test_file_is_kept_in_memory_and_downloaded_again_conditionally(replay):
    now = [1000.0]
    replay.route(
        NAV,
        body=navall(),
        headers={"ETag": '"nav-0828"', "Last-Modified": "Fri, 28 Aug 2026 18:30:00 GMT"},
        times=1,
    )
    provider = make(replay, clock=lambda: now[0], refresh_interval=3600)
    assert provider.fetch([fund("122639")])["122639"].price == Decimal("91.1800")

    now[0] += 1800  # within the interval: no request at all
    assert provider.fetch([fund("122639")])["122639"].price == Decimal("91.1800")
    assert len(replay.requests) == 1

    now[0] += 1801  # past it: a conditional request, and 304 keeps the table
    replay.route(NAV, status=304, times=1)
    assert provider.fetch([fund("122639")])["122639"].price == Decimal("91.1800")
    assert len(replay.requests) == 2
    second = replay.requests[1]
    assert second.headers["If-None-Match"] == '"nav-0828"'
    assert second.headers["If-Modified-Since"] == "Fri, 28 Aug 2026 18:30:00 GMT"
    assert "If-None-Match" not in replay.requests[0].headers

    now[0] += 1800  # the 304 restarted the interval
    provider.fetch([fund("122639")])
    assert len(replay.requests) == 2

    now[0] += 1801  # a new file
    replay.route(NAV, body=navall(ppfas_nav="92.0400"), headers={"ETag": '"nav-0829"'}, times=1)
    assert provider.fetch([fund("122639")])["122639"].price == Decimal("92.0400")
    assert len(replay.requests) == 3


def test_failed_download_keeps_the_file_in_memory(replay):
    now = [0.0]
    replay.route(NAV, body=navall(), times=1)
    provider = make(replay, clock=lambda: now[0], refresh_interval=60)
    provider.fetch([fund("122639")])
    now[0] += 61
    replay.route(NAV, status=503)
    assert provider.fetch([fund("122639")])["122639"].price == Decimal("91.1800")
    assert len(replay.requests) == 3  # two tries at the new file (bounded retries)


def test_5xx_then_success(replay):
    replay.queue(NAV, 500)
    replay.route(NAV, body=navall())
    assert make(replay).fetch([fund("122639")])["122639"].price == Decimal("91.1800")


def test_5xx_always_without_a_file_is_provider_down(replay):
    replay.route(NAV, status=502)
    with pytest.raises(ProviderDown):
        make(replay, retries=2).fetch([fund("122639")])
    assert len(replay.requests) == 3


@pytest.mark.parametrize("body", ["<html><body>Maintenance</body></html>", "", "Scheme Code;Nothing;Else\r\n"])
def test_not_a_navall_file_is_provider_down(replay, body):
    replay.route(NAV, body=body)
    with pytest.raises(ProviderDown, match="not a NAVAll file"):
        make(replay).fetch([fund("122639")])


def test_slow_answer_is_provider_down(replay):
    replay.route(NAV, body=navall(), delay=1.5)
    with pytest.raises(ProviderDown):
        make(replay, retries=0).fetch([fund("122639")])


def test_base_url_may_name_the_file(replay):
    replay.route("/mirror/nav.txt", body=navall(6))
    provider = AmfiProvider(base_url=f"{replay.url}/mirror/nav.txt", timeout=0.3)
    assert provider.fetch([fund("122639")])["122639"].price == Decimal("91.1800")


def test_only_mutual_funds_are_covered():
    provider = AmfiProvider()
    assert provider.covers(fund("122639"))
    assert not provider.covers(InstrumentRef("AAPL", "stock"))
    assert provider.base_url == "https://portal.amfiindia.com"
