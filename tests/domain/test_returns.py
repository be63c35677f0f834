"""Returns: TWR daily linked, external flows, XIRR. Hand-computed cases, then properties."""
from datetime import date, timedelta
from decimal import Decimal as D
from decimal import localcontext

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from webapp.domain.ledger import Activity
from webapp.domain.returns import annualize, external_flows, mwr, twr, xirr

DAY0 = date(2025, 1, 1)


def days(*values):
    return [(DAY0 + timedelta(days=i), D(v)) for i, v in enumerate(values)]


def test_twr_links_the_days_around_a_flow():
    # day 1: 50 in at the open, 100 + 50 = 150 -> 160: r = 160/150 - 1; day 2: 160 -> 176: r = 0.1
    # TWR = 160/150 * 1.1 - 1 = 0.17333...
    result = twr(days(100, 160, 176), {DAY0 + timedelta(days=1): D(50)})
    assert abs(result.twr - (D(160) / D(150) * D("1.1") - 1)) < D("1e-25")
    assert result.annualized is None and result.days_counted == 2


def test_days_with_nothing_held_and_no_flow_are_skipped():
    flows = {DAY0 + timedelta(days=3): D(100)}
    result = twr(days(0, 0, 0, 110, 121), flows)
    assert result.twr == D("0.21") and result.days_counted == 2
    assert twr(days(0, 5)).twr is None  # value out of nothing: a flow is missing, not a return


def test_a_flow_on_a_missing_day_counts_at_the_next_day():
    values = [(DAY0, D(100)), (DAY0 + timedelta(days=3), D(200))]
    assert twr(values, {DAY0 + timedelta(days=1): D(100)}).twr == 0


def test_annualized_only_beyond_a_year():
    assert annualize(D("0.21"), 365) is None
    assert abs(annualize(D("0.21"), 730) - D("0.1")) < D("1e-70")  # 1.21^(1/2) = 1.1
    assert twr([(DAY0, D(100)), (DAY0 + timedelta(days=730), D(121))]).annualized.quantize(D("1e-12")) == D("0.1")
    assert annualize(D(-1), 800) == D(-1)


def test_flows_of_an_account_that_records_cash_are_deposits_withdrawals_and_transfers():
    d1, d2, d3 = DAY0, DAY0 + timedelta(days=1), DAY0 + timedelta(days=2)
    ledger = [Activity(d1, 1, "deposit", amount=D(1000)),
              Activity(d1, 1, "buy", "X", D(5), D(100), D(1)),
              Activity(d2, 1, "dividend", "X", amount=D(3)),
              Activity(d3, 1, "transfer_in", "Y", D(2)),
              Activity(d3, 1, "withdrawal", amount=D(50))]
    # Y's close on d3 is not there: the nearest earlier one (d1) counts
    assert external_flows(ledger, {d1: {"Y": D(40)}, d2: {"X": D(110)}}) == {d1: D(1000), d3: D(80) - D(50)}


def test_flows_of_an_account_that_records_no_cash():
    d1, d2, d3 = DAY0, DAY0 + timedelta(days=1), DAY0 + timedelta(days=2)
    ledger = [Activity(d1, 2, "opening", "Z", D(3), amount=D(10)),
              Activity(d1, 2, "buy", "X", D(5), D(100), D(1)),  # in: 501
              Activity(d2, 2, "sell", "X", D(2), D(110), D(1)),  # out: 219
              Activity(d2, 2, "dividend", "X", amount=D(3), fee=D("0.5")),  # out: 2.5
              Activity(d3, 2, "fee", amount=D(4)),  # in: 4
              Activity(d3, 2, "tax", amount=D(1))]  # in: 1
    closes = {d1: {"Z": D(7)}}  # the opening position counts at its value: 3 x 7
    assert external_flows(ledger, closes) == {d1: D(21) + D(501), d2: D("-221.5"), d3: D(5)}
    halves = external_flows(ledger, closes, to_base=lambda amount, ccy, day: amount / 2)
    assert halves[d3] == D("2.5")


def test_xirr_reproduces_excels_documented_example():
    # Microsoft's XIRR help page: 0.373362535 (37.34 %)
    flows = [(date(2008, 1, 1), D(-10000)), (date(2008, 3, 1), D(2750)), (date(2008, 10, 30), D(4250)),
             (date(2009, 2, 15), D(3250)), (date(2009, 4, 1), D(2750))]
    assert round(xirr(flows), 6) == D("0.373363")
    assert abs(npv(xirr(flows), flows)) < 1e-6


def test_mwr_of_one_year_and_not_defined_cases():
    end = DAY0 + timedelta(days=365)
    assert round(mwr(DAY0, D(1000), {}, end, D(1100)), 9) == D("0.1")
    assert mwr(DAY0, D(0), {}, end, D(1100)) is None  # nothing paid in: no rate
    assert xirr([]) is None and xirr([(DAY0, D(1))]) is None
    assert xirr([(DAY0, D(1)), (end, D(2))]) is None  # no sign change


def npv(rate, flows):
    r, d0 = float(rate), flows[0][0]
    return sum(float(v) / (1 + r) ** ((d - d0).days / 365) for d, v in flows)


# ---- properties -------------------------------------------------------------------------------

values = st.decimals(min_value=D("0.01"), max_value=D("1e9"), places=2)


@settings(max_examples=100, deadline=None)
@given(st.lists(values, min_size=2, max_size=60))
def test_without_flows_twr_is_the_value_ratio(vs):
    result = twr(days(*vs))
    # a product of 80-digit quotients: equal to the ratio far below a millionth of a percent
    with localcontext(prec=80):
        assert abs(result.twr - (vs[-1] / vs[0] - 1)) < D("1e-60")


@settings(max_examples=100, deadline=None)
@given(st.lists(values, min_size=2, max_size=40), st.data(),
       st.decimals(min_value=D("0.01"), max_value=D("100"), places=2))
def test_a_deposit_that_is_immediately_valued_leaves_twr_unchanged(vs, data, extra):
    # a deposit at the open of day k, invested like the rest: V_{k-1} + F and every later
    # value grow by the same factor 1 + extra, F = V_{k-1} x extra
    k = data.draw(st.integers(1, len(vs) - 1))
    series = days(*vs)
    scaled = series[:k] + [(d, v * (1 + extra)) for d, v in series[k:]]
    flow = {series[k][0]: series[k - 1][1] * extra}
    assert twr(scaled, flow).twr == twr(series).twr


flows_strategy = st.lists(st.tuples(st.integers(1, 3000), st.decimals(min_value=D(-1e6), max_value=D(1e6), places=2)),
                          min_size=1, max_size=12)


@settings(max_examples=100, deadline=None)
@given(st.decimals(min_value=D(1), max_value=D(1e6), places=2), flows_strategy)
def test_xirr_discounts_the_flows_to_zero_or_says_not_defined(first, rest):
    flows = [(DAY0, -first)] + [(DAY0 + timedelta(days=n), v) for n, v in rest]
    rate = xirr(flows)  # never raises
    assume(rate is not None and rate > D("-0.99") and rate < D(100))
    scale = sum(abs(float(v)) for _, v in flows)
    assert abs(npv(rate, flows)) <= 1e-6 * scale


def test_selling_out_above_the_last_close_keeps_the_return_defined():
    # 10 shares closed at 100 (1,000); sold the next day at 110: 1,100 out, nothing left.
    # Counted at the start of the day the day would start from −100; counted at its end
    # the day returns (0 + 1,100) / 1,000 − 1 = 10 %.
    values = [(date(2025, 1, 1), D(1000)), (date(2025, 1, 2), D(0))]
    result = twr(values, {date(2025, 1, 2): D(-1100)})
    assert result.twr == D("0.1")
