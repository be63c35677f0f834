"""Daily values, the TWR index, the ledger in the base currency, fingerprints: pure, hand cases and properties."""
from datetime import date, timedelta
from decimal import Decimal as D

from hypothesis import given, settings
from hypothesis import strategies as st

from webapp.domain.base_currency import in_base, realized_in_base
from webapp.domain.ledger import Activity
from webapp.domain.money import EXACT
from webapp.domain.performance import each_day, fingerprints, first_change, rebase, twr_index, value_days
from webapp.domain.returns import twr

DAY0 = date(2025, 1, 1)


def day(n):
    return DAY0 + timedelta(days=n)


def test_cash_counts_in_an_account_with_a_deposit_and_foreign_cash_at_its_rate():
    ledger = [Activity(day(0), 1, "deposit", amount=D(100), currency="EUR"),
              Activity(day(1), 1, "buy", "X", D(2), D(30), D(1), currency="EUR"),
              Activity(day(2), 1, "dividend", "X", amount=D(4), fee=D("0.5"), currency="EUR"),
              Activity(day(2), 2, "buy", "Y", D(1), D(10))]  # account 2 records no cash
    rate = {"EUR": D(2), "USD": D(1)}
    values = value_days(ledger, day(0), day(2), {"X": [(day(1), D(35))]}, lambda c, d: rate[c])
    # day 2: cash 100 − 61 + 3.5 = 42.5 EUR, X 2 × 35 EUR, Y 10 USD at its buy price
    assert values == [(day(0), D(200)), (day(1), D(2) * (39 + 70)), (day(2), D(2) * D("112.5") + 10)]


def test_each_day_carries_and_rebase_scales():
    series = [(day(1), D(50)), (day(3), D(75))]
    assert each_day(series, day(0), day(4)) == [(day(1), 50), (day(2), 50), (day(3), 75), (day(4), 75)]
    assert rebase(series) == [(day(1), 100), (day(3), 150)] and rebase([(day(1), D(0))]) == []


def test_fingerprints_change_with_any_activity_of_a_day_and_not_with_their_order():
    a, b = Activity(day(1), 1, "buy", "X", D(1), D(2)), Activity(day(3), 1, "sell", "X", D(1), D(3))
    assert fingerprints([a, b]) == fingerprints([b, a])
    edited = Activity(day(3), 1, "sell", "X", D(1), D("3.01"))
    assert first_change(fingerprints([a, b]), fingerprints([a, edited])) == day(3)
    assert first_change(fingerprints([a, b]), fingerprints([b])) == day(1)
    assert first_change(fingerprints([a]), fingerprints([a])) is None


amounts = st.decimals(min_value=D("0.01"), max_value=D("1e6"), places=2)


@settings(max_examples=100, deadline=None)
@given(st.lists(amounts, min_size=2, max_size=40), st.dictionaries(st.integers(1, 39), amounts, max_size=5))
def test_the_index_ends_at_100_times_one_plus_the_twr(vs, flow_days):
    values = [(day(i), v) for i, v in enumerate(vs)]
    flows = {day(i): f for i, f in flow_days.items() if i < len(vs)}
    index = twr_index(values, flows)
    result = twr(values, flows).twr
    assert index[0] == (day(0), 100) and len(index) == len(values)
    assert abs(EXACT.subtract(index[-1][1], EXACT.multiply(100, EXACT.add(1, result)))) < D("1e-70")


trades = st.lists(st.tuples(st.sampled_from(["buy", "sell"]), st.integers(1, 20), amounts), min_size=1, max_size=20)


@settings(max_examples=100, deadline=None)
@given(trades, st.decimals(min_value=D("0.5"), max_value=D(2), places=4), st.sampled_from(["average", "fifo"]))
def test_at_one_constant_rate_the_base_gains_are_the_gains_times_the_rate(draws, r, method):
    ledger, held = [], 0
    for i, (kind, q, p) in enumerate(draws):
        if kind == "sell":
            q = min(q, held)
            if not q:
                continue
        held += q if kind == "buy" else -q
        ledger.append(Activity(day(i), 1, kind, "X", D(q), p, D("0.25"), currency="EUR"))
    pairs = realized_in_base(ledger, "USD", lambda c, d: r, method)
    for p in pairs:
        assert p.base.currency == "USD" and p.base.quantity == p.sale.quantity
        assert abs(EXACT.subtract(p.base.gain, EXACT.multiply(p.sale.gain, r))) < D("1e-60")
    assert [a.currency for a in in_base(ledger, "EUR", lambda c, d: 1 / 0)] == ["EUR"] * len(ledger)


def test_the_index_links_a_sell_out_above_the_last_close_as_twr_does():
    # 1,000 at the close, sold out the next day for 1,100: TWR +10 %, and the index ends at 110
    values = [(date(2025, 1, 1), D(1000)), (date(2025, 1, 2), D(0))]
    flows = {date(2025, 1, 2): D(-1100)}
    assert twr(values, flows).twr == D("0.1")
    assert twr_index(values, flows)[-1] == (date(2025, 1, 2), D(110))
