"""Holdings from CSV: parse and validate everything first, write nothing until confirmed.

Columns (header on line 1, any order, case-insensitive): account, symbol, quantity,
and optionally cost (total, in the instrument's currency) or cost_per_unit, currency,
asset_type. Errors name the line as a spreadsheet shows it (the header is line 1).
Importing the same file twice changes nothing: a row sets a holding's quantity and
cost, it does not add to them.
"""
from __future__ import annotations

import csv
import io
from decimal import Decimal

import sqlalchemy as sa

from webapp.domain import csv_format
from webapp.domain.csv_format import MAX_BYTES, KnownAccount, Preview, Row, _safe_cell  # noqa: F401  (MAX_BYTES: the upload limit)
from webapp.extensions import db
from webapp.models import Account, Activity, Holding, Instrument, User
from webapp.services.ledger import today


def parse(text: str, user: User) -> Preview:
    """Validate every row; the preview says what each row would do."""
    accounts = {a.name.lower(): KnownAccount(a.id, a.name)
                for a in db.session.scalars(sa.select(Account).where(Account.owner_id == user.id))}
    preview = csv_format.parse(text, accounts)
    if not preview.errors:
        plan(preview)
    return preview


def plan(preview: Preview) -> None:
    """Mark each row new / update / unchanged against the holdings in the database."""
    symbols = {r.symbol for r in preview.rows}
    current = {
        (acc, sym): (qty, cost)
        for acc, sym, qty, cost in db.session.execute(
            sa.select(Holding.account_id, Instrument.symbol, Holding.quantity, Holding.cost_basis)
            .join(Instrument, Instrument.id == Holding.instrument_id)
            .where(Holding.account_id.in_({r.account_id for r in preview.rows}), Instrument.symbol.in_(symbols))
        )
    }
    # pairs whose activities record more than opening positions: a file cannot set those
    traded = set(db.session.execute(
        sa.select(Activity.account_id, Instrument.symbol).join(Instrument, Instrument.id == Activity.instrument_id)
        .where(Activity.account_id.in_({r.account_id for r in preview.rows}), Instrument.symbol.in_(symbols),
               Activity.type != "opening")).all())
    for r in preview.rows:
        held = current.get((r.account_id, r.symbol))
        if held is None:
            r.action = "new"
        elif held == (r.quantity.quantize(Decimal("1e-10")), None if r.cost is None else r.cost.quantize(Decimal("1e-10"))):
            r.action = "unchanged"
        else:
            r.action = "update"
            if (r.account_id, r.symbol) in traded:
                preview.errors.append(
                    f"Line {r.line}: {r.symbol} in {r.account_name} is recorded by its activities (buys, sells …); "
                    "its quantity and cost come from them. Import activities instead, or leave this line out.")


def apply(preview: Preview) -> list[int]:
    """Write the previewed rows in a few set-based statements. Returns new instrument ids."""
    assert preview.ok
    symbols = {r.symbol: r for r in preview.rows}
    existing = dict(db.session.execute(sa.select(Instrument.symbol, Instrument.id).where(Instrument.symbol.in_(symbols))).all())
    missing = [s for s in symbols if s not in existing]
    if missing:
        db.session.execute(sa.insert(Instrument), [
            {"symbol": s, "asset_type": symbols[s].asset_type, "currency": symbols[s].currency, "name": "",
             "exchange": "", "provider_symbols": {}} for s in missing])
        existing.update(db.session.execute(
            sa.select(Instrument.symbol, Instrument.id).where(Instrument.symbol.in_(missing))).all())
    # instruments that had no currency learn it from the file (Core executemany: one round trip)
    learn = {existing[r.symbol]: r.currency for r in preview.rows if r.currency}
    if learn:
        t = Instrument.__table__
        db.session.execute(
            t.update().where(t.c.id == sa.bindparam("iid"), t.c.currency.is_(None)).values(currency=sa.bindparam("ccy")),
            [{"iid": i, "ccy": c} for i, c in learn.items()],
        )
    held = {
        (acc, iid): hid for hid, acc, iid in db.session.execute(
            sa.select(Holding.id, Holding.account_id, Holding.instrument_id)
            .where(Holding.account_id.in_({r.account_id for r in preview.rows})))
    }
    inserts, updates = [], []
    for r in preview.rows:
        key = (r.account_id, existing[r.symbol])
        if key in held:
            updates.append({"hid": held[key], "q": r.quantity, "c": r.cost})
        else:
            inserts.append({"account_id": r.account_id, "instrument_id": existing[r.symbol],
                            "quantity": r.quantity, "cost_basis": r.cost})
    if inserts:
        db.session.execute(sa.insert(Holding), inserts)
    if updates:
        t = Holding.__table__
        db.session.execute(
            t.update().where(t.c.id == sa.bindparam("hid")).values(
                quantity=sa.bindparam("q"), cost_basis=sa.bindparam("c"), cost_basis_base=None),
            updates,
        )
    _openings(inserts, [key for key in held if key in {(r.account_id, existing[r.symbol]) for r in preview.rows
                                                       if r.action == "update"}], preview, existing)
    db.session.commit()
    return sorted(existing[s] for s in missing)


def _openings(inserts: list[dict], updated: list[tuple[int, int]], preview: Preview, existing: dict) -> None:
    """The ledger's side: a new holding is an opening position dated today; an updated one
    (only opening positions, `plan` refused the others) becomes one opening position with the
    file's quantity and cost, on the earliest day it had."""
    rows = {(r.account_id, existing[r.symbol]): r for r in preview.rows}
    opened: dict[tuple[int, int], object] = {}
    if updated:
        pairs = sa.tuple_(Activity.account_id, Activity.instrument_id).in_(updated)
        opened = {(a, i): d for a, i, d in db.session.execute(
            sa.select(Activity.account_id, Activity.instrument_id, sa.func.min(Activity.date))
            .where(pairs).group_by(Activity.account_id, Activity.instrument_id))}
        db.session.execute(sa.delete(Activity).where(pairs))
    new = [(i["account_id"], i["instrument_id"]) for i in inserts] + list(updated)
    if new:
        db.session.execute(sa.insert(Activity), [
            {"account_id": a, "instrument_id": i, "type": "opening", "date": opened.get((a, i)) or today(),
             "quantity": rows[(a, i)].quantity, "amount": rows[(a, i)].cost, "fee": Decimal(0), "note": "",
             "source": "holding"} for a, i in new])


def export(user: User) -> str:
    """The user's holdings as CSV, in the import format (a round trip changes nothing)."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["account", "symbol", "quantity", "cost", "currency", "asset_type"])
    rows = db.session.execute(
        sa.select(Account.name, Instrument.symbol, Holding.quantity, Holding.cost_basis, Instrument.currency,
                  Instrument.asset_type)
        .join(Holding, Holding.account_id == Account.id).join(Instrument, Instrument.id == Holding.instrument_id)
        .where(Account.owner_id == user.id).order_by(Account.name, Instrument.symbol)
    )
    for name, symbol, qty, cost, ccy, asset_type in rows:
        w.writerow([_safe_cell(name), symbol, format(qty.normalize(), "f"),
                    "" if cost is None else format(cost.normalize(), "f"), ccy or "", asset_type])
    return out.getvalue()
