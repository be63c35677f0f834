"""`python -m bench.coverage`: is every held instrument priced every cycle, on the free providers?

250 users holding 1,000 distinct instruments (US, London, Xetra, AMFI scheme codes, crypto),
the default provider chain pointed at `bench.market` (each provider's declared free-tier
limit enforced, 429 past it), the real stack (Redis, an RQ worker, gunicorn), and six
consecutive refresh cycles. During the second cycle a newcomer adds 50 holdings of
instruments nobody held through the web form, as a person would.

Time runs SCALE times faster (default 60): a cycle every 600/SCALE seconds, and every
provider's limit window divided by SCALE on both sides (the market and the app's declared
PROVIDER_<NAME>_RATE_LIMIT), so a cycle spends its limits in the same proportion as in
real time. Printed per cycle: instruments held, still fresh, due, refreshed, failed,
skipped for budget, and requests per provider against its budget; then PASS/FAIL for

- every cycle refreshes 100 % of its due instruments,
- every holding added through the form has a price within 10 s,
- a cycle costs at most 40 requests for 1,000 instruments (the baseline: one request per
  instrument, as the adapters asked before batching, is 1,000),
- and the market refused no request (no 429).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import requests
import sqlalchemy as sa

from webapp import embedded

from . import database
from .market import LIMITS, newcomers, universe
from .stack import BIN, ROOT, Stack, wait_http

PREFIX = "folio-coverage:"
SECRET = "folio-coverage-secret"
TARGET_REQUESTS = 40
TARGET_NEW_HOLDING_SECONDS = 10.0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.coverage", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=int, default=250)
    ap.add_argument("--instruments", type=int, default=1000)
    ap.add_argument("--holdings", type=int, default=10, help="holdings per user")
    ap.add_argument("--cycles", type=int, default=6)
    ap.add_argument("--added", type=int, default=50, help="holdings added through the web form")
    ap.add_argument("--scale", type=float, default=float(os.environ.get("BENCH_TIME_SCALE") or 60))
    ap.add_argument("--results", default=str(ROOT / "bench" / "results"))
    args = ap.parse_args(argv)
    started = datetime.now(timezone.utc)
    configured = os.environ.get("DATABASE_URL")
    kind = "postgresql" if configured and configured.startswith("postgresql") else "sqlite"
    out_dir = Path(args.results) / f"{started:%Y%m%dT%H%M%SZ}-{kind}-coverage"
    out_dir.mkdir(parents=True, exist_ok=True)
    stack = Stack(logs=out_dir)
    try:
        return run(args, configured, out_dir, stack)
    finally:
        stack.stop_all()
        if os.environ.get("BENCH_KEEP_DB") != "1":
            database.drop(configured)


def run(args, configured: str | None, out_dir: Path, stack: Stack) -> int:
    app_url, db_label = database.prepare(configured, out_dir.parent)
    cycle_seconds = 600 / args.scale
    print(f"Folio price coverage: {args.users} users x {args.holdings} holdings over {args.instruments:,} "
          f"instruments, {args.cycles} cycles, time x{args.scale:g} (a cycle every {cycle_seconds:g} s)")
    print(f"  database {db_label}")
    redis_url = stack.redis()
    port = embedded.free_port()
    stack.start("market", [str(BIN / "python"), "-m", "bench.market", str(port), f"{args.scale:g}",
                           str(args.instruments)], env=dict(os.environ))
    market = f"http://127.0.0.1:{port}"
    wait_http(f"{market}/_bench/stats", 20, lambda: stack.check("market"))

    env = {k: v for k, v in os.environ.items() if not k.startswith(("PROVIDER_", "PRICE_PROVIDERS", "FX_"))}
    env.update(DATABASE_URL=app_url, REDIS_URL=redis_url, REDIS_PREFIX=PREFIX, SECRET_KEY=SECRET, FOLIO_DEMO="0",
               FLASK_APP="wsgi:app", LOG_LEVEL=os.environ.get("BENCH_LOG_LEVEL") or "WARNING",
               SESSION_COOKIE_SECURE="0", PRICE_SKIP_CLOSED_MARKETS="1")
    for name, (calls, period) in LIMITS.items():
        env[f"PROVIDER_{name.upper()}_URL"] = f"{market}/{name}"
        env[f"PROVIDER_{name.upper()}_RATE_LIMIT"] = f"{calls}/{period / args.scale:g}"
    stack.env = env
    os.environ.update(env)  # this process reads Redis through the app too
    from webapp import create_app

    app = create_app()
    database.migrate(app)
    print(f"  chain    {app.config['PRICE_PROVIDERS']}  (declared limits / {args.scale:g}: "
          + ", ".join(f"{n} {c}/{p / args.scale:g}s" for n, (c, p) in LIMITS.items()) + ")")

    symbols_file = out_dir / "symbols.txt"
    symbols_file.write_text("".join(f"{s},{t}\n" for s, t in universe(args.instruments)))
    flask = [str(BIN / "python"), "-m", "flask"]
    seeded = subprocess.run(flask + ["demo", "population", "--users", str(args.users), "--instruments",
                                     str(args.instruments), "--holdings", str(args.holdings), "--symbols",
                                     str(symbols_file)], cwd=ROOT, env=env, capture_output=True, text=True)
    if seeded.returncode != 0:
        raise RuntimeError(seeded.stdout + seeded.stderr)
    print(f"  seeded   {seeded.stdout.strip()}")
    stack.worker()
    web = stack.gunicorn("web", "wsgi:app", workers=2)
    subprocess.run(flask + ["fx", "refresh", "--sync"], cwd=ROOT, env=env, capture_output=True, text=True)

    from webapp.services import cache, jobs

    cycles: list[dict] = []
    added: dict[str, float] = {}
    adder: threading.Thread | None = None
    print()
    print(f"  {'cycle':<6}{'held':>6}{'fresh':>7}{'due':>6}{'refr.':>7}{'failed':>8}{'budget':>8}{'cover':>8}"
          f"{'requests':>10}  per provider (requests/budget)")
    for n in range(args.cycles):
        t0 = time.monotonic()
        if n:
            requests.post(f"{market}/_bench/move", params={"fraction": "0.05", "seed": str(n)}, timeout=10)
        with app.app_context():
            before = (cache.coverage_history(1) or [None])[0]
            jobs.enqueue("default", "workers.prices.refresh_prices")
        if n == 1 and args.added:
            adder = threading.Thread(target=_add_through_form, args=(web, args.added, added), daemon=True)
            adder.start()
        record = _wait_for_cycle(app, before, timeout=max(60.0, 3 * cycle_seconds), alive=lambda: stack.check("worker"))
        cycles.append(record)
        _print_cycle(n + 1, record)
        time.sleep(max(0.0, t0 + cycle_seconds - time.monotonic()))
    if adder is not None:
        adder.join(60)

    latencies = _priced_after(app, added)
    stats = requests.get(f"{market}/_bench/stats", timeout=10).json()
    (out_dir / "coverage.json").write_text(json.dumps({"cycles": cycles, "added": latencies, "market": stats},
                                                      indent=1, default=str))
    print()
    print("  market: " + ", ".join(f"{p} {s['requests']} requests ({s['refused']} refused)"
                                   for p, s in stats.items() if s["requests"]))
    full = all(c["due"] == c["refreshed"] for c in cycles)
    most = max((_requests(c) for c in cycles), default=0)
    worst = max(latencies.values(), default=float("inf")) if latencies else float("inf")
    unpriced = [s for s, v in latencies.items() if v is None]
    refused = sum(s["refused"] for s in stats.values())
    shares = ", ".join(f"{c['refreshed']}/{c['due']}" for c in cycles)
    checks = [
        (f"every cycle refreshes 100% of due instruments ({shares})", full),
        (f"{len(added)} holdings added through the form priced within {TARGET_NEW_HOLDING_SECONDS:g} s "
         f"(slowest {('%.1f s' % worst) if not unpriced else 'never: ' + ', '.join(unpriced[:5])})",
         len(added) == args.added and not unpriced and worst <= TARGET_NEW_HOLDING_SECONDS),
        (f"requests per cycle at most {TARGET_REQUESTS} (worst {most}; one request per instrument would be "
         f"{cycles[0]['held'] if cycles else 0}: {most / max(1, cycles[0]['held'] if cycles else 1):.3f}x of it)",
         most <= TARGET_REQUESTS),
        (f"no request refused by the market (429s: {refused})", refused == 0),
    ]
    print()
    for text, ok in checks:
        print(f"  {'PASS' if ok else 'FAIL'}  {text}")
    print(f"  results and logs: {out_dir}")
    return 0 if all(ok for _, ok in checks) else 1


def _wait_for_cycle(app, before: dict | None, timeout: float, alive) -> dict:
    """The coverage record of the cycle that ends after `before` (the newest record until then)."""
    from webapp.services import cache

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive()
        with app.app_context():
            newest = (cache.coverage_history(1) or [None])[0]
        if newest is not None and newest != before:
            return newest
        time.sleep(0.1)
    raise RuntimeError(f"no cycle finished within {timeout:g}s")


def _requests(record: dict) -> int:
    return sum(int(p.get("requests") or 0) for p in record.get("providers", {}).values())


def _print_cycle(n: int, c: dict) -> None:
    per = ", ".join(f"{name} {p['requests']}/{'∞' if p.get('budget') is None else p['budget']}"
                    for name, p in sorted(c.get("providers", {}).items()) if p.get("requests") or p.get("planned"))
    print(f"  {n:<6}{c['held']:>6}{c['still_fresh']:>7}{c['due']:>6}{c['refreshed']:>7}{c['failed']:>8}"
          f"{c['skipped_budget']:>8}{c['coverage']:>8.1%}{_requests(c):>10}  {per}")


def _add_through_form(base: str, n: int, added: dict[str, float]) -> None:
    """A newcomer registers, opens an account and adds n holdings, one form post each."""
    s = requests.Session()
    token = _token(s.get(f"{base}/auth/register", timeout=10).text)
    s.post(f"{base}/auth/register", data={"csrf_token": token, "email": "newcomer@folio.load",
                                          "password": "newcomer-password-1", "confirm": "newcomer-password-1"}, timeout=10)
    token = _token(s.get(f"{base}/accounts/", timeout=10).text)
    r = s.post(f"{base}/accounts/", data={"csrf_token": token, "name": "Newcomer", "kind": "brokerage"},
               allow_redirects=False, timeout=10)
    if r.status_code != 302:
        raise RuntimeError(f"could not create the newcomer's account: {r.status_code} {r.text[:300]}")
    account = r.headers["Location"]
    account = account if account.startswith("http") else f"{base}{account}"
    for symbol in newcomers(n):
        r = s.post(f"{account}/holdings", data={"csrf_token": token, "symbol": symbol, "asset_type": "stock",
                                                "quantity": "3"}, allow_redirects=False, timeout=10)
        if r.status_code not in (200, 302, 303):
            raise RuntimeError(f"adding {symbol} failed: {r.status_code} {r.text[:300]}")
        added[symbol] = time.time()


def _token(page: str) -> str:
    m = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    if m is None:
        raise RuntimeError("no CSRF token on the page")
    return m.group(1)


def _priced_after(app, added: dict[str, float]) -> dict[str, float | None]:
    """Seconds from each form post to the first stored quote of its instrument (None: never)."""
    from webapp.extensions import db
    from webapp.models import Instrument, Quote

    if not added:
        return {}
    since = datetime.fromtimestamp(min(added.values()) - 1, timezone.utc)
    deadline = time.monotonic() + TARGET_NEW_HOLDING_SECONDS + 5
    while True:
        with app.app_context():
            # fetched since the form posts: a backfill's daily closes carry their own, older dates
            rows = db.session.execute(
                sa.select(Instrument.symbol, sa.func.min(Quote.fetched_at))
                .join(Quote, Quote.instrument_id == Instrument.id)
                .where(Instrument.symbol.in_(list(added)), Quote.fetched_at >= since)
                .group_by(Instrument.symbol)).all()
        first = {s: t for s, t in rows}
        if len(first) == len(added) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    return {s: (round(max(0.0, first[s].timestamp() - at), 2) if s in first else None) for s, at in added.items()}


if __name__ == "__main__":
    sys.exit(main())
