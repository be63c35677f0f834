"""The pure ledger: checks, positions, realized gains (average cost and FIFO), income.
Hand-computed scenarios first, then Hypothesis properties on random ledgers."""
from datetime import date, timedelta
from decimal import Decimal as D
from decimal import localcontext

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from webapp.domain.income import income, yield_on_cost
from webapp.domain.ledger import (
    Activity,
    Oversold,
    check,
    lots,
    positions,
    realized_gains,
    total_gains,
    unrealized,
    validate,
)
from webapp.domain.splits import parse_ratio


def buy(day, qty, price, fee="0", account=1, symbol="AAPL"):
    return Activity(day, account, "buy", symbol, D(qty), D(price), D(fee))


def sell(day, qty, price, fee="0", account=1, symbol="AAPL"):
    return Activity(day, account, "sell", symbol, D(qty), D(price), D(fee))


# Buy 10 @ 100 (fee 1): cost 1001. Buy 10 @ 130: cost 1300. Sell 5 @ 150 (fee 2): proceeds 748.
#   average cost: 2301 / 20 = 115.05 a share -> cost 575.25, gain 748 - 575.25 = 172.75;
#                 15 left at a cost of 2301 - 575.25 = 1725.75
#   FIFO: 5 of the first lot, 1001 * 5/10 = 500.5 -> gain 247.5; 15 left: 500.5 + 1300 = 1800.5
LEDGER = [
    buy(date(2026, 1, 5), "10", "100", fee="1"),
    buy(date(2026, 2, 5), "10", "130"),
    sell(date(2026, 3, 2), "5", "150", fee="2"),
]


def test_a_partial_sale_by_average_cost_and_by_fifo():
    (avg,) = realized_gains(LEDGER)  # average cost is the default
    assert (avg.quantity, avg.proceeds, avg.cost, avg.fees, avg.gain) == (D(5), D(748), D("575.25"), D(2), D("172.75"))
    (fifo,) = realized_gains(LEDGER, method="fifo")
    assert (fifo.proceeds, fifo.cost, fifo.gain) == (D(748), D("500.5"), D("247.5"))
    assert positions(LEDGER) == {(1, "AAPL"): D(15)}
    assert [u.cost_basis for u in unrealized(LEDGER, {"AAPL": D(160)})] == [D("1725.75")]
    (u,) = unrealized(LEDGER, {"AAPL": D(160)}, method="fifo")
    assert (u.cost_basis, u.value, u.gain) == (D("1800.5"), D(2400), D("599.5"))
    assert unrealized(LEDGER, {})[0].value is None


def test_a_split_multiplies_the_lots_and_keeps_their_cost():
    # 2:1 on 2026-04-01: 15 -> 30 shares. Sell all 30 @ 80 = 2400 on 2026-05-01:
    #   average: cost 1725.75 -> gain 674.25 (with 172.75 before: 847)
    #   FIFO:    cost 1800.5  -> gain 599.5  (with 247.5 before: 847)
    # 847 = all proceeds (748 + 2400) - all costs (1001 + 1300)
    ledger = LEDGER + [Activity(date(2026, 4, 1), 1, "split", "AAPL", ratio=parse_ratio("2:1")),
                       sell(date(2026, 5, 1), "30", "80")]
    assert positions(ledger, on=date(2026, 4, 1)) == {(1, "AAPL"): D(30)}
    assert positions(ledger, on=date(2026, 3, 31)) == {(1, "AAPL"): D(15)}
    assert positions(ledger) == {}
    assert [s.gain for s in realized_gains(ledger)] == [D("172.75"), D("674.25")]
    assert [s.gain for s in realized_gains(ledger, "fifo")] == [D("247.5"), D("599.5")]
    (year,) = total_gains(realized_gains(ledger), by="year")
    assert (year.key, year.proceeds, year.cost, year.fees, year.gain) == ((2026,), D(3148), D(2301), D(2), D(847))


def test_a_reverse_split_on_lots_bought_the_same_day_applies_at_the_open():
    ledger = [buy(date(2026, 1, 2), "100", "1"), buy(date(2026, 2, 2), "10", "10"),
              Activity(date(2026, 2, 2), 1, "split", "AAPL", ratio=parse_ratio("1:10"))]
    assert positions(ledger) == {(1, "AAPL"): D(20)}  # 100 -> 10 at the open, then 10 bought


def test_a_transfer_between_own_accounts_keeps_cost_and_dates():
    x = dict(symbol="X")
    ledger = [buy(date(2025, 1, 2), "10", "50", **x), buy(date(2025, 6, 2), "10", "70", **x),
              Activity(date(2026, 1, 10), 1, "transfer_out", "X", D(15)),
              Activity(date(2026, 1, 10), 2, "transfer_in", "X", D(15)),
              sell(date(2026, 2, 1), "12", "100", account=2, **x)]
    assert positions(ledger, on=date(2026, 1, 10)) == {(1, "X"): D(5), (2, "X"): D(15)}
    # FIFO: account 2 got 10 @ 50 (2025-01-02) and 5 @ 70 (2025-06-02); selling 12 costs 500 + 140
    (fifo,) = realized_gains(ledger, "fifo")
    assert (fifo.account, fifo.cost, fifo.gain) == (2, D(640), D(560))
    left = lots(ledger, "fifo")
    assert [(lot.acquired, lot.quantity, lot.cost) for lot in left[(2, "X")]] == [(date(2025, 6, 2), D(3), D(210))]
    assert [(lot.acquired, lot.quantity, lot.cost) for lot in left[(1, "X")]] == [(date(2025, 6, 2), D(5), D(350))]
    # average: 1200 / 20 = 60 a share travels with the shares; 12 cost 720
    (avg,) = realized_gains(ledger)
    assert (avg.cost, avg.gain) == (D(720), D(480))
    assert lots(ledger, "average")[(2, "X")][0].acquired == date(2025, 1, 2)


def test_an_opening_position_is_a_lot_with_its_date_and_cost_basis():
    ledger = [Activity(date(2024, 1, 1), 1, "opening", "Y", D(10), amount=D(800)),
              sell(date(2026, 1, 5), "4", "100", symbol="Y")]
    (fifo,) = realized_gains(ledger, "fifo")
    assert (fifo.cost, fifo.gain) == (D(320), D(80))
    assert lots(ledger)[(1, "Y")][0].acquired == date(2024, 1, 1)


def test_selling_more_than_was_held_names_the_quantity_held_then():
    ledger = [buy(date(2026, 1, 5), "4", "100"), sell(date(2026, 3, 2), "5", "150"),
              buy(date(2026, 4, 1), "10", "100")]  # a later buy does not help
    with pytest.raises(Oversold) as e:
        positions(ledger)
    assert str(e.value) == "You held 4 AAPL on 2026-03-02; you cannot sell 5."
    assert e.value.held == D(4)
    assert check(ledger) == ["You held 4 AAPL on 2026-03-02; you cannot sell 5."]
    assert check([sell(date(2026, 1, 4), "1", "1"), buy(date(2026, 1, 5), "4", "100")]) == [
        "You held 0 AAPL on 2026-01-04; you cannot sell 1."]
    # a sale the same day as the buy sees the buy
    assert check([sell(date(2026, 1, 5), "4", "1"), buy(date(2026, 1, 5), "4", "100")]) == []


def test_dividends_interest_and_taxes_per_month_and_year_with_yield_on_cost():
    ledger = LEDGER + [
        Activity(date(2026, 3, 15), 1, "dividend", "AAPL", amount=D("3.75"), currency="USD"),
        Activity(date(2026, 3, 15), 1, "tax", "AAPL", amount=D("0.56")),
        Activity(date(2026, 3, 31), 1, "interest", amount=D("1.20")),
        Activity(date(2026, 6, 15), 1, "dividend", "AAPL", amount=D("3.75"), fee=D("0.10")),
    ]
    by_month = income(ledger)
    assert [(r.period, r.symbol, r.dividends, r.interest, r.taxes, r.fees) for r in by_month] == [
        ("2026-03", None, D(0), D("1.20"), D(0), D(0)),
        ("2026-03", "AAPL", D("3.75"), D(0), D("0.56"), D(0)),
        ("2026-06", "AAPL", D("3.75"), D(0), D(0), D("0.10")),
    ]
    aapl_year = [r for r in income(ledger, by="year") if r.symbol == "AAPL"][0]
    assert (aapl_year.period, aapl_year.dividends, aapl_year.net) == ("2026", D("7.50"), D("6.84"))
    # 7.50 on a cost basis of 1725.75 (average cost of the 15 held)
    assert yield_on_cost(aapl_year.dividends, D("1725.75")).quantize(D("1e-6")) == D("0.004346")  # 0.43 %
    assert yield_on_cost(D(1), D(0)) is None


@pytest.mark.parametrize("activity, problem", [
    (Activity(date(2026, 5, 2), 1, "buy", "AAPL", D(1), D(1)), "The date is in the future."),
    (Activity(date(2026, 5, 1), 1, "buy", "AAPL", D(0), D(1)), "The quantity must be more than zero."),
    (Activity(date(2026, 5, 1), 1, "sell", "AAPL", D(-2), D(1)), "The quantity must be more than zero."),
    (Activity(date(2026, 5, 1), 1, "buy", "AAPL", D(1), D(-1)), "The price must be more than zero."),
    (Activity(date(2026, 5, 1), 1, "buy", "AAPL", 1.5, D(1)), "The quantity is not a number."),
    (Activity(date(2026, 5, 1), 1, "buy", "AAPL", D("NaN"), D(1)), "The quantity is not a number."),
    (Activity(date(2026, 5, 1), 1, "buy", "AAPL", D(1)), "Enter a price."),
    (Activity(date(2026, 5, 1), 1, "buy", None, D(1), D(1)), "Enter a symbol."),
    (Activity(date(2026, 5, 1), 1, "buy", "AAPL", D(1), D(1), fee=D(-1)), "The fee cannot be negative."),
    (Activity(date(2026, 5, 1), 1, "dividend", "AAPL", amount=D(0)), "The amount must be more than zero."),
    (Activity(date(2026, 5, 1), 1, "deposit"), "Enter an amount."),
    (Activity(date(2026, 5, 1), 1, "deposit", amount=D(5), currency="usd"),
     "“usd” is not an ISO 4217 currency code (like USD, EUR, GBP)."),
    (Activity(date(2026, 5, 1), 1, "deposit", amount=D(5), currency="XYZ"),
     "“XYZ” is not an ISO 4217 currency code (like USD, EUR, GBP)."),
    (Activity(date(2026, 5, 1), 1, "split", "AAPL"), "A split needs a ratio like 2:1 (new shares for old) or 1:10."),
    (Activity(date(2026, 5, 1), 1, "swap", "AAPL"), "“swap” is not an activity type (one of buy, sell, dividend, "
     "interest, fee, tax, split, transfer_in, transfer_out, deposit, withdrawal, opening)."),
])
def test_each_problem_is_named(activity, problem):
    assert problem in validate(activity, today=date(2026, 5, 1))


def test_good_activities_have_no_problems():
    today = date(2026, 5, 1)
    for a in LEDGER + [Activity(today, 1, "deposit", amount=D(5), currency="EUR"),
                       Activity(today, 1, "split", "AAPL", ratio=parse_ratio("1:10")),
                       Activity(today, 1, "opening", "Y", D(3), amount=D(10)),
                       Activity(today, 1, "interest", amount=D("0.01"), currency="INR")]:
        assert validate(a, today) == []


# ---- properties -------------------------------------------------------------------------------

DAY0 = date(2020, 1, 1)
quantities = st.decimals(min_value=D("0.0001"), max_value=D("10000"), places=4)
prices = st.decimals(min_value=D("0.01"), max_value=D("5000"), places=2)
fees = st.decimals(min_value=D(0), max_value=D("20"), places=2)
steps = st.lists(st.tuples(st.sampled_from(["buy", "buy", "sell", "transfer"]), st.integers(1, 2),
                           st.sampled_from(["A", "B", "C"]), quantities, prices, fees), max_size=40)


def build(draws):
    """A ledger that never oversells (a sale is cut to what is held), and the quantities it must add up to."""
    ledger, held = [], {}
    for i, (kind, account, symbol, qty, price, fee) in enumerate(draws):
        day = DAY0 + timedelta(days=i)
        key = (account, symbol)
        if kind == "buy":
            ledger.append(Activity(day, account, "buy", symbol, qty, price, fee))
            held[key] = held.get(key, D(0)) + qty
            continue
        qty = min(qty, held.get(key, D(0)))
        if qty <= 0:
            continue
        held[key] -= qty
        if kind == "sell":
            ledger.append(Activity(day, account, "sell", symbol, qty, price, fee))
        else:
            other = (3 - account, symbol)
            ledger += [Activity(day, account, "transfer_out", symbol, qty),
                       Activity(day, other[0], "transfer_in", symbol, qty)]
            held[other] = held.get(other, D(0)) + qty
    return ledger, {k: v for k, v in held.items() if v != 0}


@settings(max_examples=60, deadline=None)
@given(steps, st.randoms(use_true_random=False))
def test_quantities_are_the_sum_of_the_activities(draws, rnd):
    ledger, expected = build(draws)
    rnd.shuffle(ledger)  # the order given never matters, only dates
    assert positions(ledger) == expected
    for method in ("average", "fifo"):
        assert {k: sum((lot.quantity for lot in v), D(0)) for k, v in lots(ledger, method).items()} == expected


@settings(max_examples=60, deadline=None)
@given(steps)
def test_average_cost_and_fifo_agree_once_everything_is_sold(draws):
    ledger, held = build(draws)
    last = DAY0 + timedelta(days=len(draws) + 1)
    ledger += [Activity(last, a, "sell", s, q, D("12.34"), D("1")) for (a, s), q in held.items()]
    assert positions(ledger) == {}
    # both are all net proceeds less all buys' costs; a partial lot's cost is a division,
    # exact to the 80th digit, so the totals agree far below a cent (summed in 80 digits too:
    # the default 28-digit context would round them apart)
    with localcontext(prec=80):
        avg = sum((s.gain for s in realized_gains(ledger, "average")), D(0))
        fifo = sum((s.gain for s in realized_gains(ledger, "fifo")), D(0))
        buys = sum((a.quantity * a.price + a.fee for a in ledger if a.type == "buy"), D(0))
        proceeds = sum((a.quantity * a.price - a.fee for a in ledger if a.type == "sell"), D(0))
    assert abs(avg - fifo) <= D("1e-60")
    assert abs(avg - (proceeds - buys)) <= D("1e-60")


def test_an_opening_position_without_a_cost_has_an_unknown_cost_and_gain():
    # a holding entered by hand without a cost: its quantity counts, its cost is not guessed
    ledger = [Activity(date(2025, 1, 2), 1, "opening", "AAPL", D(10)),
              Activity(date(2025, 2, 3), 1, "buy", "AAPL", D(10), D(100)),
              Activity(date(2025, 3, 4), 1, "sell", "AAPL", D(5), D(120))]
    assert validate(ledger[0]) == []
    assert positions(ledger) == {(1, "AAPL"): D(15)}
    (avg,) = realized_gains(ledger)
    assert (avg.proceeds, avg.cost, avg.gain) == (D(600), None, None)
    (fifo,) = realized_gains(ledger, "fifo")  # the oldest shares, whose cost is unknown
    assert (fifo.cost, fifo.gain) == (None, None)
    (year,) = total_gains(realized_gains(ledger))
    assert (year.proceeds, year.cost, year.gain) == (D(600), None, None)
    (left,) = unrealized(ledger, {"AAPL": D(130)}, "fifo")
    assert (left.quantity, left.cost_basis, left.value, left.gain) == (D(15), None, D(1950), None)
    # once the unknown lot is gone (FIFO), what is left has a cost again
    more = ledger + [Activity(date(2025, 4, 1), 1, "sell", "AAPL", D(5), D(120))]
    (left,) = unrealized(more, {"AAPL": D(130)}, "fifo")
    assert (left.quantity, left.cost_basis, left.gain) == (D(10), D(1000), D(300))
