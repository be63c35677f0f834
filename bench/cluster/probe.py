"""The witness of duplicate cron enqueues: a job registered with rq-scheduler like Folio's
periodic jobs, whose every run records when its job was enqueued. The harness makes its
tick due again and again while both schedulers race for it; two runs recording the same
tick mean two enqueues."""
from __future__ import annotations

from rq import get_current_job

RUNS_KEY = "folio-cluster:probe-runs"
JOB_ID = "bench-cluster-probe"


def tick() -> None:
    job = get_current_job()
    job.connection.rpush(RUNS_KEY, f"{job.enqueued_at.timestamp():.6f}")
