"""Folio: a self-hosted, multi-user portfolio tracker."""
from __future__ import annotations

import os
from typing import Mapping

from flask import Flask, abort, make_response, render_template, request, url_for
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm.exc import ObjectDeletedError, StaleDataError

from webapp import config as config_module
from webapp.extensions import cache, csrf, db, limiter, login_manager, mail, migrate


def create_app(config: Mapping[str, object] | None = None) -> Flask:
    app = Flask(__name__, instance_path=str(config_module.INSTANCE_DIR))
    config_module.load_dotenv()
    app.config.from_object(config_module.Config)
    app.config.update(config_module.from_environment())
    if config:
        app.config.update(config)
    _check_production(app)
    _derive_settings(app)
    _allow_csv_uploads(app)
    os.makedirs(app.instance_path, exist_ok=True)

    from webapp.services.cache import connect as connect_redis

    app.extensions["folio_redis"] = connect_redis(app.config["REDIS_URL"])
    db.init_app(app)
    _enforce_sqlite_foreign_keys(app)
    migrate.init_app(app, db, compare_type=True, render_as_batch=True)
    login_manager.init_app(app)
    csrf.init_app(app)
    cache.init_app(app)
    limiter.init_app(app)
    mail.init_app(app)

    from webapp.web.login import init_login

    init_login(app)

    from webapp import observability
    from webapp.blueprints import accounts, admin, auth, portfolio, settings

    observability.init_app(app)
    app.register_blueprint(auth.bp)
    app.register_blueprint(settings.bp)
    app.register_blueprint(accounts.bp)
    app.register_blueprint(portfolio.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(admin.ops)
    admin.init_rq_dashboard(app)
    from webapp.blueprints import activities, analysis, splits

    app.register_blueprint(analysis.bp)
    app.register_blueprint(splits.bp)
    app.register_blueprint(activities.bp)
    from webapp.blueprints import ledger_files, performance

    app.register_blueprint(ledger_files.bp)
    app.register_blueprint(performance.bp)
    from webapp.blueprints import api
    from webapp.blueprints.api import docs as api_docs

    app.extensions["folio_api"] = api.init_app(app)
    app.register_blueprint(api_docs.page)
    from webapp.blueprints import alerts

    app.register_blueprint(alerts.bp)
    app.register_blueprint(alerts.notes)
    from webapp.blueprints import undo

    app.register_blueprint(undo.bp)

    from webapp import cli
    from webapp.web import filters

    cli.init_app(app)
    filters.init_app(app)
    _register_error_handlers(app)
    _register_security_headers(app)
    _trust_forwarded_headers(app)
    _refuse_malformed_htmx_headers(app)
    return app


def _is_production(app: Flask) -> bool:
    return app.config.get("FOLIO_ENV", os.environ.get("FOLIO_ENV", "")) == "production"


def _check_production(app: Flask) -> None:
    if _is_production(app):
        if app.config["SECRET_KEY"] == config_module.DEV_SECRET:
            raise RuntimeError("SECRET_KEY must be set in production (FOLIO_ENV=production)")


def _allow_csv_uploads(app: Flask) -> None:
    """MAX_CONTENT_LENGTH keeps every form small; the CSV import takes files up to its own limit.

    Registered before CSRFProtect's check, which is the first to read the form.
    """

    @app.before_request
    def larger_body_for_the_csv_import():
        if request.endpoint == "accounts.import_csv":
            from webapp.services.csv_import import MAX_BYTES

            request.max_content_length = 3 * MAX_BYTES + 65536  # pasted text travels URL-encoded
            request.max_form_memory_size = 3 * MAX_BYTES


def _enforce_sqlite_foreign_keys(app: Flask) -> None:
    """SQLite ignores foreign keys (and ON DELETE CASCADE) unless asked, per connection."""
    from sqlalchemy import event

    with app.app_context():
        engine = db.engine
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _fk_on(dbapi_conn, _record):
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()


def _derive_settings(app: Flask) -> None:
    cfg = app.config
    prefix = cfg["REDIS_PREFIX"]
    cfg.setdefault("CACHE_REDIS_URL", cfg["REDIS_URL"])
    cfg.setdefault("CACHE_KEY_PREFIX", f"{prefix}cache:")
    cfg.setdefault("RATELIMIT_STORAGE_URI", cfg["REDIS_URL"])
    cfg.setdefault("RATELIMIT_KEY_PREFIX", f"{prefix}limit")
    cfg.setdefault("RATELIMIT_STORAGE_OPTIONS", {"socket_connect_timeout": 2, "socket_timeout": 2})
    cfg.setdefault("MAIL_DEFAULT_SENDER", cfg.get("MAIL_FROM"))
    cfg.setdefault("MAIL_BACKEND", "smtp")  # flask-mailman would keep mail in memory under TESTING
    if cfg.get("SESSION_COOKIE_SECURE") is None:  # unset: on when served over HTTPS, as production is
        cfg["SESSION_COOKIE_SECURE"] = _served_over_https(app) or _is_production(app)
    if cfg.get("REMEMBER_COOKIE_SECURE") is None:
        cfg["REMEMBER_COOKIE_SECURE"] = bool(cfg["SESSION_COOKIE_SECURE"])


def _served_over_https(app: Flask) -> bool:
    return str(app.config.get("PUBLIC_URL") or "").lower().startswith("https://")


def _trust_forwarded_headers(app: Flask) -> None:
    """Behind FORWARDED_PROXIES reverse proxies, the client's address, scheme and host come from
    their X-Forwarded-* headers (rate limits per client, https URLs); none are trusted by default."""
    hops = int(app.config.get("FORWARDED_PROXIES") or 0)
    if hops > 0:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]


def _register_error_handlers(app: Flask) -> None:
    from webapp.blueprints.api import errors as api_errors

    def page(status: int, title: str, message: str):
        if api_errors.is_api_request():  # the JSON API answers in its own error shape, even off its routes
            return api_errors.response(status, message)
        return render_template("error.html", status=status, title=title, message=message), status

    @app.errorhandler(CSRFError)
    def csrf_error(e):
        return page(400, "Form expired", "The form was missing its security token or it expired. "
                    "Reload the page and try again.")

    @app.errorhandler(400)
    def bad_request(e):
        return page(400, "Bad request", getattr(e, "description", "") or "The request could not be understood.")

    @app.errorhandler(403)
    def forbidden(e):
        return page(403, "Not allowed", "You do not have access to this page.")

    @app.errorhandler(404)
    def not_found(e):
        return page(404, "Not found", "There is nothing here, or it is not yours.")

    @app.errorhandler(405)
    def not_allowed(e):
        return page(405, "Method not allowed", "This page cannot be used that way.")

    @app.errorhandler(413)
    def too_large(e):
        return page(413, "Too much data", "That was more than a form of Folio ever needs. "
                    "Shorten what you typed and try again.")

    @app.errorhandler(429)
    def too_many(e):
        if api_errors.is_api_request():
            return api_errors.handle(e)
        if request.endpoint in ("auth.login", "auth.login_code"):
            from webapp.blueprints.auth import login_rate_limited

            return login_rate_limited(e)
        if request.endpoint == "auth.forgot_password":
            from webapp.blueprints.auth import reset_rate_limited

            return reset_rate_limited(e)
        return page(429, "Too many requests", "Slow down a little and try again in a minute.")

    @app.errorhandler(OperationalError)
    @app.errorhandler(InterfaceError)
    def database_unavailable(e):
        db.session.rollback()
        app.logger.warning("database unavailable: %s", type(getattr(e, "orig", e)).__name__)
        # rendered without context processors: Flask-Login's would query the user again
        resp = make_response(app.jinja_env.get_template("unavailable.html").render(url_for=url_for), 503)
        resp.headers["Retry-After"] = "5"
        return resp

    @app.errorhandler(ObjectDeletedError)
    @app.errorhandler(StaleDataError)
    def deleted_meanwhile(e):
        # another request (another tab) deleted the account or holding while this one worked on it
        db.session.rollback()
        return not_found(e)

    @app.errorhandler(500)
    def server_error(e):
        db.session.rollback()
        return page(500, "Something went wrong", "The error was logged. Please try again.")


# htmx sends these headers with "true" only; the others carry ids and the page's URL
HTMX_FLAGS = ("hx-request", "hx-boosted", "hx-history-restore-request")
HTMX_HEADER_MAX = 2048


def _refuse_malformed_htmx_headers(app: Flask) -> None:
    """A request that claims to be htmx's must look like one: views trust these headers to choose
    what to render, so garbage gets a 400 instead of reaching them."""

    @app.before_request
    def check_htmx_headers():
        for name, value in request.headers.items():
            if not name.lower().startswith("hx-"):
                continue
            if len(value) > HTMX_HEADER_MAX or not value.isprintable() or (
                    name.lower() in HTMX_FLAGS and value != "true"):
                abort(400, f"The request's {name} header is malformed.")
        return None


def _register_security_headers(app: Flask) -> None:
    csp = (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'; object-src 'none'"
    )

    # rq-dashboard (admins only) ships inline scripts and underscore templates
    rq_csp = csp.replace("script-src 'self'", "script-src 'self' 'unsafe-inline' 'unsafe-eval'").replace(
        "style-src 'self'", "style-src 'self' 'unsafe-inline'"
    )

    # browsers keep to HTTPS for this long once they saw it served so (PUBLIC_URL https://)
    hsts = max(0, int(app.config.get("HSTS_SECONDS") or 0)) if _served_over_https(app) else 0

    @app.after_request
    def headers(resp):
        resp.headers.setdefault("Content-Security-Policy", rq_csp if request.blueprint == "rq_dashboard" else csp)
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("Referrer-Policy", "same-origin")
        resp.headers.setdefault("X-Frame-Options", "DENY")
        if hsts:
            resp.headers.setdefault("Strict-Transport-Security", f"max-age={hsts}")
        return resp
