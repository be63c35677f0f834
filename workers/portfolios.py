"""Jobs of the portfolio service: recompute the holders of changed instruments, and the hourly
full revaluation that the delta ticks start from (queue `default`)."""
from __future__ import annotations

from webapp.services.portfolio import recompute
from workers.context import job


@job
def recompute_portfolios(instrument_ids: list[int] | None = None, user_ids: list[int] | None = None) -> dict:
    return recompute.recompute_portfolios(instrument_ids, user_ids)


@job
def revalue_portfolios() -> dict:
    return recompute.recompute_portfolios()
