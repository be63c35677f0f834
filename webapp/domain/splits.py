"""Split arithmetic: parse a ratio ("4:1", "4-for-1", "1:10"), apply it to a quantity, check a date. Pure."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import ROUND_HALF_EVEN, Decimal

from webapp.domain.inputs import QUANTITY_PLACES
from webapp.domain.money import EXACT

MAX_RATIO_TERM = 1_000_000
EARLIEST = date(1970, 1, 1)
RATIO_RE = re.compile(r"\s*(\S+?)\s*(?::|/|-?\s*for\s*-?)\s*(\S+)\s*\Z", re.IGNORECASE)
QUANTUM = Decimal(1).scaleb(-QUANTITY_PLACES)


class SplitError(ValueError):
    """Bad input or a split that may not be applied; the message is for people."""


class AlreadyApplied(SplitError):
    """The same split (instrument, effective date, scope) was recorded before."""


@dataclass(frozen=True)
class Ratio:
    numerator: int  # new shares ...
    denominator: int  # ... for this many old ones

    def __str__(self) -> str:
        return f"{self.numerator}:{self.denominator}"

    @property
    def reverse(self) -> bool:
        return self.numerator < self.denominator

    def apply(self, quantity: Decimal) -> tuple[Decimal, bool]:
        """The new quantity, kept to the 10 places a quantity has; and whether it was rounded."""
        exact = EXACT.divide(EXACT.multiply(quantity, Decimal(self.numerator)), Decimal(self.denominator))
        kept = exact.quantize(QUANTUM, rounding=ROUND_HALF_EVEN, context=EXACT)
        return kept, kept != exact


def parse_ratio(text: str | None) -> Ratio:
    """"4:1", "4-for-1", "4 for 1" or "4/1" (new for old); "1:10" is a reverse split."""
    text = (text or "").strip()
    m = RATIO_RE.match(text)
    if not text or m is None:
        raise SplitError(f"“{text[:40]}” is not a split ratio: write new shares for old, "
                         "like 4:1 or 4-for-1, or 1:10 for a reverse split.")
    terms = []
    for part in m.groups():
        if not (part.isascii() and part.isdigit()) or not 1 <= int(part) <= MAX_RATIO_TERM:
            raise SplitError(f"Both sides of a split ratio are whole numbers from 1 to {MAX_RATIO_TERM:,} "
                             f"(“{part[:20]}” is not); a 3-for-2 split is 3:2.")
        terms.append(int(part))
    n, d = terms
    from math import gcd

    g = gcd(n, d)
    if n == d:
        raise SplitError("A 1:1 split changes nothing.")
    return Ratio(n // g, d // g)


def check_effective_date(effective: date, today: date | None = None) -> None:
    today = today or datetime.now(timezone.utc).date()
    if effective > today:
        raise SplitError("The effective date is in the future; record the split on or after that day.")
    if effective < EARLIEST:
        raise SplitError("The effective date is before 1970.")
