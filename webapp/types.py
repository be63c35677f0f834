"""Column types. `ExactDecimal` keeps Decimals exact on every database."""
from __future__ import annotations

from datetime import timezone
from decimal import ROUND_HALF_EVEN, Context, Decimal, InvalidOperation

from sqlalchemy import DateTime, Numeric, String
from sqlalchemy.types import TypeDecorator


class ExactDecimal(TypeDecorator):
    """`NUMERIC(precision, scale)` on PostgreSQL; fixed-point text on SQLite.

    SQLite has no exact decimal type (SQLAlchemy's Numeric goes through float
    there), so the value is stored as canonical text. On both, values are
    quantized to `scale` places on the way in, so what is read back equals
    what was written.
    """

    impl = Numeric
    cache_ok = True

    def __init__(self, precision: int = 28, scale: int = 10):
        super().__init__(precision=precision, scale=scale)
        self.precision = precision
        self.scale = scale
        self._quantum = Decimal(1).scaleb(-scale)

    def load_dialect_impl(self, dialect):
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(self.precision + 2))
        return dialect.type_descriptor(Numeric(self.precision, self.scale, asdecimal=True))

    def coerce(self, value) -> Decimal:
        if isinstance(value, float):
            raise TypeError("refusing a float for an exact decimal column; pass a Decimal or a string")
        try:
            d = value if isinstance(value, Decimal) else Decimal(str(value))
        except InvalidOperation:
            raise ValueError(f"not a decimal number: {value!r}") from None
        if not d.is_finite():
            raise ValueError(f"not a finite number: {value!r}")
        too_large = ValueError(f"{value} has more than {self.precision - self.scale} integer digits")
        if d.adjusted() >= self.precision - self.scale:
            raise too_large  # before quantizing: that would raise decimal.InvalidOperation instead
        # room for every kept digit plus a carry (999.99999999995 -> 1000.0000000000)
        d = d.quantize(self._quantum, rounding=ROUND_HALF_EVEN, context=Context(prec=self.precision + 1))
        if d.adjusted() >= self.precision - self.scale:
            raise too_large
        return d

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        d = self.coerce(value)
        if dialect.name == "sqlite":
            return format(d, "f")
        return d

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        d = value if isinstance(value, Decimal) else Decimal(str(value))
        # a canonical form: 1.5000000000 and 1.5 compare equal, but show the same too
        return d.quantize(self._quantum)

    def process_literal_param(self, value, dialect):
        return format(self.coerce(value), "f")


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every database (SQLite drops the zone)."""

    impl = DateTime
    cache_ok = True

    def __init__(self, timezone: bool = True):  # alembic renders the impl's argument
        super().__init__(timezone=True)

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime; use UTC-aware datetimes")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)
