"""The cluster run's table: what the pollers got, what became of the jobs, what the schedulers did."""
from __future__ import annotations

import json
import statistics


def _jobs_lost(killed: dict, job) -> dict:
    """Jobs RQ gave up on (moved to a failed registry as abandoned), jobs still marked running
    after the queues drained, and the killed job when it never finished."""
    from rq.registry import FailedJobRegistry, StartedJobRegistry

    from webapp.services import cache

    from .run import QUEUES

    r = cache.get_redis()
    abandoned, raised, stuck = [], [], []
    for q in QUEUES:
        for jid in FailedJobRegistry(q, connection=r).get_job_ids():
            text = (r.hget(f"rq:job:{jid}", "exc_info") or b"").decode(errors="replace")
            (abandoned if "Abandoned" in text or not text else raised).append(jid)
        stuck += StartedJobRegistry(q, connection=r).get_job_ids()
    job.refresh()
    rerun = job.get_status() == "finished"
    lost = len(abandoned) + len(stuck) + (0 if rerun or not killed.get("worker") else 1)
    return {"lost": lost, "abandoned": abandoned, "stuck": stuck, "failed_raised": raised,
            "killed_job_finished": rerun, "killed_job_status": str(job.get_status())}


def report(cluster, pollers, proxy: dict, killed: dict, job, runs: int, jobs_done: float, shown: float) -> int:
    totals = pollers.totals
    jobs = _jobs_lost(killed, job)
    counts = cluster._probe_counts()
    duplicates = sum(max(0, n - 1) for n in counts)
    missed = sum(1 for n in counts if n == 0)
    lat = sorted(totals.latencies)
    p50 = statistics.median(lat) * 1000 if lat else 0.0
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000 if lat else 0.0
    rows = [
        ("requests served (answers the pollers received)", f"{totals.requests:,}",
         ", ".join(f"{s}: {n:,}" for s, n in sorted(totals.statuses.items())), None),
        ("5xx answers", f"{totals.server_errors}", "target 0", totals.server_errors == 0),
        ("pollers' connection errors", f"{totals.connection_errors}", "the proxy stays up: expected 0",
         totals.connection_errors == 0),
        ("GETs the proxy sent again to the other web", f"{proxy['retried']}",
         f"502s given: {proxy['bad_gateway']}; served by web: "
         + ", ".join(f"{v['served']:,}" for v in proxy["backends"].values()), None),
        ("poll latency through the proxy, from the tick", f"p50 {p50:.1f} ms", f"p99 {p99:.1f} ms", None),
        ("jobs lost", f"{jobs['lost']}", f"target 0; the killed refresh job {jobs['killed_job_status']}"
         + (" (re-run by RQ's abandoned-job cleanup)" if killed.get("worker") and jobs["killed_job_finished"] else ""),
         jobs["lost"] == 0),
        ("jobs failed with an error (not lost)", f"{len(jobs['failed_raised'])}", "", None),
        ("duplicate cron enqueues", f"{duplicates}",
         f"target 0; {len(counts)} ticks raced for by 2 schedulers, {missed} missed; refresh_prices ran "
         f"{runs}× for its tick", duplicates == 0 and missed == 0 and runs == 1),
        ("cycle: tick → refresh and recompute done", f"{jobs_done:.1f} s", "", None),
        ("cycle: tick → every poller shows the new values", f"{shown:.1f} s",
         f"{len(pollers.pollers)} pollers", None),
    ]
    print(f"\n{'figure':<50} {'value':>12}   detail")
    for name, value, detail, ok in rows:
        verdict = "" if ok is None else ("PASS  " if ok else "FAIL  ")
        print(f"{name:<50} {value:>12}   {verdict}{detail}")
    failed = [name for name, _, _, ok in rows if ok is False]
    print(f"\n{'FAIL: ' + ', '.join(failed) if failed else 'PASS: every target met'}"
          f"{'  (nothing killed: --kill none)' if not killed else ''}")
    result = {"args": vars(cluster.args), "killed": killed, "rows": [list(r) for r in rows], "jobs": jobs,
              "probe_counts": counts, "proxy": proxy, "statuses": totals.statuses}
    (cluster.out / "results.json").write_text(json.dumps(result, indent=2, default=str))
    print(f"results and logs: {cluster.out}")
    return 1 if failed else 0
