"""The data model: users, their accounts and holdings, instruments, quotes, snapshots."""
from __future__ import annotations

import secrets
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Optional

import sqlalchemy as sa
import sqlalchemy.orm as so
from flask_login import UserMixin
from werkzeug.security import check_password_hash, generate_password_hash

from webapp.extensions import db
from webapp.types import ExactDecimal, UTCDateTime

ASSET_TYPES = {"stock": "Stock", "etf": "ETF", "mutual_fund": "Mutual fund", "crypto": "Crypto"}
ACCOUNT_KINDS = {
    "brokerage": "Brokerage",
    "retirement": "Retirement",
    "fund_folio": "Fund folio",
    "savings": "Savings",
    "other": "Other",
}


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def new_session_token() -> str:
    return secrets.token_urlsafe(24)


class User(UserMixin, db.Model):
    __tablename__ = "users"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    email: so.Mapped[str] = so.mapped_column(sa.String(254), unique=True)  # stored lower-case
    password_hash: so.Mapped[str] = so.mapped_column(sa.String(255))
    display_name: so.Mapped[str] = so.mapped_column(sa.String(80), default="")
    base_currency: so.Mapped[str] = so.mapped_column(sa.String(3), default="USD")
    is_admin: so.Mapped[bool] = so.mapped_column(default=False)
    is_disabled: so.Mapped[bool] = so.mapped_column(default=False)
    # part of the login cookie; rotating it ends every session of the user
    session_token: so.Mapped[str] = so.mapped_column(sa.String(64), default=new_session_token)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime(), default=utcnow)
    last_login_at: so.Mapped[Optional[datetime]] = so.mapped_column(UTCDateTime())
    # two-factor login (webapp/services/users.py): the TOTP secret (base32) when it is on, and
    # the last time step whose code was accepted, so that no code is accepted twice
    totp_secret: so.Mapped[Optional[str]] = so.mapped_column(sa.String(64))
    totp_last_step: so.Mapped[Optional[int]] = so.mapped_column(sa.BigInteger)
    totp_enabled_at: so.Mapped[Optional[datetime]] = so.mapped_column(UTCDateTime())
    # when the owner of the address followed the confirmation link mailed to it (None: not yet)
    email_confirmed_at: so.Mapped[Optional[datetime]] = so.mapped_column(UTCDateTime())
    # how realized gains and cost bases are worked out from the ledger: "average" cost or "fifo"
    cost_method: so.Mapped[str] = so.mapped_column(sa.String(10), default="average", server_default="average")
    # the symbol the value chart and the returns page compare the portfolio with
    benchmark: so.Mapped[str] = so.mapped_column(sa.String(20), default="^GSPC", server_default="^GSPC")
    # signs the user's alert webhooks (HMAC-SHA256); made when first needed, rotated on the alerts page
    webhook_secret: so.Mapped[Optional[str]] = so.mapped_column(sa.String(64))
    # the hour (UTC, 0-23) of the daily digest e-mail; None: no digest (webapp/services/digest.py)
    digest_hour: so.Mapped[Optional[int]] = so.mapped_column(sa.SmallInteger)

    accounts: so.WriteOnlyMapped["Account"] = so.relationship(
        back_populates="owner", cascade="all, delete-orphan", passive_deletes=True
    )

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)  # scrypt

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    def get_id(self) -> str:
        return f"{self.id}:{self.session_token}"

    @property
    def is_active(self) -> bool:
        return not self.is_disabled

    @property
    def name(self) -> str:
        return self.display_name or self.email

    @property
    def has_two_factor(self) -> bool:
        return self.totp_secret is not None


class RecoveryCode(db.Model):
    """A single-use two-factor recovery code, stored as a SHA-256 hash (the codes carry 80 random bits)."""

    __tablename__ = "recovery_codes"
    __table_args__ = (sa.UniqueConstraint("user_id", "code_hash"),)

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    user_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    code_hash: so.Mapped[str] = so.mapped_column(sa.String(64))
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime(), default=utcnow)
    used_at: so.Mapped[Optional[datetime]] = so.mapped_column(UTCDateTime())


class Account(db.Model):
    __tablename__ = "accounts"
    __table_args__ = (sa.UniqueConstraint("owner_id", "name"),)

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    owner_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: so.Mapped[str] = so.mapped_column(sa.String(80))
    institution: so.Mapped[str] = so.mapped_column(sa.String(120), default="")
    kind: so.Mapped[str] = so.mapped_column(sa.String(20), default="brokerage")
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime(), default=utcnow)

    owner: so.Mapped[User] = so.relationship(back_populates="accounts")
    # not passive: SQLite (foreign keys off by default) would ignore ON DELETE CASCADE and
    # leave the holdings of a deleted account behind, so the ORM deletes them itself
    holdings: so.Mapped[list["Holding"]] = so.relationship(
        back_populates="account", cascade="all, delete-orphan", order_by="Holding.id"
    )
    activities: so.WriteOnlyMapped["Activity"] = so.relationship(
        back_populates="account", cascade="all, delete-orphan", passive_deletes=True
    )


class Instrument(db.Model):
    __tablename__ = "instruments"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    symbol: so.Mapped[str] = so.mapped_column(sa.String(20), unique=True)  # canonical, upper-case
    asset_type: so.Mapped[str] = so.mapped_column(sa.String(20), default="stock")
    name: so.Mapped[str] = so.mapped_column(sa.String(200), default="")
    exchange: so.Mapped[str] = so.mapped_column(sa.String(20), default="")
    currency: so.Mapped[Optional[str]] = so.mapped_column(sa.String(3))
    # provider name -> that provider's symbol, e.g. {"stooq": "aapl.us", "amfi": "122639"}
    provider_symbols: so.Mapped[dict] = so.mapped_column(sa.JSON, default=dict)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime(), default=utcnow)


class Holding(db.Model):
    __tablename__ = "holdings"
    __table_args__ = (
        sa.UniqueConstraint("account_id", "instrument_id"),
        sa.CheckConstraint("quantity > 0", name="quantity_positive"),
        # covers a recompute's read of a user's holdings: no visit to the table rows
        sa.Index("ix_holdings_account_instrument_quantity", "account_id", "instrument_id", "quantity"),
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    account_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("accounts.id", ondelete="CASCADE"))
    instrument_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("instruments.id"), index=True)
    quantity: so.Mapped[Decimal] = so.mapped_column(ExactDecimal(28, 10))
    cost_basis: so.Mapped[Optional[Decimal]] = so.mapped_column(ExactDecimal(28, 10))
    # the cost basis in `cost_base_currency` (the owner's base currency when the ledger last
    # wrote it), each lot at its acquisition day's rate; NULL: not known (webapp/services/ledger.sync_holdings)
    cost_basis_base: so.Mapped[Optional[Decimal]] = so.mapped_column(ExactDecimal(28, 10))
    cost_base_currency: so.Mapped[Optional[str]] = so.mapped_column(sa.String(3))
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime(), default=utcnow)
    updated_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    account: so.Mapped[Account] = so.relationship(back_populates="holdings")
    instrument: so.Mapped[Instrument] = so.relationship(lazy="joined")


class Quote(db.Model):
    """Price history: one row per instrument per provider timestamp."""

    __tablename__ = "quotes"
    __table_args__ = (sa.UniqueConstraint("instrument_id", "as_of"),)

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    instrument_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("instruments.id", ondelete="CASCADE"))
    price: so.Mapped[Decimal] = so.mapped_column(ExactDecimal(28, 10))
    currency: so.Mapped[str] = so.mapped_column(sa.String(3))
    as_of: so.Mapped[datetime] = so.mapped_column(UTCDateTime())
    fetched_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime(), default=utcnow)
    source: so.Mapped[str] = so.mapped_column(sa.String(30))
    previous_close: so.Mapped[Optional[Decimal]] = so.mapped_column(ExactDecimal(28, 10))


class FxRate(db.Model):
    __tablename__ = "fx_rates"
    __table_args__ = (sa.UniqueConstraint("base", "quote", "as_of"),)

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    base: so.Mapped[str] = so.mapped_column(sa.String(3))
    quote: so.Mapped[str] = so.mapped_column(sa.String(3))
    rate: so.Mapped[Decimal] = so.mapped_column(ExactDecimal(28, 10))
    as_of: so.Mapped[datetime] = so.mapped_column(UTCDateTime())
    source: so.Mapped[str] = so.mapped_column(sa.String(30))


class PortfolioSnapshot(db.Model):
    __tablename__ = "portfolio_snapshots"
    # unique: a recompute that was interrupted writes its pending snapshots again, harmlessly
    __table_args__ = (sa.UniqueConstraint("user_id", "as_of"),)

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    user_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    as_of: so.Mapped[datetime] = so.mapped_column(UTCDateTime(), default=utcnow)
    currency: so.Mapped[str] = so.mapped_column(sa.String(3))
    total_value: so.Mapped[Decimal] = so.mapped_column(ExactDecimal(28, 10))
    # {account_id: "value"} as strings, exact
    account_values: so.Mapped[dict] = so.mapped_column(sa.JSON, default=dict)
    # a split recorded after its effective date: this snapshot counted the old quantity at a
    # post-split price (a false drop). Kept, but not drawn or exported (webapp/services/splits.py).
    superseded_by_split_id: so.Mapped[Optional[int]] = so.mapped_column(
        sa.ForeignKey("splits.id", ondelete="SET NULL", use_alter=True))
    # worked out afterwards from daily closes with the holdings as they were then held, for the
    # days before the first recorded snapshot (webapp/services/portfolio/reconstruct.py), never recorded live
    reconstructed: so.Mapped[bool] = so.mapped_column(sa.Boolean, default=False, server_default=sa.false())


class Split(db.Model):
    """A stock split applied to holdings: to every holding of the instrument (`scope` "all", from
    `flask holdings split`) or to one holding (`scope` "holding:<id>", from its page)."""

    __tablename__ = "splits"
    __table_args__ = (
        sa.UniqueConstraint("instrument_id", "effective_date", "scope"),
        sa.CheckConstraint("numerator > 0 AND denominator > 0", name="ratio_positive"),
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    instrument_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("instruments.id", ondelete="CASCADE"))
    numerator: so.Mapped[int] = so.mapped_column(sa.Integer)  # 4 for a 4-for-1 split
    denominator: so.Mapped[int] = so.mapped_column(sa.Integer)  # 10 for a 1-for-10 reverse split
    effective_date: so.Mapped[date] = so.mapped_column(sa.Date)
    scope: so.Mapped[str] = so.mapped_column(sa.String(30), default="all")
    user_id: so.Mapped[Optional[int]] = so.mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    holdings_adjusted: so.Mapped[int] = so.mapped_column(sa.Integer, default=0)
    snapshots_superseded: so.Mapped[int] = so.mapped_column(sa.Integer, default=0)
    applied_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime(), default=utcnow)


class Activity(db.Model):
    """One line of an account's ledger (webapp/domain/ledger.py says what each type means).

    The ledger is the source of truth for the quantities of the (account, instrument) pairs
    it names: their `holdings` row is re-derived from it after every change
    (webapp/services/ledger.py). A holding entered by hand is an `opening` position here.
    """

    __tablename__ = "activities"
    __table_args__ = (
        sa.Index("ix_activities_account_date", "account_id", "date"),
        sa.CheckConstraint("(ratio_numerator IS NULL) = (ratio_denominator IS NULL)", name="ratio_whole"),
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    account_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("accounts.id", ondelete="CASCADE"))
    instrument_id: so.Mapped[Optional[int]] = so.mapped_column(sa.ForeignKey("instruments.id"), index=True)
    type: so.Mapped[str] = so.mapped_column(sa.String(20))
    date: so.Mapped[date] = so.mapped_column(sa.Date)
    quantity: so.Mapped[Optional[Decimal]] = so.mapped_column(ExactDecimal(28, 10))
    price: so.Mapped[Optional[Decimal]] = so.mapped_column(ExactDecimal(28, 10))
    fee: so.Mapped[Decimal] = so.mapped_column(ExactDecimal(28, 10), default=Decimal(0))
    amount: so.Mapped[Optional[Decimal]] = so.mapped_column(ExactDecimal(28, 10))
    # None only on an opening position made from a holding: the instrument's quote currency,
    # which may not be known yet when the holding is entered
    currency: so.Mapped[Optional[str]] = so.mapped_column(sa.String(3))
    note: so.Mapped[str] = so.mapped_column(sa.String(500), default="")
    ratio_numerator: so.Mapped[Optional[int]] = so.mapped_column(sa.Integer)  # a split's n:m
    ratio_denominator: so.Mapped[Optional[int]] = so.mapped_column(sa.Integer)
    # where it came from: "form", "holding" (an opening position), "migration", "import", "split"
    source: so.Mapped[str] = so.mapped_column(sa.String(20), default="form")
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime(), default=utcnow)

    account: so.Mapped[Account] = so.relationship(back_populates="activities")
    instrument: so.Mapped[Optional[Instrument]] = so.relationship(lazy="joined")


class ApiToken(db.Model):
    """A personal access token for the JSON API (/api/v1): only the SHA-256 of the token is
    stored; the token itself is shown once, when it is created (webapp/services/api_tokens.py)."""

    __tablename__ = "api_tokens"
    __table_args__ = (sa.UniqueConstraint("user_id", "name"),)

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    user_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: so.Mapped[str] = so.mapped_column(sa.String(80))
    token_hash: so.Mapped[str] = so.mapped_column(sa.String(64), unique=True)
    scopes: so.Mapped[str] = so.mapped_column(sa.String(40), default="read")  # "read" or "read write"
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime(), default=utcnow)
    expires_at: so.Mapped[Optional[datetime]] = so.mapped_column(UTCDateTime())
    last_used_at: so.Mapped[Optional[datetime]] = so.mapped_column(UTCDateTime())
    revoked_at: so.Mapped[Optional[datetime]] = so.mapped_column(UTCDateTime())

    @property
    def scope_set(self) -> frozenset[str]:
        return frozenset(self.scopes.split())

    @property
    def scope_list(self) -> list[str]:
        return self.scopes.split()


ALERT_KINDS = {
    "price_above": "Price above",
    "price_below": "Price below",
    "day_change_beyond": "Day change beyond ±%",
    "portfolio_above": "Portfolio value above",
    "portfolio_below": "Portfolio value below",
    "portfolio_day_change_beyond": "Portfolio day change beyond ±%",
    "price_stale": "Price older than N hours",
}


class AlertRule(db.Model):
    """A user's alert (webapp/services/alerts.py): fires once per crossing of its condition,
    then waits, disarmed, until the condition is false again; never twice within the cool-down."""

    __tablename__ = "alert_rules"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    user_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: so.Mapped[str] = so.mapped_column(sa.String(40))
    instrument_id: so.Mapped[Optional[int]] = so.mapped_column(sa.ForeignKey("instruments.id", ondelete="CASCADE"),
                                                               index=True)
    # a price (the quote currency), a value (the base currency) or a percentage; None for price_stale
    threshold: so.Mapped[Optional[Decimal]] = so.mapped_column(ExactDecimal(28, 10))
    hours: so.Mapped[Optional[int]] = so.mapped_column(sa.Integer)  # price_stale
    in_app: so.Mapped[bool] = so.mapped_column(sa.Boolean, default=True)
    email: so.Mapped[bool] = so.mapped_column(sa.Boolean, default=False)
    webhook: so.Mapped[bool] = so.mapped_column(sa.Boolean, default=False)
    webhook_url: so.Mapped[Optional[str]] = so.mapped_column(sa.String(500))
    cooldown_minutes: so.Mapped[int] = so.mapped_column(sa.Integer, default=60)
    armed: so.Mapped[bool] = so.mapped_column(sa.Boolean, default=True)
    enabled: so.Mapped[bool] = so.mapped_column(sa.Boolean, default=True)
    last_fired_at: so.Mapped[Optional[datetime]] = so.mapped_column(UTCDateTime())
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime(), default=utcnow)

    instrument: so.Mapped[Optional[Instrument]] = so.relationship(lazy="joined")


class Notification(db.Model):
    """An in-app notification: what an alert said (the bell in the top bar counts the unread)."""

    __tablename__ = "notifications"
    __table_args__ = (sa.Index("ix_notifications_user_read", "user_id", "read_at"),)

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    user_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    rule_id: so.Mapped[Optional[int]] = so.mapped_column(sa.ForeignKey("alert_rules.id", ondelete="SET NULL"))
    title: so.Mapped[str] = so.mapped_column(sa.String(200))
    body: so.Mapped[str] = so.mapped_column(sa.Text, default="")
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime(), default=utcnow)
    read_at: so.Mapped[Optional[datetime]] = so.mapped_column(UTCDateTime())
