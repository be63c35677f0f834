"""`flask api tokens EMAIL [--revoke NAME_OR_ID]`: a user's personal access tokens for the JSON API."""
from __future__ import annotations

import click
from flask.cli import AppGroup

from webapp.cli.common import fail, find_user
from webapp.services import api_tokens

api_cli = AppGroup("api", help="The JSON API: personal access tokens.")


def _when(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "-"


@api_cli.command("tokens")
@click.argument("email")
@click.option("--revoke", "revoke", default=None, metavar="NAME_OR_ID", help="Revoke this token (its name or id).")
def tokens(email: str, revoke: str | None) -> None:
    """List a user's API tokens (name, scopes, created, last used, expiry, revoked), or revoke one."""
    user = find_user(email)
    if revoke is not None:
        token = api_tokens.find(user, revoke.strip())
        if token is None:
            fail(f"{user.email} has no token named or numbered “{revoke}”")
        if not api_tokens.revoke(token):
            fail(f"token “{token.name}” (id {token.id}) was revoked already, on {_when(token.revoked_at)}")
        click.echo(f"revoked token “{token.name}” (id {token.id}) of {user.email}")
        return
    rows = api_tokens.tokens_of(user)
    if not rows:
        click.echo(f"{user.email} has no API tokens")
        return
    click.echo(f"{'id':>6}  {'name':<24} {'scopes':<11} {'created':<16}  {'last used':<16}  {'expires':<16}  revoked")
    for t in rows:
        click.echo(f"{t.id:>6}  {t.name[:24]:<24} {t.scopes:<11} {_when(t.created_at):<16}  {_when(t.last_used_at):<16}"
                   f"  {_when(t.expires_at) if t.expires_at else 'never':<16}  {_when(t.revoked_at) if t.revoked_at else 'no'}")
