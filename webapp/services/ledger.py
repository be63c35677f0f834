"""The ledger service: a user's activities read from the database as domain `Activity`s, and
checked changes (add, edit, delete) that re-derive the holdings the ledger governs.

Governed pairs: an (account, instrument) with at least one stored activity; its `holdings`
row is what the ledger adds up to (quantity, and cost basis by the user's method), written by
`sync_holdings` after every change. A holding with no activity (written in bulk by
`flask demo population` or a benchmark) works as before; `activities_of` shows it as an
opening position dated the day it was entered, and the first activity recorded for it
stores that opening first (`_adopt`), so the two ways mix.

Every query names the owner: another user's activity id looks like no activity at all.
"""
from __future__ import annotations

import decimal
import logging
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Iterable

import sqlalchemy as sa

from webapp.domain import ledger as domain
from webapp.domain.base_currency import MissingRate, in_base
from webapp.domain.inputs import MAX_QUANTITY
from webapp.domain.splits import Ratio
from webapp.extensions import db
from webapp.models import Account, Activity, Holding, Instrument, User
from webapp.services.portfolio.market_data import Rates

log = logging.getLogger(__name__)


class Refused(ValueError):
    """A change the ledger cannot take; `problems` are sentences for people (a form shows them)."""

    def __init__(self, problems: list[str]):
        super().__init__(" ".join(problems))
        self.problems = problems


@dataclass
class Change:
    """What a form or an import asks for: the fields of one activity (symbol, not instrument)."""
    date: date
    type: str
    symbol: str | None = None
    quantity: Decimal | None = None
    price: Decimal | None = None
    fee: Decimal = Decimal(0)
    amount: Decimal | None = None
    currency: str | None = None
    note: str = ""
    ratio: Ratio | None = None
    asset_type: str = "stock"


def today() -> date:
    return datetime.now(timezone.utc).date()


# ---- reading ----------------------------------------------------------------------------------


def _rows(user_id: int) -> list[tuple[Activity, str | None, str | None]]:
    """Every stored activity of the user with its instrument's symbol and currency."""
    return list(db.session.execute(
        sa.select(Activity, Instrument.symbol, Instrument.currency)
        .join(Account, Account.id == Activity.account_id)
        .outerjoin(Instrument, Instrument.id == Activity.instrument_id)
        .where(Account.owner_id == user_id)
        .order_by(Activity.date, Activity.id)
    ).all())


def to_domain(row: Activity, symbol: str | None, instrument_currency: str | None, base: str) -> domain.Activity:
    """The domain value of a stored activity; a currency left open (an opening position made
    from a holding) is the instrument's, else the user's base currency."""
    ratio = Ratio(row.ratio_numerator, row.ratio_denominator) if row.ratio_numerator else None
    return domain.Activity(row.date, row.account_id, row.type, symbol, row.quantity, row.price, row.fee,
                           row.amount, row.currency or instrument_currency or base, row.note, ratio)


def _unadopted(user_id: int, base: str) -> list[domain.Activity]:
    """Holdings no activity governs, as the opening positions they stand for."""
    governed = sa.select(Activity.id).where(Activity.account_id == Holding.account_id,
                                            Activity.instrument_id == Holding.instrument_id)
    rows = db.session.execute(
        sa.select(Holding.account_id, Holding.quantity, Holding.cost_basis, Holding.created_at,
                  Instrument.symbol, Instrument.currency)
        .join(Account, Account.id == Holding.account_id).join(Instrument, Instrument.id == Holding.instrument_id)
        .where(Account.owner_id == user_id, ~sa.exists(governed)))
    return [domain.Activity(created.astimezone(timezone.utc).date(), account, "opening", symbol, qty, None,
                            Decimal(0), cost, ccy or base) for account, qty, cost, created, symbol, ccy in rows]


def activities_of(user_id: int, account_id: int | None = None) -> list[domain.Activity]:
    """The user's whole ledger (or one account's) as domain activities, in date order."""
    base = db.session.scalar(sa.select(User.base_currency).where(User.id == user_id)) or "USD"
    out = [to_domain(a, sym, ccy, base) for a, sym, ccy in _rows(user_id)] + _unadopted(user_id, base)
    if account_id is not None:
        out = [a for a in out if a.account == account_id]
    return sorted(out, key=lambda a: a.date)


def activity_of(user_id: int, activity_id: int) -> Activity | None:
    """The user's activity with that id; None for another user's."""
    return db.session.scalar(
        sa.select(Activity).join(Account, Account.id == Activity.account_id)
        .where(Activity.id == activity_id, Account.owner_id == user_id))


@dataclass
class Page:
    rows: list[Activity]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def list_activities(user_id: int, account_id: int, *, types: Iterable[str] = (), symbol: str | None = None,
                    since: date | None = None, until: date | None = None, page: int = 1,
                    per_page: int = 50) -> Page:
    """One account's activities, newest first, filtered and paginated."""
    q = (sa.select(Activity).join(Account, Account.id == Activity.account_id)
         .where(Account.owner_id == user_id, Activity.account_id == account_id))
    types = [t for t in types if t in domain.TYPES]
    if types:
        q = q.where(Activity.type.in_(types))
    if symbol:
        q = q.join(Instrument, Instrument.id == Activity.instrument_id).where(Instrument.symbol == symbol)
    if since:
        q = q.where(Activity.date >= since)
    if until:
        q = q.where(Activity.date <= until)
    total = db.session.scalar(sa.select(sa.func.count()).select_from(q.subquery()))
    page = max(1, page)
    rows = db.session.scalars(q.order_by(Activity.date.desc(), Activity.id.desc())
                              .limit(per_page).offset((page - 1) * per_page)).all()
    return Page(list(rows), total, page, per_page)


# ---- changing ---------------------------------------------------------------------------------


def _instrument(change: Change) -> Instrument | None:
    from webapp.services.assets import instrument_for

    if not change.symbol:
        return None
    return instrument_for(change.symbol, change.asset_type, None)


def _fill(row: Activity, account: Account, change: Change, instrument: Instrument | None, base: str) -> None:
    row.account_id, row.instrument_id = account.id, instrument.id if instrument else None
    row.type, row.date = change.type, change.date
    row.quantity = change.quantity if change.type != "split" else None
    row.price, row.fee, row.amount = change.price, change.fee or Decimal(0), change.amount
    row.currency = change.currency or (instrument.currency if instrument else None) or base
    row.note = (change.note or "")[:500]
    row.ratio_numerator = change.ratio.numerator if change.ratio else None
    row.ratio_denominator = change.ratio.denominator if change.ratio else None


def _check(user: User, replaced: dict[int, domain.Activity | None], added: list[domain.Activity]) -> None:
    """Refuse unless the user's ledger, with `replaced` (activity id -> new value, None: deleted)
    and `added`, holds together."""
    base = user.base_currency
    ledger = [to_domain(a, sym, ccy, base) if a.id not in replaced else replaced[a.id]
              for a, sym, ccy in _rows(user.id)]
    ledger = [a for a in ledger if a is not None] + _unadopted(user.id, base) + added
    problems = [p for a in added + [v for v in replaced.values() if v] for p in domain.validate(a, today())]
    if problems:
        raise Refused(problems)
    try:
        domain.positions(ledger)
        _within_limits(ledger)
    except domain.LedgerError as exc:
        raise Refused([str(exc)]) from None
    except (decimal.InvalidOperation, decimal.Overflow):  # splits upon splits: past 80 exact digits
        raise Refused(["That makes a quantity too large to keep exactly."]) from None


def check(user: User) -> None:
    """Refuse (Refused) unless the user's ledger as stored (flushed) holds together."""
    _check(user, {}, [])


def _within_limits(ledger: list[domain.Activity]) -> None:
    """Refuse a holding its row could not store: a quantity or a cost basis (by either cost
    method, which the user may switch to) of 10^15 or more."""
    for method in domain.METHODS:
        for (_, symbol), open_lots in domain.lots(ledger, method).items():
            quantity, cost = domain.totals(open_lots)
            if quantity >= MAX_QUANTITY or (cost is not None and cost >= MAX_QUANTITY):
                raise Refused([f"That makes the {symbol} holding too large: its quantity and its cost must "
                               f"stay below 1,000,000,000,000,000."])


def _as_domain(account: Account, change: Change, base: str) -> domain.Activity:
    currency_fallback = base
    if not change.currency and change.symbol:
        currency_fallback = db.session.scalar(
            sa.select(Instrument.currency).where(Instrument.symbol == change.symbol)) or base
    return domain.Activity(change.date, account.id, change.type, change.symbol, change.quantity, change.price,
                           change.fee if change.fee is not None else Decimal(0), change.amount,
                           change.currency or currency_fallback, change.note or "", change.ratio)


def add(user: User, account: Account, change: Change, *, source: str = "form") -> Activity:
    """Record one activity after checking it against the rest of the user's ledger."""
    _check(user, {}, [_as_domain(account, change, user.base_currency)])
    row, instrument = _new_row(user, account, change, source)
    db.session.flush()
    changed(user, [row.date], acquired=_acquired(row, instrument))
    return row


def add_many(user: User, changes: list[tuple[Account, Change]], *, source: str = "form") -> list[Activity]:
    """Record several activities checked together (each against the others and the rest of the
    ledger), with one revaluation afterwards: a seeded or scripted ledger, not a form's one."""
    _check(user, {}, [_as_domain(account, change, user.base_currency) for account, change in changes])
    rows = [_new_row(user, account, change, source)[0] for account, change in changes]
    db.session.flush()
    changed(user, [r.date for r in rows])
    return rows


def _new_row(user: User, account: Account, change: Change, source: str) -> tuple[Activity, Instrument | None]:
    """A checked change as a new row in the session (its holding adopted into the ledger first)."""
    instrument = _instrument(change)
    if instrument is not None:
        _adopt(account.id, instrument.id)
    row = Activity(fee=Decimal(0), source=source)
    _fill(row, account, change, instrument, user.base_currency)
    db.session.add(row)
    return row, instrument


def edit(user: User, row: Activity, account: Account, change: Change) -> Activity:
    """Change an activity (it may move to another of the user's accounts)."""
    before = row.date
    _check(user, {row.id: _as_domain(account, change, user.base_currency)}, [])
    instrument = _instrument(change)
    if instrument is not None:
        _adopt(account.id, instrument.id)
    old_pair = (row.account_id, row.instrument_id)
    _fill(row, account, change, instrument, user.base_currency)
    db.session.flush()
    changed(user, [before, row.date], also=[old_pair], acquired=_acquired(row, instrument))
    return row


def _acquired(row: Activity, instrument: Instrument | None) -> Instrument | None:
    """The instrument an activity brings shares of in (a symbol perhaps new to the user)."""
    return instrument if row.type in ("buy", "opening", "transfer_in") else None


def delete(user: User, row: Activity) -> None:
    """Delete an activity, unless a later sale or transfer needs what it brought in."""
    try:
        _check(user, {row.id: None}, [])
    except Refused as exc:
        raise Refused([f"This {row.type.replace('_', ' ')} cannot be deleted: without it, "
                       f"{exc.problems[0][0].lower()}{exc.problems[0][1:]}"]) from None
    pair, day = (row.account_id, row.instrument_id), row.date
    db.session.delete(row)
    db.session.flush()
    changed(user, [day], also=[pair])


def _adopt(account_id: int, instrument_id: int) -> None:
    """A holding no activity governs yet gets its opening position stored, before the ledger takes it over."""
    if db.session.scalar(sa.select(Activity.id).where(Activity.account_id == account_id,
                                                      Activity.instrument_id == instrument_id).limit(1)):
        return
    h = db.session.scalar(sa.select(Holding).where(Holding.account_id == account_id,
                                                   Holding.instrument_id == instrument_id))
    if h is not None:
        db.session.add(Activity(account_id=account_id, instrument_id=instrument_id, type="opening",
                                date=h.created_at.astimezone(timezone.utc).date(), quantity=h.quantity,
                                amount=h.cost_basis, fee=Decimal(0), source="holding"))
        db.session.flush()


def changed(user: User, days: Iterable[date], also: Iterable[tuple[int, int | None]] = (),
            acquired: Instrument | None = None) -> None:
    """After a change: holdings re-derived, committed, the portfolio revalued, cached returns
    recomputed from the earliest day touched; an `acquired` instrument gets its first price
    and history at once, as a holding added by hand does."""
    sync_holdings(user, also=also)
    db.session.commit()
    from webapp.services.assets import portfolio_changed
    from webapp.services.portfolio import performance

    days = [d for d in days if d is not None]
    if days:
        try:
            performance.invalidate(user.id, min(days))
        except Exception:  # Redis down: the cached series notices the ledger changed by itself
            log.exception("could not mark the cached returns of user %s stale", user.id)
    portfolio_changed(user.id, acquired)


# ---- the holdings the ledger adds up to -------------------------------------------------------


def sync_holdings(user: User, also: Iterable[tuple[int, int | None]] = ()) -> None:
    """Write every governed pair's holding from the ledger (by the user's cost method): its
    quantity and cost basis, and that cost basis in the user's base currency, each lot at its
    acquisition day's rate (NULL when a rate or a cost is missing; `_lots_in_base`). A pair
    whose quantity came to zero has no holding. `also`: pairs that may have lost their last
    activity (their holding goes too). Does not commit."""
    rows = _rows(user.id)
    base, method = user.base_currency, user.cost_method or "average"
    ledger = [to_domain(a, sym, ccy, base) for a, sym, ccy in rows]
    governed = {(a.account_id, a.instrument_id) for a, _, _ in rows if a.instrument_id is not None}
    governed |= {p for p in also if p[1] is not None}
    symbol_of = {a.instrument_id: sym for a, sym, _ in rows if a.instrument_id is not None}
    # an opening left without a currency is taken in the instrument's, once known: until then
    # its base cost could be read in the wrong currency, so it stays unknown
    unknown_ccy = {sym for a, sym, ccy in rows if sym is not None and a.currency is None and ccy is None}
    try:
        open_lots = domain.lots(ledger, method)
        base_lots = _lots_in_base(ledger, base, method, skip=unknown_ccy)
    except domain.LedgerError:  # checked before every change; never leave holdings half-written
        log.exception("the ledger of user %s does not hold together; holdings left as they were", user.id)
        return
    existing = {(h.account_id, h.instrument_id): h for h in db.session.scalars(
        sa.select(Holding).join(Account, Account.id == Holding.account_id).where(Account.owner_id == user.id))}
    for account_id, instrument_id in governed:
        key = (account_id, symbol_of.get(instrument_id))
        quantity, cost = domain.totals(open_lots.get(key, []))
        cost_base = _stored(domain.totals(base_lots[key])[1]) if key in base_lots and cost is not None else None
        h = existing.get((account_id, instrument_id))
        if quantity <= 0:
            if h is not None:
                db.session.delete(h)
        elif h is None:
            db.session.add(Holding(account_id=account_id, instrument_id=instrument_id, quantity=quantity,
                                   cost_basis=cost, cost_basis_base=cost_base, cost_base_currency=base))
        elif (h.quantity, h.cost_basis, h.cost_basis_base, h.cost_base_currency) != (quantity, cost, cost_base, base):
            h.quantity, h.cost_basis, h.cost_basis_base, h.cost_base_currency = quantity, cost, cost_base, base
    db.session.flush()


_LOT_TYPES = domain.QUANTITY_TYPES | {"split"}


def _stored(amount: Decimal | None) -> Decimal | None:
    """What the column keeps (10 places), so an unchanged holding compares equal; None when
    it does not fit."""
    try:
        return None if amount is None else Holding.__table__.c.cost_basis_base.type.coerce(amount)
    except ValueError:
        return None


def _lots_in_base(ledger: list[domain.Activity], base: str, method: str,
                  skip: Iterable[str] = ()) -> dict[tuple[int, str], list[domain.Lot]]:
    """The open lots per (account, symbol) with their cost in `base`, each activity's money at
    its own day's rate (webapp.domain.base_currency.in_base), replayed symbol by symbol (a
    transfer moves lots between accounts, never between symbols). A symbol with an activity
    on a day before any stored rate of its currency, or in `skip`, is left out. The rates are
    read once, in one window: none at all when every activity is in `base`."""
    by_symbol: dict[str, list[domain.Activity]] = {}
    for a in ledger:
        if a.symbol is not None and a.type in _LOT_TYPES and a.symbol not in skip:
            by_symbol.setdefault(a.symbol, []).append(a)
    foreign = [a for acts in by_symbol.values() for a in acts if a.currency != base and a.type != "split"]
    rate = Rates.read({a.currency for a in foreign}, base, min(a.date for a in foreign),
                      max(a.date for a in foreign)) if foreign else None
    out: dict[tuple[int, str], list[domain.Lot]] = {}
    for activities in by_symbol.values():
        try:
            out.update(domain.lots(in_base(activities, base, rate), method))
        except MissingRate:
            continue
    return out


def only_openings(holding: Holding) -> list[Activity] | None:
    """The holding's stored activities when they are all opening positions (a holding entered
    by hand, perhaps added to); None when the ledger records more (buys, sells, splits …)."""
    rows = db.session.scalars(sa.select(Activity).where(
        Activity.account_id == holding.account_id, Activity.instrument_id == holding.instrument_id)
        .order_by(Activity.date, Activity.id)).all()
    return None if any(r.type != "opening" for r in rows) else list(rows)
