"""The data layer on the database under test (SQLite file, or PostgreSQL via DATABASE_URL).

Money and quantities must come back exactly as written, never through float; times
come back as aware UTC; the uniqueness rules hold in the database itself.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, StatementError

from webapp.extensions import db
from webapp.models import Account, Holding, Instrument, Quote, User

NOW = datetime(2024, 3, 4, 5, 6, 7, 890123, tzinfo=timezone.utc)


def new_user(email="owner@example.com") -> User:
    user = User(email=email, password_hash="x")
    db.session.add(user)
    db.session.flush()
    return user


def new_instrument(symbol="AAPL") -> Instrument:
    inst = Instrument(symbol=symbol, provider_symbols={})
    db.session.add(inst)
    db.session.flush()
    return inst


@pytest.fixture
def account(ctx):
    user = new_user()
    acc = Account(owner_id=user.id, name="Main")
    db.session.add(acc)
    db.session.commit()
    return acc.id


def fresh_scalar(stmt):
    """Read in a brand-new session: nothing comes from the identity map."""
    db.session.remove()
    return db.session.scalar(stmt)


def write_quote(price, **fields) -> int:
    inst = db.session.scalar(sa.select(Instrument).where(Instrument.symbol == "QQQ")) or new_instrument("QQQ")
    quote = Quote(instrument_id=inst.id, price=price, currency="USD", as_of=fields.pop("as_of", NOW),
                  source="test", **fields)
    db.session.add(quote)
    db.session.commit()
    return quote.id


def raw_column(table: str, column: str, row_id: int):
    """The value as the database driver returns it, below the column type."""
    db.session.remove()
    with db.engine.connect() as conn:
        return conn.execute(sa.text(f"SELECT {column} FROM {table} WHERE id = :id"), {"id": row_id}).scalar_one()


EXACT_VALUES = [
    "0.1",
    "0.3",
    "123456789012345678.0123456789",
    "0.0000000001",
    "1e-10",
    "999999999999999999.9999999999",
    "100000000000000000",
    "1.1",
    "2.675",
    "1E+5",
    "42",
]


@pytest.mark.parametrize("text", EXACT_VALUES)
def test_holding_quantity_reads_back_exactly(account, text):
    written = Decimal(text)
    inst = new_instrument()
    holding = Holding(account_id=account, instrument_id=inst.id, quantity=written)
    db.session.add(holding)
    db.session.commit()
    hid = holding.id

    read = fresh_scalar(sa.select(Holding.quantity).where(Holding.id == hid))

    assert type(read) is Decimal
    assert read == written
    # and the database itself holds the exact number, not a float approximation
    assert Decimal(str(raw_column("holdings", "quantity", hid))) == written


@pytest.mark.parametrize("text", EXACT_VALUES + ["-0.1", "-999999999999999999.9999999999", "0"])
def test_quote_price_reads_back_exactly(ctx, text):
    written = Decimal(text)
    qid = write_quote(written, previous_close=written)

    db.session.remove()
    quote = db.session.get(Quote, qid)

    assert type(quote.price) is Decimal and type(quote.previous_close) is Decimal
    assert quote.price == written
    assert quote.previous_close == written


def test_sum_of_tenths_is_exact_after_a_round_trip(ctx):
    """0.1 + 0.2 is 0.3 only if nothing went through float on the way."""
    a, b = write_quote(Decimal("0.1")), write_quote(Decimal("0.2"), as_of=NOW + timedelta(seconds=1))
    db.session.remove()
    total = db.session.get(Quote, a).price + db.session.get(Quote, b).price
    assert total == Decimal("0.3")


def test_strings_are_accepted_as_exact_decimals(ctx):
    qid = write_quote("1234.5678")
    assert fresh_scalar(sa.select(Quote.price).where(Quote.id == qid)) == Decimal("1234.5678")


@pytest.mark.parametrize("value", [1.5, 0.1, float("nan")])
def test_a_float_is_refused(account, value):
    inst = new_instrument()
    db.session.add(Holding(account_id=account, instrument_id=inst.id, quantity=value))
    with pytest.raises(StatementError) as info:
        db.session.commit()
    assert isinstance(info.value.orig, TypeError)
    assert "float" in str(info.value.orig)
    db.session.rollback()
    assert fresh_scalar(sa.select(sa.func.count()).select_from(Holding)) == 0


@pytest.mark.parametrize("value", [Decimal("NaN"), Decimal("sNaN"), Decimal("Infinity"), Decimal("-Infinity"),
                                   "nan", "inf", "not a number"])
def test_non_finite_or_non_numbers_are_refused(ctx, value):
    with pytest.raises(StatementError) as info:
        write_quote(value)
    assert isinstance(info.value.orig, ValueError)
    db.session.rollback()
    assert fresh_scalar(sa.select(sa.func.count()).select_from(Quote)) == 0


@pytest.mark.parametrize("value", [Decimal("1e18"), Decimal("-1e18"), Decimal("1e20"), Decimal("1e400"),
                                   # rounds up to 10^18 at 10 places
                                   Decimal("999999999999999999.99999999995")])
def test_too_many_integer_digits_are_refused_with_a_clear_error(ctx, value):
    with pytest.raises(StatementError) as info:
        write_quote(value)
    assert isinstance(info.value.orig, ValueError)
    assert "integer digits" in str(info.value.orig)
    db.session.rollback()
    assert fresh_scalar(sa.select(sa.func.count()).select_from(Quote)) == 0


@pytest.mark.parametrize("written, expected", [
    ("0.00000000005", "0"),  # a tie goes to the even neighbour: 0
    ("0.00000000015", "0.0000000002"),  # tie -> even (2), not away from zero
    ("0.00000000025", "0.0000000002"),  # tie -> even (2); PostgreSQL alone would give 3
    ("0.00000000035", "0.0000000004"),
    ("-0.00000000025", "-0.0000000002"),
    ("2.50000000005", "2.5"),
    ("0.000000000051", "0.0000000001"),  # above the tie: up
    ("0.000000000049", "0"),  # below the tie: down
    ("1.23456789014999", "1.2345678901"),
    ("999999999999999999.99999999994", "999999999999999999.9999999999"),
])
def test_more_than_ten_places_round_half_even(ctx, written, expected):
    qid = write_quote(Decimal(written))
    read = fresh_scalar(sa.select(Quote.price).where(Quote.id == qid))
    assert read == Decimal(expected)
    assert Decimal(str(raw_column("quotes", "price", qid))) == Decimal(expected)


def test_aware_datetimes_come_back_as_the_same_instant_in_utc(ctx):
    ist = timezone(timedelta(hours=5, minutes=30))
    written = datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=ist)
    qid = write_quote(Decimal("1"), as_of=written)

    read = fresh_scalar(sa.select(Quote.as_of).where(Quote.id == qid))

    assert read.tzinfo is not None and read.utcoffset() == timedelta(0)
    assert read == written
    assert (read.year, read.month, read.day, read.hour, read.minute, read.microsecond) == (2024, 1, 1, 21, 34, 123456)


def test_default_timestamps_are_aware_utc(ctx):
    before = datetime.now(timezone.utc)
    uid = new_user().id
    db.session.commit()
    created = fresh_scalar(sa.select(User.created_at).where(User.id == uid))
    assert created.utcoffset() == timedelta(0)
    assert before - timedelta(seconds=1) <= created <= datetime.now(timezone.utc) + timedelta(seconds=1)


def test_a_naive_datetime_is_refused(ctx):
    with pytest.raises(StatementError) as info:
        write_quote(Decimal("1"), as_of=datetime(2024, 1, 2, 3, 4, 5))
    assert isinstance(info.value.orig, ValueError)
    db.session.rollback()
    assert fresh_scalar(sa.select(sa.func.count()).select_from(Quote)) == 0


def test_an_instrument_is_held_once_per_account(account):
    inst = new_instrument()
    db.session.add(Holding(account_id=account, instrument_id=inst.id, quantity=Decimal("1")))
    db.session.commit()

    db.session.add(Holding(account_id=account, instrument_id=inst.id, quantity=Decimal("2")))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()

    # the same instrument in another account of the same user is fine
    other = Account(owner_id=db.session.get(Account, account).owner_id, name="Second")
    db.session.add(other)
    db.session.flush()
    db.session.add(Holding(account_id=other.id, instrument_id=inst.id, quantity=Decimal("2")))
    db.session.commit()
    quantities = db.session.scalars(sa.select(Holding.quantity).order_by(Holding.id)).all()
    assert quantities == [Decimal("1"), Decimal("2")]


def test_email_is_unique(ctx):
    new_user("same@example.com")
    db.session.commit()
    db.session.add(User(email="same@example.com", password_hash="y"))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()
    assert fresh_scalar(sa.select(sa.func.count()).select_from(User)) == 1


def test_account_names_are_unique_per_owner_only(ctx):
    alice, bob = new_user("a@example.com"), new_user("b@example.com")
    db.session.add_all([Account(owner_id=alice.id, name="Main"), Account(owner_id=bob.id, name="Main")])
    db.session.commit()
    db.session.add(Account(owner_id=alice.id, name="Main"))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()
    assert fresh_scalar(sa.select(sa.func.count()).select_from(Account)) == 2


def test_a_negative_quantity_is_refused_by_the_database(account):
    inst = new_instrument()
    db.session.add(Holding(account_id=account, instrument_id=inst.id, quantity=Decimal("-1")))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_deleting_an_account_deletes_its_holdings(account):
    inst = new_instrument()
    db.session.add(Holding(account_id=account, instrument_id=inst.id, quantity=Decimal("3")))
    db.session.commit()
    db.session.remove()

    db.session.delete(db.session.get(Account, account))
    db.session.commit()

    assert fresh_scalar(sa.select(sa.func.count()).select_from(Holding)) == 0
    assert fresh_scalar(sa.select(sa.func.count()).select_from(Instrument)) == 1  # instruments are shared
