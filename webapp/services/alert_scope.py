"""Which alert rules may change state: narrowed in SQL, then judged exactly in Python.

After a tick nearly every rule stays as it is: armed, its condition false. One statement joins
the enabled rules with what was just observed -- a table, passed as one JSON parameter, of the
instruments' prices, absolute day changes and quote ages, and of the users' portfolio totals --
and returns only the rules that may fire (armed, the condition may hold) or re-arm (disarmed,
the condition may be false), plus those it cannot narrow: a portfolio's day change (not known
before the user is valued) and a total not known yet (valued from the database). Python then
judges those few exactly with webapp/domain/alerts.py.

The SQL compares in double precision with a relative MARGIN far above a double's rounding
error, so it only ever lets through a rule it need not, never holds one back. Hand-written
because no library narrows a rule set against a changing observation; floating point because
SQLite has no exact decimal arithmetic (ExactDecimal keeps text there) -- the exact judgement
stays in one place, the domain.
"""
from __future__ import annotations

import json
from datetime import datetime
from typing import Iterable, NamedTuple, Sequence

import sqlalchemy as sa

from webapp.domain import alerts as rules_domain
from webapp.domain.valuation import PriceInfo
from webapp.extensions import db
from webapp.models import AlertRule, Instrument, User

MARGIN = 1e-9
CHUNK = 5000  # ids a statement binds where they are listed (IN)

COLUMNS = (AlertRule.id, AlertRule.user_id, AlertRule.kind, AlertRule.instrument_id, AlertRule.threshold,
           AlertRule.hours, AlertRule.in_app, AlertRule.email, AlertRule.webhook, AlertRule.webhook_url,
           AlertRule.cooldown_minutes, AlertRule.armed, AlertRule.last_fired_at, Instrument.symbol,
           User.base_currency)
ABOVE = ("price_above", "portfolio_above")
BELOW = ("price_below", "portfolio_below")
NARROWED_PORTFOLIO = ("portfolio_above", "portfolio_below")


class PriceSeen(NamedTuple):
    """An instrument's observation, in floats for the narrowing only."""

    instrument_id: int
    price: float
    change: float | None  # |day change| in %, None when there is no previous close
    age_hours: float


def price_seen(instrument_id: int, q: PriceInfo, now: datetime) -> PriceSeen:
    change = rules_domain.day_change_pct(q.price, q.previous_close)
    return PriceSeen(instrument_id, float(q.price), None if change is None else abs(float(change)),
                     (now - q.as_of).total_seconds() / 3600)


def _may_change(kind, threshold, armed, value, change=None, age=None, hours=None):
    """The rule may fire (armed and may hold) or re-arm (disarmed and may not hold)."""
    lo, hi = threshold * (1 - MARGIN), threshold * (1 + MARGIN)
    hold = [sa.and_(kind.in_(ABOVE), value >= lo), sa.and_(kind.in_(BELOW), value <= hi)]
    clear = [sa.and_(kind.in_(ABOVE), value < hi), sa.and_(kind.in_(BELOW), value > lo)]
    if change is not None:
        hold.append(sa.and_(kind == "day_change_beyond", change >= lo))
        clear.append(sa.and_(kind == "day_change_beyond", change < hi))
    if age is not None:
        hold.append(sa.and_(kind == "price_stale", age > hours * (1 - MARGIN)))
        clear.append(sa.and_(kind == "price_stale", age <= hours * (1 + MARGIN)))
    return sa.or_(sa.and_(armed.is_(True), sa.or_(*hold)), sa.and_(armed.is_(False), sa.or_(*clear)))


def _observed(rows: Sequence[tuple], name: str, columns: Sequence[str]):
    """The observations as a table in ONE bound parameter (a JSON document): SQLite's json_each,
    PostgreSQL's jsonb_to_recordset. A VALUES list would bind, and compile, a parameter per figure."""
    doc = json.dumps([dict(zip(columns, row)) for row in rows])
    if db.session.get_bind().dialect.name == "postgresql":
        sql = (f"SELECT {', '.join(columns)} FROM jsonb_to_recordset(CAST(:{name} AS jsonb)) AS o("
               + ", ".join(f"{c} {'integer' if c == 'k' else 'double precision'}" for c in columns) + ")")
    else:
        sql = ("SELECT " + ", ".join(f"json_extract(value, '$.{c}') AS {c}" for c in columns)
               + f" FROM json_each(:{name})")
    types = {c: sa.Integer if c == "k" else sa.Float for c in columns}
    # MATERIALIZED: each JSON row is read once, not once per reference in the WHERE clause
    return sa.text(sql).bindparams(**{name: doc}).columns(**types).cte(name).prefix_with("MATERIALIZED")


def candidates(prices: Sequence[PriceSeen], totals: Sequence[tuple[int, float | None]],
               kinds: Iterable[str]) -> list:
    """The enabled rules (of enabled users) of these kinds that may change state: price rules on the
    observed instruments, portfolio rules of the observed users (a total None: not known yet, every
    such rule comes back). One statement."""
    kinds = set(kinds)
    price_kinds = sorted(kinds & rules_domain.PRICE_KINDS)
    portfolio_kinds = sorted(kinds & rules_domain.PORTFOLIO_KINDS)
    t = sa.cast(AlertRule.threshold, sa.Float)
    h = sa.cast(AlertRule.hours, sa.Float)
    parts = []
    if prices and price_kinds:
        seen = _observed(prices, "seen_prices", ("k", "v", "c", "a"))
        parts.append(_base().join(seen, seen.c.k == AlertRule.instrument_id)
                     .where(AlertRule.kind.in_(price_kinds),
                            _may_change(AlertRule.kind, t, AlertRule.armed, seen.c.v, seen.c.c, seen.c.a, h)))
    if totals and portfolio_kinds:
        seen = _observed(totals, "seen_totals", ("k", "v"))
        narrowed = sa.and_(AlertRule.kind.in_(NARROWED_PORTFOLIO), seen.c.v.is_not(None),
                           _may_change(AlertRule.kind, t, AlertRule.armed, seen.c.v))
        parts.append(_base().join(seen, seen.c.k == AlertRule.user_id)
                     .where(AlertRule.kind.in_(portfolio_kinds),
                            sa.or_(narrowed, seen.c.v.is_(None), AlertRule.kind == "portfolio_day_change_beyond")))
    if not parts:
        return []
    rows = db.session.execute(parts[0] if len(parts) == 1 else sa.union_all(*parts)).all()
    return sorted(rows, key=lambda r: r.id)


def _base():
    return (sa.select(*COLUMNS).join(User, User.id == AlertRule.user_id)
            .outerjoin(Instrument, Instrument.id == AlertRule.instrument_id)
            .where(AlertRule.enabled.is_(True), User.is_disabled.is_(False)))
