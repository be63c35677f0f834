"""Flask CLI commands: `flask prices|providers|portfolio|demo|worker|scheduler`."""
from __future__ import annotations

import re
import sys
from datetime import datetime, time, timezone
from decimal import Context, Decimal, InvalidOperation

import click
import sqlalchemy as sa
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext

from webapp.extensions import db
from webapp.models import Instrument, Quote, User
from webapp.services import cache
from webapp.web.forms import (
    SYMBOL_RE,
    normalise_email,
    normalise_symbol,
    parse_decimal,
    valid_email,
)

prices_cli = AppGroup("prices", help="Refresh, show and set prices.")
providers_cli = AppGroup("providers", help="Inspect the price provider chain.")
portfolio_cli = AppGroup("portfolio", help="Recompute portfolios.")
demo_cli = AppGroup("demo", help="Demo data.")
users_cli = AppGroup("users", help="Manage users.")


def fail(message: str) -> None:
    click.echo(f"Error: {message}", err=True)
    sys.exit(2)


def _instrument(symbol: str) -> Instrument:
    symbol = normalise_symbol(symbol)
    if not SYMBOL_RE.match(symbol):
        fail(f"“{symbol}” is not a valid symbol (1–20 letters, digits or . - ^ =).")
    inst = db.session.scalar(sa.select(Instrument).where(Instrument.symbol == symbol))
    if inst is None:
        fail(f"no instrument {symbol}: nobody holds it yet.")
    return inst


@prices_cli.command("refresh")
@click.option("--symbol", "symbols", multiple=True, help="Only this symbol (repeatable).")
@click.option("--sync", is_flag=True, help="Run now in this process instead of enqueueing a job.")
def prices_refresh(symbols: tuple[str, ...], sync: bool) -> None:
    """Run a price refresh cycle."""
    from webapp.services import jobs
    from webapp.services.pricing.refresh import refresh_prices

    wanted = [_instrument(s).symbol for s in symbols] or None
    if sync:
        stats = refresh_prices(wanted, sync=True)
        if "skipped" in stats:
            fail(stats["skipped"])
        click.echo(
            f"{stats['symbols']} symbols: {stats['fetched']} fetched, {stats['failed']} failed, "
            f"{stats['changed']} changed ({stats['seconds']}s)"
        )
    else:
        job = jobs.enqueue("default", "workers.prices.refresh_prices", wanted)
        click.echo(f"enqueued job {job.id}")


@prices_cli.command("show")
@click.argument("symbol")
@click.option("--history", default=5, show_default=True, type=click.IntRange(1, 1000),
              help="How many past quotes to list.")
def prices_show(symbol: str, history: int) -> None:
    """Show the latest quotes of SYMBOL."""
    inst = _instrument(symbol)
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

    inst = _instrument(symbol)
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

    inst = _instrument(symbol)
    if not sync:
        job = jobs.enqueue("low", "workers.history.backfill", inst.symbol, days, timeout=600)
        click.echo(f"enqueued job {job.id}")
        return
    stats = backfill(inst.symbol, days)
    if "error" in stats:
        fail(f"no history for {inst.symbol}: {stats['error']}")
    click.echo(f"{inst.symbol}: {stats['received']} daily prices from {stats['source']}, {stats['stored']} new; "
               f"{stats['reconstructed']} daily values of its holders' portfolios reconstructed")


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
    from pricing_providers import InstrumentRef, ProviderError, registry
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


@portfolio_cli.command("recompute")
@click.option("--user", "email", default=None, help="Only this user (email).")
def portfolio_recompute(email: str | None) -> None:
    """Recompute portfolios now, in this process."""
    from webapp.services.portfolio.recompute import recompute_portfolios

    user_ids = None
    if email is not None:  # --user "" is a mistake, not "everyone"
        user_ids = [_user(email).id]
    stats = recompute_portfolios(user_ids=user_ids)
    click.echo(f"{stats['users']} portfolios recomputed, {stats['changed']} changed")


def _user(email: str) -> User:
    email = normalise_email(email)
    # an invalid address is no user (and PostgreSQL refuses a NUL in a query parameter)
    user = db.session.scalar(sa.select(User).where(User.email == email)) if valid_email(email) else None
    if user is None:
        fail(f"no user with email {email[:254]!r}.")
    return user


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    if len(password) < 10:
        fail("the password must have at least 10 characters.")
    if len(password) > 200:
        fail("the password must have at most 200 characters.")
    return password


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
    user.set_password(_read_password(password_stdin))
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
    user = _user(email)
    user.is_admin = not revoke
    db.session.commit()
    click.echo(f"{user.email} is {'no longer ' if revoke else 'now '}an admin")


@users_cli.command("disable")
@click.argument("email")
@click.option("--enable", is_flag=True, help="Enable the user again instead.")
def users_disable(email: str, enable: bool) -> None:
    """Disable EMAIL: they cannot log in and their sessions end at once."""
    from webapp.models import new_session_token

    user = _user(email)
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

    user = _user(email)
    user.set_password(_read_password(password_stdin))
    user.session_token = new_session_token()
    db.session.commit()
    click.echo(f"password of {user.email} changed; their sessions have ended")


@users_cli.command("reset-two-factor")
@click.argument("email")
def users_reset_two_factor(email: str) -> None:
    """Turn EMAIL's two-factor login off (lost phone and recovery codes) and end their sessions."""
    from webapp.services import users

    user = _user(email)
    if not user.has_two_factor:
        fail(f"{user.email} has no two-factor login.")
    users.disable(user)
    click.echo(f"two-factor login of {user.email} is off; their sessions have ended")


@demo_cli.command("seed")
@click.option("--email", default="demo@folio.local", show_default=True)
@click.option("--password", default="demo-portfolio", show_default=True)
def demo_seed(email: str, password: str) -> None:
    """Seed a demo user with two accounts, only into an empty database."""
    from webapp.services.demo import seed

    if not seed(email, password):
        click.echo("database is not empty; demo data not seeded")
    else:
        click.echo(f"demo user {email} / {password} created")


@demo_cli.command("history")
@click.option("--email", default="demo@folio.local", show_default=True)
def demo_history(email: str) -> None:
    """Ask for a year of the demo instruments' daily closes (queue low), if the demo user has no
    value history yet: `make run` does this once Redis is up."""
    from webapp.services.demo import request_history

    n = request_history(email)
    click.echo(f"{n} backfill job(s) enqueued" if n else "the demo portfolio has its history already")


@click.command("worker")
@with_appcontext
@click.option("--burst", is_flag=True, help="Exit when the queues are empty.")
@click.argument("queues", nargs=-1)
def worker_command(burst: bool, queues: tuple[str, ...]) -> None:
    """Run an RQ worker (queues high, default, low) inside the app context."""
    from webapp.services.jobs import QUEUES, FolioWorker

    names = list(queues) or list(QUEUES)
    w = FolioWorker(names, connection=cache.get_redis())
    w.work(burst=burst, with_scheduler=True, logging_level=current_app.config["LOG_LEVEL"])


@click.command("scheduler")
@with_appcontext
@click.option("--interval", default=5.0, show_default=True, help="Seconds between scheduler checks.")
@click.option("--burst", is_flag=True, help="Reconcile, enqueue what is due, and exit.")
def scheduler_command(interval: float, burst: bool) -> None:
    """Run rq-scheduler with Folio's periodic jobs (reconciled on start)."""
    import warnings

    from webapp.services import jobs
    from webapp.services.schedule import reconcile, scheduler

    # crontab warns about a future change of its default; rq-scheduler passes naive local times
    warnings.filterwarnings("ignore", category=FutureWarning, module="rq_scheduler")
    sched = scheduler(interval)
    kept = reconcile(sched)
    click.echo("periodic jobs: " + ", ".join(kept))
    if not cache.last_cycle():  # a fresh install: price everything now, not at the next tick
        if cache.acquire_lock("first-cycle", 600):
            jobs.enqueue("default", "workers.prices.refresh_prices")
            click.echo("no refresh cycle has run yet: enqueued one now")
    sched.run(burst=burst)


holdings_cli = AppGroup("holdings", help="Adjust holdings: stock splits.")


@holdings_cli.command("split")
@click.argument("symbol")
@click.argument("ratio")
@click.option("--date", "effective", default=None, help="Effective date, YYYY-MM-DD (default: today, UTC).")
def holdings_split(symbol: str, ratio: str, effective: str | None) -> None:
    """Split every holding of SYMBOL: quantity x RATIO (4:1, 4-for-1; 1:10 reverse), cost unchanged."""
    from webapp.services import splits

    inst = _instrument(symbol)
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


def init_app(app: Flask) -> None:
    for group in (prices_cli, providers_cli, portfolio_cli, demo_cli, users_cli, holdings_cli):
        app.cli.add_command(group)
    app.cli.add_command(worker_command)
    app.cli.add_command(scheduler_command)
