"""`flask prices` (refresh, coverage, show, set, backfill, import) and `flask providers` (list, check)."""
from __future__ import annotations

import re
import sys
from datetime import datetime, time, timezone
from decimal import Context, Decimal, InvalidOperation

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import AppGroup

from webapp.cli.common import fail, fail_lines, find_instrument, read_text
from webapp.domain.inputs import (
    normalise_symbol,
    parse_decimal,
)
from webapp.extensions import db
from webapp.models import Quote
from webapp.services import cache

prices_cli = AppGroup("prices", help="Refresh, show and set prices.")
providers_cli = AppGroup("providers", help="Inspect the price provider chain.")


@prices_cli.command("refresh")
@click.option("--symbol", "symbols", multiple=True, help="Only this symbol (repeatable).")
@click.option("--sync", is_flag=True, help="Run now in this process instead of enqueueing a job.")
def prices_refresh(symbols: tuple[str, ...], sync: bool) -> None:
    """Run a price refresh cycle."""
    from webapp.services import jobs
    from webapp.services.pricing.refresh import refresh_prices

    wanted = [find_instrument(s).symbol for s in symbols] or None
    if sync:
        stats = refresh_prices(wanted, sync=True)
        if "skipped" in stats:
            fail(stats["skipped"])
        fresh = f", {stats['still_fresh']} still fresh (market closed since)" if stats.get("still_fresh") else ""
        if stats.get("skipped_budget"):
            fresh += f", {stats['skipped_budget']} skipped (request budget spent)"
        click.echo(
            f"{stats['symbols']} symbols: {stats['fetched']} fetched, {stats['failed']} failed, "
            f"{stats['changed']} changed ({stats['seconds']}s){fresh}"
        )
    else:
        job = jobs.enqueue("default", "workers.prices.refresh_prices", wanted)
        click.echo(f"enqueued job {job.id}")


@prices_cli.command("coverage")
def prices_coverage() -> None:
    """The coverage of the last 10 refresh cycles, newest first, one line each."""
    history = cache.coverage_history()
    if not history:
        click.echo("No refresh cycle has recorded its coverage yet.")
        return
    for c in history:
        spent = ", ".join(f"{name} {p['requests']}/{'∞' if p['budget'] is None else p['budget']}"
                          for name, p in sorted(c["providers"].items()))
        click.echo(
            f"{c['started_at']}  coverage {c['coverage']:.1%}: {c['held']} held, {c['still_fresh']} still fresh, "
            f"{c['due']} due, {c['refreshed']} refreshed, {c['failed']} failed, "
            f"{c['skipped_budget']} skipped for budget; requests/budget: {spent or 'none'}"
        )


@prices_cli.command("show")
@click.argument("symbol")
@click.option("--history", default=5, show_default=True, type=click.IntRange(1, 1000),
              help="How many past quotes to list.")
def prices_show(symbol: str, history: int) -> None:
    """Show the latest quotes of SYMBOL."""
    inst = find_instrument(symbol)
    rows = db.session.scalars(
        sa.select(Quote).where(Quote.instrument_id == inst.id).order_by(Quote.as_of.desc()).limit(history)
    ).all()
    if not rows:
        click.echo(f"{inst.symbol}: no price yet")
        return
    for q in rows:
        click.echo(f"{inst.symbol}  {q.price.normalize():f} {q.currency}  as of {q.as_of:%Y-%m-%d %H:%M} UTC  ({q.source})")


EARLIEST_PRICE_DATE = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _parse_date(value: str | None) -> datetime:
    if not value:
        return datetime.now(timezone.utc).replace(microsecond=0)
    try:
        if len(value) == 10:
            parsed = datetime.combine(datetime.strptime(value, "%Y-%m-%d").date(), time(23, 59), timezone.utc)
        else:
            parsed = datetime.fromisoformat(value)
        # to UTC here: "0001-01-01T00:00-01:00" has no UTC date (OverflowError)
        parsed = (parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)
    except (ValueError, OverflowError):
        fail(f"“{value[:40]}” is not a date; use YYYY-MM-DD or an ISO date-time.")
    if parsed < EARLIEST_PRICE_DATE:
        fail("the date is before 1970.")
    return parsed


@prices_cli.command("set")
@click.argument("symbol")
@click.argument("price")
@click.option("--currency", default=None, help="ISO currency code (default: the instrument's, else USD).")
@click.option("--as-of", "as_of", default=None, help="Date of the price, YYYY-MM-DD (default: now).")
def prices_set(symbol: str, price: str, currency: str | None, as_of: str | None) -> None:
    """Set a manual price for SYMBOL."""
    from pricing_providers import Quote as ProviderQuote
    from webapp.services.portfolio.recompute import recompute_portfolios
    from webapp.services.pricing.quotes import current_quotes
    from webapp.services.pricing.refresh import store_quotes

    inst = find_instrument(symbol)
    try:
        value = parse_decimal(price)
    except InvalidOperation:
        fail(f"“{price[:40]}” is not a number.")
    if not value.is_finite() or value <= 0:
        fail("the price must be a positive number.")
    if value >= Decimal("1e18"):
        fail("that price is too large.")
    if value != value.quantize(Decimal("1e-10"), context=Context(prec=40)):
        fail("use at most 10 decimal places.")  # stored with 10: 1e-11 would become a price of 0
    ccy = currency if currency is not None else (inst.currency or "USD")
    if not re.fullmatch(r"[A-Za-z]{3}", ccy):  # ASCII: "ÄÖÜ".isalpha() is true too
        fail(f"“{ccy[:40]}” is not a three-letter currency code.")
    ccy = ccy.upper()
    when = _parse_date(as_of)
    if when > datetime.now(timezone.utc).replace(hour=23, minute=59, second=59):
        fail("the date is in the future.")
    last = current_quotes({inst.symbol: inst.id})
    q = ProviderQuote(symbol=inst.symbol, price=value, currency=ccy, as_of=when, source="manual")
    changed = store_quotes([inst], {inst.symbol: q}, last)
    if not changed:
        fail(f"{inst.symbol} already has a price as of {last[inst.symbol].as_of:%Y-%m-%d %H:%M} UTC or later; "
             "a manual price must be newer.")
    recompute_portfolios(instrument_ids=changed)
    click.echo(f"{inst.symbol} set to {value.normalize():f} {ccy} as of {when:%Y-%m-%d %H:%M} UTC")


@prices_cli.command("backfill")
@click.argument("symbol")
@click.option("--days", default=365, show_default=True, type=click.IntRange(1, 3650), help="How many days back.")
@click.option("--sync", is_flag=True, help="Run now in this process instead of enqueueing a job (queue low).")
def prices_backfill(symbol: str, days: int, sync: bool) -> None:
    """Load daily price history of SYMBOL from providers that offer it."""
    from webapp.services import jobs
    from webapp.services.pricing.backfill import backfill

    inst = find_instrument(symbol)
    if not sync:
        job = jobs.enqueue("low", "workers.history.backfill", inst.symbol, days, timeout=600)
        click.echo(f"enqueued job {job.id}")
        return
    stats = backfill(inst.symbol, days)
    if "error" in stats:
        fail(f"no history for {inst.symbol}: {stats['error']}")
    click.echo(f"{inst.symbol}: {stats['received']} daily prices from {stats['source']}, {stats['stored']} new; "
               f"{stats['reconstructed']} daily values of its holders' portfolios reconstructed")


@prices_cli.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--create", is_flag=True, help="Add instruments the file names that are not known yet.")
def prices_import(file: str, create: bool) -> None:
    """Import daily closes from a CSV `date,symbol,close,currency`; all lines or none."""
    from webapp.domain.daily_csv import parse_closes
    from webapp.services.pricing.backfill import import_closes

    closes, errors = parse_closes(read_text(file), datetime.now(timezone.utc).date())
    if errors:
        fail_lines(errors)
    stats = import_closes(closes, create=create)
    if "errors" in stats:
        fail_lines(stats["errors"])
    created = f", {len(stats['created'])} instruments added ({', '.join(stats['created'])})" if stats["created"] else ""
    newest = f"; newest price now from the file: {', '.join(stats['newest_price'])}" if stats["newest_price"] else ""
    click.echo(f"{stats['received']} closes read, {stats['stored']} new, {stats['received'] - stats['stored']} "
               f"already known{created}{newest}; {stats['reconstructed']} daily portfolio values reconstructed")


@providers_cli.command("list")
def providers_list() -> None:
    """List known providers and the configured chain with its health."""
    from pricing_providers import registry

    chain = registry.parse_names(current_app.config["PRICE_PROVIDERS"])
    try:
        health = cache.provider_health(chain)
    except cache.RedisError:
        health = {}
    click.echo("chain: " + " -> ".join(chain))
    for name in registry.available():
        cls = registry.get(name)
        pos = f"#{chain.index(name) + 1}" if name in chain else "  -"
        key = current_app.config.get(f"PROVIDER_{name.upper()}_API_KEY")
        keynote = "" if not cls.needs_key else (" key set" if key else " NEEDS PROVIDER_%s_API_KEY" % name.upper())
        h = health.get(name) or {}
        state = ""
        if h:
            open_until = float(h.get("open_until", 0) or 0)
            state = " circuit OPEN" if open_until > datetime.now(timezone.utc).timestamp() else " healthy"
            if h.get("last_error"):
                state += f"; last error: {h['last_error']}"
        click.echo(f"{pos:>3} {name:<13} {cls.label or name}{keynote}{state}")


@providers_cli.command("check")
@click.option("--symbol", default=None, help="Symbol to ask for (default: each provider's probe symbol).")
def providers_check(symbol: str | None) -> None:
    """Ask each configured provider for one known symbol and report ok / error."""
    from pricing_providers import InstrumentRef, ProviderError
    from webapp.services.pricing.refresh import make_chain

    chain = make_chain()
    bad = 0
    for provider in chain.providers:
        ref = provider.probe_symbol if symbol is None else InstrumentRef(normalise_symbol(symbol))
        if not provider.configured:
            click.echo(f"{provider.name:<13} error: needs PROVIDER_{provider.name.upper()}_API_KEY")
            bad += 1
            continue
        try:
            answer = provider.fetch([ref]).get(ref.symbol)
        except ProviderError as exc:
            answer = exc
        except Exception as exc:  # report, never crash the check
            answer = ProviderError(f"{type(exc).__name__}: {exc}")
        if isinstance(answer, ProviderError) or answer is None:
            bad += 1
            click.echo(f"{provider.name:<13} error: {getattr(answer, 'kind', 'no answer')}: {answer}")
        else:
            click.echo(f"{provider.name:<13} ok: {ref.symbol} {answer.price} {answer.currency} "
                       f"as of {answer.as_of:%Y-%m-%d %H:%M} UTC")
    if bad:
        sys.exit(1)
