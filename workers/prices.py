"""Jobs of the pricing service: the refresh cycle (queue `default`) and one instrument now (`high`)."""
from __future__ import annotations

from webapp.services.pricing import refresh
from workers.context import job


@job
def refresh_prices(symbols: list[str] | None = None, *, sync: bool = False) -> dict:
    return refresh.refresh_prices(symbols, sync=sync)


@job
def refresh_symbol(instrument_id: int) -> dict:
    return refresh.refresh_symbol(instrument_id)
