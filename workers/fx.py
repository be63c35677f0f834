"""Job of the pricing service: fetch exchange rates and revalue who holds another currency."""
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
