"""Manual prices: a price an admin or user set by hand, with its date.

The prices live in the application's database; the application passes a lookup
function in, so this module stays free of Flask and the database.
"""
from __future__ import annotations

from typing import Callable, Mapping, Sequence

from .base import FetchResult, InstrumentRef, Provider, Quote, UnknownSymbol
from .registry import register

Lookup = Callable[[Sequence[InstrumentRef]], Mapping[str, Quote]]


@register
class ManualProvider(Provider):
    name = "manual"
    label = "Manual price"
    batch_size = 10_000

    def __init__(self, *args, lookup: Lookup | None = None, **kw):
        super().__init__(*args, **kw)
        self.lookup = lookup or (lambda refs: {})

    def fetch(self, instruments: Sequence[InstrumentRef]) -> FetchResult:
        found = self.lookup(instruments)
        return {
            i.symbol: found.get(i.symbol) or UnknownSymbol("no manual price set", provider=self.name)
            for i in instruments
        }
