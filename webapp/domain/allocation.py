"""Allocation: a valuation grouped by account, asset type, currency and top holdings.

Pure functions of a `Valuation` (no Flask, no database). Values and percentages are exact
Decimals; rounding happens at display. Only holdings valued in the base currency are
allocated: a holding without an exchange rate is listed apart (never counted 1:1), and a
holding without a price yet is listed as pending.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Iterable, Mapping

from webapp.domain.money import EXACT, ZERO
from webapp.domain.valuation import Valuation

HUNDRED = Decimal(100)
TOP = 10


@dataclass(frozen=True)
class Share:
    key: str
    label: str
    value: Decimal  # in the valuation's base currency
    percent: Decimal | None  # of the allocated total, exact; None when nothing is allocated
    holdings: int = 1


@dataclass(frozen=True)
class Unallocated:
    symbol: str
    account: str
    currency: str | None = None  # the holding's own currency (for unconverted ones)
    value: Decimal | None = None  # in that currency


@dataclass
class Allocation:
    currency: str
    total: Decimal
    by_account: list[Share] = field(default_factory=list)
    by_asset_type: list[Share] = field(default_factory=list)
    by_currency: list[Share] = field(default_factory=list)
    top_holdings: list[Share] = field(default_factory=list)
    rest: Share | None = None  # the holdings outside the top ones, together
    unconverted: list[Unallocated] = field(default_factory=list)
    pending: list[Unallocated] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.total and not self.unconverted and not self.pending


def percent_of(value: Decimal, total: Decimal) -> Decimal | None:
    return EXACT.divide(EXACT.multiply(value, HUNDRED), total) if total else None


def shares(groups: Mapping[str, tuple[str, Decimal, int]], total: Decimal) -> list[Share]:
    """{key: (label, value, holdings)} -> Shares, largest first (then by label, then key)."""
    out = [Share(key, label, value, percent_of(value, total), n) for key, (label, value, n) in groups.items()]
    return sorted(out, key=lambda s: (-s.value, s.label.lower(), s.key))


def _grouped(items: Iterable[tuple[str, str, Decimal]]) -> dict[str, tuple[str, Decimal, int]]:
    acc: dict[str, list] = defaultdict(lambda: ["", ZERO, 0])
    for key, label, value in items:
        g = acc[key]
        g[0], g[1], g[2] = label, EXACT.add(g[1], value), g[2] + 1
    return {k: (v[0], v[1], v[2]) for k, v in acc.items()}


def allocate(valuation: Valuation, asset_labels: Mapping[str, str] | None = None, top: int = TOP) -> Allocation:
    """Group the valuation; the result does not depend on the order of accounts or holdings."""
    labels = asset_labels or {}
    alloc = Allocation(currency=valuation.currency, total=ZERO)
    allocated = []  # (account, holding) valued in the base currency
    for account in valuation.accounts:
        for h in account.holdings:
            if h.price is None:
                alloc.pending.append(Unallocated(h.symbol, account.name))
            elif h.base_value is None:
                alloc.unconverted.append(Unallocated(h.symbol, account.name, h.currency, h.value))
            else:
                allocated.append((account, h))
                alloc.total = EXACT.add(alloc.total, h.base_value)
    total = alloc.total
    by_account = {str(a.id): (a.name, ZERO, 0) for a in valuation.accounts if a.holdings}
    by_account.update(_grouped((str(a.id), a.name, h.base_value) for a, h in allocated))
    alloc.by_account = shares(by_account, total)
    alloc.by_asset_type = shares(
        _grouped((h.asset_type, labels.get(h.asset_type, h.asset_type), h.base_value) for _, h in allocated), total)
    alloc.by_currency = shares(_grouped((h.currency, h.currency, h.base_value) for _, h in allocated), total)
    # one instrument held in two accounts is one position
    holdings = shares(_grouped((h.symbol, h.symbol, h.base_value) for _, h in allocated), total)
    alloc.top_holdings = holdings[:top]
    others = holdings[top:]
    if others:
        value = ZERO
        for s in others:
            value = EXACT.add(value, s.value)
        alloc.rest = Share("", f"{len(others)} other holding{'s' if len(others) != 1 else ''}", value,
                           percent_of(value, total), sum(s.holdings for s in others))
    alloc.unconverted.sort(key=lambda u: (u.currency or "", u.symbol, u.account))
    alloc.pending.sort(key=lambda u: (u.symbol, u.account))
    return alloc
