"""`flask worker` and `flask scheduler`: the long-running processes, inside the app context."""
from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from webapp.services import cache


@click.command("worker")
@with_appcontext
@click.option("--burst", is_flag=True, help="Exit when the queues are empty.")
@click.argument("queues", nargs=-1)
def worker_command(burst: bool, queues: tuple[str, ...]) -> None:
    """Run an RQ worker (queues high, default, low) inside the app context."""
    from webapp.services.jobs import QUEUES, FolioWorker

    names = list(queues) or list(QUEUES)
    cfg = current_app.config
    w = FolioWorker(names, connection=cache.get_redis(), job_monitoring_interval=cfg["JOB_HEARTBEAT_SECONDS"],
                    maintenance_interval=cfg["WORKER_MAINTENANCE_SECONDS"])
    w.work(burst=burst, with_scheduler=True, logging_level=current_app.config["LOG_LEVEL"])


@click.command("scheduler")
@with_appcontext
@click.option("--interval", default=5.0, show_default=True, help="Seconds between scheduler checks.")
@click.option("--burst", is_flag=True, help="Reconcile, enqueue what is due, and exit.")
def scheduler_command(interval: float, burst: bool) -> None:
    """Run rq-scheduler with Folio's periodic jobs (reconciled on start)."""
    import warnings

    from webapp.services import jobs
    from webapp.services.schedule import reconcile, scheduler

    # crontab warns about a future change of its default; rq-scheduler passes naive local times
    warnings.filterwarnings("ignore", category=FutureWarning, module="rq_scheduler")
    sched = scheduler(interval)
    kept = reconcile(sched)
    click.echo("periodic jobs: " + ", ".join(kept))
    if not cache.last_cycle():  # a fresh install: price everything now, not at the next tick
        if cache.acquire_lock("first-cycle", 600):
            jobs.enqueue("default", "workers.prices.refresh_prices")
            click.echo("no refresh cycle has run yet: enqueued one now")
    from webapp.services.pricing.fx import request_refresh

    if request_refresh():  # rates now, not at the next hourly tick (deduped across schedulers)
        click.echo("enqueued an exchange-rate fetch")
    sched.run(burst=burst)
