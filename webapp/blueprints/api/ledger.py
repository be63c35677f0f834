"""An account's activities: listed a page at a time, recorded and deleted through the ledger
service (webapp/services/ledger.py), whose refusals (`Refused.problems`) become 422."""
from __future__ import annotations

from decimal import Decimal

from webapp.blueprints.api import auth, schemas
from webapp.blueprints.api.base import ID, blp, documented, found
from webapp.blueprints.api.errors import abort
from webapp.domain.splits import SplitError, parse_ratio
from webapp.services import assets, ledger

# a sentence of the ledger's checks -> the field it is about (the rest go under "activity")
_PROBLEM_FIELDS = (("The date", "date"), ("The quantity", "quantity"), ("You held", "quantity"),
                   ("The price", "price"), ("The amount", "amount"), ("The fee", "fee"),
                   ("Enter a symbol", "symbol"), ("A split needs", "ratio"), ("ISO 4217", "currency"))


def refused(exc: ledger.Refused):
    fields: dict[str, list[str]] = {}
    for problem in exc.problems:
        name = next((f for start, f in _PROBLEM_FIELDS if start in problem), "activity")
        fields.setdefault(name, []).append(problem)
    abort(422, str(exc), fields)


def _own_account(account_id: int):
    return found(assets.account_of(auth.user().id, account_id))


@blp.route(f"/accounts/<{ID}:account_id>/activities", methods=["GET"])
@blp.arguments(schemas.PageArgs, location="query")
@blp.response(200, schemas.ActivityPage)
@documented(401, 404, 422, 429)
def activities(args, account_id):
    """An account's activities, newest first, `per_page` (at most 200) a page."""
    account = _own_account(account_id)
    page = ledger.list_activities(auth.user().id, account.id, page=args["page"], per_page=args["per_page"])
    return {"items": page.rows, "page": page.page, "per_page": page.per_page, "total": page.total,
            "pages": page.pages}


@blp.route(f"/accounts/<{ID}:account_id>/activities", methods=["POST"])
@blp.arguments(schemas.ActivityIn)
@blp.response(201, schemas.Activity)
@documented(401, 403, 404, 422, 429)
def add_activity(data, account_id):
    """Record an activity (buy, sell, dividend, split …) after the ledger checked it against the
    rest of the user's activities; the holdings it governs are re-derived."""
    account = _own_account(account_id)
    user = auth.user()
    ratio = None
    if data["type"] == "split":
        try:
            ratio = parse_ratio(data["ratio"])
        except SplitError as exc:
            abort(422, str(exc), {"ratio": [str(exc)]})
    elif data["ratio"]:
        abort(422, fields={"ratio": ["Only a split takes a ratio."]})
    change = ledger.Change(date=data["date"], type=data["type"], symbol=data["symbol"] or None,
                           quantity=data["quantity"], price=data["price"],
                           fee=data["fee"] if data["fee"] is not None else Decimal(0), amount=data["amount"],
                           currency=data["currency"], note=data["note"], ratio=ratio,
                           asset_type=data["asset_type"])
    try:
        row = ledger.add(user, account, change, source="api")
    except ledger.Refused as exc:
        refused(exc)
    return row


@blp.route(f"/activities/<{ID}:activity_id>", methods=["DELETE"])
@blp.response(204)
@documented(401, 403, 404, 422, 429)
def delete_activity(activity_id):
    """Delete an activity (422 when a later sale or transfer needs what it brought in)."""
    user = auth.user()
    row = found(ledger.activity_of(user.id, activity_id))
    try:
        ledger.delete(user, row)
    except ledger.Refused as exc:
        refused(exc)
