"""`flask users` (create, list, set-admin, disable, reset-password, reset-two-factor), `flask portfolio`, `flask demo`, `flask holdings`."""
from __future__ import annotations

import re
from datetime import datetime, timezone

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import AppGroup

from webapp.cli.common import fail, find_instrument, find_user, read_password
from webapp.domain.inputs import (
    normalise_email,
    valid_email,
)
from webapp.extensions import db
from webapp.models import User

users_cli = AppGroup("users", help="Manage users.")
portfolio_cli = AppGroup("portfolio", help="Recompute portfolios.")
demo_cli = AppGroup("demo", help="Demo data.")
holdings_cli = AppGroup("holdings", help="Adjust holdings: stock splits.")


@portfolio_cli.command("recompute")
@click.option("--user", "email", default=None, help="Only this user (email).")
def portfolio_recompute(email: str | None) -> None:
    """Recompute portfolios now, in this process."""
    from webapp.services.portfolio.recompute import recompute_portfolios

    user_ids = None
    if email is not None:  # --user "" is a mistake, not "everyone"
        user_ids = [find_user(email).id]
    stats = recompute_portfolios(user_ids=user_ids)
    click.echo(f"{stats['users']} portfolios recomputed, {stats['changed']} changed")


@users_cli.command("create")
@click.argument("email")
@click.option("--admin", is_flag=True, help="Make the user an administrator.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def users_create(email: str, admin: bool, password_stdin: bool) -> None:
    """Create a user (asks for the password unless --password-stdin)."""
    email = normalise_email(email)
    if not valid_email(email):
        fail(f"{email[:254]!r} is not an email address.")
    if db.session.scalar(sa.select(User.id).where(User.email == email)):
        fail(f"a user with email {email} already exists.")
    user = User(email=email, is_admin=admin, base_currency=current_app.config["BASE_CURRENCY"])
    user.set_password(read_password(password_stdin))
    db.session.add(user)
    db.session.commit()
    click.echo(f"created {'admin ' if admin else ''}user {email}")


@users_cli.command("list")
def users_list() -> None:
    """List users with their role and state."""
    users = db.session.scalars(sa.select(User).order_by(User.id)).all()
    for u in users:
        flags = ", ".join(f for f, on in (("admin", u.is_admin), ("disabled", u.is_disabled)) if on)
        last = f"{u.last_login_at:%Y-%m-%d %H:%M}" if u.last_login_at else "never"
        click.echo(f"{u.id:>6}  {u.email:<40} last login {last}{'  [' + flags + ']' if flags else ''}")
    click.echo(f"{len(users)} user{'s' if len(users) != 1 else ''}")


@users_cli.command("set-admin")
@click.argument("email")
@click.option("--revoke", is_flag=True, help="Take the admin role away instead.")
def users_set_admin(email: str, revoke: bool) -> None:
    """Give EMAIL the admin role (or --revoke it)."""
    user = find_user(email)
    user.is_admin = not revoke
    db.session.commit()
    click.echo(f"{user.email} is {'no longer ' if revoke else 'now '}an admin")


@users_cli.command("disable")
@click.argument("email")
@click.option("--enable", is_flag=True, help="Enable the user again instead.")
def users_disable(email: str, enable: bool) -> None:
    """Disable EMAIL: they cannot log in and their sessions end at once."""
    from webapp.models import new_session_token

    user = find_user(email)
    user.is_disabled = not enable
    user.session_token = new_session_token()  # ends every session of the user
    db.session.commit()
    click.echo(f"{user.email} is {'enabled' if enable else 'disabled; their sessions have ended'}")


@users_cli.command("reset-password")
@click.argument("email")
@click.option("--password-stdin", is_flag=True, help="Read the new password from standard input.")
def users_reset_password(email: str, password_stdin: bool) -> None:
    """Set a new password for EMAIL and end their sessions."""
    from webapp.models import new_session_token

    user = find_user(email)
    user.set_password(read_password(password_stdin))
    user.session_token = new_session_token()
    db.session.commit()
    click.echo(f"password of {user.email} changed; their sessions have ended")


@users_cli.command("reset-two-factor")
@click.argument("email")
def users_reset_two_factor(email: str) -> None:
    """Turn EMAIL's two-factor login off (lost phone and recovery codes) and end their sessions."""
    from webapp.services import users

    user = find_user(email)
    if not user.has_two_factor:
        fail(f"{user.email} has no two-factor login.")
    users.disable(user)
    click.echo(f"two-factor login of {user.email} is off; their sessions have ended")


@demo_cli.command("seed")
@click.option("--email", default="demo@folio.local", show_default=True)
@click.option("--password", default="demo-portfolio", show_default=True)
def demo_seed(email: str, password: str) -> None:
    """Seed the demo user (a year of activities in two accounts, an alert rule), only into an empty database."""
    from webapp.services.demo import seed

    if not seed(email, password):
        click.echo("database is not empty; demo data not seeded")
    else:
        click.echo(f"demo user {email} / {password} created")


@demo_cli.command("population")
@click.option("--users", "n_users", type=click.IntRange(1, 1_000_000), required=True, help="How many users.")
@click.option("--instruments", type=click.IntRange(1, 1_000_000), required=True, help="How many distinct instruments.")
@click.option("--holdings", type=click.IntRange(1, 1000), required=True, help="Holdings per user.")
@click.option("--symbols", "symbols_file", type=click.File("r", encoding="utf-8"), default=None,
              help="Symbols, one a line (SYMBOL or SYMBOL,asset_type); generated when not given.")
@click.option("--prefix", default="load", show_default=True, help="Users are PREFIX1@folio.load, PREFIX2@...")
@click.option("--password", default="load-password-1", show_default=True)
def demo_population(n_users: int, instruments: int, holdings: int, symbols_file, prefix: str, password: str) -> None:
    """Create (idempotently) a population for load tests: USERS users with HOLDINGS holdings each
    over INSTRUMENTS instruments, without asking for prices (a cycle then starts cold)."""
    from webapp.services import demo

    if not re.fullmatch(r"[a-z][a-z0-9]{0,19}", prefix, re.ASCII):
        fail(f"“{prefix[:40]}” is not a prefix: use 1–20 lower-case letters and digits, starting with a letter.")
    if holdings > instruments:
        fail(f"--holdings ({holdings}) cannot exceed --instruments ({instruments}): a holding per instrument.")
    try:
        lines = symbols_file.read().splitlines() if symbols_file is not None else None
        symbols = demo.population_symbols(instruments, lines, prefix)
        result = demo.population(n_users, instruments, holdings, symbols, prefix, password)
    except UnicodeDecodeError:
        fail("the symbols file is not UTF-8 text.")
    except ValueError as exc:
        fail(f"{'symbols file: ' if symbols_file is not None else ''}{exc}.")
    click.echo(f"{result.users_created} users created ({result.users_kept} existed already), "
               f"{result.instruments_created} instruments created, {result.holdings_created} holdings created; "
               f"log in as {prefix}1@folio.load / {password}")


@demo_cli.command("history")
@click.option("--email", default="demo@folio.local", show_default=True)
def demo_history(email: str) -> None:
    """Ask for a year of the demo instruments' daily closes (queue low), if the demo user has no
    value history yet: `make run` does this once Redis is up."""
    from webapp.services.demo import request_history

    n = request_history(email)
    click.echo(f"{n} backfill job(s) enqueued" if n else "the demo portfolio has its history already")


@holdings_cli.command("split")
@click.argument("symbol")
@click.argument("ratio")
@click.option("--date", "effective", default=None, help="Effective date, YYYY-MM-DD (default: today, UTC).")
def holdings_split(symbol: str, ratio: str, effective: str | None) -> None:
    """Split every holding of SYMBOL: quantity x RATIO (4:1, 4-for-1; 1:10 reverse), cost unchanged."""
    from webapp.services import splits

    inst = find_instrument(symbol)
    try:
        parsed = splits.parse_ratio(ratio)
        if effective is None:
            when = datetime.now(timezone.utc).date()
        elif re.fullmatch(r"\d{4}-\d{2}-\d{2}", effective, re.ASCII):
            when = datetime.strptime(effective, "%Y-%m-%d").date()
        else:
            raise splits.SplitError(f"“{effective[:40]}” is not a date; use YYYY-MM-DD.")
        result = splits.apply_split(inst, parsed, when)
    except ValueError as exc:  # SplitError, or strptime's "day is out of range for month"
        fail(str(exc) if isinstance(exc, splits.SplitError) else f"“{effective[:40]}” is not a date; use YYYY-MM-DD.")
    n, users = len(result.adjusted), len(result.users)
    click.echo(f"{inst.symbol} split {parsed} effective {when:%Y-%m-%d}: {n} holding{'s' if n != 1 else ''} of "
               f"{users} user{'s' if users != 1 else ''} adjusted (quantity x {parsed.numerator}/{parsed.denominator}, "
               f"cost unchanged); {result.snapshots_superseded} value snapshot"
               f"{'s' if result.snapshots_superseded != 1 else ''} since {when:%Y-%m-%d} left out of the history "
               "(kept in the database, marked as superseded by the split)")
    if result.rounded:
        click.echo(f"{result.rounded} quantit{'ies' if result.rounded != 1 else 'y'} kept to 10 decimal places")
    if result.skipped_new:
        click.echo(f"{result.skipped_new} holding{'s' if result.skipped_new != 1 else ''} added on or after "
                   f"{when:%Y-%m-%d} left as entered (already in post-split shares)")
    if result.skipped_own:
        click.echo(f"{result.skipped_own} holding{'s' if result.skipped_own != 1 else ''} already split by "
                   "their owner left as they are")
