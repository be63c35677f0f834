"""Returns over a period: time-weighted (daily linked), the external flows it needs, and
money-weighted (XIRR, through pyxirr). Pure; Decimal but for the XIRR solver's float.

Signs: an external flow is what the investor puts in (+) or takes out (−).
"""
from __future__ import annotations

import bisect
import decimal
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Callable, Iterable, Iterator, Mapping, Sequence

import pyxirr

from webapp.domain.ledger import Activity
from webapp.domain.money import EXACT, ZERO

ONE = Decimal(1)
# ln and exp are correctly rounded in any context; this one keeps EXACT's digits
_POWER = decimal.Context(prec=EXACT.prec, rounding=decimal.ROUND_HALF_EVEN, traps=[decimal.Overflow])


@dataclass(frozen=True)
class Twr:
    twr: Decimal | None  # None: not defined (a day started from a negative value)
    annualized: Decimal | None  # only for periods longer than a year
    start: date
    end: date
    days_counted: int  # days with something held or a flow

    @property
    def days(self) -> int:
        return (self.end - self.start).days


def twr(values: Sequence[tuple[date, Decimal]], flows: Mapping[date, Decimal] | None = None) -> Twr:
    """Time-weighted return, daily linked.

    `values`: (day, V_d) at each day's close, in date order; the first is the period's
    start (the close before its first day), so its own flows are not the period's.
    `flows`: F_d, the external flow on day d, counted at the start of the day; a flow on a
    day missing from `values` counts at the start of the next day that is there.
    r_d = V_d / (V_{d-1} + F_d) − 1, TWR = Π(1 + r_d) − 1; a day with nothing held and no
    flow (V_{d-1} + F_d = 0) is skipped. An outflow larger than V_{d-1} (selling out above
    the last close) counts at the day's end: r_d = (V_d − F_d) / V_{d-1} − 1.
    Annualized (1 + TWR)^(365/days) − 1, days from
    the start value's day to the last, only when that is more than 365 days.
    """
    if not values:
        raise ValueError("twr needs at least the start value")
    growth, counted = ONE, 0
    for _, factor in day_factors(values, flows):
        if factor is None:
            continue
        if factor.is_nan():
            return Twr(None, None, values[0][0], values[-1][0], counted)
        growth = EXACT.multiply(growth, factor)
        counted += 1
    total = EXACT.subtract(growth, ONE)
    return Twr(total, annualize(total, (values[-1][0] - values[0][0]).days), values[0][0], values[-1][0], counted)


NOT_DEFINED = Decimal("NaN")


def day_factors(values: Sequence[tuple[date, Decimal]],
                flows: Mapping[date, Decimal] | None = None) -> Iterator[tuple[date, Decimal | None]]:
    """Each day after the first with its factor 1 + r_d (see `twr`): None for a day skipped
    (nothing held, nothing moved in), NOT_DEFINED (NaN) for a day that starts from a value at
    or below zero, after which the caller stops. The one place TWR's days are linked: `twr`
    and the chart's index (webapp/domain/performance.twr_index) both use it."""
    flows = flows or {}
    flow_days = sorted(flows)
    prev_value = values[0][1]
    i = bisect.bisect_right(flow_days, values[0][0])
    for day, value in values[1:]:
        flow = ZERO
        while i < len(flow_days) and flow_days[i] <= day:
            flow = EXACT.add(flow, flows[flow_days[i]])
            i += 1
        start = EXACT.add(prev_value, flow)
        if start == 0 and value == 0:
            yield day, None
        elif start <= 0 and flow < 0 < prev_value:
            # more taken out than the day started with (a sale above the last close, in an
            # account without cash): the outflow counts at the day's end instead, else the
            # day would start from a negative value: r_d = (V_d − F_d) / V_{d−1} − 1
            yield day, EXACT.divide(EXACT.subtract(value, flow), prev_value)
        elif start <= 0:
            yield day, NOT_DEFINED
        else:
            yield day, EXACT.divide(value, start)
        prev_value = value


def annualize(rate: Decimal, days: int) -> Decimal | None:
    """(1 + rate)^(365/days) − 1 for periods longer than a year, else None; as exp(y·ln x)."""
    if days <= 365:
        return None
    base = EXACT.add(ONE, rate)
    if base <= 0:
        return Decimal(-1) if base == 0 else None
    exponent = _POWER.divide(Decimal(365), Decimal(days))
    return _POWER.subtract(_POWER.exp(_POWER.multiply(exponent, _POWER.ln(base))), ONE)


# ---- external flows ---------------------------------------------------------------------------


def _close_lookup(closes_by_day: Mapping[date, Mapping[str, Decimal]]) -> Callable[[str, date], Decimal | None]:
    """The close of a symbol on a day, or its nearest earlier close."""
    by_symbol: dict[str, list[tuple[date, Decimal]]] = {}
    for day in sorted(closes_by_day):
        for symbol, close in closes_by_day[day].items():
            by_symbol.setdefault(symbol, []).append((day, close))

    def close(symbol: str, day: date) -> Decimal | None:
        series = by_symbol.get(symbol, [])
        k = bisect.bisect_right(series, day, key=lambda item: item[0])
        return series[k - 1][1] if k else None

    return close


def unit_price(a: Activity) -> Decimal | None:
    """What one share of an activity is worth when no close says: its price, else (an opening
    position or a transfer in entered with a total cost) its cost per share; None if neither."""
    if a.price is not None:
        return a.price
    if a.amount is not None and a.quantity:
        return EXACT.divide(a.amount, a.quantity)
    return None


def external_flows(activities: Iterable[Activity], closes_by_day: Mapping[date, Mapping[str, Decimal]],
                   to_base: Callable[[Decimal, str, date], Decimal] | None = None) -> dict[date, Decimal]:
    """External flows per day (in: +, out: −), summed over the accounts of `activities`.

    An account that records cash (it has at least one deposit): deposits, withdrawals, and
    securities transferred in or out or opened at that day's close (or the nearest earlier,
    else the activity's price or cost per share, else no flow: see `unit_price`); buys, sells, dividends, interest, fees and taxes move cash
    inside it. An account that records no cash: a buy is an inflow of quantity × price +
    fee, a sell an outflow of its net proceeds, a dividend or interest an outflow of its net
    amount (amount − fee), a standalone fee or tax an inflow of its amount, an opening
    position an inflow of its value on its date (as above); a transfer in or out, which the
    issue names only for cash accounts, counts here too, at the day's close, or the
    transferred shares would show as a gain or a loss.
    `to_base(amount, currency, day)` converts each flow (at that day's rate); None keeps
    amounts as they are (one currency).
    """
    activities = list(activities)
    records_cash = {a.account for a in activities if a.type == "deposit"}
    close = _close_lookup(closes_by_day)
    out: dict[date, Decimal] = {}

    def at_close(a: Activity) -> Decimal | None:
        price = close(a.symbol, a.date)
        if price is None:
            price = unit_price(a)
        # nothing to value it with: the holding counts for nothing in the values either
        # (webapp/domain/performance.Replay) until its first close, so no flow either
        return None if price is None else EXACT.multiply(a.quantity, price)

    for a in activities:
        fee = a.fee or ZERO
        if a.type in ("transfer_in", "opening"):
            flow = at_close(a)
        elif a.type == "transfer_out":
            flow = at_close(a)
            flow = None if flow is None else EXACT.minus(flow)
        elif a.account in records_cash:
            flow = {"deposit": a.amount, "withdrawal": EXACT.minus(a.amount) if a.amount is not None else None}.get(a.type)
        elif a.type == "buy":
            flow = EXACT.add(EXACT.multiply(a.quantity, a.price), fee)
        elif a.type == "sell":
            flow = EXACT.subtract(fee, EXACT.multiply(a.quantity, a.price))
        elif a.type in ("dividend", "interest"):
            flow = EXACT.subtract(fee, a.amount)
        elif a.type in ("fee", "tax"):
            flow = a.amount
        else:
            flow = None  # a split moves no money
        if flow is None or flow == 0:
            continue
        if to_base is not None:
            flow = to_base(flow, a.currency, a.date)
        out[a.date] = EXACT.add(out.get(a.date, ZERO), flow)
    return dict(sorted(out.items()))


# ---- money-weighted ---------------------------------------------------------------------------


def xirr(cashflows: Sequence[tuple[date, Decimal]]) -> Decimal | None:
    """The annual rate that discounts the cash flows to zero, Actual/365 (Excel's XIRR);
    signs from the investor's side (paid in −, received +). None where it is not defined
    (no sign change, no solution, empty); never raises for data.

    pyxirr solves in floats (Newton with a bracketing fallback); the rate comes back as
    the Decimal of the float's shortest repr, far finer than the 6 places a page shows.
    """
    if len(cashflows) < 2:
        return None
    days = [d for d, _ in cashflows]
    amounts = [float(v) for _, v in cashflows]
    try:
        rate = pyxirr.xirr(days, amounts, day_count=pyxirr.DayCount.ACT_365F)
    except (pyxirr.InvalidPaymentsError, ValueError, OverflowError, ZeroDivisionError):
        return None
    if rate is None or rate != rate or rate in (float("inf"), float("-inf")):
        return None
    return Decimal(repr(rate))


def mwr(start: date, value_start: Decimal, flows: Mapping[date, Decimal], end: date,
        value_end: Decimal) -> Decimal | None:
    """Money-weighted return over [start, end]: the start value as the first inflow, the
    external flows (+ in, − out, as `external_flows` gives them), the end value as the last
    outflow; XIRR of those from the investor's side. None where not defined."""
    cash = [(start, EXACT.minus(value_start))] if value_start else []
    cash += [(d, EXACT.minus(f)) for d, f in sorted(flows.items()) if start < d <= end and f]
    cash.append((end, value_end))
    return xirr(cash)
