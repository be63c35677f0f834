"""Pricing service: refresh cycles that ask the provider chain and store quotes."""
from __future__ import annotations

import logging
import time
from datetime import datetime, timezone
from decimal import Decimal
from typing import Iterable, NamedTuple, Sequence

import sqlalchemy as sa
from flask import current_app

from pricing_providers import Chain, InstrumentRef, build_chain
from pricing_providers import Quote as ProviderQuote
from pricing_providers.chain import ChainResult
from pricing_providers.manual import ManualProvider
from pricing_providers.simulated import SimulatedProvider
from webapp.domain import markets
from webapp.domain.valuation import PriceInfo
from webapp.extensions import db
from webapp.models import Holding, Instrument, Quote
from webapp.services import cache, jobs
from webapp.services.bulk import insert_ignoring_duplicates
from webapp.services.portfolio.recompute import recompute_portfolios
from webapp.services.pricing import budget
from webapp.services.pricing.quotes import current_quotes

log = logging.getLogger(__name__)
CYCLE_LOCK_TTL = 900


class HeldInstrument(NamedTuple):
    """What a cycle needs of an instrument; a plain row, so 10,000 of them cost little."""

    id: int
    symbol: str
    asset_type: str
    currency: str | None
    provider_symbols: dict


def instrument_ref(inst: Instrument | HeldInstrument) -> InstrumentRef:
    return InstrumentRef(
        symbol=inst.symbol,
        asset_type=inst.asset_type,
        currency=inst.currency,
        provider_symbols=dict(inst.provider_symbols or {}),
    )


def manual_lookup(refs: Sequence[InstrumentRef]) -> dict[str, ProviderQuote]:
    """The newest manual price per symbol, from the Quote history."""
    symbols = [r.symbol for r in refs]
    if not symbols:
        return {}
    rows = db.session.execute(
        sa.select(Instrument.symbol, Quote.price, Quote.currency, Quote.as_of)
        .join(Quote, Quote.instrument_id == Instrument.id)
        .where(Instrument.symbol.in_(symbols), Quote.source == "manual")
        .order_by(Quote.as_of)
    )
    return {
        sym: ProviderQuote(symbol=sym, price=price, currency=ccy, as_of=as_of, source="manual")
        for sym, price, ccy, as_of in rows  # ordered, so the newest wins
    }


def make_chain(spec: str | None = None) -> Chain:
    cfg = current_app.config
    return build_chain(
        spec or cfg["PRICE_PROVIDERS"],
        cfg,
        health=cache.RedisHealth(cfg["PROVIDER_FAILURE_THRESHOLD"], cfg["PROVIDER_COOLDOWN_SECONDS"]),
        throttle=cache.RedisThrottle(),
        store=cache.RedisStore(),  # Yahoo's crumb and CoinGecko's ids outlive the cycle's chain
        extra={
            "manual": ManualProvider(lookup=manual_lookup),
            "simulated": SimulatedProvider(step=cfg["SIMULATED_STEP_SECONDS"]),
        },
    )


def held_instruments(symbols: Iterable[str] | None = None) -> list[HeldInstrument]:
    """The instruments somebody holds (or the given symbols), by symbol."""
    stmt = sa.select(Instrument.id, Instrument.symbol, Instrument.asset_type, Instrument.currency,
                     Instrument.provider_symbols)
    if symbols is not None:
        stmt = stmt.where(Instrument.symbol.in_(list(symbols)))
    else:  # a semi-join on the instrument index, not a DISTINCT over every holding
        stmt = stmt.where(sa.exists().where(Holding.instrument_id == Instrument.id))
    return [HeldInstrument(*row) for row in db.session.execute(stmt.order_by(Instrument.symbol))]


def held_instruments_by_id(ids: Iterable[int]) -> list[HeldInstrument]:
    """These instruments (held or not), by symbol."""
    stmt = sa.select(Instrument.id, Instrument.symbol, Instrument.asset_type, Instrument.currency,
                     Instrument.provider_symbols).where(Instrument.id.in_(list(ids)))
    return [HeldInstrument(*row) for row in db.session.execute(stmt.order_by(Instrument.symbol))]


def _insert_ignoring_duplicates(rows: list[dict]) -> None:
    insert_ignoring_duplicates(Quote, rows, ("instrument_id", "as_of"))


def sanity_validator(last: dict[str, PriceInfo], band: Decimal):
    def validate(q: ProviderQuote) -> str | None:
        prev = last.get(q.symbol)
        if prev is None or prev.currency != q.currency or prev.price <= 0:
            return None
        ratio = q.price / prev.price
        if ratio > band or ratio < 1 / band:
            return f"{q.price} is {ratio:.2f}x the last good price {prev.price} (band {band}x)"
        return None

    return validate


def previous_close(q: ProviderQuote, prev: PriceInfo | None) -> Decimal | None:
    """The close the day change is measured from: the provider's own, else from our history --
    the last quote of an earlier day, or, later the same day, the close that quote carried."""
    if q.previous_close is not None and q.previous_close > 0:
        return q.previous_close
    if prev is None or prev.currency != q.currency:
        return None
    if prev.as_of.date() < q.as_of.date():
        return prev.price
    return prev.previous_close


def store_quotes(instruments: Sequence[Instrument | HeldInstrument], quotes: dict[str, ProviderQuote],
                 last: dict[str, PriceInfo]) -> list[int]:
    """Append new quotes (never an older one over a newer one) and cache them. Returns changed ids."""
    by_symbol = {i.symbol: i for i in instruments}
    fresh: dict[str, ProviderQuote] = {}
    for sym, q in quotes.items():
        prev = last.get(sym)
        if prev is not None and q.as_of <= prev.as_of:
            continue  # not newer than what we hold
        fresh[sym] = q
    if not fresh:
        return []
    closes = {s: previous_close(q, last.get(s)) for s, q in fresh.items()}
    now = datetime.now(timezone.utc)
    _insert_ignoring_duplicates(
        [
            {
                "instrument_id": by_symbol[s].id,
                "price": q.price,
                "currency": q.currency,
                "as_of": q.as_of,
                "fetched_at": now,
                "source": q.source,
                "previous_close": closes[s],
            }
            for s, q in sorted(fresh.items())
        ]
    )
    learned = [{"iid": by_symbol[s].id, "ccy": q.currency} for s, q in fresh.items()
               if by_symbol[s].currency is None and not q.currency_inferred]
    if learned:  # the currency of instruments that had none
        t = Instrument.__table__
        db.session.execute(
            sa.update(t).where(t.c.id == sa.bindparam("iid"), t.c.currency.is_(None)).values(currency=sa.bindparam("ccy")),
            learned,
        )
    db.session.commit()
    cache.write_quotes(
        {s: PriceInfo(price=q.price, currency=q.currency, as_of=q.as_of, source=q.source, previous_close=closes[s])
         for s, q in fresh.items()},
        now,
    )
    return sorted(by_symbol[s].id for s in fresh)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def split_closed(instruments: Sequence[HeldInstrument], last: dict[str, PriceInfo],
                 now: datetime) -> tuple[list[HeldInstrument], list[HeldInstrument]]:
    """(due, still fresh): an instrument whose market has not traded since its last quote
    cannot have a newer price, nor can a fund whose NAV is not older than the last session's
    close, so a cycle spends no request on them. Simulated quotes follow no market."""
    due, fresh = [], []
    for inst in instruments:
        q = last.get(inst.symbol)
        if q is not None and q.source != "simulated" and _not_due(inst, q.as_of, now):
            fresh.append(inst)
        else:
            due.append(inst)
    return due, fresh


def _not_due(inst: HeldInstrument, as_of: datetime, now: datetime) -> bool:
    calendar = markets.calendar_for(inst.symbol, inst.asset_type)
    if inst.asset_type == "mutual_fund":  # end of day: a new NAV needs a session closed after this one
        closed = markets.last_close(calendar, now)
        return closed is None or closed <= as_of
    return markets.closed_since(calendar, as_of, now)


def fetch_planned(chain: Chain, plan: budget.Plan, validate) -> ChainResult:
    """Each provider's share of the plan, cheapest provider first; an instrument it cannot
    price falls back along the rest of the chain (within their budgets)."""
    total = ChainResult()
    by_name = {p.name: p for p in chain.providers}
    for pp in plan.providers:
        if not pp.instruments:
            continue
        first = by_name[pp.name]
        sub = Chain([first] + [p for p in chain.providers if p is not first], health=chain.health,
                    throttle=chain.throttle)
        result = sub.fetch(pp.instruments, validate)
        total.quotes.update(result.quotes)
        for sym, tried in result.failures.items():
            total.failures[sym].extend(tried)
        for name, n in result.calls.items():
            total.calls[name] += n
        for name, n in result.requests.items():
            total.requests[name] += n
    return total


def fetch_and_store(instruments: Sequence[Instrument], chain: Chain | None = None,
                    last: dict[str, PriceInfo] | None = None, plan: budget.Plan | None = None) -> dict:
    """Fetch (all of them, or as planned) and store. `instruments` are those asked for."""
    chain = chain or make_chain()
    started = time.monotonic()
    if last is None:
        last = current_quotes({i.symbol: i.id for i in instruments})
    band = Decimal(str(current_app.config["SANITY_BAND"]))
    validate = sanity_validator(last, band)
    if plan is None:
        result = chain.fetch([instrument_ref(i) for i in instruments], validate)
    else:
        result = fetch_planned(chain, plan, validate)
    changed = store_quotes(instruments, result.quotes, last)
    for sym in result.failed_symbols:
        tried = "; ".join(f"{p}: {e.kind} ({e})" for p, e in result.failures[sym])
        log.warning("no quote for %s: %s", sym, tried)
    note_unknown(instruments, result)
    return {
        "symbols": len(instruments),
        "fetched": len(result.quotes),
        "failed": len(result.failed_symbols),
        "changed": len(changed),
        "changed_ids": changed,
        "seconds": round(time.monotonic() - started, 3),
        "calls": dict(result.calls),
        "requests": dict(result.requests),
    }


def note_unknown(instruments: Sequence[Instrument | HeldInstrument], result) -> None:
    """Symbols every provider asked called unknown are remembered (a quote clears them); the holders
    of a newly unknown one get a fresh summary, so the page says so instead of "fetching price…"."""
    unknown = [s for s in result.failed_symbols
               if result.failures[s] and all(e.kind == "unknown_symbol" for _, e in result.failures[s])]
    try:
        cache.clear_unknown(result.quotes)
        new = set(cache.mark_unknown(unknown))
    except cache.RedisError:
        return
    ids = [i.id for i in instruments if i.symbol in new]
    if ids:
        from webapp.services.portfolio.read_model import holders_of

        try:
            cache.touch_portfolios(holders_of(ids))
        except cache.RedisError:
            pass


def plan_cycle(chain: Chain, due: Sequence[HeldInstrument], last: dict[str, PriceInfo]) -> budget.Plan:
    """Budget each provider of the chain from the shared throttle's counters, then assign."""
    throttle = cache.RedisThrottle()
    cfg = current_app.config
    plan = budget.make_plan(
        chain.providers, [instrument_ref(i) for i in due], {s: q.as_of for s, q in last.items()},
        used=lambda p: throttle.used(p.name, p.rate_limit) if p.rate_limit else 0,
        reserve_share=float(cfg["PRICE_BUDGET_RESERVE"]),
    )
    chain.throttle = budget.BudgetThrottle(chain.throttle, plan.budgets)
    return plan


def coverage_record(started: datetime, held: int, fresh: int, stats: dict, plan: budget.Plan) -> dict:
    due = stats["symbols"]
    return {
        "started_at": started.isoformat(timespec="seconds"),
        "held": held,
        "still_fresh": fresh,
        "due": due,
        "refreshed": stats["fetched"],
        "failed": stats["failed"],
        "skipped_budget": len(plan.skipped),
        "coverage": round(stats["fetched"] / due, 4) if due else 1.0,
        "providers": {
            pp.name: {"requests": stats["requests"].get(pp.name, 0),
                      "budget": None if pp.budget >= budget.UNLIMITED else pp.budget,
                      "planned": len(pp.instruments)}
            for pp in plan.providers
        },
    }


def refresh_prices(symbols: list[str] | None = None, *, sync: bool = False) -> dict:
    """One refresh cycle: the due held instruments within the request budget, then recompute
    the holders of changed ones; the cycle's coverage is recorded and watched."""
    from webapp.services import monitoring

    # held by this RQ execution: a retry of a cycle whose worker was killed takes it over
    token = cache.acquire_lock("cycle", CYCLE_LOCK_TTL, jobs.current_execution(), jobs.execution_alive)
    if token is None:
        log.info("refresh_prices: another cycle is running; skipped")
        return {"skipped": "another cycle is running"}
    started = utcnow()
    try:
        held = held_instruments(symbols)
        last = current_quotes({i.symbol: i.id for i in held})
        # symbols named by an operator are asked for whatever the market does
        skip = symbols is None and current_app.config["PRICE_SKIP_CLOSED_MARKETS"]
        due, fresh = split_closed(held, last, started) if skip else (held, [])
        chain = make_chain()
        plan = plan_cycle(chain, due, last)
        stats = fetch_and_store(due, chain, last=last, plan=plan)
        stats["held"], stats["still_fresh"], stats["skipped_budget"] = len(held), len(fresh), len(plan.skipped)
        changed = stats.pop("changed_ids")
        if changed:
            if sync:
                recompute_portfolios(instrument_ids=changed)
            else:  # one job for every holder of every changed instrument: never one per symbol or user
                stats["recompute_job"] = jobs.enqueue("default", "workers.portfolios.recompute_portfolios", changed).id
        record = coverage_record(started, len(held), len(fresh), stats, plan)
        stats["coverage"] = record["coverage"]
        cache.finish_cycle(
            {
                "started_at": started.isoformat(),
                "seconds": stats["seconds"],
                "held": stats["held"],
                "still_fresh": stats["still_fresh"],
                "symbols": stats["symbols"],
                "fetched": stats["fetched"],
                "failed": stats["failed"],
                "skipped_budget": stats["skipped_budget"],
                "changed": stats["changed"],
            }
        )
        cache.record_coverage(record)
        monitoring.evaluate_rule("price_coverage")
        log.info("refresh_prices: %s", stats)
        return stats
    finally:
        cache.release_lock("cycle", token)


def refresh_symbol(instrument_id: int) -> dict:
    """Price one instrument now (a newly added holding) and update its holders."""
    inst = db.session.get(Instrument, instrument_id)
    if inst is None:
        return {"skipped": "no such instrument"}
    stats = fetch_and_store([inst])
    changed = stats.pop("changed_ids")
    if changed:
        recompute_portfolios(instrument_ids=changed)
    return stats
