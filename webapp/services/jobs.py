"""RQ queues and the worker class used by `flask worker`."""
from __future__ import annotations

import time

from flask import current_app, has_app_context
from rq import Queue, Retry, Worker
from rq.registry import FailedJobRegistry, StartedJobRegistry

from webapp import observability
from webapp.extensions import db
from webapp.services import cache

QUEUES = ("high", "default", "low")
TRANSIENT_RETRY = Retry(max=3, interval=[10, 30, 60])
# a mail server can be away longer than a price provider: back off over about two hours
MAIL_RETRY = Retry(max=5, interval=[30, 120, 600, 1800, 3600])
RETRIES = {"workers.mail.deliver": MAIL_RETRY}
# the settings that may replace those intervals (seconds between tries; the number of tries stays)
RETRY_SETTINGS = {"workers.mail.deliver": "MAIL_RETRY_INTERVALS"}
DEFAULT_RETRY_SETTING = "TRANSIENT_RETRY_INTERVALS"


def retry_for(func: str) -> Retry:
    """The RQ Retry of a job: RETRIES (else TRANSIENT_RETRY), its intervals from the app's setting
    (MAIL_RETRY_INTERVALS, TRANSIENT_RETRY_INTERVALS) when one is set."""
    retry = RETRIES.get(func, TRANSIENT_RETRY)
    intervals = (current_app.config.get(RETRY_SETTINGS.get(func, DEFAULT_RETRY_SETTING))
                 if has_app_context() else None)
    if not intervals:
        return retry
    return Retry(max=retry.max, interval=[int(i) for i in intervals])


def queue(name: str = "default") -> Queue:
    return Queue(name, connection=cache.get_redis())


def enqueue(queue_name: str, func: str, *args, job_id: str | None = None, timeout: int = 600, **kwargs):
    """Enqueue by dotted name, with a timeout and retries for transient errors (RETRIES: per job)."""
    return queue(queue_name).enqueue(
        func,
        *args,
        job_id=job_id,
        job_timeout=timeout,
        retry=retry_for(func),
        result_ttl=3600,
        failure_ttl=7 * 24 * 3600,
        **kwargs,
    )


def queue_stats() -> dict[str, tuple[int, int]]:
    """queue name -> (jobs waiting, failed jobs kept), in one round trip."""
    r = cache.get_redis()
    pipe = r.pipeline(transaction=False)
    for name in QUEUES:
        q = Queue(name, connection=r)
        pipe.llen(q.key)
        pipe.zcard(FailedJobRegistry(name, connection=r).key)
    counts = pipe.execute()
    return {name: (counts[2 * i], counts[2 * i + 1]) for i, name in enumerate(QUEUES)}


# the RQ execution this process (a work horse) runs: "<queue>|<job id>:<execution id>"
_execution: str | None = None


def current_execution() -> str | None:
    """The execution this work horse runs, None outside one (a CLI command, a test calling a job)."""
    return _execution


def execution_alive(owner: str) -> bool:
    """Whether RQ still counts that execution as running: its entry in the queue's
    StartedJobRegistry, whose score the worker's heartbeat keeps in the future. A worker
    killed mid-job stops the heartbeat; once the score has passed, RQ's cleanup treats the
    job as abandoned (and retries it), so a lock it held may be taken over."""
    name, _, composite = owner.partition("|")
    if not composite:
        return True  # not an execution: nothing to judge it by, the lock's TTL decides
    score = cache.get_redis().zscore(StartedJobRegistry(name, connection=cache.get_redis()).key, composite)
    return score is not None and (score < 0 or score > time.time())


class FolioWorker(Worker):
    """A forking worker whose work horse never reuses the parent's DB connections,
    and which records every job's duration and outcome."""

    @property
    def dequeue_timeout(self) -> int:
        # RQ cleans its registries (and so retries the jobs of a killed worker) only between
        # two dequeues; an idle worker would otherwise sleep in BLPOP for worker_ttl - 15 s (405 s)
        return max(1, min(self.worker_ttl - 15, int(self.maintenance_interval)))

    def perform_job(self, job, queue, execution):  # runs in the forked child
        global _execution
        _execution = f"{queue.name}|{execution.composite_key}"
        db.engine.dispose(close=False)
        started = time.perf_counter()
        ok = super().perform_job(job, queue, execution)
        observability.job_finished(job.func_name, job.id, time.perf_counter() - started, ok)
        return ok
