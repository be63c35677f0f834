"""Jobs of the pricing service: fetch exchange rates (revaluing who holds another currency), load their history."""
from __future__ import annotations

from webapp.services.pricing import fx
from workers.context import job


@job
def refresh_fx() -> dict:
    return fx.refresh_fx()


@job
def refresh_fx_now() -> dict:
    """On demand (queue `high`): a currency had no rate; its holders are revalued on `high` too."""
    return fx.refresh_fx(recompute_queue="high")


@job
def load_fx_history(since: str | None = None) -> dict:
    """Daily reference rates since `since` (YYYY-MM-DD; all when None), on queue `low`."""
    from datetime import date

    return fx.load_fx_history(date.fromisoformat(since) if since else None)
