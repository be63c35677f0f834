"""Portfolio service: value users' portfolios from the database and cache them in Redis.

Two paths, one arithmetic (webapp/portfolio.py):

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
import json
import logging
import time
from collections import defaultdict, deque
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from decimal import Decimal
from typing import Iterable, NamedTuple, Sequence

import sqlalchemy as sa
from flask import current_app

from webapp.services import cache
from webapp.extensions import db
from webapp.models import Account, Holding, Instrument, PortfolioSnapshot, Quote, User
from webapp.domain.valuation import EXACT, AccountRef, Position, PriceInfo, Summary, Valuation, encode_sums, positions_fingerprint, value_portfolio
from webapp.types import ExactDecimal

from workers.context import job

log = logging.getLogger(__name__)
BATCH = 2000  # ids per IN (...) list
CHUNK = 2500  # users per aggregate pass of a recompute
ZERO = Decimal(0)


# ---- quotes ------------------------------------------------------------------------------
def latest_quotes_from_db(instrument_ids: Iterable[int]) -> dict[str, PriceInfo]:
    """The newest Quote row per instrument, keyed by symbol."""
    ids = list(set(instrument_ids))
    out: dict[str, PriceInfo] = {}
    for start in range(0, len(ids), BATCH):
        chunk = ids[start : start + BATCH]
        rn = (
            sa.func.row_number()
            .over(partition_by=Quote.instrument_id, order_by=(Quote.as_of.desc(), Quote.id.desc()))
            .label("rn")
        )
        sub = (
            sa.select(Quote.instrument_id, Quote.price, Quote.currency, Quote.as_of, Quote.source,
                      Quote.previous_close, rn)
            .where(Quote.instrument_id.in_(chunk))
            .subquery()
        )
        rows = db.session.execute(
            sa.select(Instrument.symbol, sub.c.price, sub.c.currency, sub.c.as_of, sub.c.source, sub.c.previous_close)
            .join(sub, sub.c.instrument_id == Instrument.id)
            .where(sub.c.rn == 1)
        )
        for symbol, price, currency, as_of, source, prev in rows:
            out[symbol] = PriceInfo(price=price, currency=currency, as_of=as_of, source=source, previous_close=prev)
    return out


def current_quotes(instruments: dict[str, int]) -> dict[str, PriceInfo]:
    """Quotes for {symbol: instrument_id}: Redis first, the database for what Redis lacks.

    What comes from the database is written back, so a flushed Redis heals itself.
    """
    quotes: dict[str, PriceInfo] = {}
    try:
        quotes = cache.read_quotes(instruments)
    except cache.RedisError:
        log.warning("Redis unavailable; reading quotes from the database")
        return latest_quotes_from_db(instruments.values())
    missing = [iid for sym, iid in instruments.items() if sym not in quotes]
    if missing:
        from_db = latest_quotes_from_db(missing)
        if from_db:
            cache.write_quotes(from_db, datetime.now(timezone.utc))
        quotes.update(from_db)
    return quotes


def rates_if_needed(base_currencies: Iterable[str], quotes: Iterable[PriceInfo]) -> dict[tuple[str, str], Decimal]:
    """The exchange rates, read only when some quote is in a currency that is not a base
    currency of the users valued (nearly never, for most installations)."""
    bases = set(base_currencies)
    if all(q.currency in bases for q in quotes):
        return {}
    from workers.fx import current_rates

    return current_rates()


# ---- one user at a time: every holding -------------------------------------------------------
class Holdings(NamedTuple):
    """What the database says a user has: what `value_portfolio` and the positions cache need."""

    currency: str
    accounts: list[AccountRef]
    holdings: list[tuple]  # hid, account, instrument, symbol, type, quantity, cost

    def positions(self) -> list[Position]:
        return [Position(h, a, s, t, q, c) for h, a, _, s, t, q, c in self.holdings]

    def fingerprint(self) -> str:
        per_account = {a.id: (0, ZERO) for a in self.accounts}
        for _, a, _, _, _, q, _ in self.holdings:
            n, total = per_account[a]
            per_account[a] = (n + 1, EXACT.add(total, q))
        return positions_fingerprint(per_account, self.currency)


def load_holdings(user_ids: Sequence[int]) -> dict[int, Holdings]:
    """Every account and holding of the given users (users without accounts included)."""
    out: dict[int, Holdings] = {}
    for start in range(0, len(user_ids), BATCH):
        chunk = list(user_ids[start : start + BATCH])
        for uid, ccy in db.session.execute(sa.select(User.id, User.base_currency).where(User.id.in_(chunk))):
            out[uid] = Holdings(ccy, [], [])
        rows = db.session.execute(
            sa.select(Account.owner_id, Account.id, Account.name, Holding.id, Holding.quantity, Holding.cost_basis,
                      Instrument.id, Instrument.symbol, Instrument.asset_type)
            .select_from(Account)
            .outerjoin(Holding, Holding.account_id == Account.id)
            .outerjoin(Instrument, Instrument.id == Holding.instrument_id)
            .where(Account.owner_id.in_(chunk))
            .order_by(Account.owner_id, Account.id, Holding.id)
        )
        seen: set[int] = set()
        for owner, acc_id, acc_name, hid, qty, cost, iid, symbol, asset_type in rows:
            user = out.get(owner)
            if user is None:
                continue
            if acc_id not in seen:
                seen.add(acc_id)
                user.accounts.append(AccountRef(acc_id, acc_name))
            if hid is not None:
                user.holdings.append((hid, acc_id, iid, symbol, asset_type, qty, cost))
    return out


def value_users(user_ids: Sequence[int]) -> dict[int, Valuation]:
    """Valuations for the given users, from the database and the current quotes."""
    if not user_ids:
        return {}
    loaded = load_holdings(user_ids)
    quotes = current_quotes({s: i for h in loaded.values() for _, _, i, s, _, _, _ in h.holdings})
    fx = rates_if_needed((h.currency for h in loaded.values()), quotes.values())
    return {uid: value_portfolio(h.accounts, h.positions(), quotes, h.currency, fx) for uid, h in loaded.items()}


def recompute_users(user_ids: Sequence[int], *, snapshot: bool = True) -> set[int]:
    """Value users holding by holding, cache summaries and positions, snapshot moved totals."""
    changed: set[int] = set()
    for start in range(0, len(user_ids), BATCH):
        chunk = list(user_ids[start : start + BATCH])
        loaded = load_holdings(chunk)
        quotes = current_quotes({s: i for h in loaded.values() for _, _, i, s, _, _, _ in h.holdings})
        fx = rates_if_needed((h.currency for h in loaded.values()), quotes.values())
        entries, rows = {}, {}
        for uid, h in loaded.items():
            summary = value_portfolio(h.accounts, h.positions(), quotes, h.currency, fx).summary()
            fp = h.fingerprint()
            doc, total, accounts = summary.encode(fp)
            positions = cache.encode_positions(fp, h.currency, h.accounts, h.holdings)
            entries[uid] = cache.PortfolioWrite(doc, summary.snapshot_worthy, fp, positions)
            rows[uid] = f"{summary.currency}|{total}|{accounts}"
        try:
            statuses = _store(entries, rows, snapshot=snapshot)
        except cache.RedisError:
            log.warning("Redis unavailable; %d portfolios not cached", len(entries))
            continue
        changed |= {uid for uid, st in statuses.items() if st % 4}
    return changed


# ---- many users at a time: exact sums per account ----------------------------------------------
class Prices(NamedTuple):
    """The current price of every priced instrument, by instrument id."""

    by_id: dict[int, tuple[Decimal, str]]  # instrument id -> (price, currency)

    @classmethod
    def current(cls) -> "Prices":
        """Redis first (one script call), the database for what Redis lacks (and heal Redis)."""
        symbols = dict(db.session.execute(sa.select(Instrument.symbol, Instrument.id)).all())
        try:
            cached = cache.read_prices(list(symbols))
        except cache.RedisError:
            return cls({symbols[s]: (q.price, q.currency) for s, q in latest_quotes_from_db(symbols.values()).items()})
        by_id = {symbols[s]: p for s, p in cached.items()}
        missing = [iid for s, iid in symbols.items() if s not in cached]
        if missing:
            from_db = latest_quotes_from_db(missing)
            if from_db:
                cache.write_quotes(from_db, datetime.now(timezone.utc))
            by_id.update({symbols[s]: (q.price, q.currency) for s, q in from_db.items()})
        return cls(by_id)


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


def recompute_many(user_ids: Sequence[int] | None, *, snapshot: bool = True) -> tuple[set[int], dict]:
    """The refresh cycle's recompute (None: every user): summaries from exact per-account
    sums, stored chunk by chunk.

    A writer thread stores each chunk in Redis (and, on PostgreSQL, its snapshots) while
    the next one is read and encoded, so the database, Redis and Python overlap.
    """
    timings: dict[str, float] = defaultdict(float)
    t0 = time.perf_counter()
    prices = Prices.current()
    from workers.fx import current_rates

    fx = current_rates()  # every pair, read once: a chunk's users may have any base currency
    timings["prices"] = time.perf_counter() - t0
    app = current_app._get_current_object()
    changed: set[int] = set()
    stale: list[int] = []
    users = 0
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
        if pg:
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
            writes.append(pool.submit(_store_in, app, entries, rows, snapshot and pg))
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
                entries[uid] = cache.PortfolioWrite(e.summary, e.snapshot_worthy, e.fingerprint, None)
                rows[uid] = f"{base}|{e.total}|{e.account_values}"
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
    if deferred_fields:
        t = time.perf_counter()
        if snapshot:
            _insert_snapshots(deferred, fresh=True)
        cache.clear_pending_snapshots(deferred_fields)
        timings["snapshots"] += time.perf_counter() - t
    if stale:  # positions missing (a flushed Redis, users never valued) or behind an edit
        t = time.perf_counter()
        changed |= recompute_users(stale, snapshot=snapshot)
        timings["positions"] = time.perf_counter() - t
        timings["positions_rebuilt"] = len(stale)
    timings["users"] = users
    return changed, {k: round(v, 3) for k, v in timings.items()}


def _store_in(app, entries: dict[int, cache.PortfolioWrite], rows: dict[int, str], insert: bool):
    """A writer thread's share: Redis, and the snapshots unless the caller defers them.
    Its own app context, database session and connection."""
    spent: dict[str, float] = defaultdict(float)
    with app.app_context():
        try:
            now = datetime.now(timezone.utc)
            t = time.perf_counter()
            statuses, fields = cache.write_portfolios(entries, now.isoformat())
            spent["redis"] += time.perf_counter() - t
            due = [(uid, now, rows[uid], st & 3 == cache.SNAPSHOT_IF_NEW) for uid, st in statuses.items() if st & 2]
            if insert and fields:
                t = time.perf_counter()
                _insert_snapshots(due, fresh=True)
                cache.clear_pending_snapshots(fields)
                spent["snapshots"] += time.perf_counter() - t
                due, fields = [], []
            return statuses, fields, due, spent
        finally:
            db.session.remove()


# ---- storing: Redis first, the snapshot rows pending there until they are in the database -----
def _store(entries: dict[int, cache.PortfolioWrite], rows: dict[int, str], *, snapshot: bool,
           timings=None) -> dict[int, int]:
    """Write to Redis; insert the snapshots that are due (rows: "currency|total|account values")."""
    now = datetime.now(timezone.utc)
    t = time.perf_counter()
    statuses, fields = cache.write_portfolios(entries, now.isoformat())
    if timings is not None:
        timings["redis"] += time.perf_counter() - t
    if not fields:
        return statuses
    if snapshot:
        t = time.perf_counter()
        _insert_snapshots([(uid, now, rows[uid], st & 3 == cache.SNAPSHOT_IF_NEW)
                           for uid, st in statuses.items() if st & 2])
        if timings is not None:
            timings["snapshots"] += time.perf_counter() - t
    cache.clear_pending_snapshots(fields)
    return statuses


def flush_pending_snapshots() -> int:
    """Insert the snapshots a killed recompute decided on but may not have written."""
    pending = cache.pending_snapshots()
    if not pending:
        return 0
    rows = []
    for field, entries in pending.items():
        as_of = datetime.fromisoformat(field.split("|", 1)[0])
        for uid, summary, only_if_new in entries:
            doc = json.loads(summary)
            row = f"{doc['currency']}|{doc['total']}|{json.dumps(doc['accounts'], separators=(',', ':'))}"
            rows.append((uid, as_of, row, only_if_new))
    n = _insert_snapshots(rows)
    cache.clear_pending_snapshots(pending)
    log.info("wrote %d pending snapshot(s) of an interrupted recompute", n)
    return n


_TOTAL = ExactDecimal(28, 10)


def _insert_snapshots(rows: list[tuple[int, datetime, str, bool]], fresh: bool = False) -> int:
    """Insert (user id, as_of, "currency|total|account values", only-if-new) rows; a row
    already there (same user and as_of) is skipped, so inserting twice is harmless.

    `fresh`: rows decided just now, with an as_of no row can have yet; PostgreSQL then
    COPYs them straight in (a pending row written again after a crash is not fresh)."""
    check = [uid for uid, _, _, only_if_new in rows if only_if_new]
    last = _last_snapshot_totals(check) if check else {}
    conn = db.session.connection()
    dialect = conn.dialect
    # the columns' own conversions (UTC, exact decimal text on SQLite), then the driver directly
    when_proc = PortfolioSnapshot.__table__.c.as_of.type._cached_bind_processor(dialect)
    total_proc = _TOTAL._cached_bind_processor(dialect)
    when_cache: dict = {}
    values = []
    for uid, as_of, row, only_if_new in rows:
        ccy, total, accounts = row.split("|", 2)
        amount = Decimal(total)
        if only_if_new and last.get(uid) is not None and last[uid] == amount:
            continue  # Redis had forgotten the total; the database has it, unchanged
        when = when_cache.get(as_of)
        if when is None:
            when = when_cache[as_of] = when_proc(as_of)
        values.append((uid, when, ccy, total_proc(amount), accounts))
    if not values:
        return 0
    cur = conn.connection.driver_connection.cursor()
    try:
        if dialect.name == "postgresql" and fresh:
            with cur.copy("COPY portfolio_snapshots (user_id, as_of, currency, total_value, account_values) "
                          "FROM STDIN") as copy:
                for row in values:
                    copy.write_row(row)
        elif dialect.name == "postgresql":  # COPY into a scratch table, then one INSERT ... ON CONFLICT
            cur.execute("CREATE TEMP TABLE IF NOT EXISTS folio_snapshots_in "
                        "(user_id integer, as_of timestamptz, currency text, total_value numeric, account_values text) "
                        "ON COMMIT DELETE ROWS")
            with cur.copy("COPY folio_snapshots_in FROM STDIN") as copy:
                for row in values:
                    copy.write_row(row)
            cur.execute(
                "INSERT INTO portfolio_snapshots (user_id, as_of, currency, total_value, account_values) "
                "SELECT user_id, as_of, currency, total_value, account_values::json FROM folio_snapshots_in "
                "ON CONFLICT (user_id, as_of) DO NOTHING")
        else:
            cur.executemany(
                "INSERT INTO portfolio_snapshots (user_id, as_of, currency, total_value, account_values) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (user_id, as_of) DO NOTHING",
                values,
            )
    finally:
        cur.close()
    db.session.commit()
    return len(values)


def _last_snapshot_totals(user_ids: list[int]) -> dict[int, Decimal]:
    """The newest snapshot total of each user (when Redis no longer knows it)."""
    out: dict[int, Decimal] = {}
    for start in range(0, len(user_ids), BATCH):
        rn = sa.func.row_number().over(
            partition_by=PortfolioSnapshot.user_id,
            order_by=(PortfolioSnapshot.as_of.desc(), PortfolioSnapshot.id.desc()),
        ).label("rn")
        sub = (
            sa.select(PortfolioSnapshot.user_id, PortfolioSnapshot.total_value, rn)
            .where(PortfolioSnapshot.user_id.in_(user_ids[start : start + BATCH]),
                   PortfolioSnapshot.reconstructed.is_(False))
            .subquery()
        )
        out.update(db.session.execute(sa.select(sub.c.user_id, sub.c.total_value).where(sub.c.rn == 1)).all())
    return out


# ---- who to recompute -------------------------------------------------------------------------
def holders_of(instrument_ids: Iterable[int]) -> list[int]:
    ids = list(set(instrument_ids))
    users: set[int] = set()
    for start in range(0, len(ids), BATCH):
        users.update(
            db.session.scalars(
                sa.select(Account.owner_id)
                .join(Holding, Holding.account_id == Account.id)
                .where(Holding.instrument_id.in_(ids[start : start + BATCH]))
                .distinct()
            )
        )
    return sorted(users)


def all_owners() -> list[int]:
    return list(db.session.scalars(sa.select(Account.owner_id).distinct().order_by(Account.owner_id)))


@job
def recompute_portfolios(instrument_ids: list[int] | None = None, user_ids: list[int] | None = None) -> dict:
    """Recompute only the users who hold the given instruments (or the given / all users)."""
    started = time.perf_counter()
    try:
        flush_pending_snapshots()
    except cache.RedisError:
        log.warning("Redis unavailable; pending snapshots left for later")
    if user_ids is None and instrument_ids is not None:
        instrument_ids = sorted(set(instrument_ids))
        # every instrument, or most: everybody is a holder, and listing them costs a full scan
        known = db.session.scalar(sa.select(sa.func.count()).select_from(Instrument)) or 0
        if 2 * len(instrument_ids) < known:
            user_ids = holders_of(instrument_ids)
    select_seconds = time.perf_counter() - started
    changed, timings = recompute_many(sorted(user_ids) if user_ids is not None else None)
    stats = {"users": timings.pop("users"), "changed": len(changed),
             "seconds": round(time.perf_counter() - started, 3), "select_seconds": round(select_seconds, 3), **timings}
    log.info("recomputed %d portfolios, %d changed", stats["users"], len(changed), extra={"fields": stats})
    return stats


# ---- what a page shows ----------------------------------------------------------------------
def portfolio_for(user_id: int) -> tuple[Valuation, str, bool]:
    """The valuation a page shows, its version token, and whether live updates work.

    The cached positions valued with the current quotes; rebuilt from the database
    when Redis forgot them; computed from the database alone when Redis is down.
    """
    try:
        pos, quotes, token = cache.read_live(user_id)
        if pos is None:
            recompute_users([user_id], snapshot=False)
            pos, quotes, token = cache.read_live(user_id)
        if pos is not None:
            missing = {s: i for s, i in pos.instruments.items() if s not in quotes}
            if missing:  # never priced, or Redis lost them: the database knows (and heals Redis)
                quotes.update(current_quotes(missing))
            fx = rates_if_needed((pos.currency,), quotes.values())
            return value_portfolio(pos.accounts, pos.positions, quotes, pos.currency, fx), token, True
    except cache.RedisError:
        log.warning("Redis unavailable; valuing user %s from the database", user_id)
    return value_users([user_id])[user_id], "offline", False
