"""Periodic jobs declared as data and reconciled with rq-scheduler on start.

Each declared job gets an id derived from its definition. On start the scheduler
cancels every Folio cron job whose id is not declared any more and adds the
missing ones, so restarts (or two schedulers starting together) never leave
duplicates. rq-scheduler's lock keeps two running schedulers from enqueueing the
same tick twice; FolioScheduler makes that lock an owned one (a scheduler whose
lock expired under it cannot delete another's) and gives each tick's job RQ
retries, so a job whose worker is killed is run again (`bench/cluster` measures
both). `refresh_prices` holds a cycle lock as well.
"""
from __future__ import annotations

import hashlib
import logging
import uuid
from dataclasses import dataclass

from flask import current_app
from rq_scheduler import Scheduler

from webapp.services import cache
from webapp.services.jobs import retry_for

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


_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"


class FolioScheduler(Scheduler):
    """rq-scheduler with an owned lock and RQ retries for every tick of a Folio cron job."""

    def acquire_lock(self):
        # rq-scheduler stores a timestamp and deletes the key unconditionally: a scheduler
        # paused past the lock's expiry would delete the lock another one holds by then
        self._lock_token = uuid.uuid4().hex
        self._lock_acquired = bool(self.connection.set(self.scheduler_lock_key, self._lock_token,
                                                       ex=int(self._interval) + 10, nx=True))
        return self._lock_acquired

    def remove_lock(self):
        if self._lock_acquired:
            self.connection.eval(_RELEASE, 1, self.scheduler_lock_key, getattr(self, "_lock_token", ""))
            self._lock_acquired = False

    def enqueue_job(self, job):
        # a cron entry is one RQ job enqueued again at every tick: a retry spent by one tick
        # (abandoned by a killed worker, or a transient error) must not be missing at the next
        if job.id.startswith(ID_PREFIX):
            retry = retry_for(job.func_name)
            job.retries_left, job.retry_intervals = retry.max, retry.intervals
        return super().enqueue_job(job)


def scheduler(interval: float = 5) -> Scheduler:
    return FolioScheduler(connection=cache.get_redis(), interval=interval)


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
