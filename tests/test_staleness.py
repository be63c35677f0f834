"""Stale means 'should have a newer price by now', judged by asset type and market hours."""
from datetime import datetime, timedelta, timezone

import pytest

from webapp.domain.staleness import is_stale

UTC = timezone.utc
# Wednesday 2026-11-25, 15:00 UTC = 10:00 in New York (NYSE open since 09:30)
WED_NY_MORNING = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)


def test_listed_price_is_fresh_within_two_cycles_while_the_market_is_open():
    assert not is_stale("AAPL", "stock", WED_NY_MORNING - timedelta(minutes=19), WED_NY_MORNING)
    assert is_stale("AAPL", "stock", WED_NY_MORNING - timedelta(minutes=21), WED_NY_MORNING)


def test_just_after_the_open_yesterdays_close_is_not_stale_yet():
    now = datetime(2026, 11, 25, 14, 40, tzinfo=UTC)  # 09:40 New York
    yesterday_close = datetime(2026, 11, 24, 21, 0, tzinfo=UTC)
    assert not is_stale("AAPL", "stock", yesterday_close, now)


def test_weekend_is_not_stale_when_the_price_is_fridays_close():
    saturday = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    friday_close = datetime(2026, 11, 27, 21, 0, tzinfo=UTC)
    assert not is_stale("VTI", "etf", friday_close, saturday)
    assert is_stale("VTI", "etf", friday_close - timedelta(days=1), saturday)


def test_the_market_of_the_symbol_counts():
    # 15:00 UTC is 15:00 in London (LSE open) but after the close in Tokyo
    assert is_stale("VOD.L", "stock", WED_NY_MORNING - timedelta(hours=1), WED_NY_MORNING)
    tokyo_close = datetime(2026, 11, 25, 6, 30, tzinfo=UTC)  # 15:30 JST
    assert not is_stale("7203.T", "stock", tokyo_close, WED_NY_MORNING)


@pytest.mark.parametrize(
    "nav_date,now,stale",
    [
        # Tuesday's NAV is fresh through Wednesday (the next NAV is due Wednesday night)
        (datetime(2026, 11, 24, 21, 0, tzinfo=UTC), WED_NY_MORNING, False),
        # Friday's NAV stays fresh over the weekend
        (datetime(2026, 11, 27, 21, 0, tzinfo=UTC), datetime(2026, 11, 29, 20, 0, tzinfo=UTC), False),
        # a NAV from last week is stale
        (datetime(2026, 11, 18, 21, 0, tzinfo=UTC), WED_NY_MORNING, True),
    ],
)
def test_fund_nav_is_fresh_until_the_next_nav_is_due(nav_date, now, stale):
    assert is_stale("VTSAX", "mutual_fund", nav_date, now) is stale


def test_indian_fund_scheme_codes_use_indian_business_days():
    nav = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)  # Tuesday's NAV in India
    assert not is_stale("122639", "mutual_fund", nav, datetime(2026, 11, 25, 12, 0, tzinfo=UTC))
    assert is_stale("122639", "mutual_fund", nav, datetime(2026, 11, 27, 12, 0, tzinfo=UTC))
