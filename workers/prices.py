"""Jobs of the pricing service: the refresh cycle (queue `default`), and first prices now
(`high`): a coalesced batch per window, or one instrument (jobs enqueued before batching)."""
from __future__ import annotations

from webapp.services.pricing import instant, refresh
from workers.context import job


@job
def refresh_prices(symbols: list[str] | None = None, *, sync: bool = False) -> dict:
    return refresh.refresh_prices(symbols, sync=sync)


@job
def refresh_symbol(instrument_id: int) -> dict:
    return refresh.refresh_symbol(instrument_id)


@job
def refresh_instant(window: int) -> dict:
    return instant.run(window)
