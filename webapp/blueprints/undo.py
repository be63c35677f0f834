"""Undo of a delete (webapp/services/undo.py): POST /undo/<token>, the owner's token only.

With htmx on the dashboard the answer replaces the Undo toast and triggers `folio:restored`,
which makes the summary fetch itself again (no reload); elsewhere, and without JavaScript,
it redirects back to the page the button was on.
"""
from __future__ import annotations

from flask import Blueprint, abort, flash, make_response, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from webapp.services import cache, undo
from webapp.web.undo import pending_offer, withdraw_offer

bp = Blueprint("undo", __name__)


@bp.app_context_processor
def _offer():
    return {"undo_offer": pending_offer}


def _back() -> str:
    """Where the button was: a path of this site (never another host), else the dashboard."""
    back = request.form.get("back", "")
    if back.startswith("/") and not back.startswith("//") and "\\" not in back:
        return back
    return url_for("portfolio.dashboard")


def _answer(status: int, message: str, category: str):
    back = _back()
    if request.headers.get("HX-Request"):
        if back == url_for("portfolio.dashboard") and status == 200:
            resp = make_response(render_template("undo/_done.html", message=message, category=category))
            resp.headers["HX-Trigger"] = "folio:restored"  # the summary asks for its new version
            return resp
        flash(message, category)
        resp = make_response("", 204 if status == 200 else status)
        resp.headers["HX-Redirect"] = back  # htmx follows it whatever the status
        return resp
    if status == 200:
        flash(message, category)
        return redirect(back)
    return render_template("error.html", title="Not undone", message=message, status=status), status


@bp.post("/undo/<token>")
@login_required
def restore(token: str):
    try:
        done = undo.restore(current_user, token)
    except undo.NotYours:
        abort(404)
    except undo.TooLate:
        withdraw_offer(token)
        return _answer(410, "Too late to undo: it can be undone only within "
                       f"{undo.window()} seconds of the delete.", "error")
    except undo.Conflict as exc:
        withdraw_offer(token)
        return _answer(409, str(exc), "error")
    except cache.RedisError:
        return _answer(503, "Undo is unavailable right now (the cache does not answer). Try again "
                       "in a moment.", "error")
    withdraw_offer(token)
    what = f"Account “{done['label']}”" if done["kind"] == "account" else done["label"]
    return _answer(200, f"{what} is back.", "success")
