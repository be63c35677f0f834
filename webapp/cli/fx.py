"""`flask fx` (refresh, show): exchange rates, fetched from the FX chain and read from the cache."""
from __future__ import annotations

import re
import sys

import click
from flask import current_app
from flask.cli import AppGroup

from webapp.cli.common import fail

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


@fx_cli.command("show")
@click.argument("currency", required=False)
def fx_show(currency: str | None) -> None:
    """Show the cached rates per 1 EUR, or CURRENCY against the base currency and EUR."""
    from pricing_providers.fx import cross_rates
    from webapp.services.pricing.fx import rates_per_eur_from_db
    from webapp.services import cache

    if currency is not None and not CCY_RE.match(currency):
        fail(f"“{currency[:20]}” is not a currency code (three letters, e.g. EUR).")
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
