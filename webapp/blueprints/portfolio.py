"""Portfolio views: the dashboard and its self-refreshing summary partial.

The unchanged poll (`204`) is usually answered before Flask runs, by `webapp/web/fastpoll.py`;
what reaches the view here is the rest: a changed version, a first poll, Redis down.
"""
from __future__ import annotations

from flask import Blueprint, current_app, g, make_response, render_template, request
from flask_login import current_user, login_required

from webapp.services import cache
from webapp.services.portfolio.read_model import portfolio_for
from webapp.services.portfolio.recompute import AFTER_RECOMPUTE
from webapp.web import fastpoll
from webapp.web.summary import prerender_fragments, render_summary, summary_context

bp = Blueprint("portfolio", __name__)


@bp.record_once
def _install(state) -> None:
    fastpoll.install(state.app)
    # a recompute (in the worker) pre-renders the fragments of its active users
    state.app.extensions.setdefault(AFTER_RECOMPUTE, []).append(prerender_fragments)


def _touch(user_id: int) -> None:
    try:  # who is looking: only their fragments are pre-rendered
        cache.touch(user_id)
    except cache.RedisError:
        pass


@bp.get("/")
@login_required
def dashboard():
    valuation, token, live_ok = portfolio_for(current_user.id)
    if live_ok:
        try:  # the database has just vouched for this session: the poll may trust it
            cache.remember_session(current_user.id, current_user.session_token)
        except cache.RedisError:
            pass
        _touch(current_user.id)
    return render_template("portfolio/dashboard.html", **summary_context(valuation, token, live_ok))


@bp.before_request
def _poll_user():
    """A summary poll whose session the fast path checked needs no database read for the user
    (unless admins must be checked for two-factor login, which takes the User row)."""
    if request.endpoint == "portfolio.summary" and not current_app.config.get("ADMIN_REQUIRE_2FA"):
        user = fastpoll.poll_user(request.environ)
        if user is not None:
            g._login_user = user  # what Flask-Login's current_user returns for this request


@bp.get(fastpoll.PATH)
@login_required
def summary():
    shown = request.args.get("v", "")
    checked = request.environ.get(fastpoll.ENVIRON_KEY)
    if checked:  # the fast path read the token a moment ago and found no cached fragment
        token, html = checked[2], None
    else:
        try:
            token, html = cache.read_fragment(current_user.id, current_user.session_token)
        except cache.RedisError:
            token, html = "offline", None
        else:
            _touch(current_user.id)
    if shown and shown != "offline" and shown == token:
        resp = make_response("", 204)  # nothing changed: one Redis round trip, no render
    else:
        if html is None:
            html, token, live_ok = render_summary(current_user.id)
            if live_ok:
                try:  # every poll that finds this version gets this rendering
                    cache.store_fragment(current_user.id, token, html)
                except cache.RedisError:
                    pass
        resp = make_response(html)
        if shown:  # a poll found a new version: widgets that follow the summary ask again
            resp.headers[fastpoll.CHANGED_TRIGGER[0]] = fastpoll.CHANGED_TRIGGER[1]
    resp.headers["Vary"] = "HX-Request, Cookie"
    resp.headers["Cache-Control"] = "no-store"
    return resp
