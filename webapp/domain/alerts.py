"""User alerts: when a rule's condition holds, and when it fires. Pure.

A rule fires once per crossing: when its condition becomes true while it is armed, it
fires and disarms; it is armed again once the condition is false. Never twice within its
cool-down: a crossing inside the cool-down leaves the rule armed, so it fires at the first
evaluation after the cool-down if the condition still holds.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import NamedTuple

from webapp.domain.money import EXACT

PRICE_KINDS = frozenset({"price_above", "price_below", "day_change_beyond", "price_stale"})
PORTFOLIO_KINDS = frozenset({"portfolio_above", "portfolio_below", "portfolio_day_change_beyond"})
PERCENT_KINDS = frozenset({"day_change_beyond", "portfolio_day_change_beyond"})
KINDS = PRICE_KINDS | PORTFOLIO_KINDS
MAX_HOURS = 24 * 365


class Observed(NamedTuple):
    """What a rule is judged on; None where not known (then the rule is left as it is)."""

    price: Decimal | None = None
    previous_close: Decimal | None = None
    as_of: datetime | None = None
    currency: str | None = None
    total: Decimal | None = None  # the portfolio's value in its base currency
    day_change_pct: Decimal | None = None  # the portfolio's


def day_change_pct(price: Decimal | None, previous_close: Decimal | None) -> Decimal | None:
    if price is None or previous_close is None or previous_close <= 0:
        return None
    return EXACT.divide(EXACT.multiply(EXACT.subtract(price, previous_close), 100), previous_close)


def value_of(kind: str, seen: Observed) -> Decimal | None:
    """The figure a rule compares with its threshold (for price_stale: the quote's age in hours)."""
    if kind in ("price_above", "price_below"):
        return seen.price
    if kind == "day_change_beyond":
        return day_change_pct(seen.price, seen.previous_close)
    if kind in ("portfolio_above", "portfolio_below"):
        return seen.total
    if kind == "portfolio_day_change_beyond":
        return seen.day_change_pct
    return None


def holds(kind: str, threshold: Decimal | None, hours: int | None, seen: Observed, now: datetime) -> bool | None:
    """Does the rule's condition hold? None: not known (no price, no complete valuation)."""
    if kind == "price_stale":
        if seen.as_of is None or hours is None:
            return None
        return now - seen.as_of > timedelta(hours=hours)
    value = value_of(kind, seen)
    if value is None or threshold is None:
        return None
    if kind in ("price_above", "portfolio_above"):
        return value >= threshold
    if kind in ("price_below", "portfolio_below"):
        return value <= threshold
    return abs(value) >= threshold  # the day-change kinds: beyond ±threshold %


class Step(NamedTuple):
    fire: bool
    armed: bool


def step(condition: bool | None, armed: bool, last_fired_at: datetime | None, cooldown_minutes: int,
         now: datetime) -> Step:
    """The rule's next state for a condition just judged."""
    if condition is None:
        return Step(False, armed)
    if not condition:
        return Step(False, True)
    if not armed:
        return Step(False, False)
    if last_fired_at is not None and now - last_fired_at < timedelta(minutes=max(cooldown_minutes, 0)):
        return Step(False, True)  # in the cool-down: wait, armed
    return Step(True, False)


def _amount(value: Decimal) -> str:
    return format(value.quantize(Decimal("0.01")) if abs(value) >= 1 else value.normalize(), "f")


def describe(kind: str, symbol: str | None, threshold: Decimal | None, hours: int | None,
             seen: Observed, base_currency: str) -> tuple[str, str]:
    """A notification's title and body."""
    value = value_of(kind, seen)
    limit = "" if threshold is None else _amount(threshold)
    ccy = seen.currency or ""
    if kind == "price_above":
        return f"{symbol} is above {limit} {ccy}", f"{symbol} is at {_amount(value)} {ccy} (alert: ≥ {limit})."
    if kind == "price_below":
        return f"{symbol} is below {limit} {ccy}", f"{symbol} is at {_amount(value)} {ccy} (alert: ≤ {limit})."
    if kind == "day_change_beyond":
        return (f"{symbol} moved {_amount(value)}% today",
                f"{symbol} is at {_amount(seen.price)} {ccy}, {_amount(value)}% since the previous close "
                f"(alert: beyond ±{limit}%).")
    if kind == "portfolio_above":
        return (f"Portfolio above {limit} {base_currency}",
                f"Your portfolio is worth {_amount(value)} {base_currency} (alert: ≥ {limit}).")
    if kind == "portfolio_below":
        return (f"Portfolio below {limit} {base_currency}",
                f"Your portfolio is worth {_amount(value)} {base_currency} (alert: ≤ {limit}).")
    if kind == "portfolio_day_change_beyond":
        return (f"Portfolio moved {_amount(value)}% today",
                f"Your portfolio moved {_amount(value)}% since the previous close (alert: beyond ±{limit}%).")
    as_of = seen.as_of.strftime("%Y-%m-%d %H:%M UTC") if seen.as_of else "never"
    return (f"{symbol}'s price is stale",
            f"The last price of {symbol} is from {as_of}, older than {hours} hours.")
