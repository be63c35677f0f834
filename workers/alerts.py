"""Jobs of alerting: the operator alert rules (stale prices, failing providers, jobs); users' alert
webhooks and the sweep of their stale-price rules."""
from __future__ import annotations

from webapp.services import monitoring
from workers.context import job


@job
def evaluate_alerts() -> dict[str, bool]:
    return monitoring.evaluate_alerts()


@job
def deliver_webhook(user_id: int, url: str, payload: dict) -> str:
    """A user alert's webhook (raises on failures worth a retry: RQ retries with a backoff)."""
    from webapp.services import webhooks

    return webhooks.deliver(user_id, url, payload)


@job
def evaluate_stale_alerts() -> dict:
    """Every user's stale-price rules: a price that stopped moving triggers no recompute."""
    from webapp.services import alerts

    return alerts.evaluate(None, kinds=["price_stale"])


@job
def send_digests(at: str | None = None) -> int:
    """The daily digests due this hour (UTC), or in the hour of `at` (an ISO time)."""
    from datetime import datetime

    from webapp.services import digest

    return digest.send_due(datetime.fromisoformat(at) if at else None)
