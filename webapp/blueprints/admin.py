"""Operations: the admin area, the RQ dashboard at /admin/rq, the local mailbox at /admin/mail, health and metrics."""
from __future__ import annotations

import hmac
from datetime import datetime, timezone

import sqlalchemy as sa
from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user

from webapp import observability
from webapp.extensions import csrf, db
from webapp.models import User
from webapp.services import cache

bp = Blueprint("admin", __name__, url_prefix="/admin")
ops = Blueprint("ops", __name__)


def admin_gate():
    """Anonymous -> login; logged in but not admin -> 403. Used for /admin and /admin/rq."""
    if not current_user.is_authenticated:
        return current_app.login_manager.unauthorized()
    if not current_user.is_admin:
        abort(403)
    return None


bp.before_request(admin_gate)


def status() -> dict:
    """What an operator needs at a glance; each part degrades on its own."""
    from pricing_providers import registry
    from webapp.services.jobs import queue_stats

    chain = registry.parse_names(current_app.config["PRICE_PROVIDERS"])
    out: dict = {"chain": chain, "redis_ok": True, "now": datetime.now(timezone.utc).timestamp()}
    out["coverage_alert"] = float(current_app.config["PRICE_COVERAGE_ALERT"])
    out["users"] = db.session.scalar(sa.select(sa.func.count()).select_from(User))
    try:
        out["providers"] = cache.provider_health(chain)
        out["cycle"] = cache.last_cycle()
        out["coverage"] = cache.coverage_history()
        out["queues"] = queue_stats()
        out["alerts"] = cache.active_alerts()
    except cache.RedisError:
        out.update(redis_ok=False, providers={}, cycle={}, coverage=[], queues={}, alerts={})
    for h in out["providers"].values():
        ok, failed = int(h.get("calls_ok", 0) or 0), int(h.get("calls_failed", 0) or 0)
        h["error_rate"] = f"{failed / (ok + failed):.0%}" if ok + failed else "—"
        h["circuit"] = "open" if float(h.get("open_until", 0) or 0) > out["now"] else "closed"
    return out


@bp.get("/")
def index():
    return render_template("admin/index.html", s=status(), poll_seconds=current_app.config["POLL_SECONDS"])


@bp.get("/status")
def status_fragment():
    return render_template("admin/_status.html", s=status(), poll_seconds=current_app.config["POLL_SECONDS"])


@bp.get("/mail")
def mailbox():
    """What the local catch-all SMTP server of `make run` received (when MAIL_SERVER was unset)."""
    try:
        messages, redis_ok = cache.caught_mail(), True
    except cache.RedisError:
        messages, redis_ok = [], False
    return render_template("admin/mail.html", messages=messages, redis_ok=redis_ok, kept=cache.MAILBOX_KEPT)


# ---- health and metrics (no login: probes and scrapers) -------------------------------
@ops.get("/healthz")
def healthz():
    return jsonify(status="ok")


@ops.get("/readyz")
def readyz():
    failing = {}
    try:
        db.session.execute(sa.text("SELECT 1"))
    except Exception as exc:  # any driver error means "not ready"
        db.session.rollback()
        failing["database"] = type(exc).__name__
    try:
        cache.get_redis().ping()
    except cache.RedisError as exc:
        failing["redis"] = type(exc).__name__
    if failing:
        return jsonify(status="unavailable", failing=failing), 503
    return jsonify(status="ok")


@ops.get("/metrics")
def metrics():
    token = current_app.config.get("METRICS_TOKEN")
    given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    allowed = (token and given and hmac.compare_digest(given, token)) or (
        current_user.is_authenticated and current_user.is_admin
    )
    if not allowed:
        return make_response("metrics need a bearer token (METRICS_TOKEN) or an admin login\n", 401)
    body, content_type = observability.render_metrics()
    return current_app.response_class(body, content_type=content_type)


def init_rq_dashboard(app: Flask) -> None:
    """Mount rq-dashboard at /admin/rq, admins only, on the app's own Redis connection."""
    import rq_dashboard

    app.config.setdefault("RQ_DASHBOARD_REDIS_URL", app.config["REDIS_URL"])
    rq_dashboard.web.setup_rq_connection(app)
    app.redis_conn = app.extensions["folio_redis"]
    # its buttons post with jQuery, without our CSRF token: the guard below stands in for it
    csrf.exempt(rq_dashboard.blueprint)
    app.register_blueprint(rq_dashboard.blueprint, url_prefix="/admin/rq")

    @app.before_request
    def guard_rq_dashboard():
        if request.blueprint == "rq_dashboard":
            denied = admin_gate()
            if denied is not None:
                return denied
            if request.endpoint == "rq_dashboard.requeue_all" and request.method == "GET":
                abort(405)  # a state change by GET: a link on any site could trigger it
            if request.method not in ("GET", "HEAD", "OPTIONS") and not same_origin_script():
                abort(400, "This action must come from the dashboard's own page.")
            app.redis_conn = app.extensions["folio_redis"]
        return None


def same_origin_script() -> bool:
    """A request sent by a script of our own pages: jQuery's X-Requested-With header (a form on
    another site cannot send it, and a cross-origin script would need a CORS preflight that we
    never grant) and, when the browser says where it comes from, our own origin."""
    if request.headers.get("X-Requested-With") != "XMLHttpRequest":
        return False
    origin = request.headers.get("Origin")
    if origin is None:
        referer = request.headers.get("Referer")
        if referer is None:
            return True
        origin = "/".join(referer.split("/")[:3])
    return origin == request.host_url.rstrip("/")
