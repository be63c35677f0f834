"""Exchange rates of a past day: the nearest earlier published rate, crosses through EUR. Pure.

Rates come as (base, quote, day, rate) meaning 1 base = rate quote on that day. A pair that
involves EUR is a leg (EUR→C, or C→EUR inverted). A pair without EUR (only from an import) is
a direct rate, used as given or inverted, when it is at least as recent as the cross through
EUR would be (the older of its two legs); otherwise the cross wins, so a stale imported rate
never hides fresher reference rates.
"""
from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Iterable, Mapping

from webapp.domain.money import EXACT

ONE = Decimal(1)


def rate_through_eur(per_eur: Mapping[str, Decimal], base: str, quote: str) -> Decimal | None:
    """1 `base` in `quote` from one day's rates per 1 EUR: (EUR→quote) / (EUR→base), 80 digits."""
    if base == quote:
        return ONE
    rb = ONE if base == "EUR" else per_eur.get(base)
    rq = ONE if quote == "EUR" else per_eur.get(quote)
    if not rb or rq is None:
        return None
    return EXACT.divide(rq, rb)


class _Series:
    """One pair's rates by day, oldest first; a rate as given wins over an inverted one."""

    def __init__(self) -> None:
        self._by_day: dict[date, tuple[bool, Decimal]] = {}
        self._days: list[date] | None = None

    def add(self, day: date, rate: Decimal, given: bool) -> None:
        if given or day not in self._by_day:
            self._by_day[day] = (given, rate)
            self._days = None

    def on_or_before(self, day: date) -> tuple[date, Decimal] | None:
        if self._days is None:
            self._days = sorted(self._by_day)
        i = bisect_right(self._days, day)
        if not i:
            return None
        found = self._days[i - 1]
        return found, self._by_day[found][1]


@dataclass
class FxHistory:
    """Daily rates in memory; `rate_on` answers for any pair and day."""

    legs: dict[str, _Series] = field(default_factory=dict)  # currency -> its rate per 1 EUR
    direct: dict[tuple[str, str], _Series] = field(default_factory=dict)

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[str, str, date, Decimal]]) -> "FxHistory":
        h = cls()
        for base, quote, day, rate in rows:
            h.add(base, quote, day, rate)
        return h

    def add(self, base: str, quote: str, day: date, rate: Decimal) -> None:
        if not rate or base == quote:
            return
        if base == "EUR":
            self.legs.setdefault(quote, _Series()).add(day, rate, True)
        elif quote == "EUR":
            self.legs.setdefault(base, _Series()).add(day, EXACT.divide(ONE, rate), False)
        else:
            self.direct.setdefault((base, quote), _Series()).add(day, rate, True)
            self.direct.setdefault((quote, base), _Series()).add(day, EXACT.divide(ONE, rate), False)

    def _leg(self, ccy: str, day: date) -> tuple[date, Decimal] | None:
        if ccy == "EUR":
            return date.min, ONE
        series = self.legs.get(ccy)
        return series.on_or_before(day) if series else None

    def rate_on(self, base: str, quote: str, day: date) -> Decimal | None:
        """1 `base` in `quote` at the nearest day on or before `day`; None before any rate."""
        if base == quote:
            return ONE
        series = self.direct.get((base, quote))
        direct = series.on_or_before(day) if series else None
        lb, lq = self._leg(base, day), self._leg(quote, day)
        if lb is None or lq is None:
            return direct[1] if direct else None
        if direct is not None and direct[0] >= min(lb[0], lq[0]):
            return direct[1]
        return rate_through_eur({base: lb[1], quote: lq[1]}, base, quote)
