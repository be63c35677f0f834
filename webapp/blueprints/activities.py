"""An account's activities ledger: the list (filtered by type, symbol and dates, newest first,
50 a page; htmx swaps the table, plain links and forms work without it), recording, editing and
deleting activities. Every change goes through the ledger service, which checks it against the
rest of the user's ledger (`Refused.problems`, shown by their fields), re-derives the holdings
and revalues the portfolio."""
from __future__ import annotations

from decimal import Decimal

from flask import Blueprint, abort, flash, make_response, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from webapp.blueprints.accounts import ID, own_account, redirect_to
from webapp.domain.money import EXACT
from webapp.models import Account, Activity
from webapp.services import assets, ledger, undo
from webapp.web.activity_forms import ACTIVITY_LABELS, ActivityFilterForm, ActivityForm, EditActivityForm
from webapp.web.filters import quantity as format_quantity
from webapp.web.undo import offer_undo

bp = Blueprint("activities", __name__)
PER_PAGE = 50
TABLE_ID = "activity-table"  # the partial htmx swaps: templates/activities/_table.html
FILTERS = ("type", "symbol", "from", "to")


@bp.before_request
@login_required
def require_login():
    pass


def own_activity(activity_id: int) -> Activity:
    """The current user's activity, or 404: another user's id looks like no activity at all."""
    return ledger.activity_of(current_user.id, activity_id) or abort(404)


def describe(row: Activity) -> str:
    """"Buy of 10 AAPL on 2025-03-03", for messages and confirmations."""
    label = ACTIVITY_LABELS.get(row.type, row.type)
    symbol = row.instrument.symbol if row.instrument else ""
    if row.type == "split":
        what = f" {symbol} {row.ratio_numerator}:{row.ratio_denominator}"
    elif row.quantity is not None and symbol:
        what = f" of {format_quantity(row.quantity)} {symbol}"
    else:
        what = f" {symbol}" if symbol else ""
    return f"{label}{what} on {row.date.isoformat()}"


def _change(form: ActivityForm) -> ledger.Change:
    return ledger.Change(date=form.date.data, type=form.type.data, symbol=form.symbol.data or None,
                         quantity=form.quantity.data, price=form.price.data, fee=form.fee.data or Decimal(0),
                         amount=form.amount.data, currency=form.currency.data or None, note=form.note.data or "",
                         ratio=form.parsed_ratio, asset_type=form.asset_type.data)


# ---- the list ------------------------------------------------------------------------------------


def _page_number() -> int:
    raw = request.args.get("page", "1")
    return int(raw) if raw.isascii() and raw.isdigit() and 0 < len(raw) < 8 else 1


def _listing(account: Account, filters: ActivityFilterForm) -> ledger.Page:
    def ok(field):  # a filter typed wrong is left out (its message says so)
        return None if field.errors else field.data

    kw = dict(types=filters.types(), symbol=ok(filters.symbol) or None, since=ok(filters.since),
              until=ok(filters.until), per_page=PER_PAGE)
    page = ledger.list_activities(current_user.id, account.id, page=_page_number(), **kw)
    if page.page > page.pages:  # past the end (a deleted row, an old link): the last page
        page = ledger.list_activities(current_user.id, account.id, page=page.pages, **kw)
    return page


def _list_page(account: Account, form: ActivityForm, status: int = 200):
    filters = ActivityFilterForm(formdata=request.args)
    filters.validate()
    query = {k: request.args.getlist(k) for k in FILTERS if any(request.args.getlist(k))}
    context = dict(account=account, page=_listing(account, filters), filters=filters, form=form, query=query,
                   labels=ACTIVITY_LABELS, table_id=TABLE_ID, filtered=bool(query))
    htmx_table = (request.method == "GET" and request.headers.get("HX-Target") == TABLE_ID
                  and not request.headers.get("HX-History-Restore-Request"))
    template = "activities/_table.html" if htmx_table else "activities/index.html"
    resp = make_response(render_template(template, **context), status)
    resp.headers["Vary"] = "HX-Request, HX-Target, Cookie"
    return resp


@bp.route(f"/accounts/<{ID}:account_id>/activities", methods=["GET", "POST"])
def index(account_id: int):
    account = own_account(account_id)
    if request.method != "POST":  # GET or HEAD
        return _list_page(account, ActivityForm(formdata=None, date=ledger.today()))
    form = ActivityForm()
    if not form.validate_on_submit():
        return _list_page(account, form, 400)
    try:
        row = ledger.add(current_user, account, _change(form))
    except ledger.Refused as exc:
        form.show_problems(exc.problems)
        return _list_page(account, form, 400)
    flash(f"{describe(row)} recorded.", "success")
    return redirect(url_for(".index", account_id=account_id))


# ---- one activity ----------------------------------------------------------------------------------


def _edit_page(row: Activity, form: EditActivityForm, status: int = 200):
    return render_template("activities/edit.html", activity=row, form=form, what=describe(row)), status


@bp.route(f"/activities/<{ID}:activity_id>/edit", methods=["GET", "POST"])
def edit(activity_id: int):
    row = own_activity(activity_id)
    choices = [(a.id, a.name) for a in assets.accounts_of(current_user)]
    form = EditActivityForm() if request.method == "POST" else EditActivityForm.of(row)
    form.account.choices = choices
    if request.method != "POST":
        return _edit_page(row, form)
    if not form.validate_on_submit():
        return _edit_page(row, form, 400)
    account = own_account(form.account.data)
    try:
        ledger.edit(current_user, row, account, _change(form))
    except ledger.Refused as exc:
        form.show_problems(exc.problems)
        return _edit_page(own_activity(activity_id), form, 400)
    flash(f"{describe(row)} saved.", "success")
    return redirect(url_for(".index", account_id=row.account_id))


@bp.route(f"/activities/<{ID}:activity_id>/delete", methods=["GET", "POST"])
def delete(activity_id: int):
    row = own_activity(activity_id)
    if request.method != "POST":  # GET (or HEAD): the confirmation page, for browsers without JavaScript
        return render_template("activities/confirm_delete.html", activity=row, what=describe(row))
    account_id, what = row.account_id, describe(row)
    try:
        offer = undo.delete_activity(current_user, row, what)
    except ledger.Refused as exc:
        if request.headers.get("HX-Request"):  # htmx swaps no 409: the list page says why
            flash(exc.problems[0], "error")
            resp = redirect_to(url_for(".index", account_id=account_id))
            resp.status_code = 409
            return resp
        return render_template("activities/confirm_delete.html", activity=own_activity(activity_id), what=what,
                               problem=exc.problems[0]), 409
    offer_undo(offer, f"{what} deleted.")
    return redirect_to(url_for(".index", account_id=account_id))


@bp.app_template_filter("activity_label")
def activity_label(kind: str) -> str:
    return ACTIVITY_LABELS.get(kind, kind)


@bp.app_template_filter("activity_amount")
def activity_amount(row: Activity) -> Decimal | None:
    """The money an activity moved: its amount, or a buy's cost (quantity × price + fee) and a
    sale's proceeds (quantity × price − fee), exact."""
    if row.amount is not None or row.type not in ("buy", "sell") or row.quantity is None or row.price is None:
        return row.amount
    gross = EXACT.multiply(row.quantity, row.price)
    return EXACT.add(gross, row.fee) if row.type == "buy" else EXACT.subtract(gross, row.fee)

