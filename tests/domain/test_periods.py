"""Performance periods as a pair of closes: the close before the first day, the last day's close."""
from datetime import date

import pytest

from webapp.domain.periods import PERIODS, months_back, period_range

TODAY = date(2026, 3, 31)
FIRST = date(2020, 6, 15)


@pytest.mark.parametrize("key, start", [
    ("1M", date(2026, 2, 28)),  # 31 March back a month: February's last day
    ("3M", date(2025, 12, 31)),
    ("YTD", date(2025, 12, 31)),  # the close of the year before
    ("1Y", date(2025, 3, 31)),
    ("3Y", date(2023, 3, 31)),
    ("5Y", date(2021, 3, 31)),
    ("ALL", date(2020, 6, 14)),  # the day before the ledger's first day: nothing held yet
])
def test_each_period_starts_at_the_close_before_its_first_day(key, start):
    period = period_range(key, TODAY, FIRST)
    begin, end = period
    assert (begin, end) == (start, TODAY) and not period.clipped
    assert period.first_day == date.fromordinal(start.toordinal() + 1)


def test_a_period_from_before_the_ledger_is_clipped_and_says_so():
    period = period_range("5Y", TODAY, date(2024, 1, 10))
    assert tuple(period) == (date(2024, 1, 9), TODAY) and period.clipped and period.asked_start == date(2021, 3, 31)
    assert period.days == (TODAY - date(2024, 1, 9)).days
    assert not period_range("ALL", TODAY, date(2024, 1, 10)).clipped


def test_custom_periods_and_mistakes():
    period = period_range("custom", TODAY, FIRST, date(2025, 1, 1), date(2025, 6, 30))
    assert tuple(period) == (date(2024, 12, 31), date(2025, 6, 30)) and period.key == "CUSTOM"
    assert tuple(period_range("CUSTOM", TODAY, FIRST, date(2026, 3, 1))) == (date(2026, 2, 28), TODAY)
    with pytest.raises(ValueError, match="first day"):
        period_range("CUSTOM", TODAY, FIRST)
    with pytest.raises(ValueError, match="after its last day"):
        period_range("CUSTOM", TODAY, FIRST, date(2026, 3, 2), date(2026, 3, 1))
    with pytest.raises(ValueError, match="not a period"):
        period_range("2W", TODAY, FIRST)
    assert set(PERIODS) == {"1M", "3M", "YTD", "1Y", "3Y", "5Y", "ALL", "CUSTOM"}


def test_an_empty_ledger_and_month_ends():
    assert tuple(period_range("ALL", TODAY, None)) == (date(2026, 3, 30), TODAY)
    assert tuple(period_range("1Y", date(2024, 2, 29), None)) == (date(2023, 2, 28), date(2024, 2, 29))
    assert months_back(date(2026, 1, 15), 1) == date(2025, 12, 15)
