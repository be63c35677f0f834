"""The activities ledger: activities as values, their checks, the quantities they add up to,
realized and unrealized gains (average cost or FIFO lots). Pure, Decimal only. Income is in
webapp/domain/income.py.

One replay (`_replay`) is the only place activities turn into holdings, so positions, gains
and cost bases never disagree. Within a day activities run in a fixed order, whatever order
they are given in: splits (effective at the day's open), opening positions, transfers out,
transfers in, buys, sells, then the cash-only types. A sell on the day of a buy therefore
sees the buy (and, with average cost, its price in the average).
"""
from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Iterable, Mapping

from webapp.domain.money import EXACT, ZERO, canonical, total_or_none
from webapp.domain.splits import Ratio

TYPES = ("buy", "sell", "dividend", "interest", "fee", "tax", "split", "transfer_in", "transfer_out",
         "deposit", "withdrawal", "opening")
SECURITY_TYPES = frozenset({"buy", "sell", "split", "transfer_in", "transfer_out", "opening", "dividend"})
QUANTITY_TYPES = frozenset({"buy", "sell", "transfer_in", "transfer_out", "opening"})
AMOUNT_TYPES = frozenset({"dividend", "interest", "fee", "tax", "deposit", "withdrawal"})
METHODS = ("average", "fifo")
_DAY_ORDER = {t: i for i, t in enumerate(
    ("split", "opening", "transfer_out", "transfer_in", "buy", "sell",
     "dividend", "interest", "fee", "tax", "deposit", "withdrawal"))}

CURRENCY_RE = re.compile(r"[A-Z]{3}\Z")
# ISO 4217 active codes (2024 list), plus the funds/precious-metal codes brokers report in
ISO_4217 = frozenset("""
AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD BTN BWP BYN BZD
CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP
GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW
KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN
NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL
SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS VED VES
VND VUV WST XAF XAG XAU XCD XCG XDR XOF XPD XPF XPT XSU XUA YER ZAR ZMW ZWG ZWL
""".split())


@dataclass(frozen=True)
class Activity:
    """One line of an account's ledger. Money is in `currency`; a split carries `ratio`.

    buy/sell/opening/transfer_in/transfer_out: `quantity` at `price`, `fee` on top (a buy's
    fee is part of its cost, a sell's comes off its proceeds). An opening position's or an
    outside transfer-in's cost basis is `amount` when given, else quantity × price (+ fee);
    an opening position with neither has an unknown cost (a holding entered without one).
    dividend/interest/fee/tax/deposit/withdrawal: `amount` (a dividend's gross amount).
    """
    date: date
    account: int
    type: str
    symbol: str | None = None
    quantity: Decimal | None = None
    price: Decimal | None = None
    fee: Decimal = ZERO
    amount: Decimal | None = None
    currency: str = "USD"
    note: str = ""
    ratio: Ratio | None = None


class LedgerError(ValueError):
    """Activities that cannot all be true; the message is for people (a form shows it)."""


class Oversold(LedgerError):
    def __init__(self, activity: Activity, held: Decimal):
        self.activity, self.held = activity, held
        verb = "sell" if activity.type == "sell" else "transfer out"
        super().__init__(f"You held {canonical(held)} {activity.symbol} on {activity.date.isoformat()}; "
                         f"you cannot {verb} {canonical(activity.quantity)}.")


# ---- checks -----------------------------------------------------------------------------------


def _sum(values: Iterable[Decimal]) -> Decimal:
    """A sum in EXACT: plain `+` would round to the thread's context (28 digits by default)."""
    total = ZERO
    for v in values:
        total = EXACT.add(total, v)
    return total


def _share(cost: Decimal | None, part: Decimal, whole: Decimal) -> Decimal | None:
    """`part` of `whole` shares' cost (None stays unknown)."""
    return None if cost is None else EXACT.divide(EXACT.multiply(cost, part), whole)


def _less(cost: Decimal | None, taken: Decimal | None) -> Decimal | None:
    return None if cost is None or taken is None else EXACT.subtract(cost, taken)


def _number_problem(name: str, value, *, required: bool, positive: bool = False, non_negative: bool = False):
    if value is None:
        return f"Enter {'an' if name[0] in 'aeiou' else 'a'} {name}." if required else None
    if not isinstance(value, Decimal) or not value.is_finite():
        return f"The {name} is not a number."
    if positive and value <= 0:
        return f"The {name} must be more than zero."
    if non_negative and value < 0:
        return f"The {name} cannot be negative."
    return None


def validate(activity: Activity, today: date | None = None) -> list[str]:
    """What is wrong with one activity on its own, in words for people; [] when nothing is.

    Holdings (selling more than was held) need the other activities: see `check`.
    """
    a, problems = activity, []
    if a.type not in TYPES:
        return [f"“{str(a.type)[:20]}” is not an activity type (one of {', '.join(TYPES)})."]
    if today is not None and a.date > today:
        problems.append("The date is in the future.")
    if not (isinstance(a.currency, str) and CURRENCY_RE.match(a.currency) and a.currency in ISO_4217):
        problems.append(f"“{str(a.currency)[:10]}” is not an ISO 4217 currency code (like USD, EUR, GBP).")
    if a.type in SECURITY_TYPES and not a.symbol:
        problems.append("Enter a symbol.")
    if a.type in QUANTITY_TYPES:
        problems.append(_number_problem("quantity", a.quantity, required=True, positive=True))
        price_needed = a.type in ("buy", "sell")
        problems.append(_number_problem("price", a.price, required=price_needed, positive=a.type in ("buy", "sell"),
                                        non_negative=True))
        if a.type in ("opening", "transfer_in"):
            problems.append(_number_problem("amount", a.amount, required=False, non_negative=True))
    elif a.quantity is not None and a.type != "split":
        problems.append(_number_problem("quantity", a.quantity, required=False, positive=True))
    if a.type in AMOUNT_TYPES:
        problems.append(_number_problem("amount", a.amount, required=True, positive=True))
    problems.append(_number_problem("fee", a.fee, required=True, non_negative=True))
    if a.type == "split" and not isinstance(a.ratio, Ratio):
        problems.append("A split needs a ratio like 2:1 (new shares for old) or 1:10.")
    return [p for p in problems if p]


def check(activities: Iterable[Activity], today: date | None = None) -> list[str]:
    """Every activity's own problems, then whether the whole ledger holds together (no sale
    of more than was held then). What a form shows after adding its activity to the others."""
    activities = list(activities)
    problems = [p for a in activities for p in validate(a, today)]
    if not problems:
        try:
            _replay(activities, "fifo")
        except LedgerError as e:
            problems.append(str(e))
    return problems


# ---- the replay: lots per (account, symbol) ---------------------------------------------------


@dataclass
class Lot:
    acquired: date
    quantity: Decimal
    cost: Decimal | None  # the whole lot's cost basis, fees included; None: not known
    currency: str


@dataclass(frozen=True)
class Sale:
    date: date
    account: int
    symbol: str
    currency: str
    quantity: Decimal
    proceeds: Decimal  # quantity × price − the sale's fee
    cost: Decimal | None  # None: some of the shares sold had no known cost
    fees: Decimal  # the sale's own fee (the buys' fees are in `cost`)

    @property
    def gain(self) -> Decimal | None:
        return None if self.cost is None else EXACT.subtract(self.proceeds, self.cost)


@dataclass
class _State:
    lots: dict[tuple[int, str], list[Lot]] = field(default_factory=lambda: defaultdict(list))
    in_transit: dict[str, list[Lot]] = field(default_factory=lambda: defaultdict(list))
    sales: list[Sale] = field(default_factory=list)

    def held(self, key) -> Decimal:
        return _sum(lot.quantity for lot in self.lots.get(key, ()))


def _ordered(activities: Iterable[Activity]) -> list[Activity]:
    return sorted(activities, key=lambda a: (a.date, _DAY_ORDER.get(a.type, 99)))


def _cost_of(a: Activity) -> Decimal | None:
    if a.amount is not None:
        return a.amount
    if a.price is None:
        return None  # an opening position entered without a cost
    return EXACT.add(EXACT.multiply(a.quantity, a.price), a.fee or ZERO)


def _take(lots: list[Lot], quantity: Decimal, method: str) -> list[Lot]:
    """Remove `quantity` from `lots` (which hold at least that); the lots taken out, cost with them.

    FIFO takes the oldest lots first. Average cost takes from the one pooled lot, at the
    average cost per share (what stays keeps that average).
    """
    taken: list[Lot] = []
    if method == "fifo":
        remaining = quantity
        while remaining > 0:
            lot = lots[0]
            if lot.quantity <= remaining:
                taken.append(lots.pop(0))
                remaining = EXACT.subtract(remaining, lot.quantity)
            else:
                cost = _share(lot.cost, remaining, lot.quantity)
                taken.append(Lot(lot.acquired, remaining, cost, lot.currency))
                lot.quantity = EXACT.subtract(lot.quantity, remaining)
                lot.cost = _less(lot.cost, cost)
                remaining = ZERO
        return taken
    # average cost: one pooled lot (see _pool), so quantities stay exact sums
    lot = lots[0]
    if quantity == lot.quantity:
        lots.clear()
        return [lot]
    cost = _share(lot.cost, quantity, lot.quantity)
    lot.quantity, lot.cost = EXACT.subtract(lot.quantity, quantity), _less(lot.cost, cost)
    return [Lot(lot.acquired, quantity, cost, lot.currency)]


def _pool(lots: list[Lot]) -> None:
    """Average cost keeps one lot per holding: all shares, all cost, the first acquisition date."""
    if len(lots) > 1:
        merged = Lot(min(lot.acquired for lot in lots), _sum(lot.quantity for lot in lots),
                     total_or_none(lot.cost for lot in lots), lots[0].currency)
        lots[:] = [merged]


def _replay(activities: Iterable[Activity], method: str, on: date | None = None) -> _State:
    if method not in METHODS:
        raise ValueError(f"method is one of {METHODS}, not {method!r}")
    state = _State()
    for a in _ordered(activities):
        if on is not None and a.date > on:
            break
        key = (a.account, a.symbol)
        if a.type in ("buy", "opening"):
            state.lots[key].append(Lot(a.date, a.quantity, _cost_of(a) if a.type == "opening" else
                                       EXACT.add(EXACT.multiply(a.quantity, a.price), a.fee or ZERO), a.currency))
            if method == "average":
                _pool(state.lots[key])
        elif a.type in ("sell", "transfer_out"):
            held = state.held(key)
            if a.quantity > held:
                raise Oversold(a, held)
            taken = _take(state.lots[key], a.quantity, method)
            if a.type == "transfer_out":
                state.in_transit[a.symbol].extend(taken)
            else:
                proceeds = EXACT.subtract(EXACT.multiply(a.quantity, a.price), a.fee or ZERO)
                cost = total_or_none(lot.cost for lot in taken)
                state.sales.append(Sale(a.date, a.account, a.symbol, a.currency, a.quantity, proceeds, cost,
                                        a.fee or ZERO))
        elif a.type == "transfer_in":
            # shares sent from another of the user's accounts keep their dates and cost; any
            # more than was sent come from outside, at the activity's own cost basis
            transit = state.in_transit[a.symbol]
            sent = min(a.quantity, _sum(lot.quantity for lot in transit))
            moved = _take(transit, sent, "fifo") if sent > 0 else []
            state.lots[key].extend(moved)
            state.lots[key].sort(key=lambda lot: lot.acquired)
            outside = EXACT.subtract(a.quantity, sent)
            if outside > 0:
                cost = _cost_of(a)
                if a.amount is not None and sent > 0:
                    cost = _share(a.amount, outside, a.quantity)
                state.lots[key].append(Lot(a.date, outside, cost, a.currency))
            if method == "average":
                _pool(state.lots[key])
        elif a.type == "split":
            accounts = [k for k in state.lots if k[1] == a.symbol and (a.account is None or k[0] == a.account)]
            for k in accounts:
                for lot in state.lots[k]:
                    lot.quantity = a.ratio.apply(lot.quantity)[0]
    return state


# ---- what the ledger adds up to ---------------------------------------------------------------


def positions(activities: Iterable[Activity], on: date | None = None) -> dict[tuple[int, str], Decimal]:
    """Quantity per (account, symbol) at the close of `on` (all activities when None); zero
    quantities left out. Raises Oversold (its message names the quantity then held) when a
    sale or transfer out exceeds the holding on its date.

    A split rounds each FIFO lot to 10 places (as `Ratio.apply` does); quantities come
    from the FIFO replay so that they are the sum of the lots a sale would take.
    """
    state = _replay(activities, "fifo", on)
    out = {}
    for key, lots in state.lots.items():
        q = _sum(lot.quantity for lot in lots)
        if q != 0:
            out[key] = q
    return out


def lots(activities: Iterable[Activity], method: str = "fifo", on: date | None = None) -> dict[tuple[int, str], list[Lot]]:
    """The open lots per (account, symbol) at the close of `on`: acquisition date, quantity,
    cost basis (FIFO: one per purchase, oldest first; average cost: one pooled lot)."""
    return {k: v for k, v in _replay(activities, method, on).lots.items() if v}


def totals(lots: Iterable[Lot]) -> tuple[Decimal, Decimal | None]:
    """The quantity and the cost basis (None: partly unknown) of some lots."""
    lots = list(lots)
    return _sum(lot.quantity for lot in lots), total_or_none(lot.cost for lot in lots)


def realized_gains(activities: Iterable[Activity], method: str = "average") -> list[Sale]:
    """One `Sale` per sell, in date order: quantity, proceeds net of its fee, cost by `method`
    ("average" cost, the default, or "fifo" lots), its fee, and `gain` = proceeds − cost."""
    return _replay(activities, method).sales


@dataclass(frozen=True)
class GainTotal:
    key: tuple  # (year,) or (symbol,) or (year, symbol), as asked
    currency: str
    quantity: Decimal
    proceeds: Decimal
    cost: Decimal | None
    fees: Decimal
    gain: Decimal | None


def total_gains(sales: Iterable[Sale], by: str = "year") -> list[GainTotal]:
    """Sales summed per "year", "symbol" or "year_symbol", per currency (never mixed)."""
    keyfn = {"year": lambda s: (s.date.year,), "symbol": lambda s: (s.symbol,),
             "year_symbol": lambda s: (s.date.year, s.symbol)}[by]
    sums: dict[tuple, list[Decimal]] = {}
    for s in sales:
        acc = sums.setdefault((keyfn(s), s.currency), [ZERO] * 5)
        for i, v in enumerate((s.quantity, s.proceeds, s.cost, s.fees, s.gain)):
            acc[i] = None if v is None or acc[i] is None else EXACT.add(acc[i], v)  # unknown cost stays unknown
    return [GainTotal(k, c, *v) for (k, c), v in sorted(sums.items(), key=lambda kv: (str(kv[0][0]), kv[0][1]))]


@dataclass(frozen=True)
class Unrealized:
    account: int
    symbol: str
    currency: str
    quantity: Decimal
    cost_basis: Decimal | None  # None: some of it was entered without a cost
    value: Decimal | None  # None when no price is known
    gain: Decimal | None


def unrealized(activities: Iterable[Activity], prices: Mapping[str, Decimal], method: str = "average",
               on: date | None = None) -> list[Unrealized]:
    """What is still held per (account, symbol): its cost basis by `method`, its value at
    `prices[symbol]` (in the lots' currency) and the gain; value and gain None without a price."""
    out = []
    for (account, symbol), lots in sorted(_replay(activities, method, on).lots.items()):
        q = _sum(lot.quantity for lot in lots)
        if q == 0:
            continue
        cost = total_or_none(lot.cost for lot in lots)
        price = prices.get(symbol)
        value = EXACT.multiply(q, price) if price is not None else None
        out.append(Unrealized(account, symbol, lots[0].currency, q, cost, value,
                              EXACT.subtract(value, cost) if value is not None and cost is not None else None))
    return out


__all__ = ["Activity", "TYPES", "ISO_4217", "LedgerError", "Oversold", "Lot", "Sale", "GainTotal", "Unrealized",
           "validate", "check", "positions", "lots", "totals", "realized_gains", "total_gains", "unrealized"]
