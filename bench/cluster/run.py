"""The cluster run: start everything, poll through a cycle, kill a web and a worker, report."""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import requests

from bench import database, population
from bench.run import AGENT, _move, _sessions_for
from bench.stack import ROOT, Stack, _children, wait_http
from webapp import embedded

from . import probe, setup
from .pollers import Pollers

BIN = Path(sys.executable).parent
QUEUES = ("high", "default", "low")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.cluster", description=__doc__)
    ap.add_argument("--users", type=int, default=2000)
    ap.add_argument("--symbols", type=int, default=400)
    ap.add_argument("--holdings-per-user", type=int, default=10)
    ap.add_argument("--pollers", type=int, default=500)
    ap.add_argument("--poll-seconds", type=float, default=2.0, help="each poller's interval (the product: 10)")
    ap.add_argument("--provider-delay", type=float, default=1.0, help="seconds per provider batch request")
    ap.add_argument("--kill-after", type=float, default=1.5, help="seconds into the refresh job")
    ap.add_argument("--heartbeat", type=int, default=5, help="JOB_HEARTBEAT_SECONDS of the workers")
    ap.add_argument("--maintenance", type=int, default=10, help="WORKER_MAINTENANCE_SECONDS of the workers")
    ap.add_argument("--probe-every", type=float, default=3.0, help="seconds between forced probe ticks")
    ap.add_argument("--kill", choices=("both", "web", "none"), default="both",
                    help="what to SIGKILL mid-cycle: a web and a worker (the run), a web only (quick), nothing")
    ap.add_argument("--timeout", type=float, default=300.0, help="longest wait for the cycle")
    ap.add_argument("--results", default=str(ROOT / "bench" / "results"))
    ap.add_argument("--database-name", default=setup.DATABASE, help="the private PostgreSQL database (dropped after)")
    args = ap.parse_args(argv)
    started = datetime.now(timezone.utc)
    out = Path(args.results) / f"{started:%Y%m%dT%H%M%SZ}-cluster"
    out.mkdir(parents=True, exist_ok=True)
    stack = Stack(logs=out)
    setup.DATABASE = args.database_name
    pg = setup.postgres_url()
    claimed = None
    try:
        db_url = setup.create_database(pg) if pg else setup.sqlite_url(out)
        shared = setup.shared_redis()
        claimed = setup.claim_redis(shared) if shared else None
        redis_url = claimed[0] if claimed else stack.redis()
        return Cluster(args, stack, out, db_url, redis_url).run()
    finally:
        _stop_all(stack)
        if pg:
            setup.drop_database(pg)
        if claimed:
            setup.release_redis(claimed[1])


class Cluster:
    def __init__(self, args, stack: Stack, out: Path, db_url: str, redis_url: str):
        self.args, self.stack, self.out, self.db_url, self.redis_url = args, stack, out, db_url, redis_url
        self.forced: list[float] = []
        self.stop_probe = threading.Event()

    def run(self) -> int:
        a = self.args
        from webapp import create_app

        app = self.app = create_app({"SQLALCHEMY_DATABASE_URI": self.db_url, "REDIS_URL": self.redis_url,
                                     "REDIS_PREFIX": setup.PREFIX, "SECRET_KEY": setup.SECRET, "LOG_LEVEL": "WARNING"})
        database.migrate(app)
        from webapp.extensions import db

        with app.app_context():
            pop = population.generate(db.engine, a.users, a.symbols, a.holdings_per_user)
            kind = db.engine.dialect.name
        print(f"Folio cluster run: {kind}, Redis {self.redis_url.rsplit('@', 1)[-1]}, {pop.users + 1:,} users, "
              f"{pop.holdings:,} holdings, {a.symbols} instruments; {os.cpu_count()} CPUs, load {_loadavg()}")
        market = self.out / "market.json"
        market.write_text(json.dumps({s: [format(p, "f"), pop.as_of.isoformat()] for s, p in pop.prices.values()}))
        replay_port = embedded.free_port()
        self.stack.start("replay", [str(BIN / "python"), "-m", "bench.replay_server", str(market),
                                    str(replay_port), str(a.provider_delay)], env=dict(os.environ))
        replay = f"http://127.0.0.1:{replay_port}"
        wait_http(f"{replay}/_bench/stats", 20, lambda: self.stack.check("replay"))
        self.stack.env = setup.cluster_env(self.db_url, self.redis_url, replay, a.heartbeat, a.maintenance)
        t0 = time.monotonic()
        webs = [self._web(f"web{i}") for i in (1, 2)]
        proxy_port = embedded.free_port()
        self.stack.start("proxy", [str(BIN / "python"), "-m", "bench.cluster.proxy", str(proxy_port), *webs])
        proxy = f"http://127.0.0.1:{proxy_port}"
        wait_http(f"{proxy}/_proxy/stats", 60, lambda: self.stack.check("proxy"))
        for i in (1, 2, 3):
            self.stack.start(f"worker{i}", [str(BIN / "python"), "-m", "flask", "worker"])
        for i, url in enumerate(webs, 1):  # started together: on a loaded machine each takes a while
            wait_http(f"{url}/", 180, lambda: self.stack.check(f"web{i}"), any_status=True)
        with app.app_context():
            self._register_probe()
        for i in (1, 2):
            self.stack.start(f"scheduler{i}", [str(BIN / "python"), "-m", "flask", "scheduler", "--interval", "1"])
        print(f"  2 web (gunicorn, 2 sync workers each) behind the proxy, 3 workers, 2 schedulers: "
              f"started in {time.monotonic() - t0:.1f} s")
        with app.app_context():
            return self._measure(pop, proxy, replay)

    def _web(self, name: str) -> str:
        """gunicorn with Folio's gunicorn.conf.py and 2 sync workers (waited for later)."""
        port = embedded.free_port()
        self.stack.start(name, [str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", "--workers", "2",
                                "--bind", f"127.0.0.1:{port}", "wsgi:app"])
        return f"http://127.0.0.1:{port}"

    # ---- the run ------------------------------------------------------------------------------
    def _measure(self, pop, proxy: str, replay: str) -> int:
        from rq.job import Job

        from webapp.services import cache

        a, r = self.args, cache.get_redis()
        t = time.monotonic()
        self._wait(lambda: cache.last_cycle() and self._idle(), 300, "the first cycle (enqueued by a scheduler at start)")
        print(f"  first cycle (a scheduler prices a fresh install at start) done in {time.monotonic() - t:.1f} s")
        cookies = [c.split("=", 1)[1] for _, c in _sessions_for(self.app, min(a.pollers, pop.users))]
        host, port = proxy.split("//")[1].split(":")
        pollers = Pollers(host, int(port), [f"session={c}" for c in cookies], a.poll_seconds, AGENT)
        pollers.start()
        self._wait(lambda: pollers.showing == len(pollers.pollers), 120, "every poller showing its portfolio")
        print(f"  {len(pollers.pollers)} pollers showing their portfolio, every {a.poll_seconds:g} s through the proxy")
        prober = threading.Thread(target=self._probe_ticks, daemon=True)
        prober.start()
        time.sleep(2 * a.poll_seconds)
        runs_before = cache.job_stats().get("workers.prices.refresh_prices", (0,))[0]

        moved = _move(replay, 1.0, seed=3)
        pollers.mark()
        cron_id = self._cron_id("refresh_prices")
        t_tick = time.time()
        r.zadd("rq:scheduler:scheduled_jobs", {cron_id: t_tick - 1})  # the tick is due: both schedulers see it
        print(f"\ncycle: {moved} instruments moved; the refresh tick made due at +0.0 s")
        killed = {}
        if a.kill != "none":
            killed = self._kill_mid_job(cron_id, t_tick, worker=a.kill == "both")
        job = Job.fetch(cron_id, connection=r)

        def cycle_done():
            job.refresh()
            rec = (job.return_value() or {}).get("recompute_job") if job.get_status() == "finished" else None
            return rec and Job.fetch(rec, connection=r).get_status() == "finished" and \
                len(pollers.updated) == len(pollers.pollers)

        self._wait(cycle_done, a.timeout, "the cycle (refresh, recompute, every poller updated)")
        recompute = Job.fetch(job.return_value()["recompute_job"], connection=r)
        jobs_done = recompute.ended_at.replace(tzinfo=timezone.utc).timestamp() - t_tick
        shown = max(pollers.updated) - t_tick
        print(f"  refresh + recompute done at +{jobs_done:.1f} s; every poller showing the new values at "
              f"+{shown:.1f} s")
        time.sleep(2 * a.poll_seconds)
        self.stop_probe.set()
        prober.join(60)
        self._wait(lambda: r.llen(probe.RUNS_KEY) >= len(self.forced), 30, "the last probe tick")
        time.sleep(2)  # a duplicate of the last tick would run now
        self._wait(self._idle, 120, "the queues to drain")
        pollers.stop()
        runs = cache.job_stats().get("workers.prices.refresh_prices", (0,))[0] - runs_before
        if killed.get("worker"):
            killed["rerun_started"] = round(job.started_at.replace(tzinfo=timezone.utc).timestamp() - t_tick, 2)
            print(f"  the killed refresh job ran again from +{killed['rerun_started']:.1f} s (abandoned: no "
                  f"heartbeat for {self.args.heartbeat} + 60 s; retried at a worker's registry cleanup)")
        return self._report(pollers, requests.get(f"{proxy}/_proxy/stats", timeout=10).json(), killed,
                            job, runs, jobs_done, shown)

    def _kill_mid_job(self, cron_id: str, t_tick: float, worker: bool) -> dict:
        from rq import Worker

        from webapp.services import cache

        r = cache.get_redis()
        running = {}

        def find():
            for w in Worker.all(connection=r):
                if w.get_current_job_id() == cron_id:
                    running["pid"] = w.pid
                    return True
            return False

        self._wait(find, 60, "the refresh job to start")
        started_at = time.time()
        time.sleep(self.args.kill_after)
        name = next(n for n, p in self.stack.procs.items() if p.pid == running["pid"])
        if worker:
            horses = _children(running["pid"])  # the work horse: a process group of its own (RQ's setpgrp)
            for pid in [running["pid"], *horses]:
                os.kill(pid, signal.SIGKILL)
        os.killpg(self.stack.procs["web1"].pid, signal.SIGKILL)  # gunicorn's master and its workers
        t_kill = time.time()
        for n in (name, "web1") if worker else ("web1",):
            self.stack.procs.pop(n).wait(10)
        print(f"  refresh job started on {name} at +{started_at - t_tick:.1f} s; SIGKILL to "
              f"{name + ' (and its work horse) and to ' if worker else ''}web1 at +{t_kill - t_tick:.1f} s, "
              f"{t_kill - started_at:.1f} s into the job")
        return {"worker": name if worker else None, "web": "web1", "at": round(t_kill - t_tick, 2),
                "job_started": round(started_at - t_tick, 2)}

    # ---- duplicate cron enqueues: the probe ---------------------------------------------------
    def _register_probe(self) -> None:
        import warnings

        from webapp.services.schedule import scheduler

        warnings.filterwarnings("ignore", category=FutureWarning, module="rq_scheduler")
        sched = scheduler()
        sched.cron("0 0 1 1 *", func=f"{probe.__name__}.tick", id=probe.JOB_ID, queue_name="high",
                   result_ttl=600)

    def _probe_ticks(self) -> None:
        from webapp.services import cache

        with self.app.app_context():
            r = cache.get_redis()
        while not self.stop_probe.is_set():
            now = time.time()
            self.forced.append(now)
            r.zadd("rq:scheduler:scheduled_jobs", {probe.JOB_ID: now - 1})
            # the next tick only once this one ran: a tick still queued would be pushed twice
            deadline = now + 30
            while r.llen(probe.RUNS_KEY) < len(self.forced) and time.time() < deadline:
                time.sleep(0.05)
            self.stop_probe.wait(self.args.probe_every)

    def _probe_counts(self) -> list[int]:
        from webapp.services import cache

        runs = sorted(float(x) for x in cache.get_redis().lrange(probe.RUNS_KEY, 0, -1))
        bounds = self.forced + [float("inf")]
        return [sum(1 for x in runs if bounds[i] <= x < bounds[i + 1]) for i in range(len(self.forced))]

    # ---- helpers ------------------------------------------------------------------------------
    def _cron_id(self, name: str) -> str:
        from webapp.services.schedule import scheduler

        return next(j.id for j in scheduler().get_jobs() if j.id.startswith(f"folio-cron-{name}-"))

    def _idle(self) -> bool:
        from rq import Queue
        from rq.registry import ScheduledJobRegistry, StartedJobRegistry

        from webapp.services import cache

        r = cache.get_redis()
        return all(Queue(q, connection=r).count == 0 and StartedJobRegistry(q, connection=r).count == 0
                   and ScheduledJobRegistry(q, connection=r).count == 0 for q in QUEUES)

    def _wait(self, cond, seconds: float, what: str) -> None:
        deadline = time.monotonic() + seconds
        while not cond():
            for name in list(self.stack.procs):
                self.stack.check(name)
            if time.monotonic() > deadline:
                raise RuntimeError(f"timed out after {seconds:g} s waiting for {what}")
            time.sleep(0.2)

    def _report(self, pollers, proxy_stats: dict, killed: dict, job, runs: int, jobs_done: float,
                shown: float) -> int:
        from .report import report

        return report(self, pollers, proxy_stats, killed, job, runs, jobs_done, shown)


def _stop_all(stack: Stack) -> None:
    """SIGTERM to every process group at once, then SIGKILL to what is left after 15 s."""
    procs = [p for p in stack.procs.values() if p.poll() is None]
    for p in procs:
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 15
    for p in procs:
        try:
            p.wait(max(0.1, deadline - time.monotonic()))
        except Exception:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait(5)
    stack.procs.clear()


def _loadavg() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"
