"""Flask CLI commands: `flask prices|providers|fx|portfolio|users|demo|holdings|transactions|api|mail|alerts|worker|scheduler`."""
from __future__ import annotations

from flask import Flask

from webapp.cli.alerts import alerts_cli
from webapp.cli.api import api_cli
from webapp.cli.fx import fx_cli
from webapp.cli.mail import mail_cli
from webapp.cli.prices import prices_cli, providers_cli
from webapp.cli import report  # noqa: F401  (adds `flask portfolio report`)
from webapp.cli.processes import scheduler_command, worker_command
from webapp.cli.transactions import transactions_cli
from webapp.cli.users import demo_cli, holdings_cli, portfolio_cli, users_cli


def init_app(app: Flask) -> None:
    for group in (prices_cli, providers_cli, fx_cli, portfolio_cli, demo_cli, users_cli, holdings_cli, transactions_cli,
                  api_cli, mail_cli, alerts_cli):
        app.cli.add_command(group)
    app.cli.add_command(worker_command)
    app.cli.add_command(scheduler_command)
