"""The user, accounts and holdings: changes go through webapp/services/assets.py (its duplicate
and ledger-governed refusals become 409 and 422 with its message)."""
from __future__ import annotations


from webapp.blueprints.api import auth, schemas
from webapp.blueprints.api.base import ID, blp, documented, found
from webapp.blueprints.api.errors import abort
from webapp.services import assets


@blp.route("/me", methods=["GET"])
@blp.response(200, schemas.Me)
@documented(401, 429)
def me():
    """The token's user and the token itself."""
    user = auth.user()
    return {"id": user.id, "email": user.email, "display_name": user.display_name,
            "base_currency": user.base_currency, "cost_method": user.cost_method or "average",
            "token": auth.token()}


@blp.route("/accounts", methods=["GET"])
@blp.response(200, schemas.Account(many=True))
@documented(401, 429)
def accounts():
    """The user's accounts, by name."""
    return assets.accounts_of(auth.user())


@blp.route("/accounts", methods=["POST"])
@blp.arguments(schemas.AccountIn)
@blp.response(201, schemas.Account)
@documented(401, 403, 409, 422, 429)
def create_account(data):
    """Create an account (409 when the user has one of that name)."""
    user = auth.user()
    name = " ".join(data["name"].split())
    if not name:
        abort(422, fields={"name": ["Enter a name."]})
    try:
        account = assets.create_account(user, name, data["institution"].strip(), data["kind"])
    except assets.DuplicateAccount as exc:
        abort(409, str(exc), {"name": [str(exc)]})
    assets.portfolio_changed(user.id)
    return account


def _own_account(account_id: int):
    return found(assets.account_of(auth.user().id, account_id))


@blp.route(f"/accounts/<{ID}:account_id>", methods=["PATCH"])
@blp.arguments(schemas.AccountPatch)
@blp.response(200, schemas.Account)
@documented(401, 403, 404, 409, 422, 429)
def rename_account(data, account_id):
    """Rename an account."""
    account = _own_account(account_id)
    name = " ".join(data["name"].split())
    if not name:
        abort(422, fields={"name": ["Enter a name."]})
    try:
        assets.rename_account(account, name)
    except assets.DuplicateAccount as exc:
        abort(409, str(exc), {"name": [str(exc)]})
    assets.portfolio_changed(auth.user().id)
    return account


@blp.route(f"/accounts/<{ID}:account_id>", methods=["DELETE"])
@blp.response(204)
@documented(401, 403, 404, 429)
def delete_account(account_id):
    """Delete an account with its holdings and activities."""
    assets.delete(_own_account(account_id))
    assets.portfolio_changed(auth.user().id)


@blp.route(f"/accounts/<{ID}:account_id>/holdings", methods=["GET"])
@blp.response(200, schemas.Holding(many=True))
@documented(401, 404, 429)
def holdings(account_id):
    """An account's holdings."""
    return _own_account(account_id).holdings


@blp.route(f"/accounts/<{ID}:account_id>/holdings", methods=["POST"])
@blp.arguments(schemas.HoldingIn)
@blp.response(201, schemas.Holding)
@documented(401, 403, 404, 409, 422, 429)
def add_holding(data, account_id):
    """Add a holding (an opening position of the ledger); with `merge`, add to one of the same symbol."""
    account = _own_account(account_id)
    try:
        holding = assets.add_holding(account, data["symbol"], data["asset_type"], data["quantity"],
                                     merge=data["merge"], cost=data["cost"], currency=data["currency"])
    except assets.DuplicateHolding as exc:
        abort(409, f"{exc} (send \"merge\": true to add to it).", {"symbol": [str(exc)]})
    except assets.MergedQuantityTooLarge as exc:
        abort(422, str(exc), {"quantity": [str(exc)]})
    assets.portfolio_changed(auth.user().id, holding.instrument)
    return holding


def _own_holding(holding_id: int):
    return found(assets.holding_of(auth.user().id, holding_id))


@blp.route(f"/holdings/<{ID}:holding_id>", methods=["PATCH"])
@blp.arguments(schemas.HoldingPatch)
@blp.response(200, schemas.Holding)
@documented(401, 403, 404, 422, 429)
def edit_holding(data, holding_id):
    """Set a holding's quantity and/or total cost (422 when its activities record more than opening
    positions: record a buy or a sell instead)."""
    holding = _own_holding(holding_id)
    try:
        if "quantity" in data:
            assets.set_quantity(holding, data["quantity"])
        if "cost" in data:
            assets.set_cost(holding, data["cost"])
    except assets.RecordedByLedger as exc:
        abort(422, str(exc), {next(iter(data)): [str(exc)]})
    assets.portfolio_changed(auth.user().id)
    return holding


@blp.route(f"/holdings/<{ID}:holding_id>", methods=["DELETE"])
@blp.response(204)
@documented(401, 403, 404, 429)
def delete_holding(holding_id):
    """Delete a holding with the activities that recorded it."""
    assets.delete(_own_holding(holding_id))
    assets.portfolio_changed(auth.user().id)
