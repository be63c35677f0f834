"""Periodic jobs declared as data and reconciled with rq-scheduler on start.

Each declared job gets an id derived from its definition. On start the scheduler
cancels every Folio cron job whose id is not declared any more and adds the
missing ones, so restarts (or two schedulers starting together) never leave
duplicates. rq-scheduler's own lock keeps two running schedulers from
enqueueing the same tick twice; `refresh_prices` holds a cycle lock as well.
"""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

from flask import current_app
from rq_scheduler import Scheduler

from webapp.services import cache

log = logging.getLogger(__name__)
ID_PREFIX = "folio-cron-"


@dataclass(frozen=True)
class Periodic:
    name: str
    func: str
    cron: str
    queue: str = "default"
    timeout: int = 900

    @property
    def id(self) -> str:
        digest = hashlib.sha256(f"{self.func}|{self.cron}|{self.queue}|{self.timeout}".encode()).hexdigest()[:10]
        return f"{ID_PREFIX}{self.name}-{digest}"


def declared() -> list[Periodic]:
    cfg = current_app.config
    return [
        Periodic("refresh_prices", "workers.prices.refresh_prices", cfg["PRICE_REFRESH_CRON"]),
        Periodic("revalue_portfolios", "workers.portfolios.revalue_portfolios", cfg["FULL_REVALUATION_CRON"]),
        Periodic("evaluate_alerts", "workers.alerts.evaluate_alerts", cfg["ALERT_CRON"], timeout=120),
        Periodic("stale_price_alerts", "workers.alerts.evaluate_stale_alerts", cfg["USER_ALERTS_STALE_CRON"],
                 timeout=300),
        Periodic("alert_digests", "workers.alerts.send_digests", cfg["ALERT_DIGEST_CRON"], timeout=600),
        Periodic("refresh_fx", "workers.fx.refresh_fx", cfg["FX_REFRESH_CRON"], timeout=120),
    ]


def scheduler(interval: float = 5) -> Scheduler:
    return Scheduler(connection=cache.get_redis(), interval=interval)


def reconcile(sched: Scheduler) -> list[str]:
    """Make the registered cron jobs equal the declared ones. Returns the ids kept."""
    wanted = {p.id: p for p in declared()}
    for job in sched.get_jobs():
        if job.id.startswith(ID_PREFIX) and job.id not in wanted:
            log.info("cancelling cron job %s (no longer declared)", job.id)
            sched.cancel(job)
            job.delete()
    registered = {job.id for job in sched.get_jobs()}
    for pid, p in wanted.items():
        if pid not in registered:
            log.info("registering cron job %s (%s)", pid, p.cron)
            sched.cron(p.cron, func=p.func, id=pid, queue_name=p.queue, timeout=p.timeout, result_ttl=3600)
    return sorted(wanted)
