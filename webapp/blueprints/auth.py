"""User service views: register, log in (password, then a two-factor code when it is on), log out."""
from __future__ import annotations

import time
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_required, login_user, logout_user

from webapp.extensions import limiter
from webapp.models import User
from webapp.services import users
from webapp.web.forms import LoginCodeForm, LoginForm, RegisterForm, normalise_email

bp = Blueprint("auth", __name__, url_prefix="/auth")


def safe_next(target: str | None) -> str | None:
    """Only local paths: no scheme, no host, no protocol-relative or backslash tricks."""
    if not target:
        return None
    target = target.strip()
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    # control characters: browsers drop tabs and newlines ("/\t/evil" becomes "//evil"),
    # and a newline in a Location header is refused by Werkzeug (a 500)
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


def _account_key() -> str:
    return "login-account:" + normalise_email(request.form.get("email"))[:254]


def _login_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


def _account_limit() -> str:
    return current_app.config["LOGIN_ACCOUNT_RATE_LIMIT"]


def _code_limit() -> str:
    return current_app.config["LOGIN_CODE_RATE_LIMIT"]


def _pending_key() -> str:
    """Wrong codes count per user, however many times the password step is repeated."""
    return f"login-code:{(session.get(PENDING) or {}).get('uid')}"


def login_rate_limited(e):
    if request.endpoint == "auth.login_code":
        message = "Too many wrong codes. Wait a minute, then try again."
        return render_template("auth/login_code.html", form=LoginCodeForm(), error=message), 429
    form = LoginForm()
    form.email.data = normalise_email(request.form.get("email"))
    message = "Too many login attempts. Wait a minute, then try again."
    return render_template("auth/login.html", form=form, error=message), 429


# A password was right and a code is due: the session holds who, not a login.
PENDING = "pending_2fa"
PENDING_SECONDS = 300


def _finish_login(user: User, remember: bool, target: str | None):
    session.clear()  # a fresh session at login: no fixation
    users.record_login(user)
    login_user(user, remember=remember)
    return redirect(target or url_for("portfolio.dashboard"))


def _pending_user() -> tuple[User, dict] | None:
    state = session.get(PENDING)
    if not isinstance(state, dict) or time.time() - state.get("at", 0) > PENDING_SECONDS:
        return None
    user = users.get(state.get("uid"))
    # a password change, a logout elsewhere or turning 2FA off meanwhile voids the first step
    if user is None or user.is_disabled or not user.has_two_factor or user.session_token != state.get("token"):
        return None
    return user, state


@bp.route("/register", methods=["GET", "POST"])
def register():
    if current_user.is_authenticated:
        return redirect(url_for("portfolio.dashboard"))
    form = RegisterForm()
    status = 200
    if request.method == "POST":
        status = 400
        if form.validate_on_submit():
            if users.email_taken(form.email.data):
                form.email.errors.append("An account with this email already exists. Log in instead?")
                status = 409
            else:
                user = users.register(form.email.data, form.password.data, form.display_name.data,
                                      current_app.config["BASE_CURRENCY"])
                session.clear()
                login_user(user)
                flash("Welcome to Folio. Create your first account to add holdings.", "success")
                return redirect(url_for("accounts.index"))
    return render_template("auth/register.html", form=form), status


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
@limiter.limit(_account_limit, methods=["POST"], key_func=_account_key, deduct_when=lambda r: r.status_code == 401)
def login():
    if current_user.is_authenticated:
        return redirect(url_for("portfolio.dashboard"))
    form = LoginForm()
    if request.method != "POST":  # GET or HEAD
        form.next.data = safe_next(request.args.get("next")) or ""
        return render_template("auth/login.html", form=form)
    if not form.validate_on_submit():
        return render_template("auth/login.html", form=form), 400
    user = users.by_email(form.email.data)
    if user is None or not user.check_password(form.password.data):
        return render_template("auth/login.html", form=form, error="Wrong email or password."), 401
    if user.is_disabled:
        return render_template("auth/login.html", form=form, error="This account is disabled."), 403
    target = safe_next(form.next.data)
    if user.has_two_factor:
        session.clear()
        session[PENDING] = {"uid": user.id, "token": user.session_token, "at": int(time.time()),
                            "remember": bool(form.remember.data), "next": target or ""}
        return redirect(url_for(".login_code"))
    return _finish_login(user, form.remember.data, target)


@bp.route("/login/code", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
@limiter.limit(_code_limit, methods=["POST"], key_func=_pending_key, deduct_when=lambda r: r.status_code == 401)
def login_code():
    """The second step: a code from the authenticator app, or a recovery code."""
    if current_user.is_authenticated:
        return redirect(url_for("portfolio.dashboard"))
    pending = _pending_user()
    if pending is None:
        session.pop(PENDING, None)
        flash("Log in with your password first (a started login is good for five minutes).", "info")
        return redirect(url_for(".login"))
    user, state = pending
    form = LoginCodeForm()
    if request.method != "POST":  # GET or HEAD
        return render_template("auth/login_code.html", form=form)
    if not form.validate_on_submit():
        return render_template("auth/login_code.html", form=form), 400
    method = users.verify(user, form.code.data)
    if method is None:
        return render_template("auth/login_code.html", form=form,
                               error="That code is not right, or it was used already."), 401
    resp = _finish_login(user, state.get("remember", False), safe_next(state.get("next")))
    if method == "recovery":
        left = users.recovery_codes_left(user)
        flash(f"You logged in with a recovery code; {left} of them left. "
              "Get new ones in Settings if you are running out.", "warning")
    return resp


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    # CSRFProtect has checked the token. Rotating the token invalidates every copy of the session and remember cookies
    users.end_sessions(current_user)
    logout_user()
    session.clear()
    flash("You are logged out.", "info")
    return redirect(url_for("auth.login"))
