"""The performance service on a real database and Redis: hand-computed daily values, flows,
TWR and MWR, gains in the base currency at each trade's own day's rate, the report's keys and
formats. The cache is in tests/test_performance_cache.py, periods in tests/domain/."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal as D

import pytest

from pricing_providers.fx import published
from webapp.domain.base_currency import MissingRate
from webapp.domain.ledger import Activity
from webapp.domain.money import EXACT
from webapp.domain.returns import xirr
from webapp.domain.splits import Ratio
from webapp.extensions import db
from webapp.models import FxRate, Instrument, Quote
from webapp.services.portfolio import performance as pf

JAN = {n: date(2025, 1, n) for n in range(1, 32)}


def closes(symbol: str, currency: str, by_day: dict[int, str]) -> None:
    """Instrument and daily closes (January 2025); an earlier quote of the same day is not its close."""
    inst = db.session.query(Instrument).filter_by(symbol=symbol).one_or_none()
    if inst is None:
        inst = Instrument(symbol=symbol, currency=currency)
        db.session.add(inst)
        db.session.flush()
    for n, price in by_day.items():
        at = datetime.combine(JAN[n], time(21, 0), timezone.utc)
        db.session.add(Quote(instrument_id=inst.id, price=D(price) * 2, currency=currency, as_of=at - timedelta(hours=6),
                             source="test"))
        db.session.add(Quote(instrument_id=inst.id, price=D(price), currency=currency, as_of=at, source="test"))
    db.session.commit()


def fx(by_day: dict[int, dict[str, str]]) -> None:
    """EUR-based reference rates, as the ECB publishes them."""
    for n, rates in by_day.items():
        for quote, rate in rates.items():
            db.session.add(FxRate(base="EUR", quote=quote, rate=D(rate), as_of=published(JAN[n]), source="test"))
    db.session.commit()


def buy(n, account, symbol, q, p, fee="0", ccy="USD"):
    return Activity(JAN[n], account, "buy", symbol, D(q), D(p), D(fee), currency=ccy)


def sell(n, account, symbol, q, p, fee="0", ccy="USD"):
    return Activity(JAN[n], account, "sell", symbol, D(q), D(p), D(fee), currency=ccy)


def cash(n, account, kind, amount, ccy="USD", symbol=None, fee="0"):
    return Activity(JAN[n], account, kind, symbol, amount=D(amount), fee=D(fee), currency=ccy)


# ---- one account without cash: buy, dividend, partial sale ------------------------------------

NO_CASH = [buy(2, 1, "AAA", "10", "100", fee="1"), cash(6, 1, "dividend", "5", symbol="AAA"),
           sell(8, 1, "AAA", "4", "120", fee="1")]


@pytest.fixture
def no_cash(ctx):
    closes("AAA", "USD", {2: "100", 3: "105", 6: "110", 7: "108", 8: "120", 9: "125"})
    return NO_CASH


def test_daily_values_replay_the_ledger_at_each_days_close(no_cash):
    values = dict(pf.daily_values(no_cash, "USD", JAN[1], JAN[10]))
    # weekends carry Friday's close; the day's last quote is its close; after the sale 6 are held
    assert [values[JAN[n]] for n in range(1, 11)] == [D(v) for v in (0, 1000, 1050, 1050, 1050, 1100, 1080, 720,
                                                                      750, 750)]


def test_twr_and_mwr_of_an_account_that_records_no_cash(no_cash):
    r = pf.returns(no_cash, "USD", JAN[1], JAN[10])
    # flows: the buy in (1001, fee included), the dividend and the sale's net proceeds out
    assert r["net_flows"] == D(1001) - 5 - 479 and r["value_start"] == 0 and r["value_end"] == 750
    # daily linked: 1000/1001 · 1050/1000 · 1100/(1050−5) · 1080/1100 · 720/(1080−479) · 750/720
    expected = EXACT.subtract(EXACT.divide(D(1050) * 1080 * 750, D(1001) * 1045 * 601), 1)
    assert abs(r["twr"] - expected) < D("1e-70") and r["twr_annualized"] is None and r["days"] == 9
    assert r["mwr"] == xirr([(JAN[2], D(-1001)), (JAN[6], D(5)), (JAN[8], D(479)), (JAN[10], D(750))])
    assert r["from"] == JAN[2] and r["to"] == JAN[10] and not r["clipped"]
    assert set(r["notes"]) >= {"value_start", "value_end", "net_flows", "twr", "twr_annualized", "mwr"}


def test_the_report_has_exactly_its_keys_in_cents_and_six_place_fractions(no_cash):
    rep = pf.report(no_cash, "USD", JAN[1], JAN[10])
    assert tuple(rep) == pf.REPORT_KEYS
    twr = EXACT.subtract(EXACT.divide(D(1050) * 1080 * 750, D(1001) * 1045 * 601), 1)
    assert rep == {
        "currency": "USD", "from": "2025-01-02", "to": "2025-01-10",
        "value_start": "0.00", "value_end": "750.00", "net_flows": "517.00",
        "twr": format(twr.quantize(D("0.000001")), "f"), "twr_annualized": None, "mwr": rep["mwr"],
        "realized_gain": "78.60",  # 479 − 1001 × 4/10
        "unrealized_gain": "149.40",  # 6 × 125 − 600.60
        "dividends": "5.00", "interest": "0.00", "fees": "2.00", "taxes": "0.00",
        "holdings": [{"symbol": "AAA", "quantity": "6", "cost_basis": "600.60", "value": "750.00",
                      "unrealized_gain": "149.40", "realized_gain": "78.60"}],
    }
    assert rep["twr"] == "0.352849" and len(rep["mwr"].split(".")[1]) == 6
    # what the figures add up to: value change = flows + realized + unrealized + dividends
    assert D(rep["value_end"]) - D(rep["value_start"]) - D(rep["net_flows"]) == \
        D(rep["realized_gain"]) + D(rep["unrealized_gain"]) + D(rep["dividends"])
    # a period after the sale: no realized gain, the dividend before it is not the period's
    later = pf.report(no_cash, "USD", JAN[8], JAN[10])
    assert later["realized_gain"] == "0.00" and later["dividends"] == "0.00" and later["value_start"] == "720.00"


# ---- an account that records cash: a deposit mid-period ----------------------------------------

def test_twr_with_a_deposit_in_an_account_that_records_cash(ctx):
    closes("BBB", "USD", {2: "100", 3: "110", 6: "99", 7: "110"})
    ledger = [cash(2, 2, "deposit", "1000"), buy(2, 2, "BBB", "5", "100"), cash(6, 2, "deposit", "500")]
    values = dict(pf.daily_values(ledger, "USD", JAN[1], JAN[7]))
    assert [values[JAN[n]] for n in (1, 2, 3, 6, 7)] == [0, 1000, 1050, 1495, 1550]  # securities + cash
    r = pf.returns(ledger, "USD", JAN[1], JAN[7])
    # 1000/1000 · 1050/1000 · 1495/(1050 + 500) · 1550/1495 = 1.05: the deposit does not move it
    assert r["twr"] == D("0.05") and r["net_flows"] == 1500
    assert r["mwr"] == xirr([(JAN[2], D(-1000)), (JAN[6], D(-500)), (JAN[7], D(1550))]) and r["mwr"] > 0
    assert pf.report(ledger, "USD", JAN[1], JAN[7])["twr"] == "0.050000"


# ---- a split, and a price before the first close -----------------------------------------------

def test_a_split_doubles_the_quantity_at_the_open_and_a_buy_price_stands_in_for_missing_closes(ctx):
    closes("CCC", "USD", {2: "50", 3: "52", 6: "26", 7: "27"})
    closes("DDD", "USD", {8: "45"})
    ledger = [buy(2, 1, "CCC", "10", "50"), Activity(JAN[6], 1, "split", "CCC", ratio=Ratio(2, 1)),
              buy(3, 1, "DDD", "4", "40"), Activity(JAN[6], 1, "split", "DDD", ratio=Ratio(2, 1))]
    values = dict(pf.daily_values(ledger, "USD", JAN[1], JAN[8]))
    # DDD has no close until the 8th: its buy price (40, halved by the split) stands in
    assert values[JAN[3]] == 520 + 160 and values[JAN[6]] == 20 * 26 + 8 * 20 and values[JAN[8]] == 20 * 27 + 8 * 45
    held = pf.unrealized(ledger, "USD", JAN[8])
    assert [(h.symbol, h.quantity, h.cost_basis_base, h.value_base) for h in held] == [
        ("CCC", 20, 500, 540), ("DDD", 8, 160, 360)]
    last_day, index = pf.twr_index(ledger, "USD", JAN[2], JAN[8])[-1]  # the DDD buy is a flow: 100 · 900/660
    assert last_day == JAN[8] and abs(index - EXACT.divide(D(900) * 100, D(660))) < D("1e-70")


# ---- a transfer between two accounts -----------------------------------------------------------

def test_a_transfer_between_accounts_keeps_the_cost_and_nets_out_in_the_portfolio(ctx):
    closes("EEE", "USD", {2: "10", 3: "12", 7: "15"})
    ledger = [buy(2, 1, "EEE", "10", "10"),
              Activity(JAN[6], 1, "transfer_out", "EEE", D(10)), Activity(JAN[6], 3, "transfer_in", "EEE", D(10)),
              sell(8, 3, "EEE", "10", "15")]
    whole = pf.returns(ledger, "USD", JAN[1], JAN[8])
    assert whole["net_flows"] == 100 - 150  # the transfer's −120 and +120 cancel
    assert whole["twr"] == D("0.5")  # 10 → 15 a share
    one = pf.returns(ledger, "USD", JAN[1], JAN[8], account=1)
    assert one["net_flows"] == 100 - 120 and one["twr"] == D("0.2")  # moved out at 12
    three = pf.returns(ledger, "USD", JAN[1], JAN[8], account=3)
    assert three["net_flows"] == 120 - 150 and three["twr"] == D("0.25")  # moved in at 12, sold at 15
    rows = pf.realized(ledger, "USD", account=3)
    assert [(r.year, r.symbol, r.gain, r.gain_base) for r in rows] == [(2025, "EEE", 50, 50)]  # cost 100 came along
    rep = pf.report(ledger, "USD", JAN[1], JAN[8], account=3)
    assert rep["realized_gain"] == "50.00" and rep["holdings"] == [
        {"symbol": "EEE", "quantity": "0", "cost_basis": "0.00", "value": "0.00", "unrealized_gain": "0.00",
         "realized_gain": "50.00"}]
    holding = pf.returns(ledger, "USD", JAN[1], JAN[8], account=3, symbol="EEE")
    assert holding["twr"] == three["twr"]


# ---- foreign currencies at historical rates ----------------------------------------------------

@pytest.fixture
def euro_rates(ctx):
    # EUR→USD: 1.10 on the 2nd, 1.20 on the 3rd, 1.00 on the 8th, 1.20 on the 10th (today)
    fx({2: {"USD": "1.10", "GBP": "0.8"}, 3: {"USD": "1.20", "GBP": "0.8"}, 8: {"USD": "1.00", "GBP": "0.8"},
        9: {"USD": "1.00", "GBP": "0.8"}, 10: {"USD": "1.20", "GBP": "0.8"}})


def test_realized_gains_in_base_at_each_trades_own_rate_by_average_cost_and_fifo(euro_rates):
    closes("FFF", "EUR", {2: "100", 8: "110", 10: "110"})
    ledger = [buy(2, 4, "FFF", "10", "100", ccy="EUR"), buy(3, 4, "FFF", "10", "100", ccy="EUR"),
              sell(8, 4, "FFF", "5", "110", ccy="EUR")]
    (avg,) = pf.realized(ledger, "USD")
    # EUR: 550 − 2000 × 5/20 = 50. USD: the pool cost 1000 × 1.10 + 1000 × 1.20 = 2300, a quarter
    # of it is 575; proceeds 550 × 1.00: −25. At today's rate the EUR gain would be +60.
    assert (avg.currency, avg.gain, avg.proceeds_base, avg.cost_base, avg.gain_base) == ("EUR", 50, 550, 575, -25)
    assert pf.money(EXACT.multiply(avg.gain, D("1.20"))) == "60.00" != pf.money(avg.gain_base)
    (fifo,) = pf.realized(ledger, "USD", method="fifo")
    assert (fifo.gain, fifo.cost_base, fifo.gain_base) == (50, 550, 0)  # 5 of the first lot at 1.10
    assert pf.report(ledger, "USD", JAN[1], JAN[10], method="fifo")["realized_gain"] == "0.00"
    rep = pf.report(ledger, "USD", JAN[1], JAN[10])
    assert rep["realized_gain"] == "-25.00"
    # 15 left: cost 2300 − 575 = 1725; value 15 × 110 × 1.20 = 1980
    assert rep["holdings"][0] == {"symbol": "FFF", "quantity": "15", "cost_basis": "1725.00", "value": "1980.00",
                                  "unrealized_gain": "255.00", "realized_gain": "-25.00"}


def test_unrealized_gain_at_the_purchase_days_rate_and_todays_through_the_euro(euro_rates):
    closes("GGG", "GBP", {2: "10", 9: "12"})
    ledger = [buy(2, 5, "GGG", "10", "10", ccy="GBP")]
    (h,) = pf.unrealized(ledger, "USD", JAN[9])
    # GBP→USD = (EUR→USD) / (EUR→GBP): 1.10/0.8 = 1.375 on the 2nd, 1.00/0.8 = 1.25 on the 9th
    assert (h.cost_basis, h.value, h.gain) == (100, 120, 20)
    assert (h.cost_basis_base, h.value_base, h.gain_base) == (D("137.5"), D(150), D("12.5"))
    assert pf.money(EXACT.multiply(h.gain, h.rate)) == "25.00"  # the GBP gain at the 9th's rate
    values = dict(pf.daily_values(ledger, "USD", JAN[1], JAN[11]))
    # the 3rd: 100 GBP at 1.20/0.8; Saturday the 11th: the 10th's rate (1.20/0.8) on the 9th's close
    assert values[JAN[3]] == 150 and values[JAN[9]] == 150 and values[JAN[11]] == 180
    assert pf.report(ledger, "USD", JAN[1], JAN[9])["unrealized_gain"] == "12.50"


def test_income_per_month_in_base_with_taxes_beside_and_yield_on_cost(euro_rates):
    ledger = [buy(2, 4, "FFF", "10", "100", ccy="EUR"), cash(3, 4, "dividend", "10", "EUR", "FFF"),
              cash(3, 4, "tax", "1.5", "EUR", "FFF"), cash(8, 4, "interest", "2", "EUR")]
    rows = pf.income(ledger, "USD", by="month", today=JAN[10])
    assert [(r.period, r.symbol, r.dividends, r.interest, r.taxes) for r in rows] == [
        ("2025-01", None, 0, 2, 0), ("2025-01", "FFF", 12, 0, D("1.8"))]  # at 1.00 and at 1.20
    assert rows[1].cost_basis == 1100 and rows[1].yield_on_cost == EXACT.divide(D(12), D(1100))
    rep = pf.report(ledger, "USD", JAN[1], JAN[10])
    assert (rep["dividends"], rep["interest"], rep["taxes"]) == ("12.00", "2.00", "1.80")


def test_a_missing_rate_is_named_not_guessed(ctx):
    closes("HHH", "CHF", {2: "10"})
    with pytest.raises(MissingRate, match="CHF→USD"):
        pf.daily_values([buy(2, 1, "HHH", "1", "10", ccy="CHF")], "USD", JAN[1], JAN[3])


def test_benchmark_and_portfolio_index_start_at_100(no_cash):
    bench = pf.benchmark_series("AAA", JAN[2], JAN[9])
    assert bench[0] == (JAN[2], 100) and bench[-1] == (JAN[9], 125) and len(bench) == 8
    index = pf.twr_index(no_cash, "USD", JAN[1], JAN[10])
    assert index[0] == (JAN[1], 100) and len(index) == 10
    r = pf.returns(no_cash, "USD", JAN[1], JAN[10])
    assert abs(EXACT.subtract(index[-1][1], EXACT.multiply(100, EXACT.add(1, r["twr"])))) < D("1e-70")


def test_a_period_with_nothing_held_has_no_return(no_cash):
    r = pf.returns(no_cash, "USD", date(2024, 12, 1), date(2024, 12, 31))
    assert (r["value_start"], r["value_end"], r["net_flows"], r["twr"], r["mwr"]) == (0, 0, 0, None, None)
    assert r["clipped"]  # it starts before the ledger's first day
    assert pf.returns([], "USD", JAN[1], JAN[10])["twr"] is None
    empty = pf.report([], "USD", JAN[1], JAN[10])
    assert empty["value_end"] == "0.00" and empty["twr"] is None and empty["holdings"] == []
