"""A user's alerts (/alerts: list, create, enable/disable, delete, the webhook secret) and in-app
notifications (/notifications: the list, mark read; the top bar's bell, a polling partial)."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user, login_required
from sqlalchemy.exc import SQLAlchemyError

from webapp.domain.alerts import PERCENT_KINDS, PRICE_KINDS
from webapp.web.labels import ALERT_KIND_LABELS
from webapp.web.forms import InputError, localised_number
from webapp.services import alert_rules, digest, webhooks

bp = Blueprint("alerts", __name__, url_prefix="/alerts")
notes = Blueprint("notifications", __name__, url_prefix="/notifications")
BELL_SECONDS = 60  # the default of the setting BELL_SECONDS: how often the bell polls


@bp.before_request
@login_required
def require_login():
    pass


@notes.before_request
@login_required
def require_login_notes():
    pass


@bp.app_context_processor
def bell_count():
    """`unread_notifications()` for the top bar's bell (asked only when a page draws it)."""
    def unread() -> int | None:
        try:
            return alert_rules.unread_count(current_user.id)
        except SQLAlchemyError:  # an error page while the database is away: a bell without a count
            return None

    return {"unread_notifications": unread, "bell_seconds": current_app.config.get("BELL_SECONDS") or BELL_SECONDS}


def _page(status: int = 200, form=None, errors=None):
    rules = alert_rules.rules_of(current_user)
    return render_template(
        "alerts/index.html", rules=rules, kinds=ALERT_KIND_LABELS, price_kinds=PRICE_KINDS, percent_kinds=PERCENT_KINDS,
        held=list(alert_rules.held_symbols(current_user)), form=form or {"cooldown_minutes": "60", "in_app": "y"},
        errors=errors or {}, secret=current_user.webhook_secret,
        allow_http=webhooks.allow_private()), status


def _own_rule(rule_id: int):
    rule = alert_rules.get_rule(current_user, rule_id)
    if rule is None:
        abort(404)
    return rule


@bp.get("/")
def index():
    return _page()


@bp.post("/")
def create():
    form = {k: request.form.get(k, "")[:600] for k in
            ("kind", "symbol", "threshold", "hours", "cooldown_minutes", "webhook_url", "in_app", "email", "webhook")}
    try:  # typed in the user's number locale ("1.234,5" in German); the service reads plain digits
        typed = dict(form, threshold=localised_number(form["threshold"]))
    except InputError as exc:
        return _page(400, form=form, errors={"threshold": _(exc.message, **exc.params)})
    rule, errors = alert_rules.create(current_user, typed)
    if errors:
        return _page(400, form=form, errors=errors)
    flash(_("Alert created."), "success")
    return redirect(url_for(".index"))


@bp.post("/<int:rule_id>/enabled")
def set_enabled(rule_id: int):
    rule = _own_rule(rule_id)
    on = request.form.get("enabled") == "1"
    alert_rules.set_enabled(rule, on)
    flash(_("Alert enabled.") if on else _("Alert disabled."), "success")
    return redirect(url_for(".index"))


@bp.post("/<int:rule_id>/delete")
def delete(rule_id: int):
    alert_rules.delete(_own_rule(rule_id))
    flash(_("Alert deleted."), "success")
    return redirect(url_for(".index"))


@bp.post("/digest")
def set_digest():
    """The daily digest's hour (UTC), or none."""
    raw = request.form.get("digest_hour", "").strip()
    if raw and not (raw.isascii() and raw.isdigit() and 0 <= int(raw) <= 23):
        return _page(400, errors={"digest_hour": _("Choose an hour from 0 to 23, or no digest.")})
    hour = int(raw) if raw else None
    digest.set_hour(current_user, hour)
    flash(_("No daily digest.") if hour is None else
          _("The daily digest comes at %(hour)s UTC.", hour=f"{hour:02d}:00"), "success")
    return redirect(url_for(".index") + "#digest")


@bp.post("/secret")
def rotate_secret():
    webhooks.rotate_secret(current_user)
    flash(_("A new webhook secret signs your webhooks from now on."), "success")
    return redirect(url_for(".index") + "#webhook-secret")


# ---- notifications --------------------------------------------------------------------------
@notes.get("/")
def index():
    return render_template("alerts/notifications.html",
                           notifications=alert_rules.notifications_of(current_user))


@notes.get("/bell")
def bell():
    """The bell partial; 204 while the count the browser shows (`n`) is still right."""
    count = alert_rules.unread_count(current_user.id)
    if request.args.get("n") == str(count):
        resp = make_response("", 204)
    else:
        resp = make_response(render_template("alerts/_bell.html", count=count))
    resp.headers["Cache-Control"] = "no-store"
    return resp


@notes.post("/<int:notification_id>/read")
def mark_read(notification_id: int):
    if not alert_rules.mark_read(current_user, notification_id):
        abort(404)
    return redirect(url_for(".index"))


@notes.post("/read")
def mark_all_read():
    n = alert_rules.mark_all_read(current_user)
    flash(ngettext("%(num)d notification marked read.", "%(num)d notifications marked read.", n), "success")
    return redirect(url_for(".index"))
