"""Market sessions from exchange-calendars: which calendar an instrument trades on, when its
market is open (holidays and half days included), and whether its last price is stale.

Pure: no Flask, database, Redis or clock. Every answer depends only on the arguments.

A calendar is read from the library once per code and month asked about (a few hundred ms)
and kept as sorted lists of trading stretches in epoch seconds, so a question costs a couple
of bisections. The stretches cover the 24 months before the month of the instant asked about
and the 12 after it; a lunch break splits a session in two stretches, and touching stretches
(24/7) merge into one. Where the library's holidays end (XBOM's are recorded a year at a time)
the stretches go on as plain weekdays at the calendar's regular hours, as before this module.
"""
from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
import time as _time
from zoneinfo import ZoneInfo

import exchange_calendars as xcals
import numpy as np
import pandas as pd

CRYPTO = "24/7"
US = "XNYS"
CYCLE = timedelta(minutes=10)
NAV_GRACE = timedelta(hours=12)
MONTHS_BEHIND = 24
MONTHS_AHEAD = 12
_NAT = np.iinfo(np.int64).min

# Yahoo-style and Stooq-style suffixes. exchange-calendars 4.13.2 has no XNSE: the NSE and
# the BSE (XBOM) keep the same sessions (09:15-15:30 IST) and the same trading holidays.
SUFFIX_CALENDARS = {
    "L": "XLON", "UK": "XLON",
    "DE": "XETR",
    "F": "XFRA",
    "PA": "XPAR",
    "AS": "XAMS",
    "MI": "XMIL",
    "SW": "XSWX",
    "TO": "XTSE",
    "NS": "XBOM", "BO": "XBOM",
    "T": "XTKS", "JP": "XTKS",
    "HK": "XHKG",
    "AX": "XASX",
    "WA": "XWAR", "PL": "XWAR",
    "US": "XNYS",
}


def calendar_for(symbol: str, asset_type: str) -> str:
    """The exchange-calendars code whose sessions an instrument's prices follow."""
    if asset_type == "crypto":
        return CRYPTO
    s = symbol.strip()
    if "." in s:
        found = SUFFIX_CALENDARS.get(s.rsplit(".", 1)[1].upper())
        if found:
            return found
    if asset_type == "mutual_fund" and s.isdigit():
        return "XBOM"  # an AMFI scheme code: the NAV follows Indian business days
    return US  # no suffix, a share class (BRK.B), an index (^GSPC)


@dataclass(frozen=True, eq=False)
class _Sessions:
    """One calendar over a bounded range: trading stretches [starts[i], ends[i]) in epoch
    seconds, and per session its local date (ordinal) and close."""

    code: str
    tz: ZoneInfo
    starts: list[float]
    ends: list[float]
    days: list[int]
    closes: list[float]


def _add_months(d: date, months: int) -> date:
    m = d.year * 12 + d.month - 1 + months
    return date(m // 12, m % 12 + 1, 1)


def _seconds(column: pd.Series) -> list[float | None]:
    """Epoch seconds of a UTC datetime column; None where it is NaT (no lunch break)."""
    nanos = column.dt.tz_convert(None).to_numpy().astype("datetime64[ns]").astype("int64")
    return [None if n == _NAT else n / 1e9 for n in nanos.tolist()]


def _regular(times) -> time:
    return times[-1][1]  # ((since, time), ...): the latest entry is today's regular time


def _weekday_sessions(cal: xcals.ExchangeCalendar, first: date, last: date):
    """(day, open, break start, break end, close) for plain weekdays: beyond the holidays the
    library records, a day of the calendar's weekmask is taken to trade at its regular hours."""
    tz = ZoneInfo(str(cal.tz))
    has_break = bool(cal.break_start_times)

    def at(day: date, times, offset: int = 0) -> float:
        return datetime.combine(day + timedelta(days=offset), _regular(times), tz).timestamp()

    day = first
    while day <= last:
        if cal.weekmask[day.weekday()] == "1":
            yield (
                day,
                at(day, cal.open_times, cal.open_offset),
                at(day, cal.break_start_times) if has_break else None,
                at(day, cal.break_end_times) if has_break else None,
                at(day, cal.close_times, cal.close_offset),
            )
        day += timedelta(days=1)


@lru_cache(maxsize=64)
def _build(code: str, year: int, month: int) -> _Sessions:
    first = _add_months(date(year, month, 1), -MONTHS_BEHIND)
    last = _add_months(date(year, month, 1), MONTHS_AHEAD + 1) - timedelta(days=1)
    known = last
    while True:
        try:
            cal = xcals.get_calendar(code, start=first, end=known)
            break
        except ValueError:  # holidays recorded only to an earlier year-end (XBOM's, a year at a time)
            known = date(known.year - 1, 12, 31)
            if known < first:
                raise
    rows = list(zip(
        (d.date() for d in cal.sessions),
        _seconds(cal.opens), _seconds(cal.break_starts), _seconds(cal.break_ends), _seconds(cal.closes),
    ))
    if known < last:
        rows += _weekday_sessions(cal, known + timedelta(days=1), last)
    starts: list[float] = []
    ends: list[float] = []
    for _, opens, break_start, break_end, closes in rows:
        stretches = [(opens, break_start), (break_end, closes)] if break_start is not None else [(opens, closes)]
        for s, e in stretches:
            if ends and s <= ends[-1]:
                ends[-1] = max(ends[-1], e)  # touching sessions (24/7) are one stretch
            elif e > s:
                starts.append(s)
                ends.append(e)
    return _Sessions(
        code=code, tz=ZoneInfo(str(cal.tz)), starts=starts, ends=ends,
        days=[r[0].toordinal() for r in rows], closes=[r[4] for r in rows],
    )


def _epoch(at: datetime) -> float:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"a timezone-aware datetime is needed, got {at!r}")
    return at.timestamp()


def _sessions(code: str, t: float) -> _Sessions:
    year, month = _time.gmtime(t)[:2]
    return _build(code, year, month)


def _utc(t: float) -> datetime:
    return datetime.fromtimestamp(t, timezone.utc)


def is_open(calendar: str, at: datetime) -> bool:
    """Is `at` a trading moment (not a night, weekend, holiday, lunch break or after a half day's close)?"""
    t = _epoch(at)
    s = _sessions(calendar, t)
    i = bisect_right(s.starts, t) - 1
    return i >= 0 and t < s.ends[i]


def closed_since(calendar: str, since: datetime, now: datetime) -> bool:
    """True when the market has not traded at any moment after `since` up to `now`: a price
    stamped `since` (or later) cannot have changed, so a cycle need not ask for it."""
    t_since, t_now = _epoch(since), _epoch(now)
    s = _sessions(calendar, t_now)
    j = bisect_right(s.ends, t_since)  # the first stretch still trading after `since`
    return j == len(s.starts) or s.starts[j] >= t_now


def next_open(calendar: str, at: datetime) -> datetime | None:
    """When trading next starts after `at` (a session's open, or the end of a lunch break);
    None when the calendar never stops within its range (24/7)."""
    t = _epoch(at)
    s = _sessions(calendar, t)
    j = bisect_right(s.starts, t)
    if j == len(s.starts) or (j == 0 and s.starts[0] <= t):
        return None
    return _utc(s.starts[j])


def last_close(calendar: str, at: datetime) -> datetime | None:
    """The close of the last session that ended at or before `at` (a half day's early close
    included); None when none did within the calendar's range."""
    t = _epoch(at)
    s = _sessions(calendar, t)
    i = bisect_right(s.closes, t) - 1
    return _utc(s.closes[i]) if i >= 0 else None


def nav_due(calendar: str, as_of: datetime, now: datetime) -> datetime:
    """When a fund NAV dated `as_of` is superseded: the end of the next business day (local),
    plus a grace period for publication."""
    s = _sessions(calendar, _epoch(now))
    nav_day = as_of.astimezone(s.tz).date()
    j = bisect_right(s.days, nav_day.toordinal())
    next_day = date.fromordinal(s.days[j]) if j < len(s.days) else nav_day + timedelta(days=1)
    return datetime.combine(next_day, time(23, 59), s.tz) + NAV_GRACE


def is_stale_at(calendar: str, asset_type: str, as_of: datetime, now: datetime,
                cycle: timedelta = CYCLE) -> bool:
    """Should there be a newer price than one from `as_of` by `now`?

    Funds: not until the next NAV is due. Listed prices: while the market trades, when older
    than two refresh cycles (counted from the session's open, or the end of a lunch break);
    while it is shut (nights, weekends, holidays, lunch), when older than the last close by
    more than two cycles.
    """
    if asset_type == "mutual_fund":
        return now > nav_due(calendar, as_of, now)
    t_now, t_as_of = _epoch(now), _epoch(as_of)
    s = _sessions(calendar, t_now)
    i = bisect_right(s.starts, t_now) - 1
    if i < 0:
        return False  # nothing traded in the range before now, so nothing newer can exist
    margin = 2 * cycle.total_seconds()
    if t_now < s.ends[i]:  # trading now
        return t_now - max(t_as_of, s.starts[i]) > margin
    return t_as_of < s.ends[i] - margin


def is_stale(symbol: str, asset_type: str, as_of: datetime, now: datetime,
             cycle: timedelta = CYCLE) -> bool:
    """webapp.staleness.is_stale, with holidays and half days: the instrument's calendar decides."""
    return is_stale_at(calendar_for(symbol, asset_type), asset_type, as_of, now, cycle)
