"""A user's own settings: the e-mail address's confirmation (resend the link), the base currency,
gains (the cost method and the benchmark), the password, and
two-factor login (TOTP with recovery codes)."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

import segno
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
from flask_login import current_user, login_required, login_user

from webapp.domain import totp
from webapp.extensions import limiter
from webapp.services import api_tokens, users
from webapp.web import mails
from webapp.web.forms import (
    ApiTokenForm,
    BaseCurrencyForm,
    ButtonForm,
    ChangePasswordForm,
    EnableTwoFactorForm,
    GainsForm,
    LanguageForm,
    TwoFactorPasswordForm,
)

bp = Blueprint("settings", __name__, url_prefix="/settings")
SETUP_SECRET = "totp_setup_secret"  # the secret being set up, until the first code proves it


@bp.before_request
@login_required
def require_login():
    pass


def _user_key() -> str:
    return f"settings-user:{current_user.id}"


def _password_limit() -> str:
    return current_app.config["LOGIN_ACCOUNT_RATE_LIMIT"]


# wrong passwords and codes count per user: a stolen session is no password oracle
_checked = limiter.limit(_password_limit, methods=["POST"], key_func=_user_key,
                         deduct_when=lambda r: r.status_code == 401)


def _keep_this_session_only() -> None:
    """After the token changed: every other session of the user has ended; this browser gets the
    new token, in its remember cookie too if it had one."""
    remembered = current_app.config.get("REMEMBER_COOKIE_NAME", "remember_token") in request.cookies
    login_user(current_user._get_current_object(), remember=remembered)


def _no_store(resp):
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _page(status: int = 200, password_form=None, disable_form=None, codes_form=None, currency_form=None,
          gains_form=None, token_form=None, language_form=None, **extra):
    user = current_user
    return render_template(
        "settings/index.html",
        currency_form=currency_form or BaseCurrencyForm(formdata=None, currency=user.base_currency),
        gains_form=gains_form or GainsForm(formdata=None, cost_method=user.cost_method or "average",
                                           benchmark=user.benchmark or "^GSPC"),
        language_form=language_form or LanguageForm(formdata=None, language=user.language or "",
                                                    number_locale=user.number_locale or ""),
        password_form=password_form or ChangePasswordForm(formdata=None),
        disable_form=disable_form or TwoFactorPasswordForm(formdata=None),
        codes_form=codes_form or TwoFactorPasswordForm(formdata=None),
        codes_left=users.recovery_codes_left(user) if user.has_two_factor else 0,
        token_form=token_form or ApiTokenForm(formdata=None),
        tokens=api_tokens.tokens_of(user),
        token_active=api_tokens.is_active,
        email_confirmed=users.email_confirmed(user),
        resend_form=ButtonForm(formdata=None),
        example_money=Decimal("1234567.89"), example_number=Decimal("1234.5"), example_day=date(2025, 3, 14),
        **extra,
    ), status


@bp.get("/")
def index():
    return _page()


def _resend_limit() -> str:
    return current_app.config["RESET_ACCOUNT_RATE_LIMIT"]


@bp.post("/email/confirm")
@limiter.limit(_resend_limit, key_func=lambda: f"confirm-mail:{current_user.id}")
def resend_confirmation():
    """Mail the confirmation link again (enqueued: the job sends it)."""
    form = ButtonForm()
    if not form.validate_on_submit():
        return _page(400)
    if users.email_confirmed(current_user):
        flash(_("Your address is confirmed already."), "info")
    else:
        mails.confirm_address(current_user)
        flash(_("A new confirmation link is on its way to %(email)s.", email=current_user.email), "success")
    return redirect(url_for(".index") + "#email")


@bp.post("/currency")
def base_currency():
    """Change the base currency and revalue the portfolio now, not at the next cycle."""
    form = BaseCurrencyForm()
    if not form.validate_on_submit():
        return _page(400, currency_form=form)
    new = form.currency.data
    if new == current_user.base_currency:
        flash(_("Your portfolio is already valued in %(currency)s.", currency=new), "info")
        return redirect(url_for(".index"))
    users.set_base_currency(current_user, new)
    from webapp.services.portfolio.read_model import recompute_users

    recompute_users([current_user.id])  # Redis down: pages value from the database anyway
    flash(_("Your portfolio is now valued in %(currency)s. Holdings in a currency without an exchange rate "
            "are shown apart, in their own currency.", currency=new), "success")
    return redirect(url_for(".index"))


@bp.post("/language")
def language():
    """The interface language and the number format; the next page is in them."""
    form = LanguageForm()
    if not form.validate_on_submit():
        return _page(400, language_form=form)
    users.set_language(current_user, form.language.data, form.number_locale.data)
    flash(_("Language and number format saved."), "success")
    return redirect(url_for(".index") + "#language")


@bp.post("/gains")
def gains():
    """The cost method (a change re-derives the holdings' cost bases and revalues the portfolio
    now) and the benchmark symbol."""
    form = GainsForm()
    if not form.validate_on_submit():
        return _page(400, gains_form=form)
    switched = users.set_gains(current_user, form.cost_method.data, form.benchmark.data)
    method = {"average": _("average cost"), "fifo": _("FIFO (first in, first out)")}[form.cost_method.data]
    flash(_("Cost bases and gains are now worked out by %(method)s.", method=method) if switched else
          _("Gains settings saved."), "success")
    return redirect(url_for(".index") + "#gains")


@bp.post("/password")
@_checked
def change_password():
    form = ChangePasswordForm()
    if not form.validate_on_submit():
        return _page(400, password_form=form)
    if not current_user.check_password(form.current_password.data):
        form.current_password.errors.append(_("That is not your current password."))
        return _page(401, password_form=form)
    users.change_password(current_user, form.password.data)
    _keep_this_session_only()
    flash(_("Password changed. You were logged out everywhere else."), "success")
    return redirect(url_for(".index"))


@bp.route("/two-factor", methods=["GET", "POST"])
def two_factor_setup():
    if current_user.has_two_factor:
        flash(_("Two-factor login is already on."), "info")
        return redirect(url_for(".index"))
    secret = session.get(SETUP_SECRET)
    if not secret:
        secret = session[SETUP_SECRET] = totp.new_secret()
    form = EnableTwoFactorForm()
    status = 200
    if request.method == "POST":
        status = 400
        if form.validate_on_submit():
            step = totp.matching_step(secret, users.normalise_code(form.code.data))
            if step is None:
                form.code.errors.append(_("That code does not match. Check the time on your phone and try the "
                                          "newest code."))
            else:
                codes = users.enable(current_user, secret, step)
                session.pop(SETUP_SECRET, None)
                _keep_this_session_only()
                flash(_("Two-factor login is on. You were logged out everywhere else."), "success")
                return _no_store(current_app.make_response(render_template("settings/recovery_codes.html",
                                                                           codes=codes)))
    uri = totp.provisioning_uri(secret, current_user.email)
    qr = segno.make(uri, error="m").svg_data_uri(scale=5, border=2, dark="#000", light="#fff")
    resp = current_app.make_response((render_template("settings/two_factor_setup.html", form=form, qr=qr,
                                                      secret=totp.grouped(secret),
                                                      required=_required_for(current_user)), status))
    return _no_store(resp)


def _required_for(user) -> bool:
    return bool(user.is_admin and current_app.config.get("ADMIN_REQUIRE_2FA"))


def _check_password_and_code(form: TwoFactorPasswordForm):
    """None when both are right, else the page to answer with."""
    if not form.validate_on_submit():
        return 400
    if not current_user.check_password(form.password.data):
        form.password.errors.append(_("That is not your password."))
        return 401
    if users.verify(current_user, form.code.data) is None:
        form.code.errors.append(_("That code is not right, or it was used already."))
        return 401
    return None


@bp.post("/two-factor/disable")
@_checked
def two_factor_disable():
    if not current_user.has_two_factor:
        return redirect(url_for(".index"))
    form = TwoFactorPasswordForm()
    if _required_for(current_user):
        form.code.errors = [_("Administrators must keep two-factor login on.")]
        return _page(403, disable_form=form)
    failed = _check_password_and_code(form)
    if failed:
        return _page(failed, disable_form=form)
    users.disable(current_user)
    _keep_this_session_only()
    flash(_("Two-factor login is off. You were logged out everywhere else."), "info")
    return redirect(url_for(".index"))


@bp.post("/two-factor/recovery-codes")
@_checked
def recovery_codes():
    if not current_user.has_two_factor:
        return redirect(url_for(".index"))
    form = TwoFactorPasswordForm()
    failed = _check_password_and_code(form)
    if failed:
        return _page(failed, codes_form=form)
    codes = users.regenerate_recovery_codes(current_user)
    return _no_store(current_app.make_response(render_template("settings/recovery_codes.html", codes=codes,
                                                               renewed=True)))


# ---- personal access tokens for the JSON API ------------------------------------------------------


@bp.post("/api-tokens")
def create_api_token():
    """Create a token and show it, this once (only its hash is stored)."""
    form = ApiTokenForm()
    if not form.validate_on_submit():
        return _page(400, token_form=form)
    try:
        created = api_tokens.create(current_user, form.name.data, form.scopes.data, form.days.data)
    except api_tokens.TokenError as exc:
        form.name.errors.append(str(exc))
        return _page(409 if "already" in str(exc) else 400, token_form=form)
    return _no_store(current_app.make_response(_page(201, new_token=created.secret, new_token_row=created.token)))


@bp.post("/api-tokens/<int(max=2147483647):token_id>/revoke")
def revoke_api_token(token_id: int):
    token = api_tokens.token_of(current_user.id, token_id)
    if token is None:
        from flask import abort

        abort(404)
    if api_tokens.revoke(token):
        flash(_("Token “%(name)s” revoked: it no longer works.", name=token.name), "info")
    return redirect(url_for(".index") + "#api-tokens")
