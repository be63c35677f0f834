"""Is a price stale? Judged per asset type and market hours, not by age alone.

- Exchange-listed (stocks, ETFs): stale when its market is open and the price
  is older than two missed refresh cycles (measured from the session's open).
  While the market is closed (nights, weekends) the last close is not stale,
  unless it predates the last session altogether.
- Funds (end-of-day NAV): fresh until the next NAV is due, i.e. until the end of
  the business day after the NAV's date, plus a grace period for publication.
Exchange holidays are not modelled: on a holiday a listed price reads as stale.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from webapp.domain.valuation import Valuation


@dataclass(frozen=True)
class Market:
    tz: str
    opens: time
    closes: time


US = Market("America/New_York", time(9, 30), time(16, 0))
MARKETS = {
    "L": Market("Europe/London", time(8, 0), time(16, 30)),
    "DE": Market("Europe/Berlin", time(9, 0), time(17, 30)),
    "F": Market("Europe/Berlin", time(8, 0), time(20, 0)),
    "PA": Market("Europe/Paris", time(9, 0), time(17, 30)),
    "AS": Market("Europe/Amsterdam", time(9, 0), time(17, 30)),
    "SW": Market("Europe/Zurich", time(9, 0), time(17, 30)),
    "T": Market("Asia/Tokyo", time(9, 0), time(15, 30)),
    "HK": Market("Asia/Hong_Kong", time(9, 30), time(16, 0)),
    "NS": Market("Asia/Kolkata", time(9, 15), time(15, 30)),
    "BO": Market("Asia/Kolkata", time(9, 15), time(15, 30)),
    "TO": Market("America/Toronto", time(9, 30), time(16, 0)),
    "AX": Market("Australia/Sydney", time(10, 0), time(16, 0)),
}
CYCLE = timedelta(minutes=10)
NAV_GRACE = timedelta(hours=12)


def market_for(symbol: str) -> Market:
    if "." in symbol:
        return MARKETS.get(symbol.rsplit(".", 1)[1], US)
    return US


def _previous_business_day(d: date) -> date:
    d -= timedelta(days=1)
    while d.weekday() >= 5:
        d -= timedelta(days=1)
    return d


def _next_business_day(d: date) -> date:
    d += timedelta(days=1)
    while d.weekday() >= 5:
        d += timedelta(days=1)
    return d


def is_stale(symbol: str, asset_type: str, as_of: datetime, now: datetime | None = None,
             cycle: timedelta = CYCLE) -> bool:
    now = now or datetime.now(timezone.utc)
    if asset_type == "mutual_fund":
        market = market_for(symbol) if "." in symbol else (MARKETS["NS"] if symbol.isdigit() else US)
        tz = ZoneInfo(market.tz)
        nav_day = as_of.astimezone(tz).date()
        due = datetime.combine(_next_business_day(nav_day), time(23, 59), tz) + NAV_GRACE
        return now > due
    market = market_for(symbol)
    tz = ZoneInfo(market.tz)
    local = now.astimezone(tz)
    today = local.date()
    open_today = datetime.combine(today, market.opens, tz)
    close_today = datetime.combine(today, market.closes, tz)
    if today.weekday() < 5 and open_today <= local <= close_today:
        return now - max(as_of, open_today) > 2 * cycle
    # closed: the price should be from the last session's close (or later)
    if today.weekday() < 5 and local > close_today:
        last_session = today
    else:
        last_session = _previous_business_day(today)
    last_close = datetime.combine(last_session, market.closes, tz)
    return as_of < last_close - 2 * cycle


def judge(valuation: Valuation, now: datetime | None = None) -> dict[int, bool]:
    """holding id -> stale?, for every priced holding of the valuation."""
    now = now or datetime.now(timezone.utc)
    return {
        h.holding_id: is_stale(h.symbol, h.asset_type, h.as_of, now)
        for a in valuation.accounts
        for h in a.holdings
        if h.as_of is not None
    }
