"""Property-based checks of the pure valuation core (Hypothesis): exact sums, order
independence, conversions that round-trip within a cent."""
from datetime import datetime, timezone
from decimal import Decimal, localcontext

from hypothesis import given, settings
from hypothesis import strategies as st

from webapp.domain.money import convert
from webapp.domain.valuation import AccountRef, Position, PriceInfo, value_portfolio

T = datetime(2026, 11, 20, 15, 0, tzinfo=timezone.utc)
CCYS = ["USD", "EUR", "GBP", "INR"]
quantities = st.decimals(min_value=Decimal("0.0000000001"), max_value=Decimal("1e12"), places=10)
prices = st.decimals(min_value=Decimal("0.0001"), max_value=Decimal("1e7"), places=4)
rates = st.decimals(min_value=Decimal("0.0001"), max_value=Decimal("10000"), places=6)


@st.composite
def portfolios(draw):
    n_accounts = draw(st.integers(1, 4))
    accounts = [AccountRef(i, f"a{i}") for i in range(n_accounts)]
    symbols = draw(st.lists(st.sampled_from([f"S{i}" for i in range(12)]), min_size=1, max_size=12, unique=True))
    positions = [Position(k, draw(st.integers(0, n_accounts - 1)), s, "stock", draw(quantities))
                 for k, s in enumerate(symbols)]
    quotes = {s: PriceInfo(draw(prices), draw(st.sampled_from(CCYS)), T, "test")
              for s in symbols if draw(st.booleans()) or s == symbols[0]}
    fx = {("EUR", c): draw(rates) for c in CCYS if c != "EUR"}
    return accounts, positions, quotes, fx


@settings(max_examples=150, deadline=None)
@given(portfolios(), st.sampled_from(CCYS))
def test_total_is_the_sum_of_accounts_and_of_converted_holdings(p, base):
    with localcontext(prec=80):  # the core's own precision: exact for these magnitudes
        check_sums(p, base)


def check_sums(p, base):
    accounts, positions, quotes, fx = p
    full_fx = {**fx, **{(b, a): Decimal(1) / r for (a, b), r in fx.items()}}
    v = value_portfolio(accounts, positions, quotes, base, full_fx)
    assert v.total == sum((a.total for a in v.accounts), Decimal(0))
    for a in v.accounts:
        by_ccy: dict[str, Decimal] = {}
        for h in a.holdings:
            if h.value is not None:
                assert h.value == h.quantity * h.price  # exact, never rounded
                by_ccy[h.currency] = by_ccy.get(h.currency, Decimal(0)) + h.value
        converted = [convert(amount, c, base, full_fx) for c, amount in by_ccy.items()]
        # exact but for the 80th significant digit of a non-terminating division (an inverse
        # rate), whether one converts each holding or each currency's sum: far below a cent
        assert abs(a.total - sum((c for c in converted if c is not None), Decimal(0))) <= Decimal("1e-50")
    assert v.pending == sum(1 for pos in positions if pos.symbol not in quotes)


@settings(max_examples=100, deadline=None)
@given(portfolios(), st.randoms(use_true_random=False))
def test_the_order_of_inputs_never_changes_the_result(p, rnd):
    accounts, positions, quotes, fx = p
    before = value_portfolio(accounts, positions, quotes, "EUR", fx).to_json()
    rnd.shuffle(accounts)
    rnd.shuffle(positions)
    assert value_portfolio(accounts, positions, dict(reversed(list(quotes.items()))), "EUR", fx).to_json() == before


@settings(max_examples=200, deadline=None)
@given(st.decimals(min_value=Decimal("0"), max_value=Decimal("1e12"), places=2), rates, rates)
def test_a_conversion_there_and_back_is_within_a_cent(amount, eur_usd, eur_gbp):
    # cross rates through EUR, as the FX module derives them
    fx = {("EUR", "USD"): eur_usd, ("EUR", "GBP"): eur_gbp}
    usd = convert(amount, "GBP", "EUR", fx)
    usd = convert(usd, "EUR", "USD", fx)
    back = convert(convert(usd, "USD", "EUR", fx), "EUR", "GBP", fx)
    assert abs(back - amount) < Decimal("0.01")


@settings(max_examples=100, deadline=None)
@given(portfolios())
def test_a_missing_rate_is_never_treated_as_one_to_one(p):
    accounts, positions, quotes, _ = p
    v = value_portfolio(accounts, positions, quotes, "USD", {})
    with localcontext(prec=80):
        check_apart(v, positions, quotes)


def check_apart(v, positions, quotes):
    foreign = sum((q.price * pos.quantity for pos in positions if (q := quotes.get(pos.symbol)) and q.currency != "USD"),
                  Decimal(0))
    assert sum(v.unconverted.values(), Decimal(0)) == foreign
    assert v.total == sum((q.price * pos.quantity for pos in positions
                           if (q := quotes.get(pos.symbol)) and q.currency == "USD"), Decimal(0))
