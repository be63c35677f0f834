"""Portfolio views: the dashboard and its self-refreshing summary partial."""
from __future__ import annotations

from flask import Blueprint, current_app, make_response, render_template, request
from flask_login import current_user, login_required

from .. import live
from ..staleness import judge
from workers.portfolios import portfolio_for

bp = Blueprint("portfolio", __name__)


def _context(valuation, token: str, live_ok: bool) -> dict:
    return {
        "valuation": valuation,
        "token": token,
        "live_ok": live_ok,
        "poll_seconds": current_app.config["POLL_SECONDS"],
        "stale": judge(valuation),
        "simulated": "simulated" in current_app.config["PRICE_PROVIDERS"],
    }


@bp.get("/")
@login_required
def dashboard():
    valuation, token, live_ok = portfolio_for(current_user.id)
    return render_template("portfolio/dashboard.html", **_context(valuation, token, live_ok))


@bp.get("/portfolio/summary")
@login_required
def summary():
    shown = request.args.get("v", "")
    if shown and shown != "offline":
        try:
            if live.read_token(current_user.id) == shown:
                return "", 204  # nothing changed: one Redis read, no render
        except live.RedisError:
            pass
    valuation, token, live_ok = portfolio_for(current_user.id)
    resp = make_response(render_template("portfolio/_summary.html", **_context(valuation, token, live_ok)))
    resp.headers["Vary"] = "HX-Request, Cookie"
    resp.headers["Cache-Control"] = "no-store"
    return resp
