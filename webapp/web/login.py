"""Flask-Login wiring: the login cookie carries a per-user token that logout rotates; admins
without two-factor login are sent to set it up first when ADMIN_REQUIRE_2FA is on."""
from __future__ import annotations

from flask import Flask, flash, make_response, redirect, request, url_for
from flask_login import current_user

from webapp.extensions import db, login_manager
from webapp.models import User

# what an admin without two-factor login may still reach: the setup itself, logging out,
# the probes, and the static files the setup page needs
ADMIN_2FA_EXEMPT = {"settings.two_factor_setup", "auth.logout", "static", "ops.healthz", "ops.readyz"}


def init_login(app: Flask) -> None:
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please log in to see that page."
    login_manager.login_message_category = "info"
    login_manager.session_protection = "basic"

    @login_manager.user_loader
    def load_user(user_id: str):
        uid, _, token = user_id.partition(":")
        if not uid.isdigit() or not token:
            return None
        user = db.session.get(User, int(uid))
        if user is None or user.session_token != token or user.is_disabled:
            return None
        return user

    @app.before_request
    def admins_need_two_factor():
        if not app.config.get("ADMIN_REQUIRE_2FA") or request.endpoint in ADMIN_2FA_EXEMPT:
            return None
        if not (current_user.is_authenticated and current_user.is_admin and not current_user.has_two_factor):
            return None
        url = url_for("settings.two_factor_setup")
        if request.headers.get("HX-Request"):
            resp = make_response("", 204)
            resp.headers["HX-Redirect"] = url
            return resp
        flash("Administrators must turn on two-factor login before anything else.", "warning")
        return redirect(url)
