"""Activities from a file (Folio's CSV, Ghostfolio's JSON export, Trading 212's CSV): a preview
that lists every problem and imports nothing until there is none, then one confirmed write.

Re-importing the same file adds nothing: an activity's identity is its normalized fields
(webapp/domain/activity_csv.identity, without the account: the check is per account)
plus its occurrence within the file, so a file with two identical buys imports two, once;
activities already recorded by hand count as present too.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal

import sqlalchemy as sa

from webapp.domain import activity_csv, activity_files, activity_rows
from webapp.domain import ledger as domain
from webapp.extensions import db
from webapp.models import Account, Activity, User
from webapp.services import ledger

MAX_BYTES = activity_rows.MAX_BYTES


@dataclass
class ImportPreview:
    format: str = "folio"
    rows: list = field(default_factory=list)  # ParsedActivity, to be imported
    errors: list[str] = field(default_factory=list)  # "Line 7, column fee: …"
    new_accounts: list[str] = field(default_factory=list)
    duplicates: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors and bool(self.rows or self.duplicates)


def _line(error) -> str:
    """“Line 7, column fee: …” (JSON: “Activity 3, …”; the whole file: no place)."""
    column = error.column or ""
    if column and not column.startswith("column "):
        column = f"column {column}"
    where = (f"Line {error.line}" if error.line else "The file") + (f", {column}" if column else "")
    return f"{where}: {error.message}"


def preview(user: User, data: bytes, filename: str = "", *, default_account: str = "") -> ImportPreview:
    """Parse and check everything; write nothing."""
    rows, errors, fmt = activity_files.parse_any(data, filename, ledger.today(),
                                                 default_account or _default_account(filename))
    out = ImportPreview(format=fmt, errors=[_line(e) for e in errors])
    if out.errors:
        return out
    accounts = {a.name.casefold(): a for a in db.session.scalars(sa.select(Account).where(Account.owner_id == user.id))}
    out.new_accounts = sorted({r.account.strip() for r in rows if r.account.strip().casefold() not in accounts},
                              key=str.casefold)
    # accounts still to be created get stand-in ids below zero, for the ledger check
    ids = {name: a.id for name, a in accounts.items()}
    ids.update({name.casefold(): -(i + 1) for i, name in enumerate(out.new_accounts)})
    recorded = ledger.activities_of(user.id)
    present = Counter((a.account, activity_csv.identity("", a)) for a in recorded)
    seen: Counter = Counter()
    fresh = []
    for r in rows:
        account_id = ids[r.account.strip().casefold()]
        key = (account_id, activity_csv.identity("", r.activity))
        seen[key] += 1
        if seen[key] <= present[key]:
            out.duplicates += 1
            continue
        fresh.append((r, _with_account(r.activity, account_id)))
    out.rows = [r for r, _ in fresh]
    problem = _ledger_problem(recorded, fresh)
    if problem:
        out.errors.append(problem)
    return out


def _default_account(filename: str) -> str:
    return "Trading 212" if "212" in filename else "Imported"


def _with_account(a: domain.Activity, account_id: int) -> domain.Activity:
    from dataclasses import replace

    return replace(a, account=account_id)


def _ledger_problem(recorded: list[domain.Activity], fresh: list) -> str | None:
    """Whether the ledger with the new activities holds together; the line of the one that breaks it."""
    line_of = {id(a): r.line for r, a in fresh}
    try:
        domain.positions(recorded + [a for _, a in fresh])
    except domain.Oversold as exc:
        where = f"Line {line_of[id(exc.activity)]}: " if id(exc.activity) in line_of else ""
        return f"{where}{exc}"
    except domain.LedgerError as exc:
        return str(exc)
    return None


def confirm(user: User, result: ImportPreview, *, create_accounts: bool) -> int:
    """Write a clean preview's activities; returns how many. Accounts the file names that do
    not exist are created when `create_accounts`, else refused (ValueError)."""
    assert not result.errors
    if result.new_accounts and not create_accounts:
        raise ValueError("The file names accounts you do not have: " + ", ".join(result.new_accounts)
                         + ". Create them, or confirm with “create the accounts”.")
    from webapp.services import assets

    accounts = {a.name.casefold(): a for a in db.session.scalars(sa.select(Account).where(Account.owner_id == user.id))}
    for name in result.new_accounts:
        account = Account(owner_id=user.id, name=name[:80], institution="", kind="brokerage")
        db.session.add(account)
        accounts[name.casefold()] = account
    db.session.flush()
    instruments = {}
    for r in result.rows:
        symbol = r.activity.symbol
        if symbol and symbol not in instruments:
            instruments[symbol] = assets.instrument_for(symbol, getattr(r, "asset_type", "stock") or "stock", None)
    new_pairs = set()
    for r in result.rows:
        a, account = r.activity, accounts[r.account.strip().casefold()]
        inst = instruments.get(a.symbol) if a.symbol else None
        if inst is not None and (account.id, inst.id) not in new_pairs:
            ledger._adopt(account.id, inst.id)
            new_pairs.add((account.id, inst.id))
    rows = [{"account_id": accounts[r.account.strip().casefold()].id,
             "instrument_id": instruments[r.activity.symbol].id if r.activity.symbol else None,
             "type": r.activity.type, "date": r.activity.date,
             "quantity": r.activity.quantity if r.activity.type != "split" else None,
             "price": r.activity.price, "fee": r.activity.fee or Decimal(0), "amount": r.activity.amount,
             "currency": r.activity.currency, "note": (r.activity.note or "")[:500],
             "ratio_numerator": r.activity.ratio.numerator if r.activity.ratio else None,
             "ratio_denominator": r.activity.ratio.denominator if r.activity.ratio else None,
             "source": f"import:{result.format}"} for r in result.rows]
    if rows:
        db.session.execute(sa.insert(Activity), rows)
    ledger.changed(user, [r.activity.date for r in result.rows])
    assets.price_new_instruments([i.id for i in instruments.values()])
    return len(rows)


def export_csv(user: User) -> str:
    """The user's stored activities in Folio's CSV (import it back: nothing changes)."""
    names = dict(db.session.execute(sa.select(Account.id, Account.name).where(Account.owner_id == user.id)).all())
    stored = [(names[a.account_id], ledger.to_domain(a, sym, ccy, user.base_currency))
              for a, sym, ccy in ledger._rows(user.id)]
    return activity_csv.write_csv(sorted(stored, key=lambda item: (item[1].date, item[0].casefold())))
