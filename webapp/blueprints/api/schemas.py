"""The API's marshmallow schemas: the OpenAPI document is generated from them. Money and
quantities travel as decimal strings (never JSON numbers), dates and times as ISO 8601."""
from __future__ import annotations

from decimal import Decimal

import marshmallow as ma
from marshmallow import fields, validate

from webapp.domain import ledger as ledger_domain
from webapp.domain.inputs import (
    CONTROL_RE,
    SYMBOL_RE,
    normalise_symbol,
    parse_cost,
    parse_number,
    parse_quantity,
)
from webapp.models import ACCOUNT_KINDS, ASSET_TYPES


class DecimalString(fields.Field):
    """An exact decimal as a string, like "12.5" (no exponent, no trailing zeros)."""

    parser = staticmethod(lambda text: parse_number(text))

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        d = Decimal(value).normalize()
        return format(d if d != 0 else Decimal(0), "f")

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str):
            raise ma.ValidationError("Send the number as a string, like \"12.5\".")
        try:
            return self.parser(value)
        except ValueError as exc:
            raise ma.ValidationError(str(exc)) from None


class Quantity(DecimalString):
    parser = staticmethod(parse_quantity)


class Cost(DecimalString):
    parser = staticmethod(parse_cost)


class Amount(DecimalString):
    parser = staticmethod(lambda text: parse_number(text, "amount"))


def _no_controls(value: str) -> None:
    if CONTROL_RE.search(value):
        raise ma.ValidationError("Remove the control characters.")


def _symbol(value: str) -> None:
    if not SYMBOL_RE.match(value):
        raise ma.ValidationError("A symbol is 1–20 letters, digits or . - ^ = (e.g. BRK-B, VOD.L, ^GSPC).")


class Symbol(fields.String):
    def _deserialize(self, value, attr, data, **kwargs):
        return normalise_symbol(super()._deserialize(value, attr, data, **kwargs))


Currency = lambda **kw: fields.String(validate=validate.Regexp(r"[A-Z]{3}\Z", error="A 3-letter currency code, "  # noqa: E731
                                                               "like USD."), **kw)


class Strict(ma.Schema):
    class Meta:
        unknown = ma.RAISE


# ---- the user --------------------------------------------------------------------------------
class TokenInfo(ma.Schema):
    name = fields.String()
    scopes = fields.List(fields.String(), attribute="scope_list")
    expires_at = fields.DateTime(allow_none=True)


class Me(ma.Schema):
    id = fields.Integer()
    email = fields.String()
    display_name = fields.String()
    base_currency = fields.String()
    cost_method = fields.String()
    token = fields.Nested(TokenInfo)


# ---- the portfolio ---------------------------------------------------------------------------
class Freshness(ma.Schema):
    oldest_price_as_of = fields.DateTime(allow_none=True)
    oldest_price_age_seconds = fields.Integer(allow_none=True)
    stale_count = fields.Integer(metadata={"description": "Priced holdings whose price is older than it should be."})
    pending_count = fields.Integer(metadata={"description": "Holdings without any price yet."})


class AccountTotal(ma.Schema):
    id = fields.Integer()
    name = fields.String()
    total = DecimalString()
    day_change = DecimalString(allow_none=True)


class Portfolio(ma.Schema):
    base_currency = fields.String()
    total = DecimalString()
    day_change = DecimalString(allow_none=True)
    cost = DecimalString(allow_none=True)
    gain = DecimalString(allow_none=True)
    unconverted = fields.Dict(keys=fields.String(), values=DecimalString(),
                              metadata={"description": "Values that could not be converted, by currency."})
    freshness = fields.Nested(Freshness)
    accounts = fields.List(fields.Nested(AccountTotal))


class HistoryArgs(Strict):
    from_ = fields.Date(data_key="from", load_default=None)
    to = fields.Date(load_default=None)


class HistoryPoint(ma.Schema):
    as_of = fields.DateTime()
    currency = fields.String()
    total_value = DecimalString()
    reconstructed = fields.Boolean()


class History(ma.Schema):
    points = fields.List(fields.Nested(HistoryPoint))
    truncated = fields.Boolean()


PERIODS = ("1M", "3M", "YTD", "1Y", "3Y", "5Y", "ALL", "CUSTOM")


class ReturnsArgs(Strict):
    period = fields.String(load_default="1Y", validate=validate.OneOf(PERIODS))
    from_ = fields.Date(data_key="from", load_default=None)
    to = fields.Date(load_default=None)
    account = fields.Integer(load_default=None, validate=validate.Range(1, 2147483647))


class Returns(ma.Schema):
    currency = fields.String()
    start = fields.Date(metadata={"description": "The close the period is measured from."})
    from_ = fields.Date(data_key="from", attribute="from")
    to = fields.Date()
    value_start = DecimalString(allow_none=True)
    value_end = DecimalString(allow_none=True)
    net_flows = DecimalString(allow_none=True)
    twr = DecimalString(allow_none=True)
    twr_annualized = DecimalString(allow_none=True)
    mwr = DecimalString(allow_none=True)
    days = fields.Integer()
    clipped = fields.Boolean()


class Quote(ma.Schema):
    symbol = fields.String()
    price = DecimalString()
    currency = fields.String()
    as_of = fields.DateTime()
    source = fields.String()
    previous_close = DecimalString(allow_none=True)
    stale = fields.Boolean()


# ---- accounts and holdings -------------------------------------------------------------------
class Account(ma.Schema):
    id = fields.Integer()
    name = fields.String()
    institution = fields.String()
    kind = fields.String()
    created_at = fields.DateTime()


class AccountIn(Strict):
    name = fields.String(required=True, validate=[validate.Length(1, 80), _no_controls])
    institution = fields.String(load_default="", validate=[validate.Length(max=120), _no_controls])
    kind = fields.String(load_default="brokerage", validate=validate.OneOf(list(ACCOUNT_KINDS)))


class AccountPatch(Strict):
    name = fields.String(required=True, validate=[validate.Length(1, 80), _no_controls])


class Holding(ma.Schema):
    id = fields.Integer()
    account_id = fields.Integer()
    symbol = fields.String(attribute="instrument.symbol")
    asset_type = fields.String(attribute="instrument.asset_type")
    currency = fields.String(attribute="instrument.currency", allow_none=True)
    quantity = DecimalString()
    cost_basis = DecimalString(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class HoldingIn(Strict):
    symbol = Symbol(required=True, validate=_symbol)
    asset_type = fields.String(load_default="stock", validate=validate.OneOf(list(ASSET_TYPES)))
    quantity = Quantity(required=True)
    cost = Cost(load_default=None, allow_none=True, metadata={"description": "The total cost, optional."})
    currency = Currency(load_default=None, allow_none=True)
    merge = fields.Boolean(load_default=False)


class HoldingPatch(Strict):
    quantity = Quantity()
    cost = Cost(allow_none=True)

    @ma.validates_schema
    def _something(self, data, **kwargs):
        if not data:
            raise ma.ValidationError("Send a quantity, a cost or both.", "quantity")


# ---- the ledger ------------------------------------------------------------------------------
class Activity(ma.Schema):
    id = fields.Integer()
    account_id = fields.Integer()
    type = fields.String()
    date = fields.Date()
    symbol = fields.Function(lambda a: a.instrument.symbol if a.instrument else None, allow_none=True)
    quantity = DecimalString(allow_none=True)
    price = DecimalString(allow_none=True)
    fee = DecimalString()
    amount = DecimalString(allow_none=True)
    currency = fields.String(allow_none=True)
    note = fields.String()
    ratio = fields.Function(lambda a: f"{a.ratio_numerator}:{a.ratio_denominator}" if a.ratio_numerator else None,
                            allow_none=True)
    source = fields.String()
    created_at = fields.DateTime()


class ActivityPage(ma.Schema):
    items = fields.List(fields.Nested(Activity))
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()
    pages = fields.Integer()


class PageArgs(Strict):
    page = fields.Integer(load_default=1, validate=validate.Range(1, 1_000_000))
    per_page = fields.Integer(load_default=50, validate=validate.Range(1, 200))


class ActivityIn(Strict):
    date = fields.Date(required=True)
    type = fields.String(required=True, validate=validate.OneOf(ledger_domain.TYPES))
    symbol = Symbol(load_default=None, allow_none=True, validate=_symbol)
    asset_type = fields.String(load_default="stock", validate=validate.OneOf(list(ASSET_TYPES)))
    quantity = DecimalString(load_default=None, allow_none=True)
    price = Amount(load_default=None, allow_none=True)
    fee = Amount(load_default=None, allow_none=True)
    amount = Amount(load_default=None, allow_none=True)
    currency = Currency(load_default=None, allow_none=True)
    note = fields.String(load_default="", validate=[validate.Length(max=500), _no_controls])
    ratio = fields.String(load_default=None, allow_none=True, metadata={"description": "A split's new:old, like 4:1."})
