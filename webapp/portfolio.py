"""Pure valuation: (accounts, positions, quotes, FX) -> Valuation. Decimal only.

No Flask, Redis or database here: this is the part that must be right to the
cent. Values are exact products and sums; rounding happens only at display.
"""
from __future__ import annotations

import decimal
import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Iterable, Mapping

# wide enough that quantity (28,10) x price (28,10) and their sums never round
EXACT = decimal.Context(prec=80, rounding=decimal.ROUND_HALF_EVEN, traps=[decimal.InvalidOperation, decimal.Overflow])
ZERO = Decimal(0)


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


@dataclass(frozen=True)
class PriceInfo:
    price: Decimal
    currency: str
    as_of: datetime
    source: str


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

    @property
    def pending(self) -> bool:
        return self.price is None


@dataclass
class AccountValue:
    id: int
    name: str
    total: Decimal = ZERO  # base currency, priced & convertible holdings only
    holdings: list[HoldingValue] = field(default_factory=list)


@dataclass
class Valuation:
    currency: str
    total: Decimal = ZERO
    accounts: list[AccountValue] = field(default_factory=list)
    # holdings we could not put in the base currency: currency -> value in it
    unconverted: dict[str, Decimal] = field(default_factory=dict)
    pending: int = 0  # holdings without any price yet

    @property
    def holding_count(self) -> int:
        return sum(len(a.holdings) for a in self.accounts)

    @property
    def complete(self) -> bool:
        return self.pending == 0 and not self.unconverted

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
                )
                for h in a["holdings"]
            ]
            accounts.append(AccountValue(id=a["id"], name=a["name"], total=Decimal(a["total"]), holdings=hv))
        return cls(
            currency=raw["currency"],
            total=Decimal(raw["total"]),
            accounts=accounts,
            unconverted={k: Decimal(v) for k, v in raw["unconverted"].items()},
            pending=raw["pending"],
        )


def _encode(o: object) -> str:
    if isinstance(o, Decimal):
        return format(o, "f")
    if isinstance(o, datetime):
        return o.isoformat()
    raise TypeError(type(o))


def _dec(v: str | None) -> Decimal | None:
    return None if v is None else Decimal(v)


def convert(amount: Decimal, from_ccy: str, to_ccy: str, fx: Mapping[tuple[str, str], Decimal]) -> Decimal | None:
    """Convert with a direct rate, its inverse, or None when no rate is known."""
    if from_ccy == to_ccy:
        return amount
    rate = fx.get((from_ccy, to_ccy))
    if rate is not None:
        return EXACT.multiply(amount, rate)
    inverse = fx.get((to_ccy, from_ccy))
    if inverse:
        return EXACT.divide(amount, inverse)
    return None


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
            if hv.base_value is None:
                valuation.unconverted[q.currency] = EXACT.add(valuation.unconverted.get(q.currency, ZERO), hv.value)
            else:
                account.total = EXACT.add(account.total, hv.base_value)
        account.holdings.append(hv)
    valuation.accounts = sorted(by_account.values(), key=lambda a: (a.name.lower(), a.id))
    for a in valuation.accounts:  # EXACT, not sum(): the default context keeps only 28 digits
        valuation.total = EXACT.add(valuation.total, a.total)
    return valuation


def quantize_money(amount: Decimal, places: int = 2) -> Decimal:
    return amount.quantize(Decimal(1).scaleb(-places), rounding=decimal.ROUND_HALF_EVEN)

