"""Performance periods: 1M, 3M, YTD, 1Y, 3Y, 5Y, ALL, CUSTOM as a range of day closes. Pure.

A period is measured from the close *before* its first day (`start`) to the close of its
last day (`end`): a one-month return on 15 March compares the close of 15 February with
today's. The start never goes before the ledger's first day: a period asked from earlier is
measured from the close before that day (when nothing was held, the value is 0), and says
so (`clipped`), so that a page can label it "since <first day>".
"""
from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta

PERIODS = ("1M", "3M", "YTD", "1Y", "3Y", "5Y", "ALL", "CUSTOM")
_MONTHS = {"1M": 1, "3M": 3, "1Y": 12, "3Y": 36, "5Y": 60}
ONE_DAY = timedelta(days=1)


@dataclass(frozen=True)
class Period:
    """`start, end = period` unpacks the two closes; the rest says how they were chosen."""

    key: str
    start: date  # the close the period is measured from: the day before its first day
    end: date  # the close it is measured to (its last day)
    asked_start: date  # the start before clipping to the ledger's first day
    clipped: bool  # the period asked starts before the ledger's first day

    def __iter__(self):
        yield self.start
        yield self.end

    @property
    def first_day(self) -> date:
        """The period's first day: activities on `start` itself belong to the period before."""
        return self.start + ONE_DAY

    @property
    def days(self) -> int:
        return (self.end - self.start).days


def months_back(day: date, months: int) -> date:
    """The same day `months` earlier, or that month's last day when it is shorter (31 March
    back one month is 28 or 29 February)."""
    month0 = day.year * 12 + day.month - 1 - months
    year, month = divmod(month0, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def period_range(key: str, today: date, first_day: date | None, custom_from: date | None = None,
                 custom_to: date | None = None) -> Period:
    """The closes a period runs between; `first_day` is the ledger's first activity day (None
    for an empty ledger). CUSTOM runs from `custom_from` (its first day) to `custom_to`
    (today when None). Raises ValueError, in words for people, for an unknown key or range."""
    key = (key or "").upper()
    if key not in PERIODS:
        raise ValueError(f"“{str(key)[:10]}” is not a period (one of {', '.join(PERIODS)}).")
    end = today
    if key in _MONTHS:
        asked = months_back(today, _MONTHS[key])
    elif key == "YTD":
        asked = date(today.year - 1, 12, 31)
    elif key == "ALL":
        asked = (first_day or today) - ONE_DAY
    else:
        if custom_from is None:
            raise ValueError("A custom period needs a first day.")
        end = custom_to or today
        if custom_from > end:
            raise ValueError("The custom period's first day is after its last day.")
        asked = custom_from - ONE_DAY
    start = asked
    clipped = False
    if first_day is not None and asked < first_day - ONE_DAY:
        start, clipped = first_day - ONE_DAY, True
    return Period(key, min(start, end), end, asked, clipped)


__all__ = ["PERIODS", "Period", "period_range", "months_back"]
