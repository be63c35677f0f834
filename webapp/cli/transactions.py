"""`flask transactions` (import, export): a user's activities from and to a file."""
from __future__ import annotations

import sys

import click
from flask.cli import AppGroup

from webapp.cli.common import fail, find_user

transactions_cli = AppGroup("transactions", help="Import and export a user's activities (the ledger).")


@transactions_cli.command("import")
@click.argument("email")
@click.argument("path", metavar="FILE")
@click.option("--create-accounts", is_flag=True, help="Create the accounts the file names that the user lacks.")
@click.option("--dry-run", is_flag=True, help="Check the file and say what would be imported; write nothing.")
@click.option("--account", "default_account", default="",
              help="Account for files that name none (Trading 212's export); default “Trading 212” or “Imported”.")
def import_command(email: str, path: str, create_accounts: bool, dry_run: bool, default_account: str) -> None:
    """Import activities from FILE: Folio's CSV, Ghostfolio's JSON export or Trading 212's CSV.

    Every error is printed with its line, and nothing is imported (exit 1) until there is none.
    Activities already there (the same file imported again) are skipped.
    """
    from webapp.services import activity_import

    user = find_user(email)
    try:
        with open(path, "rb") as f:
            data = f.read(activity_import.MAX_BYTES + 1)
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror or exc}")
    result = activity_import.preview(user, data, path, default_account=default_account)
    problems = list(result.errors)
    if not problems and result.new_accounts and not create_accounts:
        problems.append("The file names accounts the user does not have: " + ", ".join(result.new_accounts)
                        + " (add --create-accounts to create them).")
    if problems:
        for p in problems:
            click.echo(f"Error: {p}", err=True)
        click.echo(f"{len(problems)} error(s); nothing imported.", err=True)
        sys.exit(1)
    if dry_run:
        click.echo(f"would import {len(result.rows)}, skip {result.duplicates} duplicates"
                   + (f", create accounts: {', '.join(result.new_accounts)}" if result.new_accounts else "")
                   + " (dry run: nothing written)")
        return
    imported = activity_import.confirm(user, result, create_accounts=create_accounts)
    click.echo(f"imported {imported}, skipped {result.duplicates} duplicates")


@transactions_cli.command("export")
@click.argument("email")
@click.argument("path", metavar="[FILE]", required=False)
def export_command(email: str, path: str | None) -> None:
    """Write the user's activities as Folio's CSV to FILE (default: standard output)."""
    from webapp.services import activity_import

    text = activity_import.export_csv(find_user(email))
    if not path:
        click.echo(text, nl=False)
        return
    try:
        with open(path, "w", encoding="utf-8", newline="") as f:
            f.write(text)
    except OSError as exc:
        fail(f"cannot write {path}: {exc.strerror or exc}")
    click.echo(f"wrote {max(0, text.count(chr(10)) - 1)} activities to {path}")
