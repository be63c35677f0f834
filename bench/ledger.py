"""`python -m bench.ledger`: the performance service on a ledger of 2,000 activities over 10
years in USD, EUR and GBP (base USD), with daily closes of 30 instruments and daily exchange
rates for those 10 years, written to the database in bulk (a private SQLite file by default,
a private schema of DATABASE_URL's PostgreSQL) and a Redis of its own (or REDIS_URL's, under
a prefix of its own, when it answers).

Measured: `returns` for ALL and 1Y and `report` for ALL and 1Y, each cold (the user's cached
series dropped) and warm (cached; the median of several calls). Targets: warm < 200 ms,
cold < 2 s, printed with their ratio to the target. Cold and warm answers must be equal.
"""
from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
import time
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

from .isolated import isolated_app

WARM_MS = 200.0
COLD_S = 2.0
USER = 1
CURRENCIES = ("USD", "EUR", "GBP")
ACCOUNT_OF = {"USD": 1, "EUR": 2, "GBP": 3}  # account 1 records cash; account 4 takes USD transfers


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.ledger", description=__doc__)
    ap.add_argument("--activities", type=int, default=2000)
    ap.add_argument("--years", type=int, default=10)
    ap.add_argument("--instruments", type=int, default=30)
    ap.add_argument("--warm-runs", type=int, default=9)
    args = ap.parse_args(argv)
    with isolated_app("ledger") as (_app, label):
        return _measure(args, label)


def _measure(args, label: str) -> int:
    from webapp.services import cache
    from webapp.services.portfolio import performance as pf

    today = datetime.now(timezone.utc).date()
    t0 = time.perf_counter()
    activities, quotes, rates = _generate(args, today)
    written = time.perf_counter() - t0
    first = min(a.date for a in activities)
    print(f"Ledger performance benchmark: {len(activities):,} activities over {args.years} years, "
          f"{args.instruments} instruments in {', '.join(CURRENCIES)} (base USD), database {label}, "
          f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC")
    print(f"  written in bulk: {quotes:,} daily closes, {rates:,} exchange rates ({written:.1f} s)")
    periods = {key: pf.period_range(key, today, first) for key in ("ALL", "1Y")}
    calls = {
        f"returns {key}": (lambda p=p: pf.returns(activities, "USD", p.start, p.end, user_id=USER))
        for key, p in periods.items()}
    calls.update({
        f"report {key}": (lambda p=p: pf.report(activities, "USD", p.start, p.end, user_id=USER))
        for key, p in periods.items()})
    ok = True
    for name, call in calls.items():
        cache.forget_performance(USER)
        started = time.perf_counter()
        cold = call()
        cold_s = time.perf_counter() - started
        warm = []
        for _ in range(args.warm_runs):
            started = time.perf_counter()
            answer = call()
            warm.append(time.perf_counter() - started)
            if answer != cold:
                raise AssertionError(f"{name}: the warm answer differs from the cold one")
        warm_ms = statistics.median(warm) * 1000
        ok &= _line(f"{name}, cold (empty cache)", cold_s, COLD_S, "s")
        ok &= _line(f"{name}, warm (median of {len(warm)})", warm_ms, WARM_MS, "ms")
        if name == "report ALL":
            print(f"      value {cold['value_end']} USD, TWR {cold['twr']}, MWR {cold['mwr']}, "
                  f"realized {cold['realized_gain']}, unrealized {cold['unrealized_gain']}, "
                  f"{len(cold['holdings'])} holdings")
    # an activity added halfway back: recomputed from its day, equal to a computation from scratch
    from webapp.domain.ledger import Activity

    middle = first + (today - first) / 2
    edited = activities + [Activity(middle, 1, "deposit", amount=Decimal(1000), currency="USD")]
    p = periods["ALL"]
    started = time.perf_counter()
    incremental = pf.returns(edited, "USD", p.start, p.end, user_id=USER)
    took = time.perf_counter() - started
    if incremental != pf.returns(edited, "USD", p.start, p.end):
        raise AssertionError("the incremental answer differs from a computation from scratch")
    print(f"  {'returns ALL after an activity added on ' + middle.isoformat():<52} {took:.3f} s   "
          f"(recomputed from that day; equal to a computation from scratch)")
    print(f"  {'all targets met' if ok else 'some targets missed'}")
    return 0


def _line(name: str, value: float, target: float, unit: str) -> bool:
    ok = value < target
    shown = f"{value:.3f} s" if unit == "s" else f"{value:.1f} ms"
    goal = f"{target:g} s" if unit == "s" else f"{target:g} ms"
    print(f"  {name:<40} {shown:>11}   target < {goal:<7} ({value / target:.2f}× the target)   "
          f"{'PASS' if ok else 'FAIL'}")
    return ok


# ---- the synthetic ledger and its market ---------------------------------------------------------


def _generate(args, today: date):
    """Instruments, closes (weekdays) and EUR-based rates in bulk; the activities as values."""
    import sqlalchemy as sa

    from pricing_providers.fx import published
    from webapp.domain.ledger import Activity
    from webapp.domain.splits import Ratio
    from webapp.extensions import db
    from webapp.models import FxRate, Instrument, Quote

    rnd = random.Random(20261201)
    start = today - timedelta(days=365 * args.years)
    days = [start + timedelta(days=n) for n in range((today - start).days + 1)]
    weekdays = [d for d in days if d.weekday() < 5]
    symbols = {f"B{ccy}{n:02d}": ccy for n in range(args.instruments) for ccy in CURRENCIES
               if n % len(CURRENCIES) == CURRENCIES.index(ccy)}
    splits = {(rnd.choice(sorted(symbols)), rnd.choice(weekdays[100:])) for _ in range(3)}
    db.session.execute(sa.insert(Instrument), [{"symbol": s, "currency": c, "asset_type": "stock"}
                                               for s, c in symbols.items()])
    ids = dict(db.session.execute(sa.select(Instrument.symbol, Instrument.id)).all())
    close: dict[str, dict[date, Decimal]] = {}
    rows = []
    for symbol, ccy in symbols.items():
        price, series = rnd.uniform(20, 200), {}
        for d in weekdays:
            price *= math.exp(rnd.gauss(0.0003, 0.015))
            if (symbol, d) in splits:
                price /= 2
            series[d] = Decimal(f"{price:.4f}")
            at = datetime.combine(d, datetime.min.time(), timezone.utc) + timedelta(hours=21)
            rows.append({"instrument_id": ids[symbol], "price": series[d], "currency": ccy, "as_of": at,
                         "fetched_at": at, "source": "bench", "previous_close": None})
        close[symbol] = series
    for n in range(0, len(rows), 5000):
        db.session.execute(sa.insert(Quote), rows[n:n + 5000])
    fx_rows, level = [], {"USD": 1.10, "GBP": 0.85}
    for d in weekdays:
        for quote in level:
            level[quote] *= math.exp(rnd.gauss(0, 0.004))
            fx_rows.append({"base": "EUR", "quote": quote, "rate": Decimal(f"{level[quote]:.6f}"),
                            "as_of": published(d), "source": "bench"})
    db.session.execute(sa.insert(FxRate), fx_rows)
    db.session.commit()

    def price(symbol: str, d: date) -> Decimal:
        return close[symbol][d]

    dates = sorted(rnd.choice(weekdays) for _ in range(args.activities - 1))
    activities = [Activity(weekdays[0], 1, "deposit", amount=Decimal(200000), currency="USD")]
    held: dict[tuple[int, str], int] = {}
    fresh: dict[tuple[int, str], int] = {}  # came in today: a transfer out runs before buys and transfers in
    split_days = sorted((d, s) for s, d in splits)
    previous = None
    for d in dates:
        if d != previous:
            fresh, previous = {}, d
        while split_days and split_days[0][0] <= d:
            sd, s = split_days.pop(0)
            for account in sorted({ACCOUNT_OF[symbols[s]], 4 if symbols[s] == "USD" else 1}):
                activities.append(Activity(sd, account, "split", s, ratio=Ratio(2, 1), currency=symbols[s]))
            for key in [k for k in held if k[1] == s]:
                held[key] *= 2
        if len(activities) >= args.activities:
            break
        kind = rnd.choices(["buy", "sell", "dividend", "interest", "fee", "tax", "deposit", "withdrawal",
                            "transfer"], [45, 20, 14, 3, 3, 4, 5, 2, 4])[0]
        owned = sorted(k for k, q in held.items() if q > 0)
        if kind in ("sell", "dividend", "tax", "transfer") and not owned:
            kind = "buy"
        if kind == "buy":
            symbol = rnd.choice(sorted(symbols))
            ccy = symbols[symbol]
            account = ACCOUNT_OF[ccy]
            q = rnd.randint(1, 60)
            activities.append(Activity(d, account, "buy", symbol, Decimal(q), price(symbol, d), Decimal(1),
                                       currency=ccy))
            held[(account, symbol)] = held.get((account, symbol), 0) + q
            fresh[(account, symbol)] = fresh.get((account, symbol), 0) + q
        elif kind in ("sell", "dividend", "tax"):
            account, symbol = rnd.choice(owned)
            ccy = symbols[symbol]
            if kind == "sell":
                q = rnd.randint(1, held[(account, symbol)])
                activities.append(Activity(d, account, "sell", symbol, Decimal(q), price(symbol, d), Decimal(1),
                                           currency=ccy))
                held[(account, symbol)] -= q
            else:
                amount = (price(symbol, d) * held[(account, symbol)] * Decimal("0.004")).quantize(Decimal("0.01"))
                activities.append(Activity(d, account, kind, symbol, amount=max(amount, Decimal("0.01")),
                                           currency=ccy))
        elif kind == "transfer":
            usd = [k for k in owned if symbols[k[1]] == "USD" and held[k] > fresh.get(k, 0)]
            if not usd:
                continue
            account, symbol = rnd.choice(usd)
            q = rnd.randint(1, held[(account, symbol)] - fresh.get((account, symbol), 0))
            other = 4 if account == 1 else 1
            activities.append(Activity(d, account, "transfer_out", symbol, Decimal(q), currency="USD"))
            activities.append(Activity(d, other, "transfer_in", symbol, Decimal(q), currency="USD"))
            held[(account, symbol)] -= q
            held[(other, symbol)] = held.get((other, symbol), 0) + q
            fresh[(other, symbol)] = fresh.get((other, symbol), 0) + q
        else:
            amount = Decimal(rnd.randint(5, 5000) if kind in ("deposit", "withdrawal") else rnd.randint(1, 50))
            activities.append(Activity(d, 1, kind, amount=amount, currency="USD"))
    return activities[: args.activities], len(rows), len(fx_rows)


if __name__ == "__main__":
    sys.exit(main())
