"""Job of the pricing service: fetch exchange rates and revalue who holds another currency."""
from __future__ import annotations

from webapp.services.pricing import fx
from workers.context import job


@job
def refresh_fx() -> dict:
    return fx.refresh_fx()
