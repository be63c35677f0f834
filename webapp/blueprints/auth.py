"""User service views: register, log in (password, then a two-factor code when it is on), log out;
a forgotten password (a mailed, signed, single-use link) and the address confirmation link."""
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
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required, login_user, logout_user

from webapp.extensions import limiter
from webapp.models import User
from webapp.services import users
from webapp.web import mails
from webapp.web.forms import (
    ButtonForm,
    ForgotPasswordForm,
    LoginCodeForm,
    LoginForm,
    RegisterForm,
    ResetPasswordForm,
    normalise_email,
)

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
        message = _("Too many wrong codes. Wait a minute, then try again.")
        return render_template("auth/login_code.html", form=LoginCodeForm(), error=message), 429
    form = LoginForm()
    form.email.data = normalise_email(request.form.get("email"))
    message = _("Too many login attempts. Wait a minute, then try again.")
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
                form.email.errors.append(_("An account with this email already exists. Log in instead?"))
                status = 409
            else:
                user = users.register(form.email.data, form.password.data, form.display_name.data,
                                      current_app.config["BASE_CURRENCY"])
                mails.confirm_address(user)
                session.clear()
                login_user(user)
                flash(_("Welcome to Folio. Create your first account to add holdings."), "success")
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
        return render_template("auth/login.html", form=form, error=_("Wrong email or password.")), 401
    if user.is_disabled:
        return render_template("auth/login.html", form=form, error=_("This account is disabled.")), 403
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
        flash(_("Log in with your password first (a started login is good for five minutes)."), "info")
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
                               error=_("That code is not right, or it was used already.")), 401
    resp = _finish_login(user, state.get("remember", False), safe_next(state.get("next")))
    if method == "recovery":
        left = users.recovery_codes_left(user)
        flash(_("You logged in with a recovery code; %(left)d of them left. "
                "Get new ones in Settings if you are running out.", left=left), "warning")
    return resp


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    # CSRFProtect has checked the token. Rotating the token invalidates every copy of the session and remember cookies
    users.end_sessions(current_user)
    logout_user()
    session.clear()
    flash(_("You are logged out."), "info")
    return redirect(url_for("auth.login"))


# ---- a forgotten password ------------------------------------------------------------------------
def _reset_limit() -> str:
    return current_app.config["RESET_RATE_LIMIT"]


def _reset_account_limit() -> str:
    return current_app.config["RESET_ACCOUNT_RATE_LIMIT"]


def _reset_account_key() -> str:
    return "reset-account:" + normalise_email(request.form.get("email"))[:254]


def reset_rate_limited(e):
    form = ForgotPasswordForm()
    form.email.data = normalise_email(request.form.get("email"))
    message = _("Too many requests for a reset link. Wait a while, then try again.")
    return _no_store(render_template("auth/forgot.html", form=form, error=message), 429)


def _no_store(body, status: int = 200):
    """Pages whose URL carries a token (or that answer about an address) stay out of caches."""
    resp = current_app.make_response((body, status))
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["Referrer-Policy"] = "no-referrer"
    return resp


LINK_PROBLEMS = {
    "expired": _l("This link has expired."),
    "used": _l("This link was used already, or the password or address changed since it was sent."),
    "invalid": _l("This link is not valid. If you copied it from the mail, check that you copied all of it."),
}


def _link_problem(why: str, again_url: str, again_text: str):
    message = LINK_PROBLEMS.get(why, LINK_PROBLEMS["invalid"])
    return _no_store(render_template("auth/link_problem.html", message=message, again_url=again_url,
                                     again_text=again_text), 400)


@bp.route("/forgot", methods=["GET", "POST"])
@limiter.limit(_reset_limit, methods=["POST"])
@limiter.limit(_reset_account_limit, methods=["POST"], key_func=_reset_account_key,
               deduct_when=lambda r: r.status_code == 200)
def forgot_password():
    """The same answer whether or not the address has an account: the page says nothing of it."""
    form = ForgotPasswordForm()
    if request.method != "POST":  # GET or HEAD
        return render_template("auth/forgot.html", form=form)
    if not form.validate_on_submit():
        return render_template("auth/forgot.html", form=form), 400
    user = users.by_email(form.email.data)
    if user is not None and not user.is_disabled:
        mails.password_reset(user)  # enqueued: the job sends it, not this request
    return _no_store(render_template("auth/forgot_sent.html", email=form.email.data,
                                     minutes=current_app.config["RESET_TOKEN_SECONDS"] // 60))


@bp.route("/reset/<token>", methods=["GET", "POST"])
def reset_password(token: str):
    user, why = users.user_of_token(token, users.RESET, current_app.config["RESET_TOKEN_SECONDS"])
    if user is None:
        return _link_problem(why, url_for(".forgot_password"), _("Ask for a new link"))
    form = ResetPasswordForm()
    if request.method != "POST":  # GET or HEAD
        return _no_store(render_template("auth/reset.html", form=form, token=token, user=user))
    if not form.validate_on_submit():
        return _no_store(render_template("auth/reset.html", form=form, token=token, user=user), 400)
    users.reset_password(user, form.password.data)  # a new hash voids the link; a new token ends every session
    session.clear()
    if user.has_two_factor:
        flash(_("Your password was changed and you were logged out everywhere. Log in with it and your code."),
              "success")
        return redirect(url_for(".login"))
    resp = _finish_login(user, False, None)  # a fresh session (after the clear) with the new token
    flash(_("Your password was changed. You were logged out everywhere else."), "success")
    return resp


@bp.route("/confirm/<token>", methods=["GET", "POST"])
def confirm_email(token: str):
    """GET shows a button, its POST confirms: link scanners that open mailed links change nothing."""
    user, why = users.user_of_token(token, users.CONFIRM, current_app.config["CONFIRM_TOKEN_SECONDS"])
    if user is None:
        return _link_problem(why, url_for("settings.index") + "#email", _("Send a new link from your settings"))
    form = ButtonForm()
    if request.method != "POST":  # GET or HEAD
        return _no_store(render_template("auth/confirm.html", form=form, token=token, user=user,
                                         confirmed=users.email_confirmed(user)))
    if not form.validate_on_submit():
        return _no_store(render_template("auth/confirm.html", form=form, token=token, user=user), 400)
    users.confirm_email(user)
    flash(_("Thank you: %(email)s is confirmed.", email=user.email), "success")
    return redirect(url_for("settings.index") if current_user.is_authenticated else url_for(".login"))
