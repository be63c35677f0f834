"""Daily closes and exchange rates for the performance figures, read once per call for every
symbol and currency, from a day on: what a day at or after `since` needs, and no more.

A window read returns the rows in [since, until] plus, per symbol (per currency pair), the
last one before `since`; "the close on or before a day" and "the rate on or before a day"
then answer for any day in the window exactly as a read of the whole history would.
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Iterable

import sqlalchemy as sa
from sqlalchemy.orm import aliased

from pricing_providers.fx import CET
from webapp.domain.base_currency import MissingRate
from webapp.domain.fx_history import FxHistory
from webapp.extensions import db
from webapp.models import FxRate, Instrument, Quote

ONE = Decimal(1)


def _utc_midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, timezone.utc)


def daily_closes(symbols: Iterable[str], since: date, until: date) -> dict[str, list[tuple[date, Decimal]]]:
    """symbol -> [(day, close)], oldest first: the last quote of each UTC day in [since, until],
    after the last close before `since`. One query over `quotes` joined to `instruments`."""
    symbols = sorted(set(symbols))
    if not symbols:
        return {}
    lo, hi = _utc_midnight(since), _utc_midnight(until + timedelta(days=1))
    window = (sa.select(Instrument.symbol, Quote.as_of, Quote.price)
              .join(Quote, Quote.instrument_id == Instrument.id)
              .where(Instrument.symbol.in_(symbols), Quote.as_of >= lo, Quote.as_of < hi))
    q2 = aliased(Quote)
    last_at = (sa.select(q2.as_of).where(q2.instrument_id == Instrument.id, q2.as_of < lo)
               .order_by(q2.as_of.desc()).limit(1).correlate(Instrument).scalar_subquery())
    last = sa.select(Instrument.id.label("iid"), Instrument.symbol.label("symbol"), last_at.label("at")) \
        .where(Instrument.symbol.in_(symbols)).subquery()
    before = (sa.select(last.c.symbol, Quote.as_of, Quote.price)
              .join(Quote, sa.and_(Quote.instrument_id == last.c.iid, Quote.as_of == last.c.at)))
    union = sa.union_all(window, before).subquery()
    rows = db.session.execute(sa.select(union.c.symbol, union.c.as_of, union.c.price)
                              .order_by(union.c.symbol, union.c.as_of))
    out: dict[str, list[tuple[date, Decimal]]] = {}
    for symbol, as_of, price in rows:  # the union keeps the columns' types: aware UTC, exact
        day = as_of.date()
        series = out.setdefault(symbol, [])
        if series and series[-1][0] == day:
            series[-1] = (day, price)
        else:
            series.append((day, price))
    return out


def _end_of_cet(day: date) -> datetime:
    return datetime.combine(day + timedelta(days=1), time.min, CET)


def fx_window(currencies: Iterable[str], since: date, until: date) -> FxHistory:
    """The daily rates among `currencies` and EUR for days in [since, until] (CET days, as
    stored), after each pair's last rate before `since`: the same answers as
    webapp.services.pricing.fx.fx_history for any day in the window."""
    ccys = sorted(set(currencies) | {"EUR"})
    lo, hi = datetime.combine(since, time.min, CET), _end_of_cet(until)
    among = sa.and_(FxRate.base.in_(ccys), FxRate.quote.in_(ccys))
    window = sa.select(FxRate.base, FxRate.quote, FxRate.as_of, FxRate.rate).where(
        among, FxRate.as_of >= lo, FxRate.as_of < hi)
    newest = (sa.select(FxRate.base.label("b"), FxRate.quote.label("q"), sa.func.max(FxRate.as_of).label("at"))
              .where(among, FxRate.as_of < lo).group_by(FxRate.base, FxRate.quote).subquery())
    before = sa.select(FxRate.base, FxRate.quote, FxRate.as_of, FxRate.rate).join(
        newest, sa.and_(FxRate.base == newest.c.b, FxRate.quote == newest.c.q, FxRate.as_of == newest.c.at))
    rows = db.session.execute(sa.union_all(window, before))
    return FxHistory.from_rows((b, q, as_of.astimezone(CET).date(), r) for b, q, as_of, r in rows)


class Rates:
    """1 unit of a currency in `base` on a day, the nearest earlier published day's rate;
    exactly 1 for the base itself. Raises MissingRate before any rate. Memoized per call."""

    def __init__(self, history: FxHistory, base: str):
        self.history, self.base = history, base
        self._memo: dict[tuple[str, date], Decimal] = {}

    def __call__(self, currency: str, day: date) -> Decimal:
        if currency == self.base:
            return ONE
        key = (currency, day)
        r = self._memo.get(key)
        if r is None:
            r = self.history.rate_on(currency, self.base, day)
            if r is None:
                raise MissingRate(currency, self.base, day)
            self._memo[key] = r
        return r

    @classmethod
    def read(cls, currencies: Iterable[str], base: str, since: date, until: date) -> "Rates":
        foreign = set(currencies) - {base}
        history = fx_window(foreign | {base}, since, until) if foreign else FxHistory()
        return cls(history, base)
