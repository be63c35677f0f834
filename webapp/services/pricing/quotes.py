"""Reading quotes and exchange rates: Redis first, the database for what Redis lacks."""
from __future__ import annotations

import logging
from datetime import datetime, timezone
from decimal import Decimal
from typing import Iterable

import sqlalchemy as sa

from webapp.domain.valuation import PriceInfo
from webapp.extensions import db
from webapp.models import Instrument, Quote
from webapp.services import cache

log = logging.getLogger(__name__)
BATCH = 2000  # ids per IN (...) list
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
    from webapp.services.pricing.fx import current_rates

    return current_rates()


def unknown_symbols(symbols: Iterable[str]) -> set[str]:
    """Of these symbols, those no provider knows (as of their last fetch); empty when Redis is down."""
    try:
        return cache.unknown_among(symbols)
    except cache.RedisError:
        return set()


def latest_for_symbol(symbol: str) -> tuple[Instrument, PriceInfo] | None:
    """The instrument of that symbol and its current quote; None when it is unknown or unpriced."""
    inst = db.session.scalar(sa.select(Instrument).where(Instrument.symbol == symbol))
    if inst is None:
        return None
    quote = current_quotes({inst.symbol: inst.id}).get(inst.symbol)
    return (inst, quote) if quote is not None else None
