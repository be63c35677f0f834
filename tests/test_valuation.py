"""The pure valuation core: exact sums, explicit currencies, order-independent."""
import random
from datetime import datetime, timezone
from decimal import Decimal

from webapp.domain.valuation import (
    AccountRef,
    Position,
    PriceInfo,
    Valuation,
    value_portfolio,
)
from webapp.web.filters import money, quantity

T = datetime(2026, 11, 20, 15, 0, tzinfo=timezone.utc)


def quote(price, ccy="USD"):
    return PriceInfo(Decimal(price), ccy, T, "test")


def test_totals_are_exact_sums_of_quantity_times_price():
    accounts = [AccountRef(1, "A"), AccountRef(2, "B")]
    positions = [
        Position(1, 1, "AAPL", "stock", Decimal("0.1")),
        Position(2, 1, "MSFT", "stock", Decimal("0.2")),
        Position(3, 2, "VTSAX", "mutual_fund", Decimal("104.237")),
    ]
    quotes = {"AAPL": quote("0.1"), "MSFT": quote("0.7"), "VTSAX": quote("131.07")}
    v = value_portfolio(accounts, positions, quotes, "USD")
    a, b = v.accounts
    assert a.total == Decimal("0.01") + Decimal("0.14")  # never 0.15000000000000002
    assert b.total == Decimal("104.237") * Decimal("131.07")
    assert v.total == a.total + b.total
    assert v.total == Decimal("13662.49359")


def test_a_total_needing_more_than_28_digits_is_not_rounded():
    # Python's default decimal context keeps 28 significant digits; a large account plus a
    # tiny one needs 32 here (found by Hypothesis in CI)
    v = value_portfolio([AccountRef(1, "Big"), AccountRef(2, "Tiny")],
                        [Position(1, 1, "BIG", "stock", Decimal("100000000000000")),
                         Position(2, 2, "TINY", "stock", Decimal("1E-10"))],
                        {"BIG": quote("1"), "TINY": quote("99.0002")}, "USD")
    assert v.total == Decimal("100000000000000.00000000990002")


def test_other_currency_without_rate_is_kept_apart_never_counted_as_one_to_one():
    v = value_portfolio([AccountRef(1, "A")], [Position(1, 1, "SAP.DE", "stock", Decimal(2)),
                                              Position(2, 1, "AAPL", "stock", Decimal(1))],
                        {"SAP.DE": quote("100", "EUR"), "AAPL": quote("50")}, "USD")
    assert v.total == Decimal(50)
    assert v.unconverted == {"EUR": Decimal(200)}
    assert not v.complete


def test_rate_and_inverse_rate_convert():
    positions = [Position(1, 1, "SAP.DE", "stock", Decimal(2))]
    quotes = {"SAP.DE": quote("100", "EUR")}
    direct = value_portfolio([AccountRef(1, "A")], positions, quotes, "USD", {("EUR", "USD"): Decimal("1.1")})
    inverse = value_portfolio([AccountRef(1, "A")], positions, quotes, "USD", {("USD", "EUR"): Decimal("0.5")})
    assert direct.total == Decimal("220.0")
    assert inverse.total == Decimal(400)


def test_missing_quote_is_pending_not_zero():
    v = value_portfolio([AccountRef(1, "A")], [Position(1, 1, "NEW", "stock", Decimal(5))], {}, "USD")
    assert v.pending == 1
    assert v.accounts[0].holdings[0].value is None


def test_order_of_inputs_never_changes_the_result():
    rng = random.Random(7)
    accounts = [AccountRef(i, f"acct{i}") for i in range(5)]
    positions = [Position(i, rng.randrange(5), f"S{i % 13}", "stock", Decimal(rng.randrange(1, 10**6)) / 1000)
                 for i in range(60)]
    quotes = {f"S{i}": quote(str(Decimal(rng.randrange(1, 10**7)) / 10000)) for i in range(13)}
    base = value_portfolio(accounts, positions, quotes, "USD").to_json()
    for _ in range(5):
        rng.shuffle(positions)
        rng.shuffle(accounts)
        assert value_portfolio(accounts, positions, quotes, "USD").to_json() == base


def test_json_round_trip_is_exact():
    v = value_portfolio([AccountRef(1, "A")], [Position(1, 1, "X", "etf", Decimal("0.0000000001"))],
                        {"X": quote("123456789.123456789")}, "USD")
    back = Valuation.from_json(v.to_json())
    assert back.total == v.total == Decimal("0.0123456789123456789")
    assert back.accounts[0].holdings[0].as_of == T


def test_display_rounds_only_at_the_end():
    assert money(Decimal("2873.984"), "USD") == "2,873.98 USD"
    assert money(Decimal("-0.004"), "USD") == "0.00 USD"  # no negative zero
    assert money(Decimal("-1234.5"), "EUR") == "−1,234.50 EUR"
    assert quantity(Decimal("1234.5000000000")) == "1,234.5"
    assert quantity(Decimal("100")) == "100"
