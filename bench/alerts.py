"""`python -m bench.alerts`: the cost of alert evaluation after a price tick (issue 14).

A population of 100,000 users with 10 holdings each over 10,000 instruments (bench/population.py)
and 3 alert rules per user of mixed kinds -- price_above / price_below / day_change_beyond on an
instrument the user holds, portfolio_above / portfolio_below -- with thresholds near the current
figures, all written in bulk to a private SQLite file (DATABASE_URL: a private schema of that
PostgreSQL) with a Redis of its own (or REDIS_URL's, under a prefix of its own, when it answers).

Every instrument is priced and every user valued once (the full recompute of a running
installation). Then, `--rounds` times, a tick: `--tick-percent` % of the instruments move (up to
±6 %; a new quote row and the Redis quote, yesterday's price as previous close), and

`recompute_portfolios(instrument_ids=moved)` runs, what a refresh cycle runs: the holders selected,
summed and cached, then their alert rules judged (webapp/services/alerts.py: the moved quotes and
the totals just computed are observed, the SQL brings back only the rules that may fire or
re-arm, Python judges those exactly, what fires is written and notified in-app). The two parts
are timed apart within that one call (its `alerts` timing).

Printed: both times (median of the rounds), their ratio, the holders' rules, those judged and
fired, and PASS when the evaluation adds under 10 % to the tick's recompute time.
"""
from __future__ import annotations

import argparse
import gc
import random
import statistics
import sys
import time
from datetime import datetime, timezone
from decimal import Decimal

from . import population
from .isolated import isolated_app

TARGET = 0.10  # evaluation time / recompute time
KINDS = ("price_above", "price_below", "day_change_beyond", "portfolio_above", "portfolio_below")
MOVE = 0.06  # a moving price changes by up to ±6 %
Q4 = Decimal("0.0001")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.alerts", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=int, default=100_000)
    ap.add_argument("--symbols", type=int, default=10_000)
    ap.add_argument("--holdings-per-user", type=int, default=10)
    ap.add_argument("--rules-per-user", type=int, default=3)
    ap.add_argument("--tick-percent", type=float, default=1.0)
    ap.add_argument("--rounds", type=int, default=3, help="ticks measured (the medians are judged)")
    args = ap.parse_args(argv)
    with isolated_app("alerts") as (_app, label):
        return _measure(args, label)


def _measure(args, label: str) -> int:
    import sqlalchemy as sa

    from webapp.extensions import db
    from webapp.models import AlertRule
    from webapp.services.portfolio.read_model import holders_of
    from webapp.services.portfolio.recompute import recompute_portfolios

    rng = random.Random(20261207)
    t0 = time.perf_counter()
    pop = population.generate(db.engine, args.users, args.symbols, args.holdings_per_user)
    kinds = _rules(db.engine, pop, args.rules_per_user, rng)
    written = time.perf_counter() - t0
    n_rules = sum(kinds.values())
    print(f"Alert evaluation benchmark: {args.users:,} users × {args.rules_per_user} rules "
          f"({n_rules:,} rules), {args.symbols:,} instruments, {args.holdings_per_user} holdings per user, "
          f"database {label}, {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC")
    print(f"  written in bulk: {pop.holdings:,} holdings, {n_rules:,} rules "
          f"({', '.join(f'{k} {n:,}' for k, n in kinds.items())}) in {written:.1f} s")
    t = time.perf_counter()
    warm = recompute_portfolios(alerts=False)
    print(f"  warm-up: every user valued once ({warm['users']:,} users) in {time.perf_counter() - t:.1f} s")
    gc.collect()
    gc.freeze()  # what the setup left behind is no garbage collector's work in a worker's tick

    prices = {iid: price for iid, (_, price) in pop.prices.items()}
    moved_n = max(1, round(args.symbols * args.tick_percent / 100))
    rounds = []
    for n in range(1, args.rounds + 1):
        moved = _tick(prices, pop, moved_n, rng)
        holders = holders_of(moved)
        in_scope = db.session.scalar(sa.select(sa.func.count()).select_from(AlertRule)
                                     .where(AlertRule.user_id.in_(holders))) if holders else 0
        db.session.remove()
        stats = recompute_portfolios(instrument_ids=moved)  # what a refresh cycle runs: alerts judged too
        evaluate_s = stats["alerts"]
        recompute_s = stats["seconds"] - evaluate_s
        if stats["users"] != len(holders):
            raise AssertionError(f"recomputed {stats['users']} users, but {len(holders)} hold a moved instrument")
        counts = {k: stats.get(f"alerts_{k}", 0) for k in ("rules", "fired", "rearmed")}
        rounds.append((recompute_s, evaluate_s, counts, len(holders), in_scope))
        print(f"  tick {n}: {moved_n:,} instruments moved, {len(holders):,} holders: recompute {recompute_s:.3f} s, "
              f"alert evaluation {evaluate_s:.3f} s ({evaluate_s / recompute_s:.1%}); "
              f"{in_scope:,} rules of the holders, {counts['rules']:,} judged after the SQL narrowing, "
              f"{counts['fired']:,} fired, {counts['rearmed']:,} re-armed")
    recompute_med = statistics.median(r[0] for r in rounds)
    evaluate_med = statistics.median(r[1] for r in rounds)
    ratio = evaluate_med / recompute_med
    judged = sum(r[2]["rules"] for r in rounds)
    in_scope = sum(r[4] for r in rounds)
    fired = sum(r[2]["fired"] for r in rounds)
    ok = ratio < TARGET
    print(f"  {'recompute of the tick, without alert evaluation (median of ' + str(len(rounds)) + ')':<66} "
          f"{recompute_med:8.3f} s")
    print(f"  {'alert evaluation of the same users (median of ' + str(len(rounds)) + ')':<66} "
          f"{evaluate_med:8.3f} s")
    print(f"  rules of the holders: {in_scope:,} in {len(rounds)} ticks ({in_scope / len(rounds):,.0f} per tick), "
          f"judged in Python: {judged:,}, fired: {fired:,}")
    print(f"  overhead: alert evaluation / recompute = {ratio:.1%}   target < {TARGET:.0%}   "
          f"{'PASS' if ok else 'FAIL'}")
    return 0


def _rules(engine, pop, per_user: int, rng: random.Random) -> dict[str, int]:
    """`per_user` rules for every user but the dashboard one, thresholds near the current figures
    (none holds before the first tick), in bulk."""

    from webapp.models import AlertRule

    from .population import _bulk_insert

    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT a.owner_id, MIN(h.instrument_id), MAX(h.instrument_id), SUM(h.quantity * q.price) "
            "FROM accounts a JOIN holdings h ON h.account_id = a.id "
            "JOIN quotes q ON q.instrument_id = h.instrument_id "
            f"WHERE a.owner_id <= {int(pop.users)} GROUP BY a.owner_id ORDER BY a.owner_id").all()
    now = datetime.now(timezone.utc).replace(microsecond=0)
    out, counts = [], {k: 0 for k in KINDS}
    for uid, lo, hi, total in rows:
        total = Decimal(str(total))
        for j in range(per_user):
            kind = KINDS[(uid * per_user + j) % len(KINDS)]
            iid = None
            if kind in ("price_above", "price_below", "day_change_beyond"):
                iid = lo if j % 2 == 0 else hi
            price = pop.prices[iid][1] if iid else None
            if kind == "price_above":
                threshold = price * Decimal(1 + rng.uniform(0.001, MOVE))
            elif kind == "price_below":
                threshold = price * Decimal(1 - rng.uniform(0.001, MOVE))
            elif kind == "day_change_beyond":
                threshold = Decimal(rng.uniform(0.5, MOVE * 100))
            elif kind == "portfolio_above":
                threshold = total * Decimal(1 + rng.uniform(0.0005, 0.01))
            else:
                threshold = total * Decimal(1 - rng.uniform(0.0005, 0.01))
            counts[kind] += 1
            out.append({"id": len(out) + 1, "user_id": uid, "kind": kind, "instrument_id": iid,
                        "threshold": threshold.quantize(Q4), "hours": None, "in_app": True, "email": False,
                        "webhook": False, "webhook_url": None, "cooldown_minutes": 60, "armed": True,
                        "enabled": True, "last_fired_at": None, "created_at": now})
    with engine.begin() as conn:
        _bulk_insert(conn, AlertRule.__table__, out)
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SELECT setval(pg_get_serial_sequence('alert_rules', 'id'), "
                                 "(SELECT max(id) FROM alert_rules))")
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE alert_rules")
        else:
            conn.exec_driver_sql("ANALYZE")
    return {k: n for k, n in counts.items() if n}


def _tick(prices: dict[int, Decimal], pop, n: int, rng: random.Random) -> list[int]:
    """n instruments move: a new quote row each and the Redis quote, as a refresh cycle stores them."""
    from webapp.domain.valuation import PriceInfo
    from webapp.extensions import db
    from webapp.models import Quote
    from webapp.services import cache

    from .population import _bulk_insert

    now = datetime.now(timezone.utc)
    moved = sorted(rng.sample(sorted(prices), n))
    rows, quotes = [], {}
    for iid in moved:
        old = prices[iid]
        new = max(Q4, (old * Decimal(1 + rng.uniform(-MOVE, MOVE))).quantize(Q4))
        prices[iid] = new
        rows.append({"instrument_id": iid, "price": new, "currency": "USD", "as_of": now, "fetched_at": now,
                     "source": "tiingo", "previous_close": old})
        quotes[pop.prices[iid][0]] = PriceInfo(price=new, currency="USD", as_of=now, source="tiingo",
                                               previous_close=old)
    with db.engine.begin() as conn:
        _bulk_insert(conn, Quote.__table__, rows)
    cache.write_quotes(quotes, now)
    return moved


if __name__ == "__main__":
    sys.exit(main())
