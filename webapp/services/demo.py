"""Demo data: one user with two accounts, seeded only into an empty database."""
from __future__ import annotations

import logging
from decimal import Decimal

import sqlalchemy as sa

from webapp.extensions import db
from webapp.models import User
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
