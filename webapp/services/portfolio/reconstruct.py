"""Reconstructed value history: the days before a portfolio's first recorded value, from daily closes."""
from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta, timezone

import sqlalchemy as sa

from webapp.domain.valuation import PriceInfo, Valuation, value_portfolio
from webapp.extensions import db
from webapp.models import PortfolioSnapshot, Quote

log = logging.getLogger(__name__)


RECONSTRUCT_DAYS = 365


def reconstruct_history(user_ids: list[int] | None = None, instrument_ids: list[int] | None = None,
                        days: int = RECONSTRUCT_DAYS) -> dict:
    """What each portfolio, as it is held today, was worth at each day's close before its
    first recorded snapshot: from the daily closes in the quote history (a backfill), so a
    new user sees a real chart on day one. These snapshots are marked `reconstructed`, are
    rebuilt each time (they are derived, never recorded values), and a day is only drawn
    when every holding has a price by then and converts to the base currency."""
    from webapp.services.portfolio.read_model import (
        all_owners,
        holders_of,
        load_holdings,
    )
    from webapp.services.pricing.fx import current_rates

    if user_ids is None:
        user_ids = holders_of(instrument_ids) if instrument_ids else all_owners()
    loaded = load_holdings(sorted(set(user_ids)))
    if not loaded:  # nobody holds them (an instrument added by an import)
        return {"users": 0, "snapshots": 0}
    today = datetime.now(timezone.utc).date()
    start = today - timedelta(days=days)
    fx = current_rates()
    S = PortfolioSnapshot
    first_real = dict(db.session.execute(
        sa.select(S.user_id, sa.func.min(S.as_of)).where(S.user_id.in_(list(loaded)), S.reconstructed.is_(False))
        .group_by(S.user_id)).all()) if loaded else {}
    # no quote after the last day any of them needs (the intraday quotes of cycles since are many)
    until = today if len(first_real) < len(loaded) else max(first_real.values()).date()
    closes = _daily_closes({iid for h in loaded.values() for _, _, iid, *_ in h.holdings},
                           datetime.combine(start, time.min, timezone.utc),
                           datetime.combine(until, time.min, timezone.utc))
    ids = list(loaded)
    for n in range(0, len(ids), 2000):  # rebuilt, never added to
        db.session.execute(sa.delete(S).where(S.user_id.in_(ids[n:n + 2000]), S.reconstructed.is_(True)))
    rows, users = [], 0
    for uid, h in loaded.items():
        if not h.holdings:
            continue
        end = first_real[uid].date() if uid in first_real else today
        series = _values_by_day(h, closes, start, end, fx)
        users += bool(series)
        rows += [{"user_id": uid, "as_of": datetime.combine(day, time(23, 59), timezone.utc), "currency": h.currency,
                  "total_value": v.total, "account_values": {str(a.id): format(a.total, "f") for a in v.accounts},
                  "reconstructed": True} for day, v in series]
    if rows:
        db.session.execute(sa.insert(S), rows)
    db.session.commit()
    return {"users": users, "snapshots": len(rows)}


def _daily_closes(instrument_ids: set[int], since: datetime, until: datetime) -> dict[int, list[tuple[date, PriceInfo]]]:
    """instrument id -> [(day, its last quote that day)] for the days in [since, until), oldest first."""
    out: dict[int, list[tuple[date, PriceInfo]]] = {}
    ids = sorted(instrument_ids)
    for n in range(0, len(ids), 2000):
        rows = db.session.execute(
            sa.select(Quote.instrument_id, Quote.as_of, Quote.price, Quote.currency, Quote.source)
            .where(Quote.instrument_id.in_(ids[n:n + 2000]), Quote.as_of >= since, Quote.as_of < until)
            .order_by(Quote.instrument_id, Quote.as_of))
        for iid, as_of, price, ccy, source in rows:
            days = out.setdefault(iid, [])
            info = PriceInfo(price, ccy, as_of, source)
            if days and days[-1][0] == as_of.date():
                days[-1] = (as_of.date(), info)
            else:
                days.append((as_of.date(), info))
    return out


def _values_by_day(h, closes, start: date, end: date, fx) -> list[tuple[date, Valuation]]:
    """Each day in [start, end) on which every holding has a close by then (carried forward)."""
    symbols = {iid: symbol for _, _, iid, symbol, *_ in h.holdings}
    pointers = {iid: 0 for iid in symbols}
    current: dict[str, PriceInfo] = {}
    positions = h.positions()
    out = []
    day = start
    while day < end:
        for iid, symbol in symbols.items():
            series, i = closes.get(iid, []), pointers[iid]
            while i < len(series) and series[i][0] <= day:
                current[symbol] = series[i][1]
                i += 1
            pointers[iid] = i
        if len(current) == len(symbols):
            v = value_portfolio(h.accounts, positions, current, h.currency, fx)
            if v.complete:
                out.append((day, v))
        day += timedelta(days=1)
    return out
