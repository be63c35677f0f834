"""Demo data: one user with two accounts, seeded only into an empty database; and a population
of many users over many instruments for load tests and benchmarks."""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Iterable

import sqlalchemy as sa

from webapp.domain.inputs import SYMBOL_RE, normalise_symbol
from webapp.extensions import db
from webapp.models import ASSET_TYPES, Account, Holding, Instrument, User
from webapp.services import assets

DEMO_HOLDINGS = {
    ("Brokerage", "Demo Broker", "brokerage"): [
        ("AAPL", "stock", "12"),
        ("MSFT", "stock", "8.5"),
        ("VTI", "etf", "20"),
        ("BRK-B", "stock", "3"),
    ],
    ("Retirement", "Demo Funds", "retirement"): [
        ("VTSAX", "mutual_fund", "104.237"),
        ("VXUS", "etf", "40"),
        ("FXAIX", "mutual_fund", "15.5"),
    ],
}

log = logging.getLogger(__name__)


def seed(email: str, password: str) -> bool:
    if db.session.scalar(sa.select(sa.func.count()).select_from(User)):
        return False
    user = User(email=email.lower(), display_name="Demo investor", base_currency="USD")
    user.set_password(password)
    db.session.add(user)
    db.session.commit()
    for (name, institution, kind), holdings in DEMO_HOLDINGS.items():
        account = assets.create_account(user, name, institution, kind)
        for symbol, asset_type, qty in holdings:
            assets.add_holding(account, symbol, asset_type, Decimal(qty))
    request_history(user.email)
    return True


def request_history(email: str) -> int:
    """A year of daily closes for the demo's instruments (queue `low`), which also reconstructs
    the demo portfolio's past: the chart is full at first login. Nothing when the demo user has
    value history already; 0 when Redis is not up yet (`make run` asks again once it is)."""
    from webapp.models import PortfolioSnapshot
    from webapp.services import jobs
    from webapp.services.portfolio.reconstruct import RECONSTRUCT_DAYS

    user = db.session.scalar(sa.select(User).where(User.email == email.lower()))
    if user is None or db.session.scalar(sa.select(sa.func.count()).select_from(PortfolioSnapshot)
                                         .where(PortfolioSnapshot.user_id == user.id, PortfolioSnapshot.reconstructed)):
        return 0
    symbols = sorted({s for holdings in DEMO_HOLDINGS.values() for s, _, _ in holdings})
    try:
        for symbol in symbols:
            jobs.enqueue("low", "workers.history.backfill", symbol, RECONSTRUCT_DAYS,
                           job_id=f"demo-backfill-{symbol}", timeout=600)
    except Exception:
        log.info("Redis is not up yet: the demo's price history is asked for later")
        return 0
    return len(symbols)


# ---- a population for load: many users over many instruments, no instant refreshes ------------
@dataclass
class PopulationResult:
    users_created: int
    users_kept: int
    instruments_created: int
    holdings_created: int


def population_symbols(instruments: int, lines: Iterable[str] | None = None,
                       prefix: str = "load") -> list[tuple[str, str]]:
    """(symbol, asset type) for the population: from `lines` (`SYMBOL` or `SYMBOL,asset_type`,
    `#` comments and blank lines skipped) or generated (`LOAD0001`, ...). Raises ValueError
    with the line number for a bad line or too few symbols."""
    if lines is None:
        return [(f"{prefix.upper()}{n:04d}", "stock") for n in range(1, instruments + 1)]
    out: dict[str, str] = {}
    for n, raw in enumerate(lines, start=1):
        text = raw.split("#", 1)[0].strip()
        if not text:
            continue
        symbol, _, kind = (part.strip() for part in text.partition(","))
        symbol = normalise_symbol(symbol)
        if not SYMBOL_RE.match(symbol):
            raise ValueError(f"line {n}: “{symbol[:40]}” is not a valid symbol")
        kind = (kind or infer_asset_type(symbol)).lower()
        if kind not in ASSET_TYPES:
            raise ValueError(f"line {n}: “{kind[:20]}” is not an asset type ({', '.join(ASSET_TYPES)})")
        out.setdefault(symbol, kind)
    if len(out) < instruments:
        raise ValueError(f"the file has {len(out)} distinct symbols; {instruments} are needed")
    return list(out.items())[:instruments]


def infer_asset_type(symbol: str) -> str:
    """An AMFI scheme code (digits only) is an Indian mutual fund; `BTC-USD` style is crypto if
    the app knows crypto; anything else a stock."""
    if symbol.isdigit():
        return "mutual_fund"
    if "crypto" in ASSET_TYPES and re.fullmatch(r"[A-Z0-9]{2,10}-(USD|EUR|GBP|INR|JPY)", symbol):
        return "crypto"
    return "stock"


def population(users: int, instruments: int, holdings: int, symbols: list[tuple[str, str]],
               prefix: str = "load", password: str = "load-password-1") -> PopulationResult:
    """Users `{prefix}1@folio.load` … `{prefix}N@…`, each with one account and `holdings`
    holdings spread evenly over the instruments (user i holds instruments i·K … i·K+K-1, wrapping),
    written in bulk, without asking for a price: the next cycle starts cold. Idempotent: users
    who exist already are kept as they are."""
    if not 1 <= holdings <= instruments:
        raise ValueError("holdings per user must be between 1 and the number of instruments")
    emails = [f"{prefix}{i}@folio.load" for i in range(1, users + 1)]
    existing = set(db.session.scalars(sa.select(User.email).where(User.email.in_(emails))))
    known = dict(db.session.execute(sa.select(Instrument.symbol, Instrument.id)
                                    .where(Instrument.symbol.in_([s for s, _ in symbols]))).all())
    new_instruments = [{"symbol": s, "asset_type": t, "provider_symbols": {}, "name": "", "exchange": ""}
                       for s, t in symbols if s not in known]
    if new_instruments:
        db.session.execute(sa.insert(Instrument), new_instruments)
        known = dict(db.session.execute(sa.select(Instrument.symbol, Instrument.id)
                                        .where(Instrument.symbol.in_([s for s, _ in symbols]))).all())
    ids = [known[s] for s, _ in symbols]
    todo = [(i, e) for i, e in enumerate(emails) if e not in existing]
    template = User(email="")
    template.set_password(password)
    if todo:
        db.session.execute(sa.insert(User), [{"email": e, "password_hash": template.password_hash,
                                              "display_name": "", "base_currency": "USD"} for _, e in todo])
        uid = dict(db.session.execute(sa.select(User.email, User.id)
                                      .where(User.email.in_([e for _, e in todo]))).all())
        db.session.execute(sa.insert(Account), [{"owner_id": uid[e], "name": "Brokerage", "institution": "Load",
                                                 "kind": "brokerage"} for _, e in todo])
        acct = dict(db.session.execute(sa.select(Account.owner_id, Account.id)
                                       .where(Account.owner_id.in_(list(uid.values())))).all())
        rows = []
        for i, e in todo:
            for k in range(holdings):
                rows.append({"account_id": acct[uid[e]], "instrument_id": ids[(i * holdings + k) % len(ids)],
                             "quantity": Decimal(1 + (i + k) % 50), "cost_basis": None})
        db.session.execute(sa.insert(Holding), rows)
    db.session.commit()
    return PopulationResult(len(todo), len(existing), len(new_instruments), len(todo) * holdings)
