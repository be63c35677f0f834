"""What every command shares: one-line errors (exit 2) and finding a user or an instrument."""
from __future__ import annotations

import re
import sys
from datetime import date

import click
import sqlalchemy as sa

from webapp.domain.inputs import (
    SYMBOL_RE,
    normalise_email,
    normalise_symbol,
    valid_email,
)
from webapp.extensions import db
from webapp.models import Instrument, User


def fail(message: str) -> None:
    click.echo(f"Error: {message}", err=True)
    sys.exit(2)


def read_text(path: str) -> str:
    """A UTF-8 file (a byte-order mark dropped), or exit 2 saying why not."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            return f.read()
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read {path}: {exc}")


def day_option(value: str | None, option: str) -> date | None:
    """An option's day, YYYY-MM-DD (None when not given), or exit 2 saying so."""
    if value is None:
        return None
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            raise ValueError
        return date.fromisoformat(value)
    except ValueError:
        fail(f"{option} “{value[:40]}” is not a date (YYYY-MM-DD).")


def fail_lines(errors: list[str]) -> None:
    """Every error of a file, one a line, then exit 2: nothing was imported."""
    for e in errors:
        click.echo(f"Error: {e}", err=True)
    click.echo(f"{len(errors)} error(s); nothing imported.", err=True)
    sys.exit(2)


def find_instrument(symbol: str) -> Instrument:
    symbol = normalise_symbol(symbol)
    if not SYMBOL_RE.match(symbol):
        fail(f"“{symbol}” is not a valid symbol (1–20 letters, digits or . - ^ =).")
    inst = db.session.scalar(sa.select(Instrument).where(Instrument.symbol == symbol))
    if inst is None:
        fail(f"no instrument {symbol}: nobody holds it yet.")
    return inst


def find_user(email: str) -> User:
    email = normalise_email(email)
    # an invalid address is no user (and PostgreSQL refuses a NUL in a query parameter)
    user = db.session.scalar(sa.select(User).where(User.email == email)) if valid_email(email) else None
    if user is None:
        fail(f"no user with email {email[:254]!r}.")
    return user


def read_password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    if len(password) < 10:
        fail("the password must have at least 10 characters.")
    if len(password) > 200:
        fail("the password must have at most 200 characters.")
    return password
