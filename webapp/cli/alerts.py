"""`flask alerts list [--user EMAIL]` (the rules with their state) and `flask alerts test EMAIL`
(a test notification on every channel of the user's rules)."""
from __future__ import annotations

import click
import sqlalchemy as sa
from flask.cli import AppGroup

from webapp.cli.common import find_user
from webapp.extensions import db
from webapp.models import AlertRule, Instrument, User
from webapp.services import alerts

alerts_cli = AppGroup("alerts", help="Users' alerts: list the rules, send a test notification.")


@alerts_cli.command("list")
@click.option("--user", "email", default=None, help="Only this user's rules (email).")
def alerts_list(email: str | None) -> None:
    """The rules with their state: enabled, armed or fired, last fired."""
    q = (sa.select(AlertRule, User.email, Instrument.symbol).join(User, User.id == AlertRule.user_id)
         .outerjoin(Instrument, Instrument.id == AlertRule.instrument_id).order_by(User.email, AlertRule.id))
    if email is not None:
        q = q.where(AlertRule.user_id == find_user(email).id)
    rows = db.session.execute(q).all()
    for rule, owner, symbol in rows:
        limit = f"{rule.hours} h" if rule.kind == "price_stale" else format(rule.threshold, "f")
        channels = ",".join(c for c in ("in_app", "email", "webhook") if getattr(rule, c)) or "-"
        state = "disabled" if not rule.enabled else ("armed" if rule.armed else "fired")
        last = f"{rule.last_fired_at:%Y-%m-%d %H:%M}" if rule.last_fired_at else "never"
        click.echo(f"{rule.id:>6}  {owner:<32} {rule.kind:<28} {symbol or '-':<10} {limit:>14}  "
                   f"{channels:<20} {state:<8} last fired {last}")
    click.echo(f"{len(rows)} rule{'s' if len(rows) != 1 else ''}")


@alerts_cli.command("test")
@click.argument("email")
def alerts_test(email: str) -> None:
    """Send a test notification on every channel of the user's rules (in-app always)."""
    sent = alerts.send_test(find_user(email))
    click.echo(f"in-app: 1, e-mail: {sent['email']}, webhook: {sent['webhook']}")
