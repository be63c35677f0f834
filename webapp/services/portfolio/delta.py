"""Delta ticks: a tick moves the cached summaries of the holders of moved instruments by
Σ quantity × (new price − valued price), read from the moved holdings alone, instead of
valuing every holding of every holder again.

The baseline is a full revaluation (hourly, `FULL_REVALUATION_CRON`): it values everybody
with one snapshot of the prices, records those prices as the *valued* ones and tags every
summary with its epoch (cache/valuation.py). From then on each written quote marks its
symbol dirty; a tick takes the dirty symbols with their prices atomically, applies the
deltas to the summaries still tagged with the epoch (a page or an edit that rewrote a
summary from other prices removed its tag), values the untagged holders in full with the
valued prices plus the moved ones, and only then makes the moved prices the valued ones.
A tick that dies halfway leaves a mark; the next one drops the baseline and ticks value
their holders in full until the next full revaluation. Ticks and full revaluations hold one
lock, so they never interleave.
"""
from __future__ import annotations

import logging
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import NamedTuple, Sequence

import sqlalchemy as sa
from flask import current_app

from webapp.domain.money import EXACT
from webapp.domain.summary import delta_summary, fully_priced
from webapp.extensions import db
from webapp.models import Instrument
from webapp.services import cache
from webapp.services.cache import valuation
from webapp.services.portfolio.read_model import holders_of, recompute_users
from webapp.services.portfolio.snapshots import store_in

log = logging.getLogger(__name__)
LOCK = "valuation"
LOCK_TTL = 900  # a dead job's lock lapses after this long
CHUNK = 2500  # users moved while the writer thread stores the previous chunk
LOCK_WAIT = 60.0  # a job waits this long for another one's tick before valuing its holders in full


class Tick(NamedTuple):
    users: list[int]  # every holder of a moved instrument (the alert rules to judge)
    instrument_ids: list[int]  # the moved instruments (the dirty ones, not just the job's)
    changed: set[int]
    timings: dict


def acquire(wait: float = LOCK_WAIT) -> str | None:
    deadline = time.monotonic() + wait
    while True:
        token = cache.acquire_lock(LOCK, LOCK_TTL)
        if token is not None or time.monotonic() >= deadline:
            return token
        time.sleep(0.02)


def ids_of(symbols: Sequence[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    symbols = list(symbols)
    for start in range(0, len(symbols), 2000):
        out.update(db.session.execute(sa.select(Instrument.symbol, Instrument.id)
                                      .where(Instrument.symbol.in_(symbols[start:start + 2000]))).all())
    return out


def revalue_all(*, snapshot: bool = True, totals: dict | None = None) -> tuple[set[int], dict]:
    """The full revaluation: every user with one snapshot of the prices, which becomes the
    baseline of the delta ticks. Without the lock (a tick running for longer than
    LOCK_WAIT) every user is still valued, only not tagged for deltas."""
    from webapp.services.portfolio.recompute import Prices, recompute_many

    token = acquire()
    if token is None:
        return recompute_many(None, snapshot=snapshot, totals=totals)
    try:
        valuation.begin_full()
        prices = Prices.current()
        epoch = cache.new_version()
        changed, timings = recompute_many(None, snapshot=snapshot, totals=totals, prices=prices, epoch=epoch)
        names = prices.symbols or {}
        valuation.finish_full(epoch, {names[i]: p for i, p in prices.by_id.items() if i in names})
        return changed, timings
    finally:
        cache.release_lock(LOCK, token)


def apply_tick(totals: dict | None = None) -> Tick | list[int] | None:
    """Apply the dirty prices as deltas (`totals`, when given, receives each user's (base
    currency, total, fully priced) for the alerts). Without a baseline: None, or the instrument
    ids a dead tick left half applied (their holders must be valued in full)."""
    token = acquire()
    if token is None:
        return None
    try:
        start = valuation.begin_tick(cache.new_version())
        if start.epoch is None:
            return sorted(ids_of(start.moved).values()) or None
        try:
            return _apply(start.epoch, start.moved, totals)
        except BaseException:
            valuation.drop_baseline()
            raise
    finally:
        cache.release_lock(LOCK, token)


def _apply(epoch: str, moved: dict[str, valuation.Moved], totals: dict | None) -> Tick:
    from webapp.services.portfolio.recompute import Prices, recompute_many

    timings: dict[str, float] = defaultdict(float)
    t = time.perf_counter()
    ids = ids_of(moved)
    deltas: dict[int, tuple[Decimal, str]] = {}
    unknown: list[int] = []  # no valued price (newly priced) or another currency: holders in full
    new_valued: dict[str, tuple[Decimal, str]] = {}
    for symbol, m in moved.items():
        iid = ids.get(symbol)
        if iid is None or m.price is None:
            continue  # gone, or its quote is not in Redis: the valued price stays
        new_valued[symbol] = (m.price, m.currency)
        if m.valued is None or m.valued_currency != m.currency:
            unknown.append(iid)
        else:  # a zero delta too: its holders are the tick's (their alert rules are judged)
            deltas[iid] = (EXACT.subtract(m.price, m.valued), m.currency)
    by_user = account_deltas(deltas)
    full = set(holders_of(unknown)) if unknown else set()
    affected = sorted(set(by_user) | full)
    timings["select"] = time.perf_counter() - t

    db.session.rollback()  # reads done: SQLite's one writer (the snapshots below) must not wait for them
    app = current_app._get_current_object()
    statuses: dict[int, int] = {}
    fx = None
    todo = [u for u in affected if u not in full]
    # chunk by chunk: a writer thread stores one chunk (Redis, snapshots) while the next is moved
    with ThreadPoolExecutor(1, thread_name_prefix="tick") as pool:
        pending = None
        for start in range(0, len(todo), CHUNK):
            t = time.perf_counter()
            entries: dict[int, cache.PortfolioWrite] = {}
            rows: dict[int, str] = {}
            for uid, (doc, tag, sums) in valuation.read_user_states(todo[start:start + CHUNK]).items():
                if not doc or tag != epoch:
                    full.add(uid)  # never valued, or rewritten from other prices since
                    continue
                if sums and fx is None:
                    from webapp.services.pricing.fx import current_rates

                    fx = current_rates()
                moved_by = delta_summary(doc, sums, by_user[uid], fx)
                if moved_by is None:
                    full.add(uid)
                    continue
                e, new_sums = moved_by
                entries[uid] = cache.PortfolioWrite(e.summary, e.snapshot_worthy, e.fingerprint, None, epoch, epoch,
                                                    new_sums)
                base = e.fingerprint[:e.fingerprint.index('|')]
                rows[uid] = f"{base}|{e.total}|{e.account_values}"
                if totals is not None:
                    totals[uid] = (base, e.total, fully_priced(e.summary))
            timings["deltas"] += time.perf_counter() - t
            if pending is not None:
                _collect(pending, statuses, timings)
            pending = pool.submit(store_in, app, entries, rows, True)
        if pending is not None:
            _collect(pending, statuses, timings)
    changed = {uid for uid, st in statuses.items() if st % 4}
    stale = [uid for uid, st in statuses.items() if st & cache.POSITIONS_STALE]
    if full:  # with the valued prices and the moved ones: in sync with the baseline afterwards
        t = time.perf_counter()
        everything = dict(valuation.read_valued())
        everything.update(new_valued)
        by_symbol = ids_of(everything)
        prices = Prices({by_symbol[s]: p for s, p in everything.items() if s in by_symbol})
        more, spent = recompute_many(sorted(full), totals=totals, prices=prices, epoch=epoch)
        changed |= more
        timings["full"] = time.perf_counter() - t
        timings["full_users"] = len(full)
    if stale:
        for uid in stale if totals is not None else ():
            totals.pop(uid, None)
        changed |= recompute_users(stale)
    valuation.finish_tick(new_valued)
    return Tick(affected, sorted(ids.values()), changed, {k: round(v, 3) for k, v in timings.items()})


_PG_DELTAS = (
    "SELECT a.owner_id, h.account_id, d.currency, SUM(h.quantity * d.delta) "
    "FROM unnest(%s::integer[], %s::numeric[], %s::text[]) AS d(instrument_id, delta, currency) "
    "JOIN holdings h ON h.instrument_id = d.instrument_id JOIN accounts a ON a.id = h.account_id "
    "GROUP BY a.owner_id, h.account_id, d.currency"
)


def _collect(future, statuses: dict, timings: dict) -> None:
    done, fields, due, spent = future.result()
    statuses.update(done)
    for k, v in spent.items():
        timings[k] += v
    if fields:  # the writer inserted the snapshots (insert=True): nothing is left pending
        cache.clear_pending_snapshots(fields)


def account_deltas(deltas: dict[int, tuple[Decimal, str]]) -> dict[int, dict[int, dict[str, Decimal]]]:
    """user -> account -> currency -> Σ quantity × Δprice over the holdings of the moved
    instruments, in one statement: PostgreSQL sums it (NUMERIC is exact); SQLite, whose
    arithmetic is floating point, returns the moved holdings and Python sums them exactly."""
    out: dict[int, dict[int, dict[str, Decimal]]] = defaultdict(lambda: defaultdict(dict))
    if not deltas:
        return out
    conn = db.session.connection()
    cur = conn.connection.driver_connection.cursor()
    try:
        if conn.dialect.name == "postgresql":
            iids = list(deltas)
            cur.execute(_PG_DELTAS, (iids, [deltas[i][0] for i in iids], [deltas[i][1] for i in iids]))
            for uid, aid, ccy, amount in cur:
                out[uid][aid][ccy] = amount
        else:
            iids = list(deltas)
            cur.execute("SELECT a.owner_id, h.account_id, h.instrument_id, h.quantity FROM holdings h "
                        "JOIN accounts a ON a.id = h.account_id "
                        f"WHERE h.instrument_id IN ({','.join('?' * len(iids))})", iids)
            add, mul = EXACT.add, EXACT.multiply
            for uid, aid, iid, qty in cur:
                d, ccy = deltas[iid]
                acc = out[uid][aid]
                acc[ccy] = add(acc.get(ccy, Decimal(0)), mul(Decimal(qty), d))
    finally:
        cur.close()
    return out
