"""Daily values of a ledger, the time-weighted index, rebasing and ledger fingerprints. Pure.

A day's value, in the base currency, at its close:
  Σ over instruments  quantity held that day × price × rate of the instrument's currency
  + Σ over currencies the cash of the accounts that record cash × rate,
where
- the quantity is the replay of the activities up to and including that day, in the
  ledger's own order within a day (a split at the open; webapp.domain.ledger);
- the price is the instrument's close of that day, else its nearest earlier close; before
  its first close, the price of its latest activity that carries one (a buy's price, say, or
  an opening position's cost per share: `returns.unit_price`), adjusted for the splits
  since; with neither, the holding counts 0 (and its opening is no flow);
- the instrument's currency is that of its latest activity with a quantity;
- an account records cash when it has a deposit (as for webapp.domain.returns.external_flows):
  its cash is deposits − withdrawals − buys (quantity × price + fee) + sells (quantity ×
  price − fee) + dividends and interest (amount − fee) − fees and taxes (amount + fee), per
  currency. Without the cash a deposit followed by a buy would look like a loss.
The rate is asked only for a currency with something in it that day.
"""
from __future__ import annotations

import hashlib
from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from typing import Callable, Iterable, Mapping, Sequence

from webapp.domain.ledger import Activity
from webapp.domain.ledger import _ordered as ledger_order  # the one within-day order of the ledger
from webapp.domain.money import EXACT, ZERO
from webapp.domain.returns import day_factors, unit_price

Closes = Mapping[str, Sequence[tuple[date, Decimal]]]  # symbol -> [(day, close)], oldest first
HUNDRED = Decimal(100)
ONE = Decimal(1)
ONE_DAY = timedelta(days=1)
_PRICED = ("buy", "sell", "opening", "transfer_in", "transfer_out")


def cash_accounts(activities: Iterable[Activity]) -> set[int]:
    """The accounts that record cash: those with at least one deposit."""
    return {a.account for a in activities if a.type == "deposit"}


def _cash_change(a: Activity) -> Decimal:
    fee = a.fee or ZERO
    if a.type == "deposit":
        return EXACT.subtract(a.amount, fee)
    if a.type in ("withdrawal", "fee", "tax"):
        return EXACT.minus(EXACT.add(a.amount, fee))
    if a.type == "buy":
        return EXACT.minus(EXACT.add(EXACT.multiply(a.quantity, a.price), fee))
    if a.type == "sell":
        return EXACT.subtract(EXACT.multiply(a.quantity, a.price), fee)
    if a.type in ("dividend", "interest"):
        return EXACT.subtract(a.amount, fee)
    return ZERO  # splits, openings and transfers move securities, not cash


class Replay:
    """The ledger walked forward day by day: quantities, cash, fallback prices, closes."""

    def __init__(self, activities: Iterable[Activity], closes: Closes):
        self._todo = ledger_order(activities)
        self._i = 0
        self._cash_accounts = cash_accounts(self._todo)
        self.quantity: dict[tuple[int, str], Decimal] = defaultdict(lambda: ZERO)
        self.held: dict[str, Decimal] = defaultdict(lambda: ZERO)  # per symbol, over the accounts
        self.currency: dict[str, str] = {}
        self.cash: dict[str, Decimal] = defaultdict(lambda: ZERO)
        self._fallback: dict[str, Decimal] = {}
        self._closes = closes
        self._close_at: dict[str, int] = {}

    def advance(self, day: date) -> None:
        """Apply every activity dated on or before `day`."""
        todo = self._todo
        while self._i < len(todo) and todo[self._i].date <= day:
            self._apply(todo[self._i])
            self._i += 1

    def _apply(self, a: Activity) -> None:
        if a.account in self._cash_accounts:
            change = _cash_change(a)
            if change:
                self.cash[a.currency] = EXACT.add(self.cash[a.currency], change)
        if not a.symbol:
            return
        key = (a.account, a.symbol)
        if a.type == "split":
            keys = [k for k in self.quantity if k[1] == a.symbol and (a.account is None or k[0] == a.account)]
            for k in keys:
                new = a.ratio.apply(self.quantity[k])[0]
                self.held[a.symbol] = EXACT.add(self.held[a.symbol], EXACT.subtract(new, self.quantity[k]))
                self.quantity[k] = new
            if a.symbol in self._fallback:
                self._fallback[a.symbol] = EXACT.divide(EXACT.multiply(self._fallback[a.symbol], a.ratio.denominator),
                                                        a.ratio.numerator)
            return
        if a.type not in _PRICED:
            return
        q = a.quantity if a.type in ("buy", "opening", "transfer_in") else EXACT.minus(a.quantity)
        self.quantity[key] = EXACT.add(self.quantity[key], q)
        self.held[a.symbol] = EXACT.add(self.held[a.symbol], q)
        self.currency[a.symbol] = a.currency
        price = unit_price(a) if a.type in ("buy", "sell", "opening", "transfer_in") else a.price
        if price is not None:
            self._fallback[a.symbol] = price

    def price(self, symbol: str, day: date) -> Decimal | None:
        """The close of `day` or the nearest earlier; else the latest activity's price; else None.
        Days must be asked in increasing order."""
        series = self._closes.get(symbol, ())
        i = self._close_at.get(symbol, 0)
        while i < len(series) and series[i][0] <= day:
            i += 1
        self._close_at[symbol] = i
        return series[i - 1][1] if i else self._fallback.get(symbol)

    def value(self, day: date, rate: Callable[[str, date], Decimal]) -> Decimal:
        """The value at the close of `day` (after `advance(day)`), in the base currency."""
        by_currency: dict[str, Decimal] = dict(self.cash)
        for symbol, q in self.held.items():
            if not q:
                continue
            p = self.price(symbol, day)
            if p is None:
                continue
            ccy = self.currency[symbol]
            by_currency[ccy] = EXACT.add(by_currency.get(ccy, ZERO), EXACT.multiply(q, p))
        total = ZERO
        for ccy, amount in by_currency.items():
            if amount:
                total = EXACT.add(total, EXACT.multiply(amount, rate(ccy, day)))
        return total


def value_days(activities: Iterable[Activity], first: date, last: date, closes: Closes,
               rate: Callable[[str, date], Decimal]) -> list[tuple[date, Decimal]]:
    """(day, value in the base currency) for every calendar day in [first, last] (see the
    module docstring); `closes` must reach back to the last close before `first`."""
    replay = Replay(activities, closes)
    out = []
    day = first
    while day <= last:
        replay.advance(day)
        out.append((day, replay.value(day, rate)))
        day += ONE_DAY
    return out


def prices_on(activities: Iterable[Activity], day: date, closes: Closes) -> dict[str, Decimal]:
    """The price of each instrument held at the close of `day`, by the rule of the daily values."""
    replay = Replay(activities, closes)
    replay.advance(day)
    out = {}
    for symbol in replay.currency:
        p = replay.price(symbol, day)
        if p is not None:
            out[symbol] = p
    return out


# ---- the time-weighted index and rebasing -----------------------------------------------------


def twr_index(values: Sequence[tuple[date, Decimal]], flows: Mapping[date, Decimal] | None = None,
              base: Decimal = HUNDRED) -> list[tuple[date, Decimal | None]]:
    """The time-weighted return as an index, `base` at the first day, linked daily exactly as
    webapp.domain.returns.twr does (its last point is base × (1 + TWR)); None from a day
    on which the return is not defined."""
    if not values:
        return []
    level: Decimal | None = base
    out = [(values[0][0], base)]
    for day, factor in day_factors(values, flows):
        if level is not None and factor is not None:
            level = None if factor.is_nan() else EXACT.multiply(level, factor)
        out.append((day, level))
    return out


def rebase(series: Sequence[tuple[date, Decimal]], base: Decimal = HUNDRED) -> list[tuple[date, Decimal]]:
    """The series scaled so that its first point is `base` (empty when that point is 0)."""
    if not series or not series[0][1]:
        return []
    first = series[0][1]
    return [(d, EXACT.divide(EXACT.multiply(v, base), first)) for d, v in series]


def each_day(series: Sequence[tuple[date, Decimal]], start: date, end: date) -> list[tuple[date, Decimal]]:
    """A point per calendar day in [start, end]: the series' value of that day or the nearest
    earlier one; days before its first point are left out."""
    out, i, current = [], 0, None
    day = start
    while day <= end:
        while i < len(series) and series[i][0] <= day:
            current = series[i][1]
            i += 1
        if current is not None:
            out.append((day, current))
        day += ONE_DAY
    return out


# ---- what a cached series was computed from ---------------------------------------------------


def _text(a: Activity) -> str:
    # str() of a Decimal keeps its exponent ("1.0" is not "1"): the same value written another
    # way counts as a change, which costs a recompute and is never wrong
    return f"{a.account}|{a.type}|{a.symbol}|{a.currency}|{a.ratio}|{a.quantity}|{a.price}|{a.fee}|{a.amount}"


def fingerprints(activities: Iterable[Activity]) -> dict[str, str]:
    """A short hash of each day's activities (order-independent), by ISO day: the ledger
    version a cached series was computed from."""
    by_day: dict[str, list[str]] = defaultdict(list)
    for a in activities:
        by_day[a.date.isoformat()].append(_text(a))
    return {d: hashlib.blake2b("\n".join(sorted(texts)).encode(), digest_size=8).hexdigest()
            for d, texts in sorted(by_day.items())}


def first_change(old: Mapping[str, str], new: Mapping[str, str]) -> date | None:
    """The earliest day whose activities differ between two `fingerprints`; None when none do."""
    changed = [d for d in set(old) | set(new) if old.get(d) != new.get(d)]
    return date.fromisoformat(min(changed)) if changed else None


__all__ = ["Closes", "cash_accounts", "Replay", "value_days", "prices_on", "twr_index", "rebase", "each_day",
           "fingerprints", "first_change"]
