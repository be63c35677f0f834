"""Asset service: accounts, holdings and instruments of one user."""
from __future__ import annotations

import logging
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from webapp.domain.inputs import MAX_QUANTITY
from webapp.extensions import db
from webapp.models import Account, Activity, Holding, Instrument, Quote, User

log = logging.getLogger(__name__)


class DuplicateHolding(Exception):
    def __init__(self, holding: Holding):
        super().__init__(f"{holding.instrument.symbol} is already held in this account")
        self.holding = holding


class DuplicateAccount(Exception):
    pass


class RecordedByLedger(Exception):
    """A holding whose activities record more than opening positions: its quantity and cost
    come from them, so they are changed there (a buy, a sell), not set by hand."""

    def __init__(self, holding: Holding):
        super().__init__(f"{holding.instrument.symbol} in this account is recorded by its activities "
                         "(buys, sells, splits …); record a buy or a sell on its Activities page instead.")
        self.holding = holding


class MergedQuantityTooLarge(Exception):
    def __init__(self, holding: Holding, total: Decimal):
        super().__init__(f"{holding.instrument.symbol}: {total} is over the quantity limit")
        self.holding = holding
        self.total = total


def accounts_of(user: User) -> list[Account]:
    return list(db.session.scalars(sa.select(Account).where(Account.owner_id == user.id).order_by(Account.name)))


def account_of(user_id: int, account_id: int) -> Account | None:
    """The user's account with that id; None for another user's (it looks like no account at all)."""
    return db.session.scalar(sa.select(Account).where(Account.id == account_id, Account.owner_id == user_id))


def holding_of(user_id: int, holding_id: int) -> Holding | None:
    return db.session.scalar(
        sa.select(Holding)
        .join(Account, Account.id == Holding.account_id)
        .where(Holding.id == holding_id, Account.owner_id == user_id)
    )


def create_account(user: User, name: str, institution: str = "", kind: str = "brokerage") -> Account:
    account = Account(owner_id=user.id, name=name, institution=institution, kind=kind)
    db.session.add(account)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise DuplicateAccount(f"You already have an account named “{name}”.") from None
    return account


def rename_account(account: Account, name: str) -> None:
    account.name = name
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise DuplicateAccount(f"You already have an account named “{name}”.") from None


def instrument_for(symbol: str, asset_type: str, currency: str | None = None) -> Instrument:
    """The instrument of that symbol, created if new. A currency given (a picked suggestion, a CSV
    column) is kept only where none is known yet: a provider's quote names it more reliably."""
    inst = db.session.scalar(sa.select(Instrument).where(Instrument.symbol == symbol))
    if inst is not None and currency and inst.currency is None:
        inst.currency = currency
    if inst is None:
        inst = Instrument(symbol=symbol, asset_type=asset_type, currency=currency, provider_symbols={})
        db.session.add(inst)
        try:
            db.session.flush()
        except IntegrityError:  # another request created it a moment ago
            db.session.rollback()
            inst = db.session.scalar(sa.select(Instrument).where(Instrument.symbol == symbol))
    return inst


def add_holding(account: Account, symbol: str, asset_type: str, quantity: Decimal, *, merge: bool = False,
                cost: Decimal | None = None, currency: str | None = None) -> Holding:
    """Add a holding; with `merge`, add the quantity to an existing holding of the symbol (and the
    cost to its cost, when both are known: otherwise the merged cost is unknown)."""
    inst = instrument_for(symbol, asset_type, currency)
    existing = db.session.scalar(
        sa.select(Holding).where(Holding.account_id == account.id, Holding.instrument_id == inst.id)
    )
    if existing is not None:
        if not merge:
            db.session.commit()  # keep the instrument
            raise DuplicateHolding(existing)
        total = existing.quantity + quantity
        if total >= MAX_QUANTITY:  # each part was below the limit, their sum may not be
            db.session.commit()  # keep the instrument
            raise MergedQuantityTooLarge(existing, total)
        from webapp.services import ledger

        ledger._adopt(account.id, inst.id)  # what was held so far stays an opening position of its own
        existing.quantity = total
        existing.cost_basis = existing.cost_basis + cost if existing.cost_basis is not None and cost is not None \
            else None
        existing.cost_basis_base = None  # the ledger's next sync works it out again
        db.session.add(_opening(account.id, inst.id, quantity, cost))
        db.session.commit()
        return existing
    holding = Holding(account_id=account.id, instrument_id=inst.id, quantity=quantity, cost_basis=cost)
    db.session.add(holding)
    db.session.add(_opening(account.id, inst.id, quantity, cost))
    db.session.commit()
    return holding


def _opening(account_id: int, instrument_id: int, quantity: Decimal, cost: Decimal | None) -> Activity:
    """A holding entered by hand is an opening position of the ledger, dated today, in the
    instrument's currency (left open: it may not be known yet)."""
    from webapp.services.ledger import today

    return Activity(account_id=account_id, instrument_id=instrument_id, type="opening", date=today(),
                    quantity=quantity, amount=cost, fee=Decimal(0), source="holding")


def _openings_or_refuse(holding: Holding) -> list[Activity]:
    from webapp.services import ledger

    rows = ledger.only_openings(holding)
    if rows is None:
        raise RecordedByLedger(holding)
    return rows


def set_quantity(holding: Holding, quantity: Decimal) -> None:
    """Set a holding's quantity by hand: its opening positions become one with that quantity
    (keeping the earliest date and the cost). Refused (RecordedByLedger) when its activities
    record more than opening positions."""
    openings = _openings_or_refuse(holding)
    _reopen(holding, openings, quantity, holding.cost_basis)
    holding.quantity = quantity
    holding.cost_basis_base = None  # the ledger's next sync works it out again
    db.session.commit()


def set_cost(holding: Holding, cost: Decimal | None) -> None:
    openings = _openings_or_refuse(holding)
    _reopen(holding, openings, holding.quantity, cost)
    holding.cost_basis = cost
    holding.cost_basis_base = None  # the ledger's next sync works it out again
    db.session.commit()


def _reopen(holding: Holding, openings: list[Activity], quantity: Decimal, cost: Decimal | None) -> None:
    if not openings:
        return  # no activity governs it (written in bulk): the holding alone says it
    first, rest = openings[0], openings[1:]
    first.quantity, first.amount, first.price = quantity, cost, None
    for row in rest:
        db.session.delete(row)


def delete(obj: Account | Holding) -> None:
    """Delete an account (its activities go with it, by the database's cascade) or a holding
    with the activities that recorded it."""
    if isinstance(obj, Holding):
        db.session.execute(sa.delete(Activity).where(Activity.account_id == obj.account_id,
                                                     Activity.instrument_id == obj.instrument_id))
    db.session.delete(obj)
    db.session.commit()


def portfolio_changed(user_id: int, instrument: Instrument | None = None) -> None:
    """Revalue the user's portfolio now; price a new instrument at once, off the request."""
    from webapp.domain.staleness import is_stale
    from webapp.services.portfolio.read_model import recompute_users
    from webapp.services.pricing import instant
    from webapp.services.pricing.quotes import current_quotes

    try:
        recompute_users([user_id])
        if instrument is not None:
            quote = current_quotes({instrument.symbol: instrument.id}).get(instrument.symbol)
            if quote is None or is_stale(instrument.symbol, instrument.asset_type, quote.as_of):
                instant.request([instrument.id])  # coalesced with other new holdings
            history_for(user_id, instrument)
    except Exception:  # Redis down: the page still works from the database
        log.exception("could not update the live portfolio of user %s", user_id)


def history_for(user_id: int, instrument: Instrument) -> None:
    """A new holding: load the instrument's daily history once (which also rebuilds its holders'
    past values), or, when it has some already, rebuild this user's past values (queue `low`)."""
    from webapp.services import jobs
    from webapp.services.portfolio.reconstruct import RECONSTRUCT_DAYS

    # how many quotes, up to 5 (a busy instrument has thousands: no need to count them in a request)
    known = db.session.scalar(sa.select(sa.func.count()).select_from(
        sa.select(Quote.id).where(Quote.instrument_id == instrument.id).limit(5).subquery()))
    if known < 5:
        jobs.enqueue("low", "workers.history.backfill", instrument.symbol, RECONSTRUCT_DAYS,
                       job_id=f"backfill-{instrument.id}", timeout=600)
    else:
        jobs.enqueue("low", "workers.history.reconstruct_history", user_ids=[user_id],
                       job_id=f"reconstruct-{user_id}", timeout=600)


def price_new_instruments(instrument_ids: list[int]) -> None:
    """Ask for first prices of instruments just added in bulk: one coalesced batch, not a job each."""
    from webapp.services.pricing import instant

    try:
        instant.request(instrument_ids)
    except Exception:  # Redis down: the next cycle prices them
        log.exception("could not enqueue first prices")


def want_history(symbol: str) -> bool:
    """A symbol whose daily closes a page needs (a benchmark): its history is loaded once, by a
    job (queue `low`) that creates the instrument if nobody holds it (a page's GET writes
    nothing). True when it has (some) history already."""
    from webapp.services import jobs
    from webapp.services.portfolio.reconstruct import RECONSTRUCT_DAYS

    inst = db.session.scalar(sa.select(Instrument).where(Instrument.symbol == symbol))
    if inst is not None and db.session.scalar(
            sa.select(Quote.id).where(Quote.instrument_id == inst.id).limit(1)) is not None:
        return True
    from webapp.services import cache

    try:
        # asked at most once an hour per symbol, however often the page is opened meanwhile
        if cache.acquire_lock(f"history:{symbol}", 3600):
            jobs.enqueue("low", "workers.history.backfill", symbol, RECONSTRUCT_DAYS * 5,
                         create_as="etf" if symbol.startswith("^") else "stock",
                         job_id=f"backfill-{symbol.encode().hex()}", timeout=600)
    except Exception:  # Redis down: asked again on the next visit
        log.exception("could not enqueue the history of %s", symbol)
    return False
