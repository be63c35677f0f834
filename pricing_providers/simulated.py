"""A simulated market for demos: deterministic per symbol and time step, no network.

Prices are clearly labelled with the source `simulated`. Each symbol gets a stable
base price from a hash of its name and moves a little every `step` seconds, so a
demo portfolio changes every refresh cycle while two workers asking at the same
moment get the very same quote.
"""
from __future__ import annotations

import hashlib
import time
from datetime import datetime, timezone
from decimal import Decimal
from typing import Sequence

from .base import FetchResult, InstrumentRef, Provider, Quote
from .registry import register

CENT = Decimal("0.01")


def _unit(*parts: object) -> Decimal:
    """A deterministic number in [0, 1) from the parts."""
    h = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return Decimal(int.from_bytes(h[:6], "big")) / Decimal(2**48)


@register
class SimulatedProvider(Provider):
    name = "simulated"
    label = "Simulated market (demo)"
    batch_size = 1000
    probe_symbol = InstrumentRef("DEMO", "stock", "USD")

    def __init__(self, *args, step: float | None = None, clock=time.time, **kw):
        super().__init__(*args, **kw)
        # The base URL is unused; a step in seconds may be given as "step=60".
        self.step = step or 60.0
        self.clock = clock

    def price_at(self, symbol: str, tick: int) -> Decimal:
        base = Decimal(20) + _unit(symbol, "base") * Decimal(480)
        # a bounded random walk: sum of the last 50 small moves, deterministic per tick
        drift = sum((_unit(symbol, t) - Decimal("0.5")) for t in range(tick - 50, tick + 1))
        price = base * (Decimal(1) + drift * Decimal("0.01"))
        return max(price, Decimal("0.01")).quantize(CENT)

    def history(self, instrument: InstrumentRef, days: int) -> list[Quote]:
        """Daily closes for the last `days` days, consistent with today's moving price."""
        now_tick = int(self.clock() // self.step)
        per_day = max(1, int(86400 // self.step))
        out = []
        for d in range(days, 0, -1):
            tick = now_tick - d * per_day
            out.append(Quote(
                symbol=instrument.symbol,
                price=self.price_at(instrument.symbol, tick),
                currency=instrument.currency or "USD",
                as_of=datetime.fromtimestamp(tick * self.step, tz=timezone.utc),
                source=self.name,
                currency_inferred=instrument.currency is None,
            ))
        return out

    def fetch(self, instruments: Sequence[InstrumentRef]) -> FetchResult:
        tick = int(self.clock() // self.step)
        as_of = datetime.fromtimestamp(tick * self.step, tz=timezone.utc)
        out: FetchResult = {}
        for inst in instruments:
            price = self.price_at(inst.symbol, tick)
            out[inst.symbol] = Quote(
                symbol=inst.symbol,
                price=price,
                currency=inst.currency or "USD",
                as_of=as_of,
                source=self.name,
                previous_close=self.price_at(inst.symbol, tick - 1),
                currency_inferred=inst.currency is None,
            )
        return out
