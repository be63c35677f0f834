"""Flask-Login wiring: the login cookie carries a per-user token that logout rotates."""
from __future__ import annotations

from flask import Flask

from .extensions import db, login_manager
from .models import User


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
