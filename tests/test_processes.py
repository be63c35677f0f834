"""Real processes: several schedulers and workers at once, a worker killed mid-job, and
many logged-in users polling while a refresh cycle runs."""
from __future__ import annotations

import os
import signal
import statistics
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
import requests
import sqlalchemy as sa
from browser.conftest import _bin, _stop, server_env
from conftest import ROOT
from quick_users import PASSWORD, quick_user
from rq import Queue
from rq.registry import StartedJobRegistry

from webapp import embedded
from webapp.extensions import db
from webapp.models import Account, Holding, Instrument, PortfolioSnapshot, Quote, User


def start(args, env, log_path):
    log = open(log_path, "w")
    return subprocess.Popen(args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def wait_for(condition, timeout, message):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(message)
        time.sleep(0.05)


def seed_population(app, users: int, holdings_each: int, symbols: int) -> None:
    """Users, accounts and holdings inserted in bulk (set-based, like the benchmark)."""
    from quick_users import password_hash

    with app.app_context():
        db.session.execute(sa.insert(Instrument), [
            {"symbol": f"S{i:04d}", "asset_type": "stock", "currency": "USD", "provider_symbols": {}}
            for i in range(symbols)])
        db.session.execute(sa.insert(User), [
            {"email": f"u{i}@example.com", "password_hash": password_hash(PASSWORD), "display_name": "",
             "base_currency": "USD", "session_token": f"t{i}"} for i in range(users)])
        uids = db.session.scalars(sa.select(User.id).order_by(User.id)).all()
        iids = db.session.scalars(sa.select(Instrument.id).order_by(Instrument.id)).all()
        db.session.execute(sa.insert(Account), [{"owner_id": u, "name": "Main", "institution": "", "kind": "brokerage"}
                                                for u in uids])
        aids = db.session.scalars(sa.select(Account.id).order_by(Account.id)).all()
        db.session.execute(sa.insert(Holding), [
            {"account_id": a, "instrument_id": iids[(n * 7 + k * 13) % len(iids)], "quantity": Decimal(k + 1)}
            for n, a in enumerate(aids) for k in range(holdings_each)])
        db.session.commit()


@pytest.fixture
def env(database_url, redis_url):
    e = server_env(database_url, redis_url)
    e["LOG_LEVEL"] = "INFO"
    return e


def test_two_schedulers_and_three_workers_run_exactly_one_cycle_per_tick(app, env, redis_client, tmp_path):
    seed_population(app, users=20, holdings_each=3, symbols=10)
    procs = []
    try:
        for i in range(2):
            procs.append(start([_bin("python"), "-m", "flask", "scheduler", "--interval", "0.2"], env,
                               tmp_path / f"scheduler{i}.log"))
        for i in range(3):
            procs.append(start([_bin("python"), "-m", "flask", "worker"], env, tmp_path / f"worker{i}.log"))
        with app.app_context():
            from webapp.services import cache
            from webapp.services.schedule import scheduler

            sched = scheduler()
            # both schedulers start with no cycle ever run: exactly one "first cycle" between them
            wait_for(lambda: cache.job_stats().get("workers.prices.refresh_prices", (0,))[0] >= 1, 30,
                     "no first refresh cycle ran")
            time.sleep(1.0)
            assert cache.job_stats()["workers.prices.refresh_prices"][0] == 1
            cron = [j for j in sched.get_jobs() if j.id.startswith("folio-cron-refresh_prices")]
            assert len(cron) == 1
            # make the next tick due now, as if ten minutes had passed
            redis_client.zadd(sched.scheduled_jobs_key, {cron[0].id: time.time() - 1})
            wait_for(lambda: cache.job_stats()["workers.prices.refresh_prices"][0] >= 2, 30, "the tick did not run")
            time.sleep(1.5)  # several scheduler passes later: still one run for that tick
            assert cache.job_stats()["workers.prices.refresh_prices"][0] == 2
            assert len([j for j in sched.get_jobs() if j.id.startswith("folio-cron-refresh_prices")]) == 1
            counts = db.session.execute(sa.select(Quote.instrument_id, sa.func.count()).group_by(Quote.instrument_id)).all()
            assert counts and all(n <= 2 for _, n in counts)  # no duplicated quote rows
    finally:
        _stop(*procs)


def test_a_worker_killed_in_the_middle_of_a_recompute_leaves_nothing_half_done(app, env, redis_client, tmp_path):
    seed_population(app, users=3000, holdings_each=5, symbols=200)
    with app.app_context():
        from webapp.services.pricing.refresh import fetch_and_store, held_instruments

        fetch_and_store(held_instruments())  # quotes exist; nobody has been valued yet
    worker = start([_bin("python"), "-m", "flask", "worker"], env, tmp_path / "worker.log")
    try:
        with app.app_context():
            from webapp.services import jobs

            job = jobs.enqueue("default", "workers.portfolios.recompute_portfolios")
        started = StartedJobRegistry("default", connection=redis_client)
        wait_for(lambda: job.id in started.get_job_ids() or job.get_status(refresh=True) == "finished", 30,
                 "the recompute never started")

        def some_written():
            with app.app_context():
                n = db.session.scalar(sa.select(sa.func.count()).select_from(PortfolioSnapshot))
                db.session.remove()
            return n > 0 or job.get_status(refresh=True) == "finished"

        wait_for(some_written, 60, "the recompute wrote nothing")  # kill it part-way through
        # the work horse runs in a process group of its own (RQ calls setpgrp): kill it too
        for pid in [worker.pid, *_children(worker.pid)]:
            os.kill(pid, signal.SIGKILL)
        worker.wait(10)
    finally:
        _stop(worker)
    # the next cycle's recompute completes the work
    with app.app_context():
        from workers.portfolios import recompute_portfolios

        done = db.session.scalar(sa.select(sa.func.count(sa.distinct(PortfolioSnapshot.user_id))))
        print(f"\nkilled after {done} of 3000 users were snapshotted")

        recompute_portfolios()
        snaps = db.session.execute(
            sa.select(PortfolioSnapshot.user_id, sa.func.count()).group_by(PortfolioSnapshot.user_id)).all()
        assert len(snaps) == 3000  # every user valued...
        assert {n for _, n in snaps} == {1}  # ...once: no duplicate, no half-written snapshot
        from webapp.services import cache

        raw, _ = cache.read_portfolio(db.session.scalar(sa.select(sa.func.max(User.id))))
        assert raw is not None


def _children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = open(f"/proc/{entry}/stat").read()
            except OSError:
                continue
            if int(stat[stat.rfind(")") + 2:].split()[1]) == pid:
                out.append(int(entry))
    return out


LOAD_USERS = int(os.environ.get("LOAD_USERS", 60))
LOAD_SECONDS = float(os.environ.get("LOAD_SECONDS", 8))
LOAD_POLL = float(os.environ.get("LOAD_POLL_SECONDS", 1))


def test_users_polling_while_a_cycle_runs_see_no_errors_and_correct_values(app, env, redis_client, tmp_path):
    """Reduced in `make test`; `make soak` runs 500 users polling every 10 s for 60 s."""
    seed_population(app, users=LOAD_USERS, holdings_each=5, symbols=50)
    port = embedded.free_port()
    web = start([_bin("gunicorn"), "-c", "gunicorn.conf.py", "--workers", "2", "--bind", f"127.0.0.1:{port}",
                 "wsgi:app"], env, tmp_path / "web.log")
    worker = start([_bin("python"), "-m", "flask", "worker"], env, tmp_path / "worker.log")
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _answers(base), 30, "gunicorn did not start")
        sessions = list(ThreadPoolExecutor(8).map(lambda i: _login(base, f"u{i}@example.com"), range(LOAD_USERS)))
        latencies: list[float] = []
        statuses: list[int] = []
        stop = time.monotonic() + LOAD_SECONDS

        def poll_loop(s: requests.Session):
            version = "0"
            while time.monotonic() < stop:
                t0 = time.perf_counter()
                r = s.get(f"{base}/portfolio/summary", params={"v": version}, timeout=10)
                latencies.append(time.perf_counter() - t0)
                statuses.append(r.status_code)
                if r.status_code == 200:
                    version = r.text.split('data-version="', 1)[1].split('"', 1)[0]
                time.sleep(LOAD_POLL)

        threads = [threading.Thread(target=poll_loop, args=(s,)) for s in sessions]
        for t in threads:
            t.start()
        time.sleep(min(1.0, LOAD_SECONDS / 4))
        with app.app_context():
            from webapp.services import jobs

            jobs.enqueue("default", "workers.prices.refresh_prices")  # a full cycle under load
        for t in threads:
            t.join(LOAD_SECONDS + 30)
        p99 = statistics.quantiles(latencies, n=100)[98]
        print(f"\nload: {LOAD_USERS} users, {len(statuses)} polls, p50 {statistics.median(latencies) * 1000:.1f} ms,"
              f" p99 {p99 * 1000:.1f} ms, statuses {sorted(set(statuses))}")
        assert not [s for s in statuses if s >= 500]
        assert set(statuses) <= {200, 204}
        # every user's final value equals Σ quantity × price, recomputed here
        with app.app_context():
            wait_for(lambda: Queue("default", connection=redis_client).count == 0
                     and not StartedJobRegistry("default", connection=redis_client).count, 30, "cycle not done")
            expected = _expected_totals()
        for i in (0, LOAD_USERS // 2, LOAD_USERS - 1):
            html = sessions[i].get(f"{base}/").text
            from webapp.web.filters import money

            assert money(expected[f"u{i}@example.com"], "USD") in html
    finally:
        _stop(web, worker)


def _answers(base):
    try:
        return requests.get(f"{base}/healthz", timeout=1).ok
    except requests.RequestException:
        return False


def _login(base, email):
    s = requests.Session()
    page = s.get(f"{base}/auth/login", timeout=10).text
    token = page.split('name="csrf_token" type="hidden" value="', 1)[1].split('"', 1)[0]
    r = s.post(f"{base}/auth/login", data={"csrf_token": token, "email": email, "password": PASSWORD},
               allow_redirects=False, timeout=10)
    assert r.status_code == 302, r.text[:300]
    return s


def _expected_totals():
    latest: dict[int, tuple] = {}
    for iid, price, as_of in db.session.execute(sa.select(Quote.instrument_id, Quote.price, Quote.as_of)):
        if iid not in latest or as_of > latest[iid][0]:
            latest[iid] = (as_of, price)
    totals: dict[str, Decimal] = {}
    for email, qty, iid in db.session.execute(
        sa.select(User.email, Holding.quantity, Holding.instrument_id)
        .join(Account, Account.owner_id == User.id).join(Holding, Holding.account_id == Account.id)
    ):
        totals[email] = totals.get(email, Decimal(0)) + qty * latest[iid][1]
    return totals
