"""Pure valuation: (accounts, positions, quotes, FX) -> Valuation. Decimal only.

No Flask, Redis or database here: this is the part that must be right to the
cent. Values are exact products and sums; rounding happens only at display.

Two shapes of the same arithmetic: `value_portfolio` values every holding (what a
page shows); `summarize` takes exact per-account sums by currency (what a recompute
of many users gets from one aggregate pass) and gives the `Summary` a recompute
keeps. `Valuation.summary()` and `summarize` agree to the digit: both convert each
account's per-currency sum once, so a worker and a web request never disagree.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Iterable, Mapping

from webapp.domain.money import EXACT, ZERO, _account_total, convert
from webapp.domain.summary import Summary


@dataclass(frozen=True)
class AccountRef:
    id: int
    name: str


@dataclass(frozen=True)
class Position:
    holding_id: int
    account_id: int
    symbol: str
    asset_type: str
    quantity: Decimal
    cost: Decimal | None = None  # what the whole holding cost, in the currency it is quoted in
    # what it cost in the valuation's base currency, each lot at its acquisition day's rate;
    # None: not known (or worked out in another base currency): `cost` at today's rate instead
    base_cost: Decimal | None = None


@dataclass(frozen=True)
class PriceInfo:
    price: Decimal
    currency: str
    as_of: datetime
    source: str
    previous_close: Decimal | None = None


@dataclass
class HoldingValue:
    holding_id: int
    symbol: str
    asset_type: str
    quantity: Decimal
    price: Decimal | None = None
    currency: str | None = None
    value: Decimal | None = None  # in `currency`
    base_value: Decimal | None = None  # in the portfolio's base currency; None if no FX
    as_of: datetime | None = None
    source: str | None = None
    cost: Decimal | None = None  # in `currency` (the quote currency)
    gain: Decimal | None = None  # value - cost, in `currency`
    base_gain: Decimal | None = None
    day_change: Decimal | None = None  # quantity x (price - previous close), in `currency`
    base_day_change: Decimal | None = None
    previous_close: Decimal | None = None

    @property
    def pending(self) -> bool:
        return self.price is None

    @property
    def gain_pct(self) -> Decimal | None:
        return _pct(self.gain, self.cost)

    @property
    def day_change_pct(self) -> Decimal | None:
        if self.previous_close is None or self.price is None:
            return None
        return _pct(EXACT.subtract(self.price, self.previous_close), self.previous_close)


def _pct(part: Decimal | None, whole: Decimal | None) -> Decimal | None:
    """part / whole in percent, None when either is unknown or the whole is not positive."""
    if part is None or whole is None or whole <= 0:
        return None
    return EXACT.divide(EXACT.multiply(part, 100), whole)


class _Gains:
    """Unrealized gain and day change of a set of holdings, in the base currency: only holdings
    whose figure is known and convertible count (`cost` is the cost of those with a gain)."""

    cost: Decimal | None
    gain: Decimal | None
    day_change: Decimal | None

    @property
    def gain_pct(self) -> Decimal | None:
        return _pct(self.gain, self.cost)

    @property
    def day_change_pct(self) -> Decimal | None:
        if self.day_change is None:
            return None
        return _pct(self.day_change, EXACT.subtract(self.day_base, self.day_change))

    def add_gains(self, cost: Decimal | None, gain: Decimal | None, day: Decimal | None,
                  day_base: Decimal | None) -> None:
        if gain is not None and cost is not None:
            self.cost = EXACT.add(self.cost or ZERO, cost)
            self.gain = EXACT.add(self.gain or ZERO, gain)
        if day is not None and day_base is not None:
            self.day_change = EXACT.add(self.day_change or ZERO, day)
            self.day_base = EXACT.add(self.day_base, day_base)


@dataclass
class AccountValue(_Gains):
    id: int
    name: str
    total: Decimal = ZERO  # base currency, priced & convertible holdings only
    holdings: list[HoldingValue] = field(default_factory=list)
    cost: Decimal | None = None
    gain: Decimal | None = None
    day_change: Decimal | None = None
    day_base: Decimal = ZERO  # today's value of the holdings in `day_change`


@dataclass
class Valuation(_Gains):
    currency: str
    total: Decimal = ZERO
    accounts: list[AccountValue] = field(default_factory=list)
    # holdings we could not put in the base currency: currency -> value in it
    unconverted: dict[str, Decimal] = field(default_factory=dict)
    pending: int = 0  # holdings without any price yet
    cost: Decimal | None = None
    gain: Decimal | None = None
    day_change: Decimal | None = None
    day_base: Decimal = ZERO

    @property
    def holding_count(self) -> int:
        return sum(len(a.holdings) for a in self.accounts)

    @property
    def complete(self) -> bool:
        return self.pending == 0 and not self.unconverted

    def summary(self) -> Summary:
        return Summary(
            currency=self.currency,
            total=self.total,
            accounts=tuple(sorted((a.id, a.total) for a in self.accounts)),
            unconverted=tuple(sorted(self.unconverted.items())),
            pending=self.pending,
            holdings=self.holding_count,
        )

    # ---- serialisation (Decimals and datetimes as text, exact) -------------------
    def to_json(self) -> str:
        return json.dumps(asdict(self), default=_encode, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> "Valuation":
        raw = json.loads(text)
        accounts = []
        for a in raw["accounts"]:
            hv = [
                HoldingValue(
                    holding_id=h["holding_id"],
                    symbol=h["symbol"],
                    asset_type=h["asset_type"],
                    quantity=Decimal(h["quantity"]),
                    price=_dec(h["price"]),
                    currency=h["currency"],
                    value=_dec(h["value"]),
                    base_value=_dec(h["base_value"]),
                    as_of=datetime.fromisoformat(h["as_of"]) if h["as_of"] else None,
                    source=h["source"],
                    **{k: _dec(h.get(k)) for k in _HOLDING_EXTRAS},
                )
                for h in a["holdings"]
            ]
            accounts.append(AccountValue(id=a["id"], name=a["name"], total=Decimal(a["total"]), holdings=hv,
                                         **_gains_from(a)))
        return cls(
            currency=raw["currency"],
            total=Decimal(raw["total"]),
            accounts=accounts,
            unconverted={k: Decimal(v) for k, v in raw["unconverted"].items()},
            pending=raw["pending"],
            **_gains_from(raw),
        )


_HOLDING_EXTRAS = ("cost", "gain", "base_gain", "day_change", "base_day_change", "previous_close")


def _gains_from(raw: dict) -> dict:
    return {"cost": _dec(raw.get("cost")), "gain": _dec(raw.get("gain")), "day_change": _dec(raw.get("day_change")),
            "day_base": Decimal(raw.get("day_base") or 0)}


def _encode(o: object) -> str:
    if isinstance(o, Decimal):
        return format(o, "f")
    if isinstance(o, datetime):
        return o.isoformat()
    raise TypeError(type(o))


def _dec(v: str | None) -> Decimal | None:
    return None if v is None else Decimal(v)


def value_portfolio(
    accounts: Iterable[AccountRef],
    positions: Iterable[Position],
    quotes: Mapping[str, PriceInfo],
    base_currency: str,
    fx: Mapping[tuple[str, str], Decimal] | None = None,
) -> Valuation:
    """Value every position; the result does not depend on the order of the inputs."""
    fx = fx or {}
    by_account: dict[int, AccountValue] = {a.id: AccountValue(id=a.id, name=a.name) for a in accounts}
    sums: dict[int, dict[str, Decimal]] = {a: {} for a in by_account}  # account -> currency -> Σ value
    valuation = Valuation(currency=base_currency)
    for pos in sorted(positions, key=lambda p: (p.account_id, p.symbol, p.holding_id)):
        account = by_account.get(pos.account_id)
        if account is None:  # a position must belong to a listed account
            raise ValueError(f"position {pos.holding_id} refers to unknown account {pos.account_id}")
        hv = HoldingValue(pos.holding_id, pos.symbol, pos.asset_type, pos.quantity)
        q = quotes.get(pos.symbol)
        if q is None:
            valuation.pending += 1
        else:
            hv.price, hv.currency, hv.as_of, hv.source = q.price, q.currency, q.as_of, q.source
            hv.value = EXACT.multiply(pos.quantity, q.price)
            hv.base_value = convert(hv.value, q.currency, base_currency, fx)
            by_ccy = sums[account.id]
            by_ccy[q.currency] = EXACT.add(by_ccy.get(q.currency, ZERO), hv.value)
            _gains(hv, pos, q, base_currency, fx, account)
        account.holdings.append(hv)
    # totals from each account's per-currency sums, converted once: the arithmetic of `summarize`
    for account_id, by_ccy in sums.items():
        total, unconverted = _account_total(by_ccy, base_currency, fx)
        by_account[account_id].total = total
        for ccy, amount in unconverted.items():
            valuation.unconverted[ccy] = EXACT.add(valuation.unconverted.get(ccy, ZERO), amount)
    valuation.accounts = sorted(by_account.values(), key=lambda a: (a.name.lower(), a.id))
    for a in valuation.accounts:  # EXACT, not sum(): the default context keeps only 28 digits
        valuation.total = EXACT.add(valuation.total, a.total)
        valuation.add_gains(a.cost, a.gain, a.day_change, a.day_base)
    return valuation


def _gains(hv: HoldingValue, pos: Position, q: PriceInfo, base: str, fx, account: AccountValue) -> None:
    """Unrealized gain against the cost, and the change since the previous close, in the quote
    currency and in the base currency.

    In the base currency the gain is the value at today's rate less the cost at the rates of
    the days the shares were acquired (`pos.base_cost`, which the ledger works out), so it
    includes the currency's move since then; the account and portfolio sums then count that
    cost. When that cost is not known (a rate or a cost missing, a holding no activity
    governs) the gain in the quote currency is converted at today's rate, cost likewise. The
    day change is always converted at today's rate."""
    base_cost = None
    if pos.cost is not None:
        hv.cost = pos.cost
        hv.gain = EXACT.subtract(hv.value, pos.cost)
        if pos.base_cost is not None and hv.base_value is not None:
            base_cost = pos.base_cost
            hv.base_gain = EXACT.subtract(hv.base_value, base_cost)
        else:
            hv.base_gain = convert(hv.gain, q.currency, base, fx)
            base_cost = convert(pos.cost, q.currency, base, fx)
    if q.previous_close is not None and q.previous_close > 0:
        hv.previous_close = q.previous_close
        hv.day_change = EXACT.multiply(pos.quantity, EXACT.subtract(q.price, q.previous_close))
        hv.base_day_change = convert(hv.day_change, q.currency, base, fx)
    account.add_gains(base_cost, hv.base_gain, hv.base_day_change,
                      hv.base_value if hv.base_day_change is not None else None)


