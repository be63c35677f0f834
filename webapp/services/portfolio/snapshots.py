"""Storing valuations: Redis first, the snapshot rows pending there until they are in the database."""
from __future__ import annotations

import json
import logging
import time
from collections import defaultdict
from datetime import datetime, timezone
from decimal import Decimal

import sqlalchemy as sa

from webapp.extensions import db
from webapp.models import PortfolioSnapshot
from webapp.services import cache
from webapp.types import ExactDecimal

log = logging.getLogger(__name__)
BATCH = 2000  # ids per IN (...) list
ZERO = Decimal(0)


def store_in(app, entries: dict[int, cache.PortfolioWrite], rows: dict[int, str], insert: bool):
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
                insert_snapshots(due, fresh=True)
                cache.clear_pending_snapshots(fields)
                spent["snapshots"] += time.perf_counter() - t
                due, fields = [], []
            return statuses, fields, due, spent
        finally:
            db.session.remove()


# ---- storing: Redis first, the snapshot rows pending there until they are in the database -----
def store(entries: dict[int, cache.PortfolioWrite], rows: dict[int, str], *, snapshot: bool,
           timings=None, fresh: bool = False) -> dict[int, int]:
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
        insert_snapshots([(uid, now, rows[uid], st & 3 == cache.SNAPSHOT_IF_NEW)
                           for uid, st in statuses.items() if st & 2], fresh=fresh)
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
    n = insert_snapshots(rows)
    cache.clear_pending_snapshots(pending)
    log.info("wrote %d pending snapshot(s) of an interrupted recompute", n)
    return n


_TOTAL = ExactDecimal(28, 10)


def insert_snapshots(rows: list[tuple[int, datetime, str, bool]], fresh: bool = False) -> int:
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
