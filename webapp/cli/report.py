"""`flask portfolio report`: a period's returns, gains and income from the ledger, as a table or JSON."""
from __future__ import annotations

import json
import sys
from datetime import datetime, timezone

import click
import sqlalchemy as sa

from webapp.cli.common import day_option, fail, find_user
from webapp.cli.users import portfolio_cli


@portfolio_cli.command("report")
@click.argument("email")
@click.option("--account", "account_name", default=None, help="One account, by name (default: the whole portfolio).")
@click.option("--from", "since", default=None, help="The period's first day, YYYY-MM-DD (default: the ledger's first).")
@click.option("--to", "until", default=None, help="The period's last day, YYYY-MM-DD (default: today).")
@click.option("--method", type=click.Choice(["average", "fifo"]), default=None,
              help="Cost method for gains (default: the user's setting).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object; money as decimal strings, rates as fractions.")
def report_command(email: str, account_name: str | None, since: str | None, until: str | None, method: str | None,
                   as_json: bool) -> None:
    """Value, flows, TWR, MWR, realized and unrealized gains, income of a period, in the base currency."""
    from webapp.domain.base_currency import MissingRate
    from webapp.extensions import db
    from webapp.models import Account
    from webapp.services import ledger
    from webapp.services.portfolio import performance

    user = find_user(email)
    today = datetime.now(timezone.utc).date()
    start_day, end_day = day_option(since, "--from"), day_option(until, "--to")
    account = None
    if account_name is not None:
        account = db.session.scalar(sa.select(Account).where(Account.owner_id == user.id,
                                                             sa.func.lower(Account.name) == account_name.lower()))
        if account is None:
            fail(f"{user.email} has no account named “{account_name[:80]}”.")
    activities = ledger.activities_of(user.id)
    if not activities:
        fail(f"{user.email} has no activities or holdings yet: nothing to report.")
    first = min(a.date for a in activities)
    try:
        period = performance.period_range("CUSTOM", today, first, start_day or first, end_day or today)
        start, end = period
        data = performance.report(activities, user.base_currency, start, end, method or user.cost_method,
                                  account=account.id if account else None, user_id=user.id)
    except ValueError as exc:
        fail(str(exc))
    except MissingRate as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(1)
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    _table(data, account.name if account else "whole portfolio")


def _pct(rate: str | None) -> str:
    if rate is None:
        return "not defined"
    from decimal import Decimal

    return f"{Decimal(rate) * 100:+.2f} %"


def _table(d: dict, scope: str) -> None:
    ccy = d["currency"]
    click.echo(f"{scope}, {d['from']} to {d['to']}, in {ccy}")
    for label, key in (("Value at the start", "value_start"), ("Value at the end", "value_end"),
                       ("Net money in", "net_flows"), ("Realized gain", "realized_gain"),
                       ("Unrealized gain", "unrealized_gain"), ("Dividends", "dividends"), ("Interest", "interest"),
                       ("Fees", "fees"), ("Taxes", "taxes")):
        value = d[key]
        click.echo(f"  {label:<24}{value if value is not None else '—':>18}")
    for label, key in (("Time-weighted return", "twr"), ("  annualized", "twr_annualized"),
                       ("Money-weighted (a year)", "mwr")):
        click.echo(f"  {label:<24}{_pct(d[key]) if key != 'twr_annualized' or d[key] else '—':>18}")
    if d["holdings"]:
        click.echo(f"\n  {'Symbol':<12}{'Quantity':>16}{'Cost':>16}{'Value':>16}{'Unrealized':>16}{'Realized':>16}")
        for h in d["holdings"]:
            cells = [h[k] if h[k] is not None else "—" for k in ("quantity", "cost_basis", "value", "unrealized_gain",
                                                                 "realized_gain")]
            click.echo(f"  {h['symbol']:<12}" + "".join(f"{c:>16}" for c in cells))
