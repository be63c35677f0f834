"""The cached daily series behind the performance figures: values and external flows per
(user, scope), and the exchange rates of the activities' days per user, in Redis
(webapp/services/cache/performance.py).

A series document holds, for one scope's activities in one base currency: the ledger version
it was computed from (a short hash of each day's activities, `fingerprints`), the number of
the last invalidation it has seen, its first day (the day before the scope's first
activity), each day's value and each day's external flow. A call recomputes from the
earliest of
- the first day whose activities differ from the cached version's (added, edited, deleted),
- the earliest day of an invalidation recorded since the document was written
  (`invalidate(user_id, day)`: closes or rates of old days that changed, say),
- the last cached day minus RECENT_DAYS − 1 (today's close and those that arrive late),
and reuses every cached day before that; a call that asks only for days before that point
reads nothing but Redis. Without a user id nothing is cached.

The rates document holds the rate of each (currency, day) the user's activities need (the
gains, income and fees in the base currency); an invalidation from day D drops those from D
on, and rates of new activity days are read when first needed.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Iterable, Sequence

from webapp.domain import performance as perf
from webapp.domain.base_currency import MissingRate
from webapp.domain.ledger import Activity
from webapp.domain.money import EXACT, ZERO, canonical
from webapp.domain.returns import external_flows
from webapp.services import cache
from webapp.services.portfolio.market_data import Rates, daily_closes

log = logging.getLogger(__name__)

FORMAT = 1  # of the cached documents: another number is recomputed
RECENT_DAYS = 5  # recomputed on every call: new closes change the last days' values
ONE_DAY = timedelta(days=1)


@dataclass
class Series:
    """Values from `first` on, one per day; flows by day; `recomputed_from`: the first day
    this call computed (None: every day asked came from the cache)."""

    first: date
    values: list[Decimal] = field(default_factory=list)
    flows: dict[date, Decimal] = field(default_factory=dict)
    recomputed_from: date | None = None

    @property
    def last(self) -> date:
        return self.first + timedelta(days=len(self.values) - 1)

    def between(self, start: date, end: date) -> list[tuple[date, Decimal]]:
        """(day, value) for each day in [start, end]; 0 before the first day (nothing held)."""
        out = []
        day = start
        while day <= end:
            i = (day - self.first).days
            out.append((day, self.values[i] if 0 <= i < len(self.values) else ZERO))
            day += ONE_DAY
        return out

    def flows_between(self, start: date, end: date) -> dict[date, Decimal]:
        """The flows of the days after `start` up to `end` (those of `start` are in its close)."""
        return {d: f for d, f in self.flows.items() if start < d <= end}


def _read(user_id: int | None, name: str) -> cache.Cached | None:
    """The cached document and changes; None without a user, or when Redis does not answer
    (the figures are then computed from the database alone)."""
    if user_id is None:
        return None
    try:
        return cache.read_performance(user_id, name)
    except cache.RedisError:
        log.warning("performance cache unavailable: computing without it", exc_info=True)
        return None


def _write(user_id: int, name: str, doc: str) -> None:
    try:
        cache.write_performance(user_id, name, doc)
    except cache.RedisError:
        log.warning("performance cache unavailable: %s not stored", name, exc_info=True)


def _pending(cached: cache.Cached, seen: int) -> tuple[bool, date | None]:
    """(complete, earliest day) of the invalidations after `seen`; not complete when some
    were trimmed from the list before they were read."""
    newer = [(n, d) for n, d in cached.changes if n > seen]
    if cached.seq > seen and (not newer or min(n for n, _ in newer) > seen + 1):
        return False, None
    return True, min((date.fromisoformat(d) for _, d in newer), default=None)


def _decode(raw: bytes | None) -> dict | None:
    if not raw:
        return None
    try:
        doc = json.loads(raw)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) and doc.get("v") == FORMAT else None


def _scope_flows(activities: Sequence[Activity], since: date, closes, rate) -> dict[date, Decimal]:
    """The external flows (in base) of the activities dated `since` or later. An account that
    records cash is known by any of its deposits, not only the recomputed ones: a zero
    deposit (which moves nothing) carries that knowledge into the recomputed part."""
    later = [a for a in activities if a.date >= since]
    later += [Activity(since, acc, "deposit", amount=ZERO) for acc in perf.cash_accounts(activities)]
    by_day: dict[date, dict[str, Decimal]] = {}
    for symbol, series in closes.items():
        for day, close in series:
            by_day.setdefault(day, {})[symbol] = close
    return external_flows(later, by_day, lambda amount, ccy, day: EXACT.multiply(amount, rate(ccy, day)))


def load_series(activities: Sequence[Activity], base: str, until: date, user_id: int | None = None,
                scope: str = "all") -> Series:
    """The daily values and flows of `activities` (one scope's) up to `until` at least."""
    if not activities:
        return Series(until + ONE_DAY)
    first = min(a.date for a in activities) - ONE_DAY
    if until <= first:
        return Series(first)  # the period ends before anything was held
    versions = perf.fingerprints(activities)
    name = f"series:{base}:{scope}"
    cached = _read(user_id, name)
    doc = _decode(cached.doc) if cached else None
    start, kept = first, Series(first)
    if doc is not None and doc["first"] == first.isoformat():
        complete, pending = _pending(cached, doc["seq"])
        old = Series(first, [Decimal(v) for v in doc["values"]],
                     {date.fromisoformat(d): Decimal(f) for d, f in doc["flows"].items()})
        changed = perf.first_change(doc["ledger"], versions)
        candidates = [d for d in (changed, pending, old.last - timedelta(days=RECENT_DAYS - 1)) if d is not None]
        start = min(candidates) if complete else first
        if start > until:
            old.values = old.values[: (until - first).days + 1]
            return old
        if start > first:
            kept = Series(first, old.values[: (start - first).days], {d: f for d, f in old.flows.items() if d < start})
            until = max(until, old.last)
        else:
            start = first
    computed = _compute(activities, base, start, until)
    kept.values += computed.values
    kept.flows.update(computed.flows)
    kept.recomputed_from = start
    if cached is not None:
        _write(user_id, name, json.dumps({
            "v": FORMAT, "seq": cached.seq, "first": first.isoformat(), "ledger": versions,
            "values": [canonical(v) for v in kept.values],
            "flows": {d.isoformat(): canonical(f) for d, f in sorted(kept.flows.items())}}, separators=(",", ":")))
    return kept


def _compute(activities: Sequence[Activity], base: str, start: date, until: date) -> Series:
    symbols = {a.symbol for a in activities if a.symbol}
    closes = daily_closes(symbols, start, until)
    rates = Rates.read({a.currency for a in activities}, base, start, until)
    values = perf.value_days(activities, start, until, closes, rates)
    return Series(start, [v for _, v in values], _scope_flows(activities, start, closes, rates))


# ---- the rates of the activities' days ---------------------------------------------------------


class RateBook:
    """Rates of (currency, day) known in advance, else read when first asked (a small read
    for that day). Callable like a webapp.domain.base_currency.RateFn."""

    def __init__(self, base: str, known: dict[tuple[str, date], Decimal]):
        self.base, self.known = base, known

    def __call__(self, currency: str, day: date) -> Decimal:
        if currency == self.base:
            return Decimal(1)
        r = self.known.get((currency, day))
        if r is None:
            self.fetch([(currency, day)])
            r = self.known[(currency, day)]
        return r

    def fetch(self, wanted: Iterable[tuple[str, date]]) -> None:
        """Read the rates of `wanted` not known yet, all in one window read."""
        missing = {(c, d) for c, d in wanted if c != self.base and (c, d) not in self.known}
        if not missing:
            return
        days = [d for _, d in missing]
        rates = Rates.read({c for c, _ in missing}, self.base, min(days), max(days))
        for c, d in missing:
            self.known[(c, d)] = rates(c, d)


def activity_rates(activities: Iterable[Activity], base: str, user_id: int | None = None) -> RateBook:
    """The rate of every (currency, day) of `activities` into `base`, cached per user."""
    wanted = {(a.currency, a.date) for a in activities if a.currency != base and a.type != "split"}
    name = f"rates:{base}"
    cached = _read(user_id, name)
    doc = _decode(cached.doc) if cached else None
    book = RateBook(base, {})
    if doc is not None:
        complete, pending = _pending(cached, doc["seq"])
        if complete:
            book.known = {(c, date.fromisoformat(d)): Decimal(r) for c, by_day in doc["rates"].items()
                          for d, r in by_day.items() if pending is None or d < pending.isoformat()}
    before = len(book.known)
    book.fetch(wanted)
    if cached is not None and (doc is None or len(book.known) != before or doc["seq"] != cached.seq):
        by_ccy: dict[str, dict[str, str]] = {}
        for (c, d), r in sorted(book.known.items()):
            if (c, d) in wanted:
                by_ccy.setdefault(c, {})[d.isoformat()] = canonical(r)
        _write(user_id, name, json.dumps({"v": FORMAT, "seq": cached.seq, "rates": by_ccy}, separators=(",", ":")))
    return book


__all__ = ["Series", "load_series", "RateBook", "activity_rates", "MissingRate", "RECENT_DAYS"]
