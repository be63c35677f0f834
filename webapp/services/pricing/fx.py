"""Exchange rates: fetched by the FX chain, kept in the database (history) and Redis."""
from __future__ import annotations

import logging
import time
from datetime import datetime
from decimal import Decimal
from typing import Iterable

import sqlalchemy as sa
from flask import current_app

from pricing_providers.fx import build_fx, cross_rates, fetch_first
from pricing_providers.registry import parse_names
from webapp.extensions import db
from webapp.models import FxRate
from webapp.services import cache

log = logging.getLogger(__name__)


def _insert_ignoring_duplicates(rows: list[dict]) -> None:
    dialect = db.session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    db.session.execute(insert(FxRate).on_conflict_do_nothing(index_elements=["base", "quote", "as_of"]), rows)


def rates_per_eur_from_db() -> tuple[dict[str, Decimal], datetime | None, str | None]:
    """The newest EUR-based rate of each currency in the database."""
    newest = (
        sa.select(FxRate.quote, sa.func.max(FxRate.id).label("id"))
        .where(FxRate.base == "EUR")
        .group_by(FxRate.quote)
        .subquery()
    )
    rows = db.session.execute(
        sa.select(FxRate.quote, FxRate.rate, FxRate.as_of, FxRate.source).join(newest, newest.c.id == FxRate.id)
    ).all()
    if not rows:
        return {}, None, None
    latest = max(rows, key=lambda r: r.as_of)
    return {q: r for q, r, _, _ in rows}, latest.as_of, latest.source


def current_rates() -> dict[tuple[str, str], Decimal]:
    """All cross rates from the latest rates: Redis first, else the database (and heal Redis)."""
    try:
        per_eur, as_of, source = cache.read_fx()
        if not per_eur:
            per_eur, as_of, source = rates_per_eur_from_db()
            if per_eur:
                cache.write_fx(per_eur, as_of, source)
    except cache.RedisError:
        per_eur, _, _ = rates_per_eur_from_db()
    return cross_rates(per_eur) if per_eur else {}


ON_DEMAND_JOB = "workers.fx.refresh_fx_now"


def request_refresh() -> bool:
    """Fetch rates now, on `high` (a currency with no rate, the scheduler starting), unless
    that was asked for within FX_ON_DEMAND_DEDUPE_SECONDS. True when a job was enqueued."""
    from webapp.services import jobs

    if not cache.claim_fx_request(current_app.config["FX_ON_DEMAND_DEDUPE_SECONDS"]):
        return False
    jobs.enqueue("high", ON_DEMAND_JOB, job_id=f"fx-on-demand-{time.time_ns():x}", timeout=120)
    return True


def request_if_unconverted(currencies: Iterable[str] | bool) -> None:
    """A valuation left some currency unconverted (no rate cached): ask for rates at once.
    Never raises: with Redis down the hourly fetch brings them."""
    if currencies is True or (currencies is not False and any(True for _ in currencies)):
        try:
            request_refresh()
        except Exception:
            log.exception("could not ask for exchange rates")


def refresh_fx(recompute_queue: str = "default") -> dict:
    """Fetch the day's reference rates from the first FX provider that answers."""
    cfg = current_app.config
    chain = [build_fx(n, cfg) for n in parse_names(cfg["FX_PROVIDERS"])]
    rates, failures = fetch_first(chain)
    for name, err in failures:
        log.warning("FX provider %s failed: %s (%s)", name, err.kind, err)
    if not rates:
        return {"fetched": 0, "failed": [n for n, _ in failures]}
    rows = [{"base": r.base, "quote": r.quote, "rate": r.rate, "as_of": r.as_of, "source": r.source} for r in rates]
    _insert_ignoring_duplicates(rows)
    db.session.commit()
    per_eur = {r.quote: r.rate for r in rates if r.base == "EUR"}
    try:
        before, _, _ = cache.read_fx()
    except cache.RedisError:
        before = None
    cache.write_fx(per_eur, max(r.as_of for r in rates), rates[0].source)
    result = {"fetched": len(rates), "source": rates[0].source, "failed": [n for n, _ in failures]}
    users = users_holding_foreign_currency() if before != per_eur else []
    if users:  # new rates: revalue whoever holds something in another currency
        from webapp.services.jobs import enqueue

        result["recompute_job"] = enqueue(recompute_queue, "workers.portfolios.recompute_portfolios", user_ids=users).id
    result["revalued_users"] = len(users)
    return result


def users_holding_foreign_currency() -> list[int]:
    """Users with a holding whose instrument is quoted in a currency other than their base."""
    from webapp.models import Account, Holding, Instrument, User

    return list(db.session.scalars(
        sa.select(User.id).distinct()
        .join(Account, Account.owner_id == User.id)
        .join(Holding, Holding.account_id == Account.id)
        .join(Instrument, Instrument.id == Holding.instrument_id)
        .where(Instrument.currency.is_not(None), Instrument.currency != User.base_currency)
        .order_by(User.id)
    ))
