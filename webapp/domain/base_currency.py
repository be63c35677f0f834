"""The ledger in the user's base currency: every activity's money at its own day's rate. Pure.

Realized and unrealized gains in the base currency come from replaying the ledger twice with
webapp.domain.ledger: once as entered (the instrument's currency), once with each activity's
price, fee and amount converted at the rate of that activity's own day (`in_base`). Both
replays see the same quantities in the same order, so their sales and lots pair one to one.

What that makes the base-currency cost:
- FIFO: each lot's cost at the rate of the day it was acquired (bought, opened, or moved in
  from outside); a lot moved between the user's accounts keeps its acquisition cost.
- Average cost: the pool's base cost is the sum of each acquisition's cost at its own day's
  rate, and a sale takes its share of that pool: the average cost per share in base currency
  is that sum over the shares, which is *not* the instrument-currency average times any one
  rate. A sale's base proceeds are at the sale day's rate, so the base gain includes the
  currency's move between purchases and sale, as a tax return in the base currency wants.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from typing import Callable, Iterable, Mapping

from webapp.domain import ledger
from webapp.domain.income import Income, income
from webapp.domain.ledger import Activity, Sale
from webapp.domain.money import EXACT, ZERO, total_or_none

RateFn = Callable[[str, date], Decimal]  # 1 unit of a currency in the base currency on a day


class MissingRate(LookupError):
    """No exchange rate on or before a day that needs one; the message is for people."""

    def __init__(self, currency: str, base: str, day: date):
        self.currency, self.base, self.day = currency, base, day
        super().__init__(f"No {currency}→{base} exchange rate on or before {day.isoformat()}: load the exchange-rate "
                         f"history (flask fx history) or import the rates of that time.")


def _times(value: Decimal | None, rate: Decimal) -> Decimal | None:
    return None if value is None else EXACT.multiply(value, rate)


def in_base(activities: Iterable[Activity], base: str, rate: RateFn) -> list[Activity]:
    """The activities with price, fee and amount in `base` at each one's own day's rate (a
    split moves no money and is kept as it is). Quantities, dates and order are unchanged."""
    out = []
    for a in activities:
        if a.type == "split" or a.currency == base:
            out.append(a if a.currency == base else replace(a, currency=base))
            continue
        r = rate(a.currency, a.date)
        out.append(Activity(a.date, a.account, a.type, a.symbol, a.quantity, _times(a.price, r),
                            EXACT.multiply(a.fee or ZERO, r), _times(a.amount, r), base, a.note, a.ratio))
    return out


# ---- realized gains -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SaleInBase:
    """One sale as entered (`sale`, instrument currency) and in the base currency (`base`)."""

    sale: Sale
    base: Sale

    @property
    def date(self) -> date:
        return self.sale.date


def realized_in_base(activities: Iterable[Activity], base: str, rate: RateFn, method: str = "average",
                     converted: list[Activity] | None = None) -> list[SaleInBase]:
    """Every sale, in date order, in its own currency and in `base` (see the module docstring).
    `converted`: `in_base(activities, base, rate)` when the caller has it already."""
    return gains_in_base(activities, base, rate, {}, None, method, converted)[0]


@dataclass(frozen=True)
class RealizedRow:
    """Sales summed per year and/or symbol, per instrument currency (never mixed)."""

    year: int | None
    symbol: str | None
    currency: str
    quantity: Decimal
    proceeds: Decimal  # in `currency`, net of the sales' fees
    cost: Decimal | None  # None: some shares sold had no known cost
    fees: Decimal
    gain: Decimal | None
    proceeds_base: Decimal  # at each sale day's rate
    cost_base: Decimal | None  # each lot at its acquisition day's rate (see the module docstring)
    fees_base: Decimal
    gain_base: Decimal | None


def _add(total: Decimal | None, value: Decimal | None) -> Decimal | None:
    return None if total is None or value is None else EXACT.add(total, value)


def realized_rows(sales: Iterable[SaleInBase], by: str = "year_symbol") -> list[RealizedRow]:
    """Sum sales per "year", "symbol" or "year_symbol" (and currency), sorted."""
    if by not in ("year", "symbol", "year_symbol"):
        raise ValueError("by is 'year', 'symbol' or 'year_symbol'")
    sums: dict[tuple, list] = {}
    for p in sales:
        s, b = p.sale, p.base
        year = s.date.year if by != "symbol" else None
        symbol = s.symbol if by != "year" else None
        acc = sums.setdefault((year, symbol, s.currency), [ZERO] * 9)
        for i, v in enumerate((s.quantity, s.proceeds, s.cost, s.fees, s.gain, b.proceeds, b.cost, b.fees, b.gain)):
            acc[i] = _add(acc[i], v)
    return [RealizedRow(*k, *v) for k, v in sorted(sums.items(), key=lambda kv: (kv[0][0] or 0, kv[0][1] or "",
                                                                                   kv[0][2]))]


# ---- unrealized gains ---------------------------------------------------------------------------


@dataclass(frozen=True)
class HoldingGain:
    account: int
    symbol: str
    currency: str
    quantity: Decimal
    price: Decimal | None  # in `currency`, the day's close (see daily values for the rule)
    rate: Decimal | None  # 1 `currency` in base on the day
    cost_basis: Decimal | None  # in `currency`; None: entered without a cost
    value: Decimal | None
    gain: Decimal | None
    cost_basis_base: Decimal | None  # at the acquisition days' rates
    value_base: Decimal | None  # at the day's rate
    gain_base: Decimal | None


def unrealized_in_base(activities: Iterable[Activity], base: str, rate: RateFn, prices: Mapping[str, Decimal],
                       day: date, method: str = "average", converted: list[Activity] | None = None) -> list[HoldingGain]:
    """What is held at the close of `day` per (account, symbol): cost basis at the purchase
    days' rates, value at `prices` (instrument currency) times the rate of `day`.
    `converted`: `in_base(activities, base, rate)` when the caller has it already."""
    return gains_in_base(activities, base, rate, prices, day, method, converted)[1]


def gains_in_base(activities: Iterable[Activity], base: str, rate: RateFn, prices: Mapping[str, Decimal],
                  day: date | None, method: str = "average",
                  converted: list[Activity] | None = None) -> tuple[list[SaleInBase], list[HoldingGain]]:
    """The sales up to the close of `day` (every one when None) and what is held then, both in
    their own currency and in `base`: one replay of each ledger (webapp.domain.ledger's own
    replay, which alone turns activities into lots), so realized and unrealized agree."""
    activities = list(activities)
    if converted is None:
        converted = in_base(activities, base, rate)
    own, conv = ledger._replay(activities, method, day), ledger._replay(converted, method, day)
    sales = [SaleInBase(s, b) for s, b in zip(own.sales, conv.sales, strict=True)]
    held = []
    for key, lots in sorted(own.lots.items()):
        q = total_or_none(lot.quantity for lot in lots)
        if not q:
            continue
        account, symbol = key
        cost, cost_base = total_or_none(lot.cost for lot in lots), total_or_none(lot.cost for lot in conv.lots[key])
        price, ccy = prices.get(symbol), lots[0].currency
        value = r = value_base = None
        if price is not None and day is not None:
            value, r = EXACT.multiply(q, price), rate(ccy, day)
            value_base = EXACT.multiply(value, r)
        held.append(HoldingGain(account, symbol, ccy, q, price, r, cost, value,
                                None if value is None or cost is None else EXACT.subtract(value, cost), cost_base,
                                value_base,
                                None if value_base is None or cost_base is None else EXACT.subtract(value_base,
                                                                                                   cost_base)))
    return sales, held


# ---- income -------------------------------------------------------------------------------------


def income_in_base(activities: Iterable[Activity], base: str, rate: RateFn, by: str = "month") -> list[Income]:
    """Dividends, interest, taxes and the income's fees per period, account and symbol, each
    at its own day's rate (webapp.domain.income on the converted activities)."""
    relevant = [a for a in activities if a.type in ("dividend", "interest", "tax")]
    return income(in_base(relevant, base, rate), by)


def money_totals(activities: Iterable[Activity], base: str, rate: RateFn, converted: bool = False) -> dict[str, Decimal]:
    """Dividends and interest (gross), fees (fee activities plus every activity's own fee) and
    taxes, in `base` at each activity's day's rate (`converted`: the activities are in base already)."""
    totals: dict[str, Decimal] = defaultdict(lambda: ZERO)
    column = {"dividend": "dividends", "interest": "interest", "fee": "fees", "tax": "taxes"}
    for a in (activities if converted else in_base(activities, base, rate)):
        if a.type in column and a.amount is not None:
            totals[column[a.type]] = EXACT.add(totals[column[a.type]], a.amount)
        if a.fee:
            totals["fees"] = EXACT.add(totals["fees"], a.fee)
    return {k: totals[k] for k in ("dividends", "interest", "fees", "taxes")}


__all__ = ["RateFn", "MissingRate", "in_base", "SaleInBase", "realized_in_base", "RealizedRow", "realized_rows",
           "HoldingGain", "unrealized_in_base", "gains_in_base", "income_in_base", "money_totals"]
