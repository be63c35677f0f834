"""The mails people get: rendered here from webapp/templates/mail/ (a plain-text and an HTML
body each), sent by the mail service's job. Every link is absolute, on PUBLIC_URL."""
from __future__ import annotations

from flask import current_app, render_template
from flask_babel import force_locale, get_locale
from flask_babel import gettext as _
from flask_babel import ngettext

from webapp.models import User
from webapp.services import mail, users


def _send(template: str, to: str, subject: str, **context):
    context.setdefault("home", mail.link("portfolio.dashboard"))
    text = render_template(f"mail/{template}.txt", subject=subject, **context)
    html = render_template(f"mail/{template}.html", subject=subject, **context)
    return mail.send(to, subject, text, html)


def _duration(seconds: int) -> str:
    if seconds % 86400 == 0:
        return ngettext("%(num)d day", "%(num)d days", seconds // 86400)
    if seconds % 3600 == 0 and seconds >= 3600:
        return ngettext("%(num)d hour", "%(num)d hours", seconds // 3600)
    return ngettext("%(num)d minute", "%(num)d minutes", max(1, seconds // 60))


def _language_of(user: User) -> str:
    """A mail is in its reader's language: the one chosen in settings, else this request's."""
    return user.language or str(get_locale() or "en")


def password_reset(user: User):
    url = mail.link("auth.reset_password", token=users.make_token(user, users.RESET))
    with force_locale(_language_of(user)):
        return _send("reset_password", user.email, _("Reset your Folio password"), user=user, url=url,
                     valid_for=_duration(current_app.config["RESET_TOKEN_SECONDS"]),
                     forgot=mail.link("auth.forgot_password"))


def confirm_address(user: User):
    url = mail.link("auth.confirm_email", token=users.make_token(user, users.CONFIRM))
    with force_locale(_language_of(user)):
        return _send("confirm_email", user.email, _("Confirm your e-mail address for Folio"), user=user, url=url,
                     valid_for=_duration(current_app.config["CONFIRM_TOKEN_SECONDS"]))


def send_test_message(to: str):
    return _send("test", to, _("Folio test message"))


def render_test_message(to: str) -> tuple[str, str, str]:
    """(subject, text, html) of the test message, for sending now (`flask mail send-test --sync`)."""
    subject = _("Folio test message")
    home = mail.link("portfolio.dashboard")
    return (subject, render_template("mail/test.txt", subject=subject, home=home),
            render_template("mail/test.html", subject=subject, home=home))
