"""Income from the ledger: dividends and interest per month or year, account and symbol, taxes
withheld beside them, and yield on cost. Pure, Decimal only."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Iterable

from webapp.domain.ledger import Activity
from webapp.domain.money import EXACT, ZERO


@dataclass(frozen=True)
class Income:
    period: str  # "2026-03" by month, "2026" by year
    account: int
    symbol: str | None  # None: interest or a tax that names no security
    currency: str
    dividends: Decimal = ZERO
    interest: Decimal = ZERO
    taxes: Decimal = ZERO  # withheld or paid, shown beside the income, not netted into it
    fees: Decimal = ZERO

    @property
    def net(self) -> Decimal:
        return EXACT.subtract(EXACT.add(self.dividends, self.interest), EXACT.add(self.taxes, self.fees))


def income(activities: Iterable[Activity], by: str = "month") -> list[Income]:
    """Dividends and interest per period ("month" or "year"), account, symbol and currency,
    with taxes (`tax` activities) and the income activities' own fees beside them."""
    if by not in ("month", "year"):
        raise ValueError("by is 'month' or 'year'")
    rows: dict[tuple, dict[str, Decimal]] = {}
    for a in activities:
        if a.type not in ("dividend", "interest", "tax"):
            continue
        period = f"{a.date.year:04d}-{a.date.month:02d}" if by == "month" else f"{a.date.year:04d}"
        row = rows.setdefault((period, a.account, a.symbol or None, a.currency), defaultdict(lambda: ZERO))
        column = {"dividend": "dividends", "interest": "interest", "tax": "taxes"}[a.type]
        row[column] = EXACT.add(row[column], a.amount)
        if a.type != "tax" and a.fee:
            row["fees"] = EXACT.add(row["fees"], a.fee)
    return [Income(*key, **dict(v)) for key, v in
            sorted(rows.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2] or "", kv[0][3]))]


def yield_on_cost(income_amount: Decimal, cost_basis: Decimal | None) -> Decimal | None:
    """Income over the cost basis it was earned on (0.04 is 4 %); None with no cost basis."""
    if cost_basis is None or cost_basis <= 0:
        return None
    return EXACT.divide(income_amount, cost_basis)
