"""Price history backfill: daily closes from providers that offer them (run on queue `low`)."""
from __future__ import annotations

import logging

import sqlalchemy as sa

from pricing_providers import ProviderError
from webapp.extensions import db
from webapp.models import Instrument, Quote
from webapp.services.portfolio.reconstruct import reconstruct_history
from webapp.services.pricing.refresh import (
    _insert_ignoring_duplicates,
    instrument_ref,
    make_chain,
)

log = logging.getLogger(__name__)


def backfill(symbol: str, days: int, create_as: str | None = None) -> dict:
    """Store up to `days` daily closes of `symbol` from the first provider in the chain
    that has history for it. Existing rows are kept (duplicates are ignored). An unknown
    symbol is created with asset type `create_as` when given (a benchmark nobody holds)."""
    inst = db.session.scalar(sa.select(Instrument).where(Instrument.symbol == symbol))
    if inst is None and create_as:
        from webapp.services.assets import instrument_for

        inst = instrument_for(symbol, create_as)
        db.session.commit()
    if inst is None:
        return {"symbol": symbol, "stored": 0, "error": "no such instrument"}
    ref = instrument_ref(inst)
    errors = []
    for provider in make_chain().providers:
        if not provider.covers(ref):
            continue
        try:
            quotes = provider.history(ref, days)
        except ProviderError as exc:
            errors.append(f"{provider.name}: {exc.kind} ({exc})")
            continue
        quotes = [q for q in quotes if q.price > 0]
        if not quotes:
            errors.append(f"{provider.name}: no history")
            continue
        count = sa.select(sa.func.count()).select_from(Quote).where(Quote.instrument_id == inst.id)
        before = db.session.scalar(count)
        _insert_ignoring_duplicates([
            {"instrument_id": inst.id, "price": q.price, "currency": q.currency, "as_of": q.as_of,
             "fetched_at": q.as_of, "source": q.source, "previous_close": None}
            for q in quotes
        ])
        db.session.commit()
        rebuilt = reconstruct_history(instrument_ids=[inst.id], days=days)
        return {"symbol": symbol, "stored": db.session.scalar(count) - before, "received": len(quotes),
                "source": provider.name, "reconstructed": rebuilt["snapshots"]}
    return {"symbol": symbol, "stored": 0, "error": "; ".join(errors) or "no provider offers history for it"}


# ---- a new portfolio's past, from the daily closes ---------------------------------------------


# ---- daily closes from a file ------------------------------------------------------------------
def import_closes(closes: list, create: bool = False) -> dict:
    """Store daily closes (`webapp.domain.daily_csv.Close`) as quotes of source "import", as of
    23:59 UTC of their day, ignoring days already stored. Unknown symbols are refused (each line
    named) unless `create`; a close in another currency than its instrument's is refused. An
    older close never replaces the latest price; a newer one becomes it. Holders' past is rebuilt."""
    from datetime import datetime, time, timezone

    from webapp.services import cache
    from webapp.services.portfolio.recompute import recompute_portfolios
    from webapp.services.pricing.quotes import current_quotes, latest_quotes_from_db

    symbols = sorted({c.symbol for c in closes})
    known = {i.symbol: i for i in db.session.scalars(sa.select(Instrument).where(Instrument.symbol.in_(symbols)))}
    errors = []
    first_currency: dict[str, str] = {}
    for c in sorted(closes, key=lambda c: c.line):
        inst = known.get(c.symbol)
        expected = inst.currency if inst is not None and inst.currency else first_currency.setdefault(c.symbol, c.currency)
        if inst is None and not create:
            errors.append(f"line {c.line}: unknown symbol {c.symbol} (no such instrument; --create adds it)")
        elif c.currency != expected:
            errors.append(f"line {c.line}: {c.symbol} is priced in {expected}, not {c.currency}")
    if errors:
        return {"errors": errors}
    created = [s for s in symbols if s not in known]
    for symbol in created:
        known[symbol] = Instrument(symbol=symbol, currency=first_currency[symbol])
        db.session.add(known[symbol])
    db.session.flush()
    for inst in known.values():  # the currency of instruments that had none
        inst.currency = inst.currency or first_currency.get(inst.symbol)
    ids = {s: i.id for s, i in known.items()}
    last = current_quotes(ids)
    count = sa.select(sa.func.count()).select_from(Quote).where(Quote.instrument_id.in_(list(ids.values())))
    before = db.session.scalar(count)
    rows = [{"instrument_id": ids[c.symbol], "price": c.close, "currency": c.currency,
             "as_of": datetime.combine(c.day, time(23, 59), timezone.utc), "fetched_at": datetime.now(timezone.utc),
             "source": "import", "previous_close": None} for c in sorted(closes, key=lambda c: (c.day, c.symbol))]
    for n in range(0, len(rows), 5000):
        _insert_ignoring_duplicates(rows[n:n + 5000])
    db.session.commit()
    stored = db.session.scalar(count) - before
    newest = latest_quotes_from_db(ids.values())
    newer = {s: q for s, q in newest.items() if s not in last or q.as_of > last[s].as_of}
    if newer:  # an import may bring the newest price; an older close never replaces it
        try:
            cache.write_quotes(newer, datetime.now(timezone.utc))
        except cache.RedisError:  # the database holds them; Redis heals from it when read
            log.warning("Redis unavailable; imported prices not cached")
        recompute_portfolios(instrument_ids=sorted(ids[s] for s in newer))
    days = (datetime.now(timezone.utc).date() - min(c.day for c in closes)).days + 1 if closes else 0
    rebuilt = reconstruct_history(instrument_ids=sorted(ids.values()), days=max(days, 1)) if stored else {"snapshots": 0}
    return {"received": len(closes), "stored": stored, "instruments": len(ids),
            "created": created,
            "newest_price": sorted(newer), "reconstructed": rebuilt["snapshots"]}
