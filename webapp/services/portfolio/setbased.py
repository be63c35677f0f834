"""PostgreSQL's recompute, set-based: one `INSERT … SELECT … GROUP BY` (for a full
revaluation; per 20,000 users for given users) computes every summary document in SQL (NUMERIC is exact, `trim_scale` gives the canonical
text of webapp.domain.money.canonical) into a temporary table and returns it; Python only
hands the text to Redis. The snapshots that are due are then merged from that table into
`portfolio_snapshots` by one `INSERT … SELECT … ON CONFLICT DO NOTHING`: no per-user object,
and no amount crosses to Python and back.

Users holding another currency than their base (their totals need exchange rates) come
back without a document and are valued by the general path (recompute._stream_sql).
`python -m bench --explain` writes the statement's plan to bench/explain-recompute.txt.
"""
from __future__ import annotations

import json
import time
from collections import defaultdict
from datetime import datetime, timezone
from concurrent.futures import ThreadPoolExecutor
from typing import Iterator, Sequence

from flask import current_app

from webapp.domain.summary import fully_priced
from webapp.services import cache

BATCH_USERS = 20000  # users per batch: Redis stores one batch while the next is summed

# The holdings are summed per account and currency first, joined to nothing but the prices
# (the bulk of the work, as lean as the raw aggregate); accounts, users and the text come after.
SUMMARIES = """
INSERT INTO folio_summaries (user_id, currency, total, accounts, summary)
SELECT owner_id, base, total, accounts,
       CASE WHEN other THEN NULL ELSE
         '{"total":"' || trim_scale(total)::text || '","currency":"' || base || '","accounts":' || accounts
         || ',"unconverted":{},"pending":' || pending || ',"holdings":' || holdings
         || ',"positions":"' || base || '|' || fingerprint || '"}' END
FROM (
  SELECT owner_id, base, bool_or(other) AS other, SUM(value) AS total, SUM(n) AS holdings, SUM(pending) AS pending,
         '{' || string_agg('"' || aid || '":"' || trim_scale(value)::text || '"', ',' ORDER BY aid) || '}' AS accounts,
         string_agg(aid || ':' || n || ':' || trim_scale(qty)::text, ';' ORDER BY aid) AS fingerprint
  FROM (
    SELECT a.owner_id, a.id AS aid, u.base_currency AS base,
           COALESCE(SUM(s.n), 0) AS n,
           COALESCE(SUM(s.n) FILTER (WHERE s.currency IS NULL), 0) AS pending,
           COALESCE(SUM(s.qty), 0) AS qty,
           COALESCE(SUM(s.value) FILTER (WHERE s.currency = u.base_currency), 0) AS value,
           COALESCE(bool_or(s.currency <> u.base_currency), false) AS other
    FROM accounts a JOIN users u ON u.id = a.owner_id
    LEFT JOIN (
      SELECT h.account_id, p.currency, COUNT(*) AS n, SUM(h.quantity) AS qty, SUM(h.quantity * p.price) AS value
      FROM holdings h LEFT JOIN folio_prices p ON p.instrument_id = h.instrument_id
      WHERE h.account_id IN (SELECT id FROM accounts WHERE {inner})
      GROUP BY h.account_id, p.currency
    ) s ON s.account_id = a.id
    WHERE {outer}
    GROUP BY a.owner_id, a.id, u.base_currency
  ) acc
  GROUP BY owner_id, base
) usr
RETURNING user_id, summary
"""
BY_IDS = "owner_id = ANY(%s)"


def summaries_sql(where: str) -> str:
    """SUMMARIES for the users `where` selects (BY_IDS, its parameter twice, or TRUE)."""
    return SUMMARIES.replace("{inner}", where).replace("{outer}", where.replace("owner_id", "a.owner_id"))


SNAPSHOTS = (
    "INSERT INTO portfolio_snapshots (user_id, as_of, currency, total_value, account_values, reconstructed) "
    "SELECT s.user_id, %s, s.currency, s.total, s.accounts::json, false "
    "FROM folio_summaries s JOIN unnest(%s::integer[]) AS due(user_id) ON due.user_id = s.user_id "
    "ON CONFLICT (user_id, as_of) DO NOTHING"
)


def prepare(raw) -> None:
    with raw.cursor() as cur:
        cur.execute("SET LOCAL work_mem = '64MB'")  # the per-account aggregate of a batch stays in memory
        cur.execute("CREATE TEMP TABLE folio_summaries (user_id integer, currency text, total numeric, "
                    "accounts text, summary text) ON COMMIT DROP")


def batches(raw, user_ids: Sequence[int] | None) -> Iterator[list[tuple[int, str | None]]]:
    """[(user id, summary JSON or None: holds another currency)] by batches of users. Everybody:
    one statement, its rows streamed (Redis stores a batch while the next ones are summed);
    given users: one statement per BATCH_USERS of them."""
    with raw.cursor() as cur:
        if user_ids is None:
            batch: list = []
            for row in cur.stream(summaries_sql("TRUE")):
                batch.append(row)
                if len(batch) >= BATCH_USERS:
                    yield batch
                    batch = []
            if batch:
                yield batch
        else:
            ids = sorted(user_ids)
            for start in range(0, len(ids), BATCH_USERS):
                cur.execute(summaries_sql(BY_IDS), (ids[start:start + BATCH_USERS],) * 2)
                yield cur.fetchall()


def write(entries: dict[int, cache.PortfolioWrite]) -> tuple[dict[int, int], list[str], datetime, float]:
    """Redis (a writer thread's share): statuses, the pending snapshot fields, their as_of."""
    now = datetime.now(timezone.utc)
    t = time.perf_counter()
    statuses, fields = cache.write_portfolios(entries, now.isoformat())
    return statuses, fields, now, time.perf_counter() - t


def insert_snapshots(raw, due: dict[datetime, list[int]]) -> int:
    """The due snapshots, from the summaries this connection computed."""
    n = 0
    with raw.cursor() as cur:
        for as_of, uids in due.items():
            cur.execute(SNAPSHOTS, (as_of, uids))
            n += cur.rowcount
    return n


def snapshot_row(summary: str) -> str:
    """"currency|total|account values" of a summary document, as insert_snapshots takes it."""
    doc = json.loads(summary)
    return f"{doc['currency']}|{doc['total']}|{json.dumps(doc['accounts'], separators=(',', ':'))}"


def entry(summary: str, epoch: str | None) -> cache.PortfolioWrite:
    # the document ends with "positions":"<fingerprint>"}
    fingerprint = summary[summary.rindex('"positions":"') + 13:-2]
    worthy = '"pending":0,' in summary and '"holdings":0,' not in summary
    return cache.PortfolioWrite(summary, worthy, fingerprint, None, epoch, None, "")


def group_due(due: defaultdict, statuses: dict[int, int], as_of: datetime, check: list, summaries: dict) -> None:
    """Sort the users whose snapshot is due: a moved total (inserted from the table) or one
    Redis could not compare (checked against the last snapshot, as insert_snapshots does)."""
    for uid, st in statuses.items():
        if st & 2:
            if st & 3 == cache.SNAPSHOT_IF_NEW:
                check.append((uid, as_of, summaries[uid]))
            else:
                due[as_of].append(uid)



def recompute(raw, user_ids: Sequence[int] | None, *, epoch: str | None, snapshot: bool,
              timings: defaultdict, totals: dict | None = None) -> tuple[set[int], list[int], list[int], int, list]:
    """Summaries of these users (None: everybody) on `raw`, whose transaction has the
    `folio_prices` table; Redis in a writer thread while the next batch is summed; the due
    snapshots merged last (the caller commits, then clears `fields`). Returns (changed,
    positions stale, users holding other currencies, users, pending fields)."""
    app = current_app._get_current_object()
    changed: set[int] = set()
    stale: list[int] = []
    others: list[int] = []
    fields: list[str] = []
    due: defaultdict = defaultdict(list)
    check: list = []
    users = 0
    prepare(raw)

    def in_app(entries):
        with app.app_context():
            return write(entries)

    with ThreadPoolExecutor(1, thread_name_prefix="recompute-redis") as pool:
        pending = None
        kept: dict[int, str] = {}

        def collect(job, summaries):
            statuses, f, as_of, spent = job.result()
            timings["redis"] += spent
            fields.extend(f)
            group_due(due, statuses, as_of, check, summaries)
            for uid, st in statuses.items():
                if st % 4:
                    changed.add(uid)
                if st & cache.POSITIONS_STALE:
                    stale.append(uid)

        t = time.perf_counter()
        for rows in batches(raw, user_ids):
            entries = {}
            for uid, summary in rows:
                if summary is None:
                    others.append(uid)
                else:
                    e = entries[uid] = entry(summary, epoch)
                    if totals is not None:  # for the alerts: (base currency, total, fully priced)
                        base = e.fingerprint[:e.fingerprint.index("|")]
                        totals[uid] = (base, summary[10:summary.index('"', 10)], fully_priced(summary))
            users += len(entries)
            timings["read_and_value"] += time.perf_counter() - t
            if pending is not None:
                collect(*pending)
            pending = (pool.submit(in_app, entries), {u: e.summary for u, e in entries.items()})
            t = time.perf_counter()
        if pending is not None:
            collect(*pending)
    if snapshot and (due or check):
        t = time.perf_counter()
        insert_snapshots(raw, due)
        timings["snapshots"] += time.perf_counter() - t
    return changed, stale, others, users, fields, check
