"""Job of monitoring: evaluate the operator alert rules (stale prices, failing providers, jobs)."""
from __future__ import annotations

from webapp.services import monitoring
from workers.context import job


@job
def evaluate_alerts() -> dict[str, bool]:
    return monitoring.evaluate_alerts()
