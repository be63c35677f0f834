"""Jobs of history (queue `low`): daily closes from providers, and the past they let us rebuild."""
from __future__ import annotations

from webapp.services.portfolio import reconstruct
from webapp.services.pricing import backfill as pricing_backfill
from workers.context import job


@job
def backfill(symbol: str, days: int, create_as: str | None = None) -> dict:
    return pricing_backfill.backfill(symbol, days, create_as)


@job
def reconstruct_history(user_ids: list[int] | None = None, instrument_ids: list[int] | None = None,
                        days: int = reconstruct.RECONSTRUCT_DAYS) -> dict:
    return reconstruct.reconstruct_history(user_ids, instrument_ids, days)
