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


def backfill(symbol: str, days: int) -> dict:
    """Store up to `days` daily closes of `symbol` from the first provider in the chain
    that has history for it. Existing rows are kept (duplicates are ignored)."""
    inst = db.session.scalar(sa.select(Instrument).where(Instrument.symbol == symbol))
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
