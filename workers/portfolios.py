"""Portfolio service: value users' portfolios from the database and cache them in Redis."""
from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime, timezone
from typing import Iterable, Sequence

import sqlalchemy as sa

from webapp import live
from webapp.extensions import db
from webapp.models import Account, Holding, Instrument, PortfolioSnapshot, Quote, User
from webapp.portfolio import AccountRef, Position, PriceInfo, Valuation, value_portfolio

from .context import job

log = logging.getLogger(__name__)
BATCH = 2000


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
            sa.select(Quote.instrument_id, Quote.price, Quote.currency, Quote.as_of, Quote.source, rn)
            .where(Quote.instrument_id.in_(chunk))
            .subquery()
        )
        rows = db.session.execute(
            sa.select(Instrument.symbol, sub.c.price, sub.c.currency, sub.c.as_of, sub.c.source)
            .join(sub, sub.c.instrument_id == Instrument.id)
            .where(sub.c.rn == 1)
        )
        for symbol, price, currency, as_of, source in rows:
            out[symbol] = PriceInfo(price=price, currency=currency, as_of=as_of, source=source)
    return out


def current_quotes(instruments: dict[str, int]) -> dict[str, PriceInfo]:
    """Quotes for {symbol: instrument_id}: Redis first, the database for what Redis lacks.

    What comes from the database is written back, so a flushed Redis heals itself.
    """
    quotes: dict[str, PriceInfo] = {}
    try:
        quotes = live.read_quotes(instruments)
    except live.RedisError:
        log.warning("Redis unavailable; reading quotes from the database")
        return latest_quotes_from_db(instruments.values())
    missing = [iid for sym, iid in instruments.items() if sym not in quotes]
    if missing:
        from_db = latest_quotes_from_db(missing)
        if from_db:
            live.write_quotes(from_db, datetime.now(timezone.utc))
        quotes.update(from_db)
    return quotes


def value_users(user_ids: Sequence[int]) -> dict[int, Valuation]:
    """Valuations for the given users, from three set-based queries."""
    if not user_ids:
        return {}
    base = dict(db.session.execute(sa.select(User.id, User.base_currency).where(User.id.in_(user_ids))).all())
    rows = db.session.execute(
        sa.select(
            Account.owner_id,
            Account.id,
            Account.name,
            Holding.id,
            Holding.quantity,
            Instrument.id,
            Instrument.symbol,
            Instrument.asset_type,
        )
        .select_from(Account)
        .outerjoin(Holding, Holding.account_id == Account.id)
        .outerjoin(Instrument, Instrument.id == Holding.instrument_id)
        .where(Account.owner_id.in_(user_ids))
    ).all()
    accounts: dict[int, dict[int, AccountRef]] = defaultdict(dict)
    positions: dict[int, list[Position]] = defaultdict(list)
    instruments: dict[str, int] = {}
    for owner, acc_id, acc_name, hid, qty, iid, symbol, asset_type in rows:
        accounts[owner][acc_id] = AccountRef(acc_id, acc_name)
        if hid is not None:
            positions[owner].append(Position(hid, acc_id, symbol, asset_type, qty))
            instruments[symbol] = iid
    quotes = current_quotes(instruments)
    return {
        uid: value_portfolio(accounts[uid].values(), positions[uid], quotes, base[uid])
        for uid in user_ids
        if uid in base
    }


def recompute_users(user_ids: Sequence[int], *, snapshot: bool = True) -> set[int]:
    """Value users, snapshot the ones whose total moved, then publish to Redis.

    The database comes first and decides against the last stored snapshot, so a job
    killed between the two steps leaves nothing half done: its rerun finds the
    snapshot already there and only publishes.
    """
    changed: set[int] = set()
    for start in range(0, len(user_ids), BATCH):
        chunk = list(user_ids[start : start + BATCH])
        valuations = value_users(chunk)
        if snapshot:
            _snapshot(valuations)
        docs = {uid: v.to_json() for uid, v in valuations.items()}
        try:
            changed |= set(live.write_portfolios(docs))
        except live.RedisError:
            log.warning("Redis unavailable; %d portfolios not cached", len(docs))
    return changed


def _snapshot(valuations: dict[int, Valuation]) -> None:
    """A PortfolioSnapshot for each fully priced portfolio whose total moved."""
    # a half-priced total would draw a false drop in the chart
    priced = {uid: v for uid, v in valuations.items() if v.holding_count and not v.pending}
    if not priced:
        return
    last_totals = _last_snapshot_totals(list(priced))
    now = datetime.now(timezone.utc)
    rows = [
        {
            "user_id": uid,
            "as_of": now,
            "currency": v.currency,
            "total_value": v.total,
            "account_values": {str(a.id): format(a.total, "f") for a in v.accounts},
        }
        for uid, v in sorted(priced.items())
        if last_totals.get(uid) != v.total
    ]
    if rows:
        db.session.execute(sa.insert(PortfolioSnapshot), rows)
        db.session.commit()


def _last_snapshot_totals(user_ids: list[int]):
    """The newest snapshot total of each user."""
    rn = sa.func.row_number().over(
        partition_by=PortfolioSnapshot.user_id, order_by=PortfolioSnapshot.id.desc()
    ).label("rn")
    sub = (
        sa.select(PortfolioSnapshot.user_id, PortfolioSnapshot.total_value, rn)
        .where(PortfolioSnapshot.user_id.in_(user_ids))
        .subquery()
    )
    return dict(db.session.execute(sa.select(sub.c.user_id, sub.c.total_value).where(sub.c.rn == 1)).all())


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


@job
def recompute_portfolios(instrument_ids: list[int] | None = None, user_ids: list[int] | None = None) -> dict:
    """Recompute only the users who hold the given instruments (or the given / all users)."""
    if user_ids is None:
        if instrument_ids is None:
            user_ids = sorted(db.session.scalars(sa.select(Account.owner_id).distinct()))
        else:
            user_ids = holders_of(instrument_ids)
    changed = recompute_users(user_ids)
    log.info("recomputed %d portfolios, %d changed", len(user_ids), len(changed))
    return {"users": len(user_ids), "changed": len(changed)}


def portfolio_for(user_id: int) -> tuple[Valuation, str, bool]:
    """The valuation a page shows, its version token, and whether live updates work.

    Served from Redis; rebuilt from the database when Redis forgot it; computed
    from the database alone when Redis is down.
    """
    try:
        raw, token = live.read_portfolio(user_id)
        if raw is None:
            recompute_users([user_id], snapshot=False)
            raw, token = live.read_portfolio(user_id)
        if raw is not None:
            return Valuation.from_json(raw), token, True
    except live.RedisError:
        log.warning("Redis unavailable; valuing user %s from the database", user_id)
    return value_users([user_id])[user_id], "offline", False
