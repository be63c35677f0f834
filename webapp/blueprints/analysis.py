"""Analysis views: the value history chart (on the dashboard and its own page), its CSV, and
the allocation page. Every query is the logged-in user's own."""
from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    make_response,
    render_template,
    request,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required

from webapp.domain.allocation import allocate
from webapp.web.labels import ASSET_TYPE_LABELS
from webapp.services.portfolio import history as history_service
from webapp.web.charts import bar_widths, interactive_series, line_chart

bp = Blueprint("analysis", __name__)
HISTORY_POLL_SECONDS = 60
BAR_WIDTH = 260  # px of 100 % in the allocation charts (labels take the 130 px to their left)


def history_context(range_key: str | None, standalone: bool = False) -> dict:
    """What `analysis/_history.html` needs; an unknown range falls back to the default."""
    key = history_service.parse_range(range_key) or history_service.DEFAULT_RANGE
    h = history_service.value_history(current_user.id, current_user.base_currency, key)
    return {
        "history": h,
        "chart": line_chart(h.points),
        "ranges": list(history_service.RANGES),
        "standalone": standalone,  # on its own page (else the dashboard's): where range links lead
        "history_poll_seconds": current_app.config.get("HISTORY_POLL_SECONDS", HISTORY_POLL_SECONDS),
        **(_daily_context(current_user.id, current_user.base_currency) if standalone else {}),
    }


def _daily_context(user_id: int, currency: str) -> dict:
    """The history page's table of daily values and the interactive chart's data (the same days)."""
    daily = history_service.daily_values(user_id, currency)
    money = current_app.jinja_env.filters["money"]  # the readout prints what the table prints
    data = interactive_series([d for d, _ in daily], ("Value", [v for _, v in daily], lambda v: money(v, currency)))
    return {"daily": daily, "daily_chart": data if len(daily) >= 2 else None}


@bp.app_context_processor
def _history_widget():
    # the dashboard (portfolio blueprint) includes the chart: `history_chart(range)` builds it there
    return {"history_chart": history_context}


@bp.get("/portfolio/history")
@login_required
def history():
    key = history_service.parse_range(request.args.get("range"))
    if key is None:
        abort(400, f"Unknown range; use one of {', '.join(history_service.RANGES)}.")
    shown = request.args.get("v", "")
    if shown and request.headers.get("HX-Request") and shown == history_service.latest_version(current_user.id):
        return "", 204  # a poll, and no new snapshot since: nothing to redraw
    htmx = bool(request.headers.get("HX-Request"))
    template = "analysis/_history.html" if htmx else "analysis/history.html"
    standalone = not htmx or request.args.get("on") == "page"
    resp = make_response(render_template(template, **history_context(key, standalone)))
    resp.headers["Vary"] = "HX-Request, Cookie"
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.get("/portfolio/history.csv")
@login_required
def history_csv():
    app, user_id = current_app._get_current_object(), current_user.id

    def rows():
        # each page in an app context of its own, held only while it is read from the database:
        # a response closed half read (HEAD, a dropped connection) leaves no context pushed
        cursor = None
        while True:
            with app.app_context():
                text, cursor = history_service.export_page(user_id, cursor)
            yield text
            if cursor is None:
                return

    resp = Response(rows(), content_type="text/csv; charset=utf-8")
    resp.headers["Content-Disposition"] = 'attachment; filename="folio-value-history.csv"'
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.get("/portfolio/allocation")
@login_required
def allocation():
    from webapp.services.portfolio.read_model import value_users

    valuation = value_users([current_user.id])[current_user.id]
    alloc = allocate(valuation, {code: str(text) for code, text in ASSET_TYPE_LABELS.items()})
    groups = [
        ("account", _("By account"), alloc.by_account),
        ("asset-type", _("By asset type"), alloc.by_asset_type),
        ("currency", _("By currency"), alloc.by_currency),
        ("top", _("Top holdings"), alloc.top_holdings),
    ]
    bars = {key: bar_widths([(s.label, s.percent) for s in items], width=BAR_WIDTH) for key, _title, items in groups}
    return render_template("analysis/allocation.html", alloc=alloc, groups=groups, bars=bars, bar_width=BAR_WIDTH)
