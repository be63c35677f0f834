"""Value history: a user's PortfolioSnapshots over a range, downsampled in SQL, and as CSV.

A long range can hold 100,000 snapshots; the database groups them into time buckets and
returns the first and last snapshot of each, so at most MAX_POINTS rows ever leave it.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Iterator

import sqlalchemy as sa

from webapp.extensions import db
from webapp.models import Account, Holding, PortfolioSnapshot

RANGES: dict[str, timedelta | None] = {
    "1D": timedelta(days=1),
    "1W": timedelta(weeks=1),
    "1M": timedelta(days=30),
    "1Y": timedelta(days=365),
    "All": None,
}
DEFAULT_RANGE = "1M"
MAX_POINTS = 500


@dataclass
class History:
    range: str
    currency: str
    points: list[tuple[datetime, Decimal]] = field(default_factory=list)
    sampled_from: int = 0  # how many snapshots the points stand for
    reconstructed_until: datetime | None = None  # the points up to here were worked out from daily closes
    entered_at: datetime | None = None  # values recorded before this, while the holdings were entered, not drawn
    other_currency: int = 0  # snapshots of the range taken in another base currency (not drawn)
    version: str = "0"  # the id of the user's newest snapshot: what a poll compares


def parse_range(value: str | None) -> str | None:
    """The range key for a URL argument (case-insensitive), None when unknown; default when absent."""
    if not value:
        return DEFAULT_RANGE
    for key in RANGES:
        if key.lower() == value.strip().lower():
            return key
    return None


def latest_version(user_id: int) -> str:
    """The newest snapshot row's id, or "0" when there is none (reconstructed rows are rebuilt
    with new ids, older times: the chart must follow them too)."""
    sid = db.session.scalar(sa.select(sa.func.max(PortfolioSnapshot.id)).where(PortfolioSnapshot.user_id == user_id))
    return str(sid or 0)


ENTRY_WINDOW = timedelta(days=1)


def _still_being_entered(user_id: int) -> datetime | None:
    """When the portfolio's holdings were last added, if that was within a day of its first
    recorded value: the values recorded before were of a portfolio half entered (one holding,
    then two...), a climb that never happened, so the chart starts after the last entry
    (with the reconstructed past before it). Nothing is deleted; the export has them all."""
    S = PortfolioSnapshot
    first = db.session.scalar(sa.select(sa.func.min(S.as_of)).where(
        S.user_id == user_id, S.reconstructed.is_(False), S.superseded_by_split_id.is_(None)))
    if first is None:
        return None
    entered = db.session.scalar(sa.select(sa.func.max(Holding.created_at)).join(Account)
                                .where(Account.owner_id == user_id))
    if entered is None or not first <= entered <= first + ENTRY_WINDOW:
        return None
    return entered


def _epoch_seconds(column):
    if db.session.get_bind().dialect.name == "sqlite":
        return sa.cast(sa.func.strftime("%s", column), sa.BigInteger)
    return sa.cast(sa.func.floor(sa.extract("epoch", column)), sa.BigInteger)


def value_history(user_id: int, currency: str, range_key: str, now: datetime | None = None,
                  max_points: int = MAX_POINTS) -> History:
    """The user's snapshot totals in `currency` over the range, at most `max_points` of them."""
    now = now or datetime.now(timezone.utc)
    span = RANGES[range_key]
    S = PortfolioSnapshot
    in_range = [S.user_id == user_id, S.superseded_by_split_id.is_(None)]
    if span is not None:
        in_range.append(S.as_of >= now - span)
    history = History(range=range_key, currency=currency, version=latest_version(user_id))
    history.entered_at = _still_being_entered(user_id)
    if history.entered_at is not None:
        in_range.append(sa.or_(S.reconstructed.is_(True), S.as_of >= history.entered_at))
    mine = [*in_range, S.currency == currency]
    count, first, last = db.session.execute(
        sa.select(sa.func.count(), sa.func.min(S.as_of), sa.func.max(S.as_of)).where(*mine)
    ).one()
    history.sampled_from = count
    history.other_currency = db.session.scalar(
        sa.select(sa.func.count()).where(*in_range, S.currency != currency)) or 0
    if not count:
        return history
    if count <= max_points:
        ids = None
    else:
        start = first if span is None else now - span
        start_s = int(start.timestamp())
        span_s = max(1, int(last.timestamp()) - start_s + 1)
        buckets = max(1, max_points // 2)
        # integer arithmetic on both databases: bucket = (t - start) * buckets // span
        bucket = ((_epoch_seconds(S.as_of) - start_s) * buckets // span_s).label("bucket")
        grouped = sa.select(sa.func.min(S.id).label("a"), sa.func.max(S.id).label("b")).where(*mine) \
            .group_by(bucket).subquery()
        ids = sa.union(sa.select(grouped.c.a), sa.select(grouped.c.b)).subquery()
    query = sa.select(S.as_of, S.total_value).where(*mine)
    if ids is not None:
        query = query.where(S.id.in_(sa.select(ids.c[0])))
    history.points = [(t, v) for t, v in db.session.execute(query.order_by(S.as_of, S.id))]
    history.reconstructed_until = db.session.scalar(
        sa.select(sa.func.max(S.as_of)).where(*mine, S.reconstructed.is_(True)))
    return history


def _utc_day(column):
    if db.session.get_bind().dialect.name == "sqlite":
        return sa.func.date(column)  # stored as naive UTC text
    return sa.func.date(sa.func.timezone("UTC", column))


def daily_values(user_id: int, currency: str) -> list[tuple[date, Decimal]]:
    """The last value recorded (or reconstructed) on each UTC day, oldest first, in `currency`:
    the same snapshots the chart draws (split-superseded ones and those of a portfolio still
    being entered left out). One row per day leaves the database."""
    S = PortfolioSnapshot
    mine = [S.user_id == user_id, S.superseded_by_split_id.is_(None), S.currency == currency]
    entered_at = _still_being_entered(user_id)
    if entered_at is not None:
        mine.append(sa.or_(S.reconstructed.is_(True), S.as_of >= entered_at))
    last = sa.select(sa.func.max(S.as_of).label("at")).where(*mine).group_by(_utc_day(S.as_of)).subquery()
    rows = db.session.execute(sa.select(S.as_of, S.total_value).join(last, S.as_of == last.c.at)
                              .where(*mine).order_by(S.as_of))
    return [(t.date(), v) for t, v in rows]


CSV_HEADER = ("as_of", "currency", "total_value")


def export_page(user_id: int, cursor: tuple | None = None, batch: int = 1000) -> tuple[str, tuple | None]:
    """One page of the user's value history as CSV text (the header first) and the cursor of the
    next page, None after the last: keyset pages in time order, exact values."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    S = PortfolioSnapshot
    after = sa.true()
    if cursor is None:
        writer.writerow(CSV_HEADER)
    else:
        last_as_of, last_id = cursor
        after = sa.or_(S.as_of > last_as_of, sa.and_(S.as_of == last_as_of, S.id > last_id))
    rows = db.session.execute(
        sa.select(S.id, S.as_of, S.currency, S.total_value)
        .where(S.user_id == user_id, S.superseded_by_split_id.is_(None), S.reconstructed.is_(False), after)
        .order_by(S.as_of, S.id)
        .limit(batch)
    ).all()
    for _, as_of, ccy, total in rows:
        writer.writerow((as_of.strftime("%Y-%m-%dT%H:%M:%SZ"), ccy, format(total, "f")))
    return buf.getvalue(), ((rows[-1][1], rows[-1][0]) if len(rows) == batch else None)


def export_rows(user_id: int, batch: int = 1000) -> Iterator[str]:
    """The user's whole value history as CSV text, page by page (inside an app context)."""
    cursor = None
    while True:
        text, cursor = export_page(user_id, cursor, batch)
        yield text
        if cursor is None:
            return


def snapshots_between(user_id: int, since: datetime | None, until: datetime | None,
                      limit: int = 5000) -> tuple[list[PortfolioSnapshot], bool]:
    """The user's recorded and reconstructed values in [since, until) (those a split superseded
    left out), oldest first, at most `limit` of them (the newest), and whether more were left out."""
    S = PortfolioSnapshot
    q = sa.select(S).where(S.user_id == user_id, S.superseded_by_split_id.is_(None))
    if since is not None:
        q = q.where(S.as_of >= since)
    if until is not None:
        q = q.where(S.as_of < until)
    rows = list(db.session.scalars(q.order_by(S.as_of.desc(), S.id.desc()).limit(limit + 1)))
    return rows[:limit][::-1], len(rows) > limit
