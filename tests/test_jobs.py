"""Workers and the scheduler, run for real against Redis: RQ workers in burst mode,
rq-scheduler instances, and the cron registration they share."""
from __future__ import annotations

import threading
import time

import sqlalchemy as sa
from conftest import PREFIX, login, make_user, post
from rq import Queue, SimpleWorker

from webapp.extensions import db
from webapp.models import Instrument, Quote


def add_holding(app, symbol="NVDA", qty="4"):
    make_user(app, "alice@example.com")
    client = app.test_client()
    login(client)
    url = post(client, "/accounts/", {"name": "Main", "kind": "brokerage"}).headers["Location"]
    assert post(client, f"{url}/holdings", {"symbol": symbol, "asset_type": "stock", "quantity": qty}).status_code == 302
    return client


def test_new_holding_is_priced_at_once_by_a_high_priority_job(app, redis_client):
    client = add_holding(app)
    assert "fetching price…" in client.get("/").get_data(as_text=True)
    high = Queue("high", connection=redis_client)
    assert [j.func_name for j in high.jobs] == ["workers.prices.refresh_instant"]
    with app.app_context():
        SimpleWorker([high], connection=redis_client).work(burst=True)
        quote = db.session.scalar(sa.select(Quote).join(Instrument).where(Instrument.symbol == "NVDA"))
    assert quote is not None and quote.source == "simulated"
    html = client.get("/").get_data(as_text=True)
    assert "fetching price…" not in html
    assert "simulated" in html


def test_an_instrument_with_a_price_is_not_fetched_again(app, redis_client):
    add_holding(app)
    high = Queue("high", connection=redis_client)
    with app.app_context():
        SimpleWorker([high], connection=redis_client).work(burst=True)
    other = make_user(app, "bob@example.com")
    c = app.test_client()
    login(c, "bob@example.com")
    url = post(c, "/accounts/", {"name": "B", "kind": "brokerage"}).headers["Location"]
    post(c, f"{url}/holdings", {"symbol": "NVDA", "asset_type": "stock", "quantity": "1"})
    assert high.count == 0
    assert "fetching price…" not in c.get("/").get_data(as_text=True)


def test_a_full_cycle_through_the_worker_updates_every_holder(app, redis_client):
    add_holding(app, "AMD", "3")
    with app.app_context():
        from webapp.services import jobs

        jobs.enqueue("default", "workers.prices.refresh_prices")
        SimpleWorker([Queue("default", connection=redis_client)], connection=redis_client).work(burst=True)
        from webapp.services import cache

        assert cache.last_cycle()["fetched"] == "1"
        uid = db.session.scalar(sa.text("select id from users"))
        raw, token = cache.read_portfolio(uid)
    assert b'"symbol":"AMD"' in raw and b'"price":null' not in raw


def _schedulers(app, n, interval=0.2):
    from webapp.services.schedule import scheduler

    with app.app_context():
        return [scheduler(interval) for _ in range(n)]


def test_restarts_and_two_schedulers_leave_exactly_one_cron_registration(app):
    from webapp.services.schedule import reconcile

    with app.app_context():
        for sched in _schedulers(app, 3):  # three starts, e.g. a restart and a second machine
            reconcile(sched)
        jobs = [j for j in _schedulers(app, 1)[0].get_jobs() if j.id.startswith("folio-cron-refresh_prices")]
    assert len(jobs) == 1
    assert jobs[0].meta["cron_string"] == "*/10 * * * *"
    assert jobs[0].func_name == "workers.prices.refresh_prices"


def test_a_changed_schedule_replaces_the_old_registration(app, make_app):
    from webapp.services.schedule import reconcile

    with app.app_context():
        reconcile(_schedulers(app, 1)[0])
    other = make_app(PRICE_REFRESH_CRON="*/5 * * * *")
    with other.app_context():
        reconcile(_schedulers(other, 1)[0])
        jobs = [j for j in _schedulers(other, 1)[0].get_jobs() if j.id.startswith("folio-cron-refresh_prices")]
    assert [j.meta["cron_string"] for j in jobs] == ["*/5 * * * *"]


def test_two_running_schedulers_enqueue_a_due_tick_once(app, redis_client):
    from webapp.services.schedule import reconcile

    s1, s2 = _schedulers(app, 2)
    with app.app_context():
        reconcile(s1)
        reconcile(s2)
        (job,) = [j for j in s1.get_jobs() if j.id.startswith("folio-cron-refresh_prices")]
        redis_client.zadd(s1.scheduled_jobs_key, {job.id: time.time() - 1})  # the tick is due now
    barrier = threading.Barrier(2)

    def run(sched):
        with app.app_context():
            barrier.wait()
            sched.enqueue_jobs() if sched.acquire_lock() else None
            sched.remove_lock()

    threads = [threading.Thread(target=run, args=(s,)) for s in (s1, s2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    default = Queue("default", connection=redis_client)
    assert [j.func_name for j in default.jobs] == ["workers.prices.refresh_prices"]
    # and the cron entry moved on to its next tick, still exactly one
    with app.app_context():
        assert len([j for j in s1.get_jobs() if j.id.startswith("folio-cron-refresh_prices")]) == 1


def test_the_scheduler_command_prices_a_fresh_install_at_once(app, redis_client):
    result = app.test_cli_runner().invoke(args=["scheduler", "--burst", "--interval", "0.1"])
    assert result.exit_code == 0, result.output
    assert "enqueued one now" in result.output
    assert [j.func_name for j in Queue("default", connection=redis_client).jobs] == ["workers.prices.refresh_prices"]
    # a second scheduler starting at the same time does not enqueue another
    result = app.test_cli_runner().invoke(args=["scheduler", "--burst", "--interval", "0.1"])
    assert "enqueued one now" not in result.output
    assert Queue("default", connection=redis_client).count == 1


def test_an_instrument_with_only_a_stale_price_is_fetched_again(app, redis_client):
    from datetime import datetime, timedelta, timezone

    from conftest import set_price

    add_holding(app, "NVDA")
    high = Queue("high", connection=redis_client)
    high.empty()
    # more than INSTANT_REFRESH_DEDUPE_SECONDS later (the request is forgotten), the price is stale
    redis_client.delete(*redis_client.keys(f"{PREFIX}instant:*"))
    set_price(app, "NVDA", "100", as_of=datetime.now(timezone.utc) - timedelta(days=9))
    make_user(app, "bob@example.com")
    c = app.test_client()
    login(c, "bob@example.com")
    url = post(c, "/accounts/", {"name": "B", "kind": "brokerage"}).headers["Location"]
    post(c, f"{url}/holdings", {"symbol": "NVDA", "asset_type": "stock", "quantity": "1"})
    assert [j.func_name for j in high.jobs] == ["workers.prices.refresh_instant"]


def test_a_scheduler_whose_lock_expired_cannot_delete_the_lock_another_now_holds(app, redis_client):
    s1, s2 = _schedulers(app, 2)
    assert s1.acquire_lock()
    assert not s2.acquire_lock()
    redis_client.delete(s1.scheduler_lock_key)  # s1 paused past the lock's expiry
    assert s2.acquire_lock()
    s1.remove_lock()  # s1 wakes up and finishes its pass
    assert redis_client.exists(s2.scheduler_lock_key)  # rq-scheduler's own remove_lock deleted it
    s2.remove_lock()
    assert not redis_client.exists(s2.scheduler_lock_key)


def test_every_tick_of_a_cron_job_is_enqueued_with_its_retries(app, redis_client):
    from webapp.services.schedule import reconcile

    (sched,) = _schedulers(app, 1)
    with app.app_context():
        reconcile(sched)
        (job,) = [j for j in sched.get_jobs() if j.id.startswith("folio-cron-refresh_prices")]
        job.retries_left = 0  # spent by an earlier tick whose worker was killed
        job.save()
        redis_client.zadd(sched.scheduled_jobs_key, {job.id: time.time() - 1})
        sched.enqueue_jobs()
    (queued,) = Queue("default", connection=redis_client).jobs
    assert queued.id == job.id and queued.retries_left == 3 and queued.retry_intervals == [10, 30, 60]


def test_a_lock_held_by_a_dead_rq_execution_is_taken_over(app, redis_client):
    from rq.registry import StartedJobRegistry

    from webapp.services import cache, jobs

    started = StartedJobRegistry("default", connection=redis_client)
    with app.app_context():
        assert cache.acquire_lock("cycle", 900, "default|job1:exec1", jobs.execution_alive)
        redis_client.zadd(started.key, {"job1:exec1": time.time() + 60})  # its worker's heartbeat is current
        assert cache.acquire_lock("cycle", 900, "default|job1:exec2", jobs.execution_alive) is None
        assert cache.acquire_lock("cycle", 900) is None
        redis_client.zrem(started.key, "job1:exec1")  # RQ found it abandoned (no heartbeat) and retries the job
        token = cache.acquire_lock("cycle", 900, "default|job1:exec2", jobs.execution_alive)
        assert token and token.startswith("default|job1:exec2#")
        assert cache.acquire_lock("cycle", 900) is None  # a lock without an owner is never taken over
        cache.release_lock("cycle", token)
        plain = cache.acquire_lock("cycle", 900)
        assert plain and cache.acquire_lock("cycle", 900, "default|job2:exec1", jobs.execution_alive) is None


def test_an_idle_worker_wakes_for_registry_cleanup_at_every_maintenance_interval(redis_client):
    from webapp.services.jobs import FolioWorker

    w = FolioWorker(["default"], connection=redis_client, maintenance_interval=10)
    assert w.dequeue_timeout == 10  # RQ's own: worker_ttl - 15 = 405 s asleep in BLPOP
    assert FolioWorker(["default"], connection=redis_client, maintenance_interval=900).dequeue_timeout == 405
