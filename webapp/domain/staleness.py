"""Is a price stale? Judged per asset type and the market's own sessions, not by age alone.

The calendars are exchange-calendars' (webapp.domain.markets): holidays, half days and
lunch breaks count.
- Exchange-listed (stocks, ETFs): stale when its market is open and the price is older than
  two missed refresh cycles (measured from the session's open). While the market is closed
  (nights, weekends, holidays) the last close is not stale, unless it predates that close.
- Funds (end-of-day NAV): fresh until the next NAV is due, i.e. until the end of the
  business day after the NAV's date, plus a grace period for publication.
- Crypto trades around the clock: stale after two missed cycles.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from webapp.domain import markets
from webapp.domain.valuation import Valuation

CYCLE = markets.CYCLE


def is_stale(symbol: str, asset_type: str, as_of: datetime, now: datetime | None = None,
             cycle: timedelta = CYCLE) -> bool:
    return markets.is_stale(symbol, asset_type, as_of, now or datetime.now(timezone.utc), cycle)


def judge(valuation: Valuation, now: datetime | None = None) -> dict[int, bool]:
    """holding id -> stale?, for every priced holding of the valuation."""
    now = now or datetime.now(timezone.utc)
    return {
        h.holding_id: is_stale(h.symbol, h.asset_type, h.as_of, now)
        for a in valuation.accounts
        for h in a.holdings
        if h.as_of is not None
    }
