"""Demo data: one user with two accounts, seeded only into an empty database."""
from __future__ import annotations

from decimal import Decimal

import sqlalchemy as sa

from . import assets
from .extensions import db
from .models import User

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
    return True
