"""Asset service views: accounts and their holdings. Every query is filtered by owner."""
from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_limiter.util import get_remote_address
from flask_login import current_user, login_required

from webapp.extensions import limiter
from webapp.models import ASSET_TYPES, Account, Holding
from webapp.services import assets, undo
from webapp.services.pricing import search
from webapp.web.filters import quantity as format_quantity
from webapp.web.forms import (
    AccountForm,
    CostForm,
    HoldingForm,
    QuantityForm,
    RenameAccountForm,
    cost_within_limit,
    total_cost,
)
from webapp.web.undo import offer_undo

bp = Blueprint("accounts", __name__, url_prefix="/accounts")

# ids are 32-bit integer columns: a larger number in a URL is no object (404), not a
# database error (PostgreSQL: "integer out of range"; SQLite overflows past 2**63)
ID = "int(max=2147483647)"


@bp.before_request
@login_required
def require_login():
    pass


def own_account(account_id: int) -> Account:
    """The current user's account, or 404: another user's id looks like no account at all."""
    return assets.account_of(current_user.id, account_id) or abort(404)


def own_holding(holding_id: int) -> Holding:
    return assets.holding_of(current_user.id, holding_id) or abort(404)


def _from_dashboard() -> bool:
    """A delete asked for on the dashboard goes back there (`from=dashboard`)."""
    return (request.form.get("from") or request.args.get("from")) == "dashboard"


def redirect_to(url: str):
    """A redirect that htmx follows as a full navigation."""
    if request.headers.get("HX-Request"):
        resp = make_response("", 204)
        resp.headers["HX-Redirect"] = url
        return resp
    return redirect(url)


@bp.route("/", methods=["GET", "POST"])
def index():
    form = AccountForm()
    status = 200
    if request.method == "POST":
        status = 400
        if form.validate_on_submit():
            try:
                account = assets.create_account(current_user, form.name.data, form.institution.data, form.kind.data)
            except assets.DuplicateAccount as exc:
                form.name.errors.append(str(exc))
                status = 409
            else:
                assets.portfolio_changed(current_user.id)
                flash(f"Account “{account.name}” created. Add its holdings below.", "success")
                return redirect(url_for(".detail", account_id=account.id))
    return render_template("accounts/index.html", form=form, accounts=assets.accounts_of(current_user)), status


def _detail(account: Account, holding_form: HoldingForm | None = None, rename_form: RenameAccountForm | None = None,
            status: int = 200, duplicate: Holding | None = None, failed_quantity: tuple[int, QuantityForm] | None = None,
            failed_cost: tuple[int, CostForm] | None = None):
    holding_form = holding_form or HoldingForm(formdata=None)
    quantity_forms = {h.id: QuantityForm(formdata=None, quantity=h.quantity) for h in account.holdings}
    if failed_quantity:
        quantity_forms[failed_quantity[0]] = failed_quantity[1]
    cost_forms = {h.id: CostForm(formdata=None, cost=h.cost_basis) for h in account.holdings}
    if failed_cost:
        cost_forms[failed_cost[0]] = failed_cost[1]
    rename_form = rename_form or RenameAccountForm(formdata=None, name=account.name)
    return render_template(
        "accounts/detail.html",
        account=account,
        holding_form=holding_form,
        rename_form=rename_form,
        duplicate=duplicate,
        quantity_forms=quantity_forms,
        cost_forms=cost_forms,
    ), status


@bp.get(f"/<{ID}:account_id>")
def detail(account_id: int):
    return _detail(own_account(account_id))


@bp.post(f"/<{ID}:account_id>/rename")
def rename(account_id: int):
    account = own_account(account_id)
    form = RenameAccountForm()
    if not form.validate_on_submit():
        return _detail(account, rename_form=form, status=400)
    try:
        assets.rename_account(account, form.name.data)
    except assets.DuplicateAccount as exc:
        form.name.errors.append(str(exc))
        return _detail(own_account(account_id), rename_form=form, status=409)
    assets.portfolio_changed(current_user.id)
    flash("Account renamed.", "success")
    return redirect(url_for(".detail", account_id=account.id))


@bp.route(f"/<{ID}:account_id>/delete", methods=["GET", "POST"])
def delete(account_id: int):
    account = own_account(account_id)
    if request.method != "POST":  # GET (or HEAD): the confirmation page, for browsers without JavaScript
        return render_template("accounts/confirm_delete.html", account=account, from_dashboard=_from_dashboard(),
                               undo_seconds=undo.window())
    name = account.name
    offer = undo.delete_account(current_user, account)
    assets.portfolio_changed(current_user.id)
    offer_undo(offer, f"Account “{name}” and its holdings were deleted.")
    return redirect_to(url_for("portfolio.dashboard") if _from_dashboard() else url_for(".index"))


def _search_limit() -> str:
    return current_app.config["SYMBOL_SEARCH_RATE_LIMIT"]


def _search_key() -> str:
    # the limiter runs before the login check: an anonymous request counts by address
    user_id = getattr(current_user, "id", None)
    return f"symbols-user:{user_id}" if user_id is not None else f"symbols-ip:{get_remote_address()}"


@bp.get("/symbols")
@limiter.limit(_search_limit, key_func=_search_key)
def symbols():
    """The add-holding form's suggestions for what was typed in its symbol field (htmx sends the
    field as `symbol`; `q` works too)."""
    text = request.args.get("q", request.args.get("symbol", ""))
    try:
        result = search.suggest(text, current_user.base_currency)
    except search.BadQuery as exc:
        return render_template("accounts/_symbol_suggestions.html", result=search.SearchResult(note=str(exc)),
                               asset_types=ASSET_TYPES), 400
    return render_template("accounts/_symbol_suggestions.html", result=result, asset_types=ASSET_TYPES)


@bp.post(f"/<{ID}:account_id>/holdings")
def add_holding(account_id: int):
    account = own_account(account_id)
    form = HoldingForm()
    if not form.validate_on_submit():
        return _detail(account, holding_form=form, status=400)
    if not cost_within_limit(form.cost, form.total_cost()):
        return _detail(account, holding_form=form, status=400)
    try:
        holding = assets.add_holding(account, form.symbol.data, form.asset_type.data, form.quantity.data,
                                     merge=form.merge.data == "1", cost=form.total_cost(),
                                     currency=form.currency.data)
    except assets.DuplicateHolding as dup:
        form.merge.data = "1"
        return _detail(own_account(account_id), holding_form=form, status=409, duplicate=dup.holding)
    except assets.MergedQuantityTooLarge as exc:
        form.merge.data = ""
        form.quantity.errors.append(
            f"With the {format_quantity(exc.holding.quantity)} already held that makes "
            f"{format_quantity(exc.total)}, over the limit of 1,000,000,000,000,000."
        )
        return _detail(own_account(account_id), holding_form=form, status=400)
    assets.portfolio_changed(current_user.id, holding.instrument)
    flash(f"{holding.instrument.symbol}: {holding.quantity.normalize():f} held.", "success")
    return redirect(url_for(".detail", account_id=account.id))


@bp.post(f"/holdings/<{ID}:holding_id>/quantity")
def edit_quantity(holding_id: int):
    holding = own_holding(holding_id)
    form = QuantityForm()
    if not form.validate_on_submit():
        return _detail(holding.account, status=400, failed_quantity=(holding.id, form))
    try:
        assets.set_quantity(holding, form.quantity.data)
    except assets.RecordedByLedger as exc:
        form.quantity.errors.append(str(exc))
        return _detail(holding.account, status=409, failed_quantity=(holding.id, form))
    assets.portfolio_changed(current_user.id)
    flash(f"{holding.instrument.symbol}: quantity set to {holding.quantity.normalize():f}.", "success")
    return redirect(url_for(".detail", account_id=holding.account_id))


@bp.post(f"/holdings/<{ID}:holding_id>/cost")
def edit_cost(holding_id: int):
    holding = own_holding(holding_id)
    form = CostForm()
    if not form.validate_on_submit():
        return _detail(holding.account, status=400, failed_cost=(holding.id, form))
    cost = total_cost(form.cost.data, form.cost_kind.data, holding.quantity)
    if not cost_within_limit(form.cost, cost):
        return _detail(holding.account, status=400, failed_cost=(holding.id, form))
    try:
        assets.set_cost(holding, cost)
    except assets.RecordedByLedger as exc:
        form.cost.errors.append(str(exc))
        return _detail(holding.account, status=409, failed_cost=(holding.id, form))
    assets.portfolio_changed(current_user.id)
    symbol = holding.instrument.symbol
    flash(f"{symbol}: cost cleared." if cost is None else f"{symbol}: cost set to {cost.normalize():,f}.", "success")
    return redirect(url_for(".detail", account_id=holding.account_id))


@bp.route(f"/holdings/<{ID}:holding_id>/delete", methods=["GET", "POST"])
def delete_holding(holding_id: int):
    holding = own_holding(holding_id)
    if request.method != "POST":  # GET (or HEAD): the confirmation page, for browsers without JavaScript
        return render_template("accounts/confirm_remove.html", holding=holding, from_dashboard=_from_dashboard(),
                               undo_seconds=undo.window())
    account_id, symbol = holding.account_id, holding.instrument.symbol
    offer = undo.delete_holding(current_user, holding)
    assets.portfolio_changed(current_user.id)
    offer_undo(offer, f"{symbol} removed.")
    return redirect_to(url_for("portfolio.dashboard") if _from_dashboard() else url_for(".detail", account_id=account_id))


# ---- CSV import and export -------------------------------------------------------------
@bp.route("/import", methods=["GET", "POST"])
def import_csv():
    """Upload (or paste) a CSV, see a preview with every error by line, then confirm."""
    from webapp.services import csv_import

    if request.method != "POST":  # GET or HEAD
        return render_template("accounts/import.html", preview=None, text="")
    upload = request.files.get("file")
    if upload is not None and upload.filename:
        raw = upload.read(csv_import.MAX_BYTES + 1)
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            return render_template("accounts/import.html", preview=None, text="",
                                   error="The file is not UTF-8 text. Export it from your spreadsheet as “CSV UTF-8”."), 400
    else:
        text = request.form.get("csv_text", "")
    if not text.strip():
        return render_template("accounts/import.html", preview=None, text="",
                               error="Choose a CSV file or paste its contents."), 400
    preview = csv_import.parse(text, current_user)
    if not preview.ok:
        return render_template("accounts/import.html", preview=preview, text=text), 400
    if request.form.get("confirm") != "1":
        return render_template("accounts/import.html", preview=preview, text=text)
    new_instruments = csv_import.apply(preview)
    assets.portfolio_changed(current_user.id)
    assets.price_new_instruments(new_instruments)
    flash(f"Imported {len(preview.rows)} rows: {preview.count('new')} new holdings, "
          f"{preview.count('update')} updated, {preview.count('unchanged')} unchanged.", "success")
    return redirect(url_for(".index"))


@bp.get("/export.csv")
def export_csv():
    from webapp.services import csv_import

    resp = make_response(csv_import.export(current_user))
    resp.headers["Content-Type"] = "text/csv; charset=utf-8"
    resp.headers["Content-Disposition"] = 'attachment; filename="folio-holdings.csv"'
    return resp
