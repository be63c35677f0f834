"""Folio: a self-hosted, multi-user portfolio tracker."""
from __future__ import annotations

import os
from typing import Mapping

from flask import Flask, make_response, render_template, request, url_for
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import InterfaceError, OperationalError

from . import config as config_module
from .extensions import cache, csrf, db, limiter, login_manager, migrate


def create_app(config: Mapping[str, object] | None = None) -> Flask:
    app = Flask(__name__, instance_path=str(config_module.INSTANCE_DIR))
    config_module.load_dotenv()
    app.config.from_object(config_module.Config)
    app.config.update(config_module.from_environment())
    if config:
        app.config.update(config)
    _check_production(app)
    _derive_settings(app)
    os.makedirs(app.instance_path, exist_ok=True)

    from . import live

    app.extensions["folio_redis"] = live.connect(app.config["REDIS_URL"])
    db.init_app(app)
    _enforce_sqlite_foreign_keys(app)
    migrate.init_app(app, db, compare_type=True, render_as_batch=True)
    login_manager.init_app(app)
    csrf.init_app(app)
    cache.init_app(app)
    limiter.init_app(app)

    from .auth_support import init_login

    init_login(app)

    from . import observability
    from .blueprints import accounts, admin, auth, portfolio

    observability.init_app(app)
    app.register_blueprint(auth.bp)
    app.register_blueprint(accounts.bp)
    app.register_blueprint(portfolio.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(admin.ops)
    admin.init_rq_dashboard(app)

    from . import cli, filters

    cli.init_app(app)
    filters.init_app(app)
    _register_error_handlers(app)
    _register_security_headers(app)
    return app


def _check_production(app: Flask) -> None:
    if app.config.get("FOLIO_ENV", os.environ.get("FOLIO_ENV", "")) == "production":
        if app.config["SECRET_KEY"] == config_module.DEV_SECRET:
            raise RuntimeError("SECRET_KEY must be set in production (FOLIO_ENV=production)")


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
    if cfg.get("SESSION_COOKIE_SECURE"):
        cfg["REMEMBER_COOKIE_SECURE"] = True


def _register_error_handlers(app: Flask) -> None:
    def page(status: int, title: str, message: str):
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

    @app.errorhandler(429)
    def too_many(e):
        if request.endpoint == "auth.login":
            from .blueprints.auth import login_rate_limited

            return login_rate_limited(e)
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

    @app.errorhandler(500)
    def server_error(e):
        db.session.rollback()
        return page(500, "Something went wrong", "The error was logged. Please try again.")


def _register_security_headers(app: Flask) -> None:
    csp = (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'; object-src 'none'"
    )

    # rq-dashboard (admins only) ships inline scripts and underscore templates
    rq_csp = csp.replace("script-src 'self'", "script-src 'self' 'unsafe-inline' 'unsafe-eval'").replace(
        "style-src 'self'", "style-src 'self' 'unsafe-inline'"
    )

    @app.after_request
    def headers(resp):
        resp.headers.setdefault("Content-Security-Policy", rq_csp if request.blueprint == "rq_dashboard" else csp)
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("Referrer-Policy", "same-origin")
        resp.headers.setdefault("X-Frame-Options", "DENY")
        return resp
