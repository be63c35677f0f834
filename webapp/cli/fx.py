"""`flask fx` (refresh, history, import, show): exchange rates, the latest and of past days."""
from __future__ import annotations

import re
import sys
from datetime import date, datetime, timezone

import click
from flask import current_app
from flask.cli import AppGroup

from webapp.cli.common import day_option, fail, fail_lines, read_text

fx_cli = AppGroup("fx", help="Fetch and show exchange rates.")
CCY_RE = re.compile(r"^[A-Za-z]{3}$")


def _rate(value) -> str:
    return format(value.normalize(), "f")


@fx_cli.command("refresh")
@click.option("--sync", is_flag=True, help="Fetch now in this process instead of enqueueing a job.")
def fx_refresh(sync: bool) -> None:
    """Fetch the latest exchange rates from FX_PROVIDERS."""
    from webapp.services import jobs
    from webapp.services.pricing.fx import refresh_fx

    if not sync:
        job = jobs.enqueue("default", "workers.fx.refresh_fx", timeout=120)
        click.echo(f"enqueued job {job.id}")
        return
    result = refresh_fx()
    if not result["fetched"]:
        click.echo(f"Error: no FX provider answered ({', '.join(result['failed']) or 'none configured'}).", err=True)
        sys.exit(1)
    click.echo(f"{result['fetched']} rates from {result['source']}; {result['revalued_users']} users to revalue")


@fx_cli.command("history")
@click.option("--since", default=None, help="First day to load, YYYY-MM-DD (default: all the provider has).")
@click.option("--sync", is_flag=True, help="Load now in this process instead of enqueueing a job (queue low).")
def fx_history(since: str | None, sync: bool) -> None:
    """Load daily exchange-rate history from FX_PROVIDERS (days already stored are kept)."""
    from webapp.services import jobs
    from webapp.services.pricing.fx import load_fx_history

    day = day_option(since, "--since")
    if not sync:
        job = jobs.enqueue("low", "workers.fx.load_fx_history", day.isoformat() if day else None, timeout=1800)
        click.echo(f"enqueued job {job.id}")
        return
    result = load_fx_history(day)
    if result["source"] is None:
        click.echo(f"Error: no FX provider answered ({', '.join(result['failed']) or 'none configured'}).", err=True)
        sys.exit(1)
    span = f" ({result['first']} to {result['last']})" if result["first"] else ""
    click.echo(f"{result['received']} rates over {result['days']} days from {result['source']}{span}, "
               f"{result['stored']} new")


@fx_cli.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
def fx_import(file: str) -> None:
    """Import daily rates from a CSV `date,from,to,rate` (1 from = rate to); all lines or none."""
    from webapp.domain.daily_csv import parse_fx_rates
    from webapp.services.pricing.fx import import_fx_rates

    rows, errors = parse_fx_rates(read_text(file), datetime.now(timezone.utc).date())
    if errors:
        fail_lines(errors)
    stored = import_fx_rates(rows)
    click.echo(f"{len(rows)} rates read, {stored} new, {len(rows) - stored} already known")


@fx_cli.command("show")
@click.argument("currency", required=False)
@click.option("--date", "on", default=None, help="The rate of that day (the nearest earlier day with one), YYYY-MM-DD.")
def fx_show(currency: str | None, on: str | None) -> None:
    """Show the cached rates per 1 EUR, or CURRENCY against the base currency and EUR."""
    from pricing_providers.fx import cross_rates
    from webapp.services import cache
    from webapp.services.pricing.fx import rates_per_eur_from_db

    if currency is not None and not CCY_RE.match(currency):
        fail(f"“{currency[:20]}” is not a currency code (three letters, e.g. EUR).")
    if on is not None:
        if currency is None:
            fail("--date needs a CURRENCY.")
        return _show_on(currency.upper(), day_option(on, "--date"))
    try:
        per_eur, as_of, source = cache.read_fx()
    except cache.RedisError:
        per_eur, as_of, source = {}, None, None
    if not per_eur:
        per_eur, as_of, source = rates_per_eur_from_db()
    if not per_eur:
        fail("no exchange rates yet; run `flask fx refresh --sync`.")
    when = f"as of {as_of:%Y-%m-%d %H:%M} UTC ({source})" if as_of else f"({source})"
    if currency is None:
        click.echo(f"Rates per 1 EUR, {when}:")
        for ccy in sorted(per_eur):
            click.echo(f"  {ccy}  {_rate(per_eur[ccy])}")
        return
    ccy = currency.upper()
    table = cross_rates(per_eur)
    if ccy != "EUR" and ccy not in per_eur:
        fail(f"no rate for {ccy}; known: EUR, {', '.join(sorted(per_eur))}.")
    base = current_app.config["BASE_CURRENCY"]
    for other in dict.fromkeys(c for c in (base, "EUR") if c != ccy):
        rate = table.get((ccy, other))
        if rate is None:
            click.echo(f"1 {ccy} = ? {other} (no rate for {other})")
        else:
            click.echo(f"1 {ccy} = {_rate(rate)} {other}  {when}")


def _show_on(ccy: str, day: date) -> None:
    from webapp.services.pricing.fx import rates_on

    others = [c for c in dict.fromkeys((current_app.config["BASE_CURRENCY"], "EUR")) if c != ccy]
    found = rates_on([(ccy, other, day) for other in others])
    if all(found[(ccy, o, day)] is None for o in others):
        fail(f"no rate for {ccy} on or before {day}; load history with `flask fx history` or `flask fx import`.")
    for other in others:
        rate = found[(ccy, other, day)]
        click.echo(f"1 {ccy} = {'?' if rate is None else _rate(rate)} {other}  on {day} (nearest earlier day)")
