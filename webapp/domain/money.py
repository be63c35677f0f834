"""Exact money arithmetic: the 80-digit context, currency conversion, canonical text, display rounding. Pure."""
from __future__ import annotations

import decimal
from decimal import Decimal
from typing import Iterable, Mapping

# wide enough that quantity (28,10) x price (28,10) and their sums never round
EXACT = decimal.Context(prec=80, rounding=decimal.ROUND_HALF_EVEN, traps=[decimal.InvalidOperation, decimal.Overflow])
ZERO = Decimal(0)


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


def _account_total(by_ccy: Mapping[str, Decimal], base: str, fx: Mapping[tuple[str, str], Decimal]):
    """An account's total in the base currency, and what could not be converted (by currency).

    Each currency's sum is converted once, in the order given (a page: the order in which
    the currencies first appear among the holdings). A converted amount can have more
    digits than EXACT keeps, so with two converted currencies the last of 80 digits may
    depend on that order; recomputes pass no rates today, so their totals are exact.
    """
    total, unconverted = ZERO, {}
    for ccy in by_ccy:
        converted = convert(by_ccy[ccy], ccy, base, fx)
        if converted is None:
            unconverted[ccy] = by_ccy[ccy]
        else:
            total = EXACT.add(total, converted)
    return total, unconverted


# ---- summaries: what a recompute keeps per user -------------------------------------------


def total_or_none(values: Iterable[Decimal | None]) -> Decimal | None:
    """The exact sum (EXACT, not the thread's 28 digits); None, unknown, when any part is."""
    total = ZERO
    for v in values:
        if v is None:
            return None
        total = EXACT.add(total, v)
    return total


def canonical(amount: Decimal) -> str:
    """The one text of an exact amount: no exponent, no trailing zeros ("1871.234", "0")."""
    text = str(amount)  # plain digits unless tiny or with a positive exponent: then format "f"
    if "E" in text:
        text = format(amount, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def quantize_money(amount: Decimal, places: int = 2) -> Decimal:
    return amount.quantize(Decimal(1).scaleb(-places), rounding=decimal.ROUND_HALF_EVEN)
