"""`flask mail send-test ADDRESS [--sync]`: check that mail goes out."""
from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from webapp.cli.common import fail
from webapp.domain.inputs import normalise_email, valid_email

mail_cli = AppGroup("mail", help="E-mail: send a test message.")


@mail_cli.command("send-test")
@click.argument("address")
@click.option("--sync", is_flag=True, help="Send it now from this process instead of enqueueing the job.")
def send_test(address: str, sync: bool) -> None:
    """Send a test message to ADDRESS (through the worker, or now with --sync)."""
    from webapp.services import mail
    from webapp.web import mails

    address = normalise_email(address)
    if not valid_email(address):
        fail(f"{address[:254]!r} is not an e-mail address.")
    if sync:
        if not current_app.config.get("MAIL_SERVER"):
            fail("MAIL_SERVER is unset: there is no server to send to (see README, Configuration).")
        subject, text, html = mails.render_test_message(address)
        try:
            mail.deliver_now(address, subject, text, html)
        except Exception as exc:  # smtplib's errors and the network's
            fail(f"sending failed: {type(exc).__name__}: {exc}")
        click.echo(f"sent a test message to {address} through {current_app.config['MAIL_SERVER']}:"
                   f"{current_app.config['MAIL_PORT']}")
        return
    job = mails.send_test_message(address)
    if job is None:
        fail("Redis does not answer: the message could not be queued.")
    click.echo(f"enqueued a test message to {address} (job {job.id}); a worker sends it")
