"""The read model: one user's portfolio valued holding by holding, and who holds what."""
from __future__ import annotations

import logging
from decimal import Decimal
from typing import Iterable, NamedTuple, Sequence

import sqlalchemy as sa

from webapp.domain.money import EXACT
from webapp.domain.summary import positions_fingerprint
from webapp.domain.valuation import AccountRef, Position, Valuation, value_portfolio
from webapp.extensions import db
from webapp.models import Account, Holding, Instrument, User
from webapp.services import cache
from webapp.services.portfolio.snapshots import store
from webapp.services.pricing.fx import request_if_unconverted
from webapp.services.pricing.quotes import current_quotes, rates_if_needed

log = logging.getLogger(__name__)
BATCH = 2000  # ids per IN (...) list
ZERO = Decimal(0)


# ---- one user at a time: every holding -------------------------------------------------------
class Holdings(NamedTuple):
    """What the database says a user has: what `value_portfolio` and the positions cache need."""

    currency: str
    accounts: list[AccountRef]
    # hid, account, instrument, symbol, type, quantity, cost, cost in `currency` (None: unknown)
    holdings: list[tuple]

    def positions(self) -> list[Position]:
        return [Position(h, a, s, t, q, c, b) for h, a, _, s, t, q, c, b in self.holdings]

    def fingerprint(self) -> str:
        per_account = {a.id: (0, ZERO) for a in self.accounts}
        for _, a, _, _, _, q, _, _ in self.holdings:
            n, total = per_account[a]
            per_account[a] = (n + 1, EXACT.add(total, q))
        return positions_fingerprint(per_account, self.currency)


def load_holdings(user_ids: Sequence[int]) -> dict[int, Holdings]:
    """Every account and holding of the given users (users without accounts included)."""
    out: dict[int, Holdings] = {}
    for start in range(0, len(user_ids), BATCH):
        chunk = list(user_ids[start : start + BATCH])
        for uid, ccy in db.session.execute(sa.select(User.id, User.base_currency).where(User.id.in_(chunk))):
            out[uid] = Holdings(ccy, [], [])
        rows = db.session.execute(
            sa.select(Account.owner_id, Account.id, Account.name, Holding.id, Holding.quantity, Holding.cost_basis,
                      Holding.cost_basis_base, Holding.cost_base_currency,
                      Instrument.id, Instrument.symbol, Instrument.asset_type)
            .select_from(Account)
            .outerjoin(Holding, Holding.account_id == Account.id)
            .outerjoin(Instrument, Instrument.id == Holding.instrument_id)
            .where(Account.owner_id.in_(chunk))
            .order_by(Account.owner_id, Account.id, Holding.id)
        )
        seen: set[int] = set()
        for owner, acc_id, acc_name, hid, qty, cost, cost_base, cost_ccy, iid, symbol, asset_type in rows:
            user = out.get(owner)
            if user is None:
                continue
            if acc_id not in seen:
                seen.add(acc_id)
                user.accounts.append(AccountRef(acc_id, acc_name))
            if hid is not None:
                # the base cost counts only in the currency it was worked out in
                user.holdings.append((hid, acc_id, iid, symbol, asset_type, qty, cost,
                                      cost_base if cost_ccy == user.currency else None))
    return out


def value_users(user_ids: Sequence[int]) -> dict[int, Valuation]:
    """Valuations for the given users, from the database and the current quotes."""
    if not user_ids:
        return {}
    loaded = load_holdings(user_ids)
    quotes = current_quotes({s: i for h in loaded.values() for _, _, i, s, *_ in h.holdings})
    fx = rates_if_needed((h.currency for h in loaded.values()), quotes.values())
    return {uid: value_portfolio(h.accounts, h.positions(), quotes, h.currency, fx) for uid, h in loaded.items()}


def recompute_users(user_ids: Sequence[int], *, snapshot: bool = True) -> set[int]:
    """Value users holding by holding, cache summaries and positions, snapshot moved totals."""
    changed: set[int] = set()
    for start in range(0, len(user_ids), BATCH):
        chunk = list(user_ids[start : start + BATCH])
        loaded = load_holdings(chunk)
        quotes = current_quotes({s: i for h in loaded.values() for _, _, i, s, *_ in h.holdings})
        fx = rates_if_needed((h.currency for h in loaded.values()), quotes.values())
        entries, rows = {}, {}
        unconverted: set[str] = set()
        for uid, h in loaded.items():
            summary = value_portfolio(h.accounts, h.positions(), quotes, h.currency, fx).summary()
            unconverted.update(ccy for ccy, _ in summary.unconverted)
            fp = h.fingerprint()
            doc, total, accounts = summary.encode(fp)
            positions = cache.encode_positions(fp, h.currency, h.accounts, h.holdings)
            entries[uid] = cache.PortfolioWrite(doc, summary.snapshot_worthy, fp, positions)
            rows[uid] = f"{summary.currency}|{total}|{accounts}"
        try:
            statuses = store(entries, rows, snapshot=snapshot)
        except cache.RedisError:
            log.warning("Redis unavailable; %d portfolios not cached", len(entries))
            continue
        changed |= {uid for uid, st in statuses.items() if st % 4}
        request_if_unconverted(unconverted)
    return changed



# ---- who to recompute -------------------------------------------------------------------------
def holders_of(instrument_ids: Iterable[int]) -> list[int]:
    ids = list(set(instrument_ids))
    users: set[int] = set()
    for start in range(0, len(ids), BATCH):
        users.update(
            db.session.scalars(
                sa.select(Account.owner_id)
                .join(Holding, Holding.account_id == Account.id)
                .where(Holding.instrument_id.in_(ids[start : start + BATCH]))
                .distinct()
            )
        )
    return sorted(users)


def all_owners() -> list[int]:
    return list(db.session.scalars(sa.select(Account.owner_id).distinct().order_by(Account.owner_id)))



# ---- what a page shows ----------------------------------------------------------------------
def portfolio_for(user_id: int, live: tuple | None = None) -> tuple[Valuation, str, bool]:
    """The valuation a page shows, its version token, and whether live updates work.

    The cached positions valued with the current quotes; rebuilt from the database
    when Redis forgot them; computed from the database alone when Redis is down.
    `live`: what `cache.read_live` answered for the user, when read already (in bulk).
    """
    try:
        pos, quotes, token = live if live is not None else cache.read_live(user_id)
        if pos is None:
            recompute_users([user_id], snapshot=False)
            pos, quotes, token = cache.read_live(user_id)
        if pos is not None:
            missing = {s: i for s, i in pos.instruments.items() if s not in quotes}
            if missing:  # never priced, or Redis lost them: the database knows (and heals Redis)
                quotes.update(current_quotes(missing))
            fx = rates_if_needed((pos.currency,), quotes.values())
            valuation = value_portfolio(pos.accounts, pos.positions, quotes, pos.currency, fx)
            request_if_unconverted(valuation.unconverted)
            return valuation, token, True
    except cache.RedisError:
        log.warning("Redis unavailable; valuing user %s from the database", user_id)
    return value_users([user_id])[user_id], "offline", False
