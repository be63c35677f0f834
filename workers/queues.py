"""RQ queues and the worker class used by `flask worker`."""
from __future__ import annotations

from rq import Queue, Retry, Worker

from webapp import live
from webapp.extensions import db

QUEUES = ("high", "default", "low")
TRANSIENT_RETRY = Retry(max=3, interval=[10, 30, 60])


def queue(name: str = "default") -> Queue:
    return Queue(name, connection=live.get_redis())


def enqueue(queue_name: str, func: str, *args, job_id: str | None = None, timeout: int = 600, **kwargs):
    """Enqueue by dotted name, with a timeout and retries for transient errors."""
    return queue(queue_name).enqueue(
        func,
        *args,
        job_id=job_id,
        job_timeout=timeout,
        retry=TRANSIENT_RETRY,
        result_ttl=3600,
        failure_ttl=7 * 24 * 3600,
        **kwargs,
    )


class FolioWorker(Worker):
    """A forking worker whose work horse never reuses the parent's DB connections."""

    def perform_job(self, job, queue, execution):  # runs in the forked child
        db.engine.dispose(close=False)
        return super().perform_job(job, queue, execution)
