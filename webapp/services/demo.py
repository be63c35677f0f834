"""Demo data: one user with a year of activities in two accounts and two currencies, seeded only
into an empty database; and a population of many users over many instruments for load tests and
benchmarks."""
from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Iterable

import sqlalchemy as sa
from flask import current_app

from pricing_providers.simulated import SimulatedProvider
from webapp.domain.inputs import SYMBOL_RE, normalise_symbol
from webapp.domain.splits import Ratio
from webapp.extensions import db
from webapp.models import ASSET_TYPES, Account, Holding, Instrument, Quote, User
from webapp.services import assets, ledger

# The demo's instruments (symbol, asset type, currency) per account: the worker loads a year of
# their daily closes from the simulated market (`request_history`).
DEMO_HOLDINGS = {
    ("Brokerage", "Demo Broker", "brokerage"): [
        ("AAPL", "stock", "USD"),
        ("MSFT", "stock", "USD"),
        ("VTI", "etf", "USD"),
        ("BRK-B", "stock", "USD"),
        ("SAP.DE", "stock", "EUR"),
    ],
    ("Retirement", "Demo Funds", "retirement"): [
        ("VTSAX", "mutual_fund", "USD"),
        ("VXUS", "etf", "USD"),
        ("FXAIX", "mutual_fund", "USD"),
    ],
}
# Bought, split 4:1 and sold within the year: held no more, so its closes (the simulated market's,
# ×4 before the split as a real exchange quotes them) are written by the seed, not loaded.
DEMO_SPLIT = ("NVDA", "stock", "USD", Ratio(4, 1))
# The benchmark: a total-market ETF of the demo, whose closes the worker loads with the others.
DEMO_BENCHMARK = "VTI"

# A year of the demo's ledger, oldest first: (days ago, account, type, symbol, quantity or amount).
# Buys and sells are priced at the simulated market's close of their day; a dividend's amount
# is a yield on that close.
DEMO_LEDGER = [
    (360, "Brokerage", "buy", "AAPL", "10"),
    (355, "Retirement", "buy", "VTSAX", "40"),
    (345, "Brokerage", "buy", "MSFT", "6"),
    (330, "Brokerage", "buy", "NVDA", "5"),
    (320, "Brokerage", "buy", "VTI", "15"),
    (300, "Brokerage", "buy", "SAP.DE", "12"),
    (300, "Retirement", "buy", "VXUS", "25"),
    (280, "Brokerage", "dividend", "AAPL", "0.0024"),
    (270, "Brokerage", "buy", "BRK-B", "3"),
    (250, "Retirement", "buy", "FXAIX", "8"),
    (250, "Brokerage", "dividend", "MSFT", "0.0071"),
    (240, "Retirement", "buy", "VTSAX", "30"),
    (230, "Brokerage", "split", "NVDA", None),
    (200, "Brokerage", "buy", "AAPL", "4"),
    (190, "Brokerage", "dividend", "VTI", "0.0033"),
    (180, "Retirement", "buy", "VXUS", "15"),
    (180, "Brokerage", "dividend", "AAPL", "0.0024"),
    (160, "Brokerage", "sell", "NVDA", "20"),
    (150, "Brokerage", "buy", "MSFT", "2.5"),
    (120, "Brokerage", "fee", None, "24"),
    (120, "Retirement", "buy", "VTSAX", "34.237"),
    (100, "Brokerage", "dividend", "SAP.DE", "0.011"),
    (100, "Brokerage", "tax", "SAP.DE", "0.26375"),  # withheld: a share of the dividend
    (90, "Retirement", "buy", "FXAIX", "7.5"),
    (90, "Brokerage", "dividend", "AAPL", "0.0024"),
    (75, "Retirement", "dividend", "VTSAX", "0.0035"),
    (60, "Brokerage", "dividend", "MSFT", "0.0071"),
    (45, "Brokerage", "buy", "VTI", "5"),
    (30, "Brokerage", "dividend", "VTI", "0.0033"),
    (15, "Retirement", "dividend", "VXUS", "0.0080"),
]
CENT = Decimal("0.01")

log = logging.getLogger(__name__)


def seed(email: str, password: str) -> bool:
    if db.session.scalar(sa.select(sa.func.count()).select_from(User)):
        return False
    user = User(email=email.lower(), display_name="Demo investor", base_currency="USD", benchmark=DEMO_BENCHMARK)
    user.set_password(password)
    db.session.add(user)
    db.session.commit()
    market = SimulatedProvider(step=current_app.config["SIMULATED_STEP_SECONDS"])
    today, now_tick = datetime.now(timezone.utc).date(), int(time.time() // market.step)
    per_day = max(1, int(86400 // market.step))

    def close(symbol: str, days_ago: int) -> Decimal:  # as the worker's backfill of that day has it
        return market.price_at(symbol, now_tick - days_ago * per_day)

    accounts, kinds = {}, {}
    for (name, institution, kind), instruments in DEMO_HOLDINGS.items():
        accounts[name] = assets.create_account(user, name, institution, kind)
        for symbol, asset_type, currency in instruments:
            assets.instrument_for(symbol, asset_type, currency)
            kinds[symbol] = (asset_type, currency)
    split_symbol, split_type, split_currency, ratio = DEMO_SPLIT
    kinds[split_symbol] = (split_type, split_currency)
    split_day = next(d for d, _, t, s, _ in DEMO_LEDGER if t == "split")
    _seed_split_closes(split_symbol, split_type, split_currency, ratio, split_day, market, now_tick, per_day)
    _seed_fx(today)

    def price(symbol: str, days_ago: int) -> Decimal:
        pre_split = symbol == split_symbol and days_ago > split_day
        value = close(symbol, days_ago)
        return value * ratio.numerator / ratio.denominator if pre_split else value

    changes = []
    for days_ago, account, kind, symbol, number in DEMO_LEDGER:
        asset_type, currency = kinds.get(symbol, ("stock", "USD"))
        change = ledger.Change(date=today - timedelta(days=days_ago), type=kind, symbol=symbol,
                               currency=currency, asset_type=asset_type)
        if kind in ("buy", "sell"):
            change.quantity, change.price = Decimal(number), price(symbol, days_ago)
            change.fee = Decimal("1.00") if currency == "USD" else Decimal("2.50")
        elif kind == "split":
            change.ratio = ratio
        elif kind == "dividend":  # a yield on the quantity held that day
            held = _held(changes, account, symbol)
            change.amount = (held * price(symbol, days_ago) * Decimal(number)).quantize(CENT)
        elif kind == "tax":  # withheld from the same day's dividend
            dividend = next(c for a, c in reversed(changes) if c.type == "dividend" and c.symbol == symbol)
            change.amount, change.note = (dividend.amount * Decimal(number)).quantize(CENT), "withholding tax"
        else:
            change.amount, change.note = Decimal(number), "account fee"
        changes.append((accounts[account], change))
    ledger.add_many(user, changes, source="demo")
    assets.price_new_instruments(sorted({i.id for i in db.session.scalars(
        sa.select(Instrument).join(Holding, Holding.instrument_id == Instrument.id)
        .join(Account, Account.id == Holding.account_id).where(Account.owner_id == user.id))}))
    _seed_alert(user, (close("AAPL", 0) * Decimal("1.05")).quantize(Decimal(1)))
    request_history(user.email)
    return True


def _held(changes: list, account: str, symbol: str) -> Decimal:
    held = Decimal(0)
    for acct, c in changes:
        if acct.name == account and c.symbol == symbol:
            if c.type == "buy":
                held += c.quantity
            elif c.type == "sell":
                held -= c.quantity
            elif c.type == "split":
                held = held * c.ratio.numerator / c.ratio.denominator
    return held


def _seed_split_closes(symbol: str, asset_type: str, currency: str, ratio: Ratio, split_day: int,
                       market: SimulatedProvider, now_tick: int, per_day: int) -> None:
    """A year of daily closes of the instrument the demo split and sold: the simulated market's,
    scaled by the ratio before the split (what an exchange quoted then)."""
    inst = assets.instrument_for(symbol, asset_type, currency)
    rows = []
    for days_ago in range(365, 0, -1):
        tick = now_tick - days_ago * per_day
        price = market.price_at(symbol, tick)
        if days_ago > split_day:
            price = price * ratio.numerator / ratio.denominator
        as_of = datetime.fromtimestamp(tick * market.step, tz=timezone.utc)
        rows.append({"instrument_id": inst.id, "price": price, "currency": currency, "as_of": as_of,
                     "fetched_at": as_of, "source": market.name, "previous_close": None})
    db.session.execute(sa.insert(Quote), rows)
    db.session.commit()


def _seed_fx(today: date) -> None:
    """A year of simulated EUR/USD reference rates (1.06 to 1.10, labelled `simulated`): the demo
    converts its EUR holding offline; a real FX provider's rates, when it answers, join them."""
    from webapp.services.pricing import fx

    rows = [(today - timedelta(days=d), "EUR", "USD", Decimal("1.0600") + Decimal(abs(d % 160 - 80)) / 2000)
            for d in range(366, -1, -1)]
    fx.import_fx_rates(rows, source="simulated")


def _seed_alert(user: User, threshold: Decimal) -> None:
    """One alert rule: AAPL's price above a round figure a little over today's."""
    from webapp.services import alert_rules

    _, errors = alert_rules.create(user, {"kind": "price_above", "symbol": "AAPL",
                                          "threshold": str(threshold),
                                          "cooldown_minutes": "60", "in_app": "1"})
    if errors:
        log.warning("the demo's alert rule was not created: %s", errors)


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
                         job_id=f"demo-backfill-{re.sub(r'[^A-Za-z0-9_-]', '_', symbol)}", timeout=600)
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
