"""Market sessions from the real exchange calendars: holidays, half days and lunch breaks
decide whether a price is stale and whether a cycle needs to ask for it at all.

The holiday and half-day dates here were checked against exchange-calendars 4.13.2."""
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from webapp.domain.markets import (
    calendar_for,
    closed_since,
    is_open,
    is_stale,
    is_stale_at,
    last_close,
    next_open,
)

UTC = timezone.utc
NEW_YORK = ZoneInfo("America/New_York")
LONDON = ZoneInfo("Europe/London")
KOLKATA = ZoneInfo("Asia/Kolkata")
HONG_KONG = ZoneInfo("Asia/Hong_Kong")
CYCLE = timedelta(minutes=10)


def at(tz, *fields) -> datetime:
    """Wall-clock time in `tz`, as UTC (what quotes carry)."""
    return datetime(*fields, tzinfo=tz).astimezone(UTC)


@pytest.mark.parametrize(
    "symbol,asset_type,calendar,tz",
    [
        ("AAPL", "stock", "XNYS", "America/New_York"),
        ("BRK.B", "stock", "XNYS", "America/New_York"),  # a share class, not an exchange
        ("AAPL.US", "stock", "XNYS", "America/New_York"),
        ("VOD.L", "stock", "XLON", "Europe/London"),
        ("VOD.UK", "stock", "XLON", "Europe/London"),
        ("SAP.DE", "stock", "XETR", "Europe/Berlin"),
        ("SAP.F", "stock", "XFRA", "Europe/Berlin"),
        ("MC.PA", "stock", "XPAR", "Europe/Paris"),
        ("ASML.AS", "stock", "XAMS", "Europe/Amsterdam"),
        ("ENI.MI", "stock", "XMIL", "Europe/Rome"),
        ("NESN.SW", "stock", "XSWX", "Europe/Zurich"),
        ("RY.TO", "stock", "XTSE", "America/Toronto"),
        ("RELIANCE.NS", "stock", "XBOM", "Asia/Kolkata"),
        ("500325.BO", "stock", "XBOM", "Asia/Kolkata"),
        ("7203.T", "stock", "XTKS", "Asia/Tokyo"),
        ("7203.JP", "stock", "XTKS", "Asia/Tokyo"),
        ("0700.HK", "stock", "XHKG", "Asia/Hong_Kong"),
        ("BHP.AX", "stock", "XASX", "Australia/Sydney"),
        ("pkn.pl", "stock", "XWAR", "Europe/Warsaw"),
        ("VTSAX", "mutual_fund", "XNYS", "America/New_York"),
        ("122639", "mutual_fund", "XBOM", "Asia/Kolkata"),
    ],
)
def test_each_symbol_follows_its_own_exchanges_hours(symbol, asset_type, calendar, tz):
    assert calendar_for(symbol, asset_type) == calendar
    # Wednesday 2026-11-25 is a trading day on every one of these exchanges
    assert is_open(calendar, at(ZoneInfo(tz), 2026, 11, 25, 11, 0))
    assert not is_open(calendar, at(ZoneInfo(tz), 2026, 11, 25, 3, 0))


def test_a_price_two_cycles_old_during_a_normal_session_is_stale():
    now = at(NEW_YORK, 2026, 11, 25, 11, 0)
    assert is_open("XNYS", now)
    assert not is_stale("AAPL", "stock", now - timedelta(minutes=19), now, CYCLE)
    assert is_stale("AAPL", "stock", now - timedelta(minutes=21), now, CYCLE)
    assert not closed_since("XNYS", now - timedelta(minutes=1), now)


def test_yesterdays_close_gets_two_cycles_of_grace_after_the_open():
    yesterday_close = at(NEW_YORK, 2026, 11, 24, 16, 0)
    assert not is_stale("AAPL", "stock", yesterday_close, at(NEW_YORK, 2026, 11, 25, 9, 45), CYCLE)
    assert is_stale("AAPL", "stock", yesterday_close, at(NEW_YORK, 2026, 11, 25, 9, 51), CYCLE)


def test_fridays_close_is_fresh_all_weekend_and_on_a_holiday_monday():
    friday_close = at(NEW_YORK, 2026, 1, 16, 16, 0)
    saturday, mlk_day = at(NEW_YORK, 2026, 1, 17, 12, 0), at(NEW_YORK, 2026, 1, 19, 11, 0)
    tuesday = at(NEW_YORK, 2026, 1, 20, 10, 0)
    for now in (saturday, mlk_day):
        assert not is_open("XNYS", now)
        assert closed_since("XNYS", friday_close, now), "no request needed: nothing traded since"
        assert not is_stale("AAPL", "stock", friday_close, now, CYCLE)
    assert last_close("XNYS", mlk_day) == friday_close
    assert next_open("XNYS", mlk_day) == at(NEW_YORK, 2026, 1, 20, 9, 30)
    assert not closed_since("XNYS", friday_close, tuesday)
    assert is_stale("AAPL", "stock", friday_close, tuesday, CYCLE)


def test_thursdays_close_needs_a_new_price_once_friday_trades():
    thursday_close = at(NEW_YORK, 2026, 11, 19, 16, 0)
    friday_session = at(NEW_YORK, 2026, 11, 20, 10, 30)
    assert not closed_since("XNYS", thursday_close, friday_session)
    assert is_stale("AAPL", "stock", thursday_close, friday_session, CYCLE)


def test_a_price_from_just_before_the_close_is_asked_for_once_more():
    before_close = at(NEW_YORK, 2026, 11, 20, 15, 59)
    saturday = at(NEW_YORK, 2026, 11, 21, 12, 0)
    assert not closed_since("XNYS", before_close, saturday)  # the closing price came after it
    assert closed_since("XNYS", at(NEW_YORK, 2026, 11, 20, 16, 0), saturday)


def test_thanksgiving_is_not_a_trading_day_and_wednesdays_close_stays_fresh():
    wednesday_close = at(NEW_YORK, 2026, 11, 25, 16, 0)
    thanksgiving = at(NEW_YORK, 2026, 11, 26, 11, 0)
    assert not is_open("XNYS", thanksgiving)
    assert closed_since("XNYS", wednesday_close, thanksgiving)
    assert not is_stale("VTI", "etf", wednesday_close, thanksgiving, CYCLE)
    # a price from Tuesday is still stale on the holiday: Wednesday traded
    assert is_stale("VTI", "etf", at(NEW_YORK, 2026, 11, 24, 16, 0), thanksgiving, CYCLE)


def test_the_day_after_thanksgiving_closes_at_one_and_its_close_is_fresh_afterwards():
    assert is_open("XNYS", at(NEW_YORK, 2026, 11, 27, 12, 30))
    assert not is_open("XNYS", at(NEW_YORK, 2026, 11, 27, 13, 30))
    early_close = at(NEW_YORK, 2026, 11, 27, 13, 0)
    assert last_close("XNYS", at(NEW_YORK, 2026, 11, 27, 15, 0)) == early_close
    # at 15:00 a normal day would still be trading; the 13:00 close is the newest price there is
    assert not is_stale("VTI", "etf", early_close, at(NEW_YORK, 2026, 11, 27, 15, 0), CYCLE)
    assert closed_since("XNYS", early_close, at(NEW_YORK, 2026, 11, 29, 20, 0))
    # a morning price is stale after the early close: the closing price is missing
    assert is_stale("VTI", "etf", at(NEW_YORK, 2026, 11, 27, 11, 0), at(NEW_YORK, 2026, 11, 27, 15, 0), CYCLE)


def test_the_uk_summer_bank_holiday_keeps_fridays_london_close_fresh():
    friday_close = at(LONDON, 2026, 8, 28, 16, 30)
    bank_holiday = at(LONDON, 2026, 8, 31, 12, 0)
    assert calendar_for("VOD.L", "stock") == "XLON"
    assert not is_open("XLON", bank_holiday)
    assert closed_since("XLON", friday_close, bank_holiday)
    assert not is_stale("VOD.L", "stock", friday_close, bank_holiday, CYCLE)
    assert is_stale("VOD.L", "stock", friday_close, at(LONDON, 2026, 9, 1, 9, 0), CYCLE)


def test_christmas_eves_early_close_in_london_is_fresh_until_the_29th():
    # London closes at 12:30 on Christmas Eve; the 25th and the 28th (Boxing Day's substitute) are holidays
    early_close = at(LONDON, 2026, 12, 24, 12, 30)
    for now in (at(LONDON, 2026, 12, 24, 14, 0), at(LONDON, 2026, 12, 25, 12, 0), at(LONDON, 2026, 12, 28, 12, 0)):
        assert not is_open("XLON", now)
        assert closed_since("XLON", early_close, now)
        assert not is_stale("VOD.L", "stock", early_close, now, CYCLE)
    assert next_open("XLON", at(LONDON, 2026, 12, 25, 12, 0)) == at(LONDON, 2026, 12, 29, 8, 0)
    # New York trades on the 28th: a US price from Christmas Eve is stale then
    assert not is_open("XNYS", at(NEW_YORK, 2026, 12, 25, 11, 0))
    assert is_stale("AAPL", "stock", at(NEW_YORK, 2026, 12, 24, 13, 0), at(NEW_YORK, 2026, 12, 28, 11, 0), CYCLE)


def test_hong_kong_lunch_break_is_not_trading():
    before_lunch = at(HONG_KONG, 2026, 11, 25, 12, 0)
    lunch = at(HONG_KONG, 2026, 11, 25, 12, 40)
    assert not is_open("XHKG", lunch)
    assert closed_since("XHKG", before_lunch, lunch)
    assert not is_stale("0700.HK", "stock", before_lunch, lunch, CYCLE)
    assert next_open("XHKG", lunch) == at(HONG_KONG, 2026, 11, 25, 13, 0)
    # the afternoon's two cycles of grace count from the end of the break
    assert not is_stale("0700.HK", "stock", before_lunch, at(HONG_KONG, 2026, 11, 25, 13, 15), CYCLE)
    assert is_stale("0700.HK", "stock", before_lunch, at(HONG_KONG, 2026, 11, 25, 13, 21), CYCLE)


@pytest.mark.parametrize("now", [
    at(NEW_YORK, 2026, 11, 28, 3, 0),   # a Saturday night
    at(LONDON, 2026, 12, 25, 12, 0),     # Christmas Day
])
def test_crypto_trades_around_the_clock(now):
    assert calendar_for("BTC-USD", "crypto") == "24/7"
    assert is_open("24/7", now)
    assert not closed_since("24/7", now - timedelta(minutes=1), now)
    assert not is_stale("BTC-USD", "crypto", now - timedelta(minutes=19), now, CYCLE)
    assert is_stale("BTC-USD", "crypto", now - timedelta(minutes=21), now, CYCLE)
    assert next_open("24/7", now) is None


def test_an_indian_funds_nav_is_due_on_indian_business_days():
    # Tuesday 2026-11-24 (Guru Nanak Jayanti) is an exchange holiday in India
    monday_nav = at(KOLKATA, 2026, 11, 23, 15, 30)
    assert calendar_for("122639", "mutual_fund") == "XBOM"
    assert not is_stale("122639", "mutual_fund", monday_nav, at(KOLKATA, 2026, 11, 25, 15, 0))
    # due at the end of Wednesday, plus twelve hours for publication
    assert not is_stale("122639", "mutual_fund", monday_nav, at(KOLKATA, 2026, 11, 26, 11, 0))
    assert is_stale("122639", "mutual_fund", monday_nav, at(KOLKATA, 2026, 11, 26, 12, 30))


def test_a_us_funds_nav_from_before_thanksgiving_is_fresh_until_fridays_nav_is_due():
    wednesday_nav = at(NEW_YORK, 2026, 11, 25, 16, 0)
    for now in (at(NEW_YORK, 2026, 11, 26, 20, 0), at(NEW_YORK, 2026, 11, 27, 22, 0)):
        assert not is_stale_at("XNYS", "mutual_fund", wednesday_nav, now)
    assert is_stale_at("XNYS", "mutual_fund", wednesday_nav, at(NEW_YORK, 2026, 11, 29, 12, 0))
    fridays_nav = at(NEW_YORK, 2026, 11, 27, 16, 0)
    assert not is_stale_at("XNYS", "mutual_fund", fridays_nav, at(NEW_YORK, 2026, 11, 29, 12, 0))


def test_beyond_the_indian_holidays_the_library_records_weekdays_still_count():
    # exchange-calendars 4.13.2 records XBOM's holidays to 2026 only; 2027 is plain weekdays
    friday_nav = at(KOLKATA, 2027, 1, 8, 15, 30)
    sunday = at(KOLKATA, 2027, 1, 10, 12, 0)
    assert not is_open("XBOM", sunday)
    assert is_open("XBOM", at(KOLKATA, 2027, 1, 11, 10, 0))
    assert not is_stale("122639", "mutual_fund", friday_nav, sunday)
    assert is_stale("122639", "mutual_fund", friday_nav, at(KOLKATA, 2027, 1, 12, 12, 30))
    assert closed_since("XBOM", friday_nav, sunday)
    assert not is_stale("RELIANCE.NS", "stock", friday_nav, sunday, CYCLE)


def test_a_time_without_a_timezone_is_refused_not_guessed():
    with pytest.raises(ValueError):
        is_open("XNYS", datetime(2026, 11, 25, 15, 0))
