"""Portfolio service: value users' portfolios from the database and cache them in Redis.

Two paths, one arithmetic (webapp/domain/valuation.py and summary.py):

* one user, or a few (a page whose cache is cold, an edited holding): every holding is
  read and valued (`value_users`); the summary *and* the positions are cached.
* many users (a refresh cycle's `recompute_portfolios`): each account is reduced to
  exact sums by currency in one aggregate pass per chunk of users -- set-based SQL on
  PostgreSQL, whose NUMERIC is exact; a streamed read summed with Decimal in Python on
  SQLite, whose SQL arithmetic is floating point -- and only the summaries are written.
  The positions of a user change only when they edit, and the web request that
  commits the edit rewrites them; a recompute checks a fingerprint of them (per account:
  number of holdings and Σ quantity) and rebuilds the ones that missed an edit.

Pages value the cached positions with the current quotes when they render.
"""
from __future__ import annotations

import decimal
import logging
import time
from collections import defaultdict, deque
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from decimal import Decimal
from typing import Iterable, NamedTuple, Sequence

import sqlalchemy as sa
from flask import current_app

from webapp.domain.money import EXACT
from webapp.domain.summary import encode_currency_sums, encode_sums, fully_priced
from webapp.extensions import db
from webapp.models import Instrument
from webapp.services import cache
from webapp.services.portfolio import setbased
from webapp.services.portfolio.read_model import all_owners, holders_of, recompute_users
from webapp.services.portfolio.snapshots import (
    flush_pending_snapshots,
    insert_snapshots,
    store_in,
)
from webapp.services.pricing.quotes import latest_quotes_from_db

log = logging.getLogger(__name__)
BATCH = 2000  # ids per IN (...) list
CHUNK = 2500  # users per aggregate pass of a recompute
ZERO = Decimal(0)
# app.extensions key: callables given the ids of the users whose version a recompute moved and
# returning a dict of figures (the web layer pre-renders their fragments; services know no templates)
AFTER_RECOMPUTE = "folio_after_recompute"


# ---- many users at a time: exact sums per account ----------------------------------------------
class Prices(NamedTuple):
    """The current price of every priced instrument, by instrument id."""

    by_id: dict[int, tuple[Decimal, str]]  # instrument id -> (price, currency)
    symbols: dict[int, str] | None = None  # instrument id -> symbol, when read by `current`

    @classmethod
    def current(cls) -> "Prices":
        """Redis first (one script call), the database for what Redis lacks (and heal Redis)."""
        symbols = dict(db.session.execute(sa.select(Instrument.symbol, Instrument.id)).all())
        names = {i: s for s, i in symbols.items()}
        try:
            cached = cache.read_prices(list(symbols))
        except cache.RedisError:
            return cls({symbols[s]: (q.price, q.currency) for s, q in latest_quotes_from_db(symbols.values()).items()},
                       names)
        by_id = {symbols[s]: p for s, p in cached.items()}
        missing = [iid for s, iid in symbols.items() if s not in cached]
        if missing:
            from_db = latest_quotes_from_db(missing)
            if from_db:
                # the prices this recompute values with: when it is the full revaluation they
                # become the valued ones, and they equal what a tick would read (delta.py)
                cache.write_quotes(from_db, datetime.now(timezone.utc), dirty=False)
            by_id.update({symbols[s]: (q.price, q.currency) for s, q in from_db.items()})
        return cls(by_id, names)


# One chunk of users -> [(user id, base currency, {account id: (values by currency, holdings,
# pending, Σ quantity)})], in user id order, users without accounts left out.
def _sums_python(chunk: list[int], bases: dict[int, str], by_id: dict, cur, mark: str = "?") -> list:
    """Stream the holdings (the covering index) and sum with Decimal: any database
    (`mark` is the driver's placeholder)."""
    cur.execute(
        "SELECT a.owner_id, a.id, h.instrument_id, h.quantity FROM accounts a "
        "LEFT JOIN holdings h ON h.account_id = a.id WHERE a.owner_id IN "
        f"({','.join([mark] * len(chunk))}) ORDER BY a.owner_id, a.id",
        chunk,
    )
    out: list = []
    get, dec = by_id.get, Decimal
    owner = aid_now = base = accounts = other = None
    n = pending = 0
    qsum = total = ZERO
    priced = False
    with decimal.localcontext(EXACT):  # `+` and `*` below: exact to 80 digits
        for uid, aid, iid, qty in cur:
            if aid != aid_now:
                if aid_now is not None:
                    accounts[aid_now] = (_values(base, total if priced else None, other), n, pending, qsum)
                if uid != owner:
                    if owner is not None:
                        out.append((owner, base, accounts))
                    owner, base, accounts = uid, bases.get(uid), {}
                aid_now, n, pending, qsum, total, other, priced = aid, 0, 0, ZERO, ZERO, None, False
            if iid is None:
                continue  # an account without holdings
            q = dec(qty)  # SQLite stores the quantity as exact fixed-point text (webapp/types.py)
            n += 1
            qsum += q
            p = get(iid)
            if p is None:
                pending += 1
            elif p[1] == base:
                total += q * p[0]
                priced = True
            else:
                if other is None:
                    other = {}
                other[p[1]] = other.get(p[1], ZERO) + q * p[0]
        if aid_now is not None:
            accounts[aid_now] = (_values(base, total if priced else None, other), n, pending, qsum)
            out.append((owner, base, accounts))
    return out


def _values(base: str, total: Decimal | None, other: dict | None) -> dict:
    values = {} if other is None else other
    if total is not None:
        values[base] = total
    return values


_PG_SUMS = (
    "SELECT a.owner_id, a.id, p.currency, SUM(h.quantity * p.price), COUNT(h.id), SUM(h.quantity) "
    "FROM accounts a LEFT JOIN holdings h ON h.account_id = a.id "
    "LEFT JOIN folio_prices p ON p.instrument_id = h.instrument_id {where} "
    "GROUP BY a.owner_id, a.id, p.currency ORDER BY a.owner_id, a.id"
)


def _stream_sql(user_ids: Sequence[int] | None, raw) -> Iterable[tuple[int, str | None, dict]]:
    """PostgreSQL sums every account by currency in one query (NUMERIC arithmetic is exact;
    hash joins, in parallel when it likes) and the rows stream in, grouped by user."""
    with raw.cursor() as cur:
        if user_ids is None:
            cur.execute("SELECT id, base_currency FROM users")
        else:
            cur.execute("SELECT id, base_currency FROM users WHERE id = ANY(%s)", (list(user_ids),))
        bases = dict(cur.fetchall())
    with raw.cursor(name="folio_sums") as cur:  # server side: memory stays flat
        cur.itersize = 5000
        if user_ids is None:
            cur.execute(_PG_SUMS.format(where=""))
        else:
            cur.execute(_PG_SUMS.format(where="WHERE a.owner_id = ANY(%s)"), (list(user_ids),))
        owner = accounts = None
        add = EXACT.add
        for uid, aid, ccy, value, n, qty in cur:
            if uid != owner:
                if owner is not None:
                    yield owner, bases.get(owner), accounts
                owner, accounts = uid, {}
            acc = accounts.get(aid)
            if acc is None:
                acc = accounts[aid] = [{}, 0, 0, ZERO]
            if not n:
                continue  # an account without holdings
            acc[1] += n
            acc[3] = add(acc[3], qty)
            if ccy is None:
                acc[2] += n  # holdings of instruments without any price yet
            else:
                acc[0][ccy] = value
        if owner is not None:
            yield owner, bases.get(owner), accounts


def _stream_python(user_ids: Sequence[int], prices: "Prices", raw, mark: str = "?"):
    """Any database: the holdings of a chunk of users at a time, summed with Decimal."""
    cur = raw.cursor()
    try:
        for start in range(0, len(user_ids), CHUNK):
            chunk = list(user_ids[start : start + CHUNK])
            cur.execute(f"SELECT id, base_currency FROM users WHERE id IN ({','.join([mark] * len(chunk))})", chunk)
            bases = dict(cur.fetchall())
            yield from _sums_python(chunk, bases, prices.by_id, cur, mark)
    finally:
        cur.close()


def _load_prices_sql(raw, prices: Prices) -> None:
    with raw.cursor() as cur:
        cur.execute("CREATE TEMP TABLE folio_prices "
                    "(instrument_id integer PRIMARY KEY, price numeric NOT NULL, currency text NOT NULL) "
                    "ON COMMIT DROP")
        with cur.copy("COPY folio_prices (instrument_id, price, currency) FROM STDIN") as copy:
            for iid, (price, ccy) in prices.by_id.items():
                copy.write_row((iid, price, ccy))
        cur.execute("ANALYZE folio_prices")


def recompute_many(user_ids: Sequence[int] | None, *, snapshot: bool = True,
                   totals: dict[int, tuple[str, str, bool]] | None = None, prices: Prices | None = None,
                   epoch: str | None = None, retag: bool = True, set_based: bool = True) -> tuple[set[int], dict]:
    """The refresh cycle's recompute (None: every user): summaries from exact per-account
    sums, stored chunk by chunk. `totals`, when given, receives each user's (base currency, total,
    fully priced) for the alerts; a user whose positions had to be rebuilt apart is left out.
    `prices`: these rather than the current ones; `epoch`: the valuation epoch the summaries
    are in sync with (delta.py), None for none.

    A writer thread stores each chunk in Redis (and, on PostgreSQL, its snapshots) while
    the next one is read and encoded, so the database, Redis and Python overlap.
    """
    timings: dict[str, float] = defaultdict(float)
    t0 = time.perf_counter()
    prices = prices or Prices.current()
    from webapp.services.pricing.fx import current_rates

    fx = current_rates()  # every pair, read once: a chunk's users may have any base currency
    timings["prices"] = time.perf_counter() - t0
    app = current_app._get_current_object()
    changed: set[int] = set()
    stale: list[int] = []
    users = 0
    unconverted = False
    # SQLite has one writer and, in its default journal mode, readers block it: there the
    # snapshots wait until the last chunk is read, then go in at once
    deferred: list = []
    deferred_fields: list[str] = []

    def collect(future) -> None:
        statuses, fields, due, spent = future.result()
        for k, v in spent.items():
            timings[k] += v
        deferred.extend(due)
        deferred_fields.extend(fields)
        for uid, st in statuses.items():
            if st % 4:
                changed.add(uid)
            if st & cache.POSITIONS_STALE:
                stale.append(uid)

    with db.engine.connect() as conn, ThreadPoolExecutor(1, thread_name_prefix="recompute") as pool:
        raw = conn.connection.driver_connection
        pg = conn.dialect.name == "postgresql"
        others: list[int] = []
        if pg and set_based:  # summaries in SQL (setbased.py); other currencies by the general path below
            _load_prices_sql(raw, prices)
            more, gone, others, users, pg_fields, check = setbased.recompute(
                raw, user_ids, epoch=epoch, snapshot=snapshot, timings=timings, totals=totals)
            changed |= more
            stale.extend(gone)
            raw.commit()  # the merged snapshots (and the temporary tables go)
            deferred_fields.extend(pg_fields)
            deferred.extend((uid, as_of, setbased.snapshot_row(summary), True) for uid, as_of, summary in check)
            stream = iter(())
        elif pg:
            _load_prices_sql(raw, prices)
            stream = _stream_sql(user_ids, raw)
        else:
            if user_ids is None:
                user_ids = all_owners()
            stream = _stream_python(user_ids, prices, raw)
        writes: deque = deque()
        entries: dict[int, cache.PortfolioWrite] = {}
        rows: dict[int, str] = {}

        def flush() -> None:
            nonlocal entries, rows
            writes.append(pool.submit(store_in, app, entries, rows, snapshot and pg))
            entries, rows = {}, {}
            while len(writes) > 1:  # at most one chunk stored while the next is read
                collect(writes.popleft())

        try:
            t = time.perf_counter()
            for uid, base, accounts in stream:
                if base is None:
                    continue  # the user is gone
                users += 1
                e = encode_sums(base, accounts, fx)
                if not unconverted and '"unconverted":{}' not in e.summary:  # a currency with no rate
                    unconverted = True
                sums = encode_currency_sums(base, accounts) if epoch and e.general else ""
                entries[uid] = cache.PortfolioWrite(e.summary, e.snapshot_worthy, e.fingerprint, None, epoch, None, sums)
                rows[uid] = f"{base}|{e.total}|{e.account_values}"
                if totals is not None:
                    totals[uid] = (base, e.total, fully_priced(e.summary))
                if len(entries) >= CHUNK:
                    timings["read_and_value"] += time.perf_counter() - t
                    flush()
                    t = time.perf_counter()
            timings["read_and_value"] += time.perf_counter() - t
            if entries:
                flush()
            while writes:
                collect(writes.popleft())
        finally:
            conn.rollback()  # read only; on PostgreSQL this drops the temporary price table
    if unconverted:
        from webapp.services.pricing.fx import request_if_unconverted

        request_if_unconverted(True)
    if deferred_fields:
        t = time.perf_counter()
        if snapshot and deferred:
            insert_snapshots(deferred, fresh=True)
        cache.clear_pending_snapshots(deferred_fields)
        timings["snapshots"] += time.perf_counter() - t
    if others:  # holding other currencies than their base: exchange rates in Python
        more, spent = recompute_many(others, snapshot=snapshot, totals=totals, prices=prices, epoch=epoch,
                                     set_based=False)
        changed |= more
        users += spent.pop("users")
        for k in ("positions", "positions_rebuilt"):  # what the general path had to rebuild
            if k in spent:
                timings[k] += spent[k]
        timings["other_currencies"] = len(others)
    if stale:  # positions missing (a flushed Redis, users never valued) or behind an edit
        for uid in stale if totals is not None else ():
            totals.pop(uid, None)
        t = time.perf_counter()
        changed |= recompute_users(stale, snapshot=snapshot)
        if epoch and retag:  # rebuilt from the current quotes: value them again with `prices`, tagged
            changed |= recompute_many(sorted(stale), snapshot=snapshot, prices=prices, epoch=epoch, retag=False)[0]
        timings["positions"] = time.perf_counter() - t
        timings["positions_rebuilt"] = len(stale)
    timings["users"] = users
    return changed, {k: round(v, 3) for k, v in timings.items()}


def evaluate_alerts(user_ids: Sequence[int] | None, instrument_ids: Sequence[int] | None = None,
                    totals: dict | None = None) -> dict:
    """The users' alert rules, judged on what was just computed (counts: webapp/services/alerts.py);
    a failure is logged, never raised."""
    try:
        from webapp.services import alerts

        return alerts.evaluate(user_ids, instrument_ids=instrument_ids, totals=totals)
    except Exception:
        log.exception("alert evaluation failed")
        db.session.rollback()
        return {}


def recompute_portfolios(instrument_ids: list[int] | None = None, user_ids: list[int] | None = None, *,
                         alerts: bool = True) -> dict:
    """Recompute only the users who hold the given instruments (or the given / all users), then
    judge their alert rules (`alerts=False`: not; bench/alerts.py times the two apart).

    Moved instruments are applied as deltas to the summaries of their holders (delta.py) when
    a full revaluation has left a baseline; otherwise their holders are valued in full."""
    from webapp.services.portfolio import delta

    started = time.perf_counter()
    try:
        flush_pending_snapshots()
    except cache.RedisError:
        log.warning("Redis unavailable; pending snapshots left for later")
    tick = None
    totals: dict | None = {} if alerts else None
    if user_ids is None and instrument_ids is not None:
        instrument_ids = sorted(set(instrument_ids))
        # every instrument, or most: everybody is a holder, and listing them costs a full scan
        known = db.session.scalar(sa.select(sa.func.count()).select_from(Instrument)) or 0
        if 2 * len(instrument_ids) < known:
            try:
                tick = delta.apply_tick(totals)
            except cache.RedisError:
                log.warning("Redis unavailable; holders valued in full")
            if isinstance(tick, list):  # instruments a dead tick left half applied
                instrument_ids, tick = sorted(set(instrument_ids) | set(tick)), None
            if tick is None:
                user_ids = holders_of(instrument_ids)
            else:
                user_ids, instrument_ids = tick.users, sorted(set(instrument_ids) | set(tick.instrument_ids))
    select_seconds = time.perf_counter() - started
    if tick is not None:
        changed, timings = tick.changed, {"users": len(user_ids), "delta": True, **tick.timings}
    elif user_ids is None:
        changed, timings = delta.revalue_all(totals=totals)
    else:
        changed, timings = recompute_many(sorted(user_ids), totals=totals)
    if alerts:
        t = time.perf_counter()
        counts = evaluate_alerts(user_ids, instrument_ids, totals)
        timings["alerts"] = time.perf_counter() - t
        timings.update({f"alerts_{k}": v for k, v in counts.items()})
    for hook in current_app.extensions.get(AFTER_RECOMPUTE, ()):
        timings.update(hook(changed))
    stats = {"users": timings.pop("users"), "changed": len(changed),
             "seconds": round(time.perf_counter() - started, 3), "select_seconds": round(select_seconds, 3),
             **{k: round(v, 3) for k, v in timings.items()}}
    log.info("recomputed %d portfolios, %d changed", stats["users"], len(changed), extra={"fields": stats})
    return stats
