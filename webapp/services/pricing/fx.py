"""Exchange rates: fetched by the FX chain, kept in the database (daily history) and Redis (the latest)."""
from __future__ import annotations

import logging
import time
from datetime import date, datetime, timedelta
from datetime import time as dtime
from decimal import Decimal
from typing import Iterable

import sqlalchemy as sa
from flask import current_app

from pricing_providers import ProviderError
from pricing_providers.fx import CET, build_fx, cross_rates, fetch_first, published
from pricing_providers.registry import parse_names
from webapp.domain.fx_history import FxHistory
from webapp.extensions import db
from webapp.models import FxRate
from webapp.services import cache
from webapp.services.bulk import insert_ignoring_duplicates

log = logging.getLogger(__name__)


def _insert_ignoring_duplicates(rows: list[dict]) -> None:
    insert_ignoring_duplicates(FxRate, rows, ("base", "quote", "as_of"))


def rates_per_eur_from_db() -> tuple[dict[str, Decimal], datetime | None, str | None]:
    """The newest EUR-based rate of each currency in the database (by date: a history loaded
    later holds older days under higher ids)."""
    rn = sa.func.row_number().over(partition_by=FxRate.quote, order_by=(FxRate.as_of.desc(), FxRate.id.desc()))
    newest = (
        sa.select(FxRate.quote, FxRate.rate, FxRate.as_of, FxRate.source, rn.label("rn"))
        .where(FxRate.base == "EUR")
        .subquery()
    )
    rows = db.session.execute(
        sa.select(newest.c.quote, newest.c.rate, newest.c.as_of, newest.c.source).where(newest.c.rn == 1)
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


# ---- daily history: the rate of a past day ---------------------------------------------------
CHUNK = 5000  # rows per INSERT


def _count() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(FxRate))


def _store(rows: list[dict]) -> int:
    """Insert oldest first (ids then follow the dates), ignoring days already stored. New rows."""
    before = _count()
    rows = sorted(rows, key=lambda r: (r["as_of"], r["base"], r["quote"]))
    for n in range(0, len(rows), CHUNK):
        _insert_ignoring_duplicates(rows[n:n + CHUNK])
    db.session.commit()
    return _count() - before


def load_fx_history(since: date | None = None) -> dict:
    """Load daily reference rates since `since` (all when None) from the first FX provider
    that answers, stored as the daily refresh stores them (per 1 EUR, as of the publication).
    Days already stored are kept; Redis (the latest rates) is left to `refresh_fx`."""
    cfg = current_app.config
    failed = []
    for name in parse_names(cfg["FX_PROVIDERS"]):
        provider = build_fx(name, cfg)
        try:
            rates = provider.fetch_history(since)
        except ProviderError as exc:
            log.warning("FX provider %s has no history: %s (%s)", name, exc.kind, exc)
            failed.append(name)
            continue
        stored = _store([{"base": r.base, "quote": r.quote, "rate": r.rate, "as_of": r.as_of, "source": r.source}
                         for r in rates])
        days = {r.as_of for r in rates}
        return {"received": len(rates), "days": len(days), "stored": stored, "source": name, "failed": failed,
                "first": min(days).astimezone(CET).date().isoformat() if days else None,
                "last": max(days).astimezone(CET).date().isoformat() if days else None}
    return {"received": 0, "stored": 0, "source": None, "failed": failed}


def import_fx_rates(rows: Iterable[tuple[date, str, str, Decimal]], source: str = "import") -> int:
    """Store (day, from, to, rate) as given (1 from = rate to); a day already stored for the
    pair is kept. Returns how many rows were new."""
    return _store([{"base": f, "quote": t, "rate": r, "as_of": published(d), "source": source}
                   for d, f, t, r in rows])


def _end_of(day: date) -> datetime:
    return datetime.combine(day + timedelta(days=1), dtime.min, CET)


def fx_history(currencies: Iterable[str], until: date) -> FxHistory:
    """The daily rates among `currencies` and EUR up to `until`, in memory."""
    ccys = sorted(set(currencies) | {"EUR"})
    rows = db.session.execute(
        sa.select(FxRate.base, FxRate.quote, FxRate.as_of, FxRate.rate)
        .where(FxRate.base.in_(ccys), FxRate.quote.in_(ccys), FxRate.as_of < _end_of(until))
    )
    return FxHistory.from_rows((b, q, as_of.astimezone(CET).date(), r) for b, q, as_of, r in rows)


def rates_on(lookups: Iterable[tuple[str, str, date]]) -> dict[tuple[str, str, date], Decimal | None]:
    """Many (base, quote, day) at once (one query): each the rate of the nearest day on or
    before, a stored pair as given when at least as recent as the cross through EUR."""
    wanted = set(lookups)
    if not wanted:
        return {}
    history = fx_history({c for b, q, _ in wanted for c in (b, q)}, max(d for _, _, d in wanted))
    return {(b, q, d): history.rate_on(b, q, d) for b, q, d in wanted}


def rate_on(base: str, quote: str, day: date) -> Decimal | None:
    """1 `base` in `quote` on `day` (the nearest earlier published day); None before any rate."""
    return rates_on([(base, quote, day)])[(base, quote, day)]
