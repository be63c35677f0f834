"""Record a stock split on one holding (its owner's page). `flask holdings split` does it for everyone."""
from __future__ import annotations

from datetime import datetime, timezone

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import DateField, StringField
from wtforms.validators import InputRequired, Length, ValidationError

from webapp.blueprints.accounts import ID, own_holding
from webapp.services import splits
from webapp.web.filters import quantity as format_quantity

bp = Blueprint("splits", __name__, url_prefix="/accounts")


def _check_ratio(form, field):
    try:
        field.parsed = splits.parse_ratio(field.data)
    except splits.SplitError as exc:
        raise ValidationError(str(exc)) from None


def _check_date(form, field):
    if field.data is not None:
        try:
            splits.check_effective_date(field.data)
        except splits.SplitError as exc:
            raise ValidationError(str(exc)) from None


class SplitForm(FlaskForm):
    ratio = StringField(_l("Ratio (new shares for old)"), validators=[
        InputRequired(_l("Enter the ratio, e.g. 4:1 (4-for-1) or 1:10 (reverse).")), Length(max=40), _check_ratio],
        render_kw={"placeholder": "4:1", "autocomplete": "off"})
    effective_date = DateField(_l("Effective date"), format="%Y-%m-%d", validators=[
        InputRequired(_l("Enter the date the split took effect (YYYY-MM-DD).")), _check_date])


@bp.route(f"/holdings/<{ID}:holding_id>/split", methods=["GET", "POST"])
@login_required
def split_holding(holding_id: int):
    holding = own_holding(holding_id)
    form = SplitForm() if request.method == "POST" else SplitForm(
        formdata=None, effective_date=datetime.now(timezone.utc).date())
    status = 200
    if request.method == "POST":
        status = 400
        if form.validate_on_submit():
            symbol, before = holding.instrument.symbol, holding.quantity
            try:
                result = splits.apply_split(holding.instrument, form.ratio.parsed, form.effective_date.data,
                                            holding=holding, user_id=current_user.id)
            except splits.AlreadyApplied as exc:
                form.effective_date.errors.append(str(exc))
                status = 409
            except splits.SplitError as exc:
                form.ratio.errors.append(str(exc))
            else:
                after = result.adjusted[0][2]
                flash(_("%(symbol)s split %(ratio)s: %(before)s became %(after)s; the cost basis is unchanged.",
                        symbol=symbol, ratio=form.ratio.parsed, before=format_quantity(before),
                        after=format_quantity(after)), "success")
                return redirect(url_for("accounts.detail", account_id=holding.account_id))
        holding = own_holding(holding_id)  # after a rollback
    return render_template("splits/holding_split.html", holding=holding, form=form,
                           recorded=splits.splits_of_holding(holding)), status
