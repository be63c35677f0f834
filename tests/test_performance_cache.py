"""The performance series in Redis: a warm call recomputes only the last few days, a ledger
change or an invalidation from a day recomputes from that day and reuses the days before,
and a change that arrives while a series is being computed is not lost."""
from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest
import sqlalchemy as sa
from test_performance import JAN, buy, closes, fx, sell

from webapp.domain.ledger import Activity
from webapp.extensions import db
from webapp.models import FxRate, Quote
from webapp.services import cache
from webapp.services.portfolio import performance as pf
from webapp.services.portfolio import series as ps

USER = 7
LEDGER = [buy(2, 1, "AAA", "10", "100"), sell(14, 1, "AAA", "5", "120")]


@pytest.fixture
def market(ctx):
    closes("AAA", "USD", {n: str(100 + n) for n in range(2, 21)})
    return ctx


@pytest.fixture
def computed(monkeypatch):
    """The (start, end) of every range the series service computes."""
    calls = []
    real = ps._compute

    def counting(activities, base, start, until):
        calls.append((start, until))
        return real(activities, base, start, until)

    monkeypatch.setattr(ps, "_compute", counting)
    return calls


def set_close(symbol_day: int, price: str) -> None:
    """Change a stored close behind the service's back (no invalidation)."""
    q = db.session.scalars(sa.select(Quote).order_by(Quote.as_of)).all()
    day_quotes = [x for x in q if x.as_of.date() == JAN[symbol_day]]
    day_quotes[-1].price = D(price)
    db.session.commit()


def values(end=JAN[20], ledger=LEDGER, **kw):
    return dict(pf.daily_values(ledger, "USD", JAN[1], end, user_id=USER, **kw))


def test_a_warm_call_recomputes_only_the_last_days_and_an_invalidation_from_its_day_on(market, computed):
    cold = values()
    assert computed == [(JAN[1], JAN[20])] and cold[JAN[6]] == 10 * 106 and cold[JAN[10]] == 10 * 110
    assert values() == cold
    assert computed[1] == (JAN[16], JAN[20])  # the last RECENT_DAYS days, for closes that arrive late
    set_close(6, "200")
    set_close(10, "300")
    stale = values()
    assert stale[JAN[6]] == 1060 and stale[JAN[10]] == 1100  # cached: nobody said these days changed
    pf.invalidate(USER, JAN[10])
    fresh = values()
    assert computed[-1] == (JAN[10], JAN[20])
    assert fresh[JAN[6]] == 1060  # before the invalidated day: reused as cached
    assert fresh[JAN[10]] == 3000 and fresh[JAN[11]] == 1110  # from it on: recomputed
    assert {d: v for d, v in fresh.items() if d not in (JAN[10],)} == {d: v for d, v in stale.items()
                                                                       if d not in (JAN[10],)}


def test_a_ledger_change_is_found_without_an_invalidation_and_recomputed_from_its_day(market, computed):
    values()
    edited = LEDGER + [buy(12, 1, "AAA", "1", "112")]
    after = values(ledger=edited)
    assert computed[-1] == (JAN[12], JAN[20])
    assert after[JAN[11]] == 10 * 111 and after[JAN[12]] == 11 * 112 and after[JAN[14]] == 6 * 114
    deleted = values(ledger=LEDGER)
    assert computed[-1] == (JAN[12], JAN[20]) and deleted[JAN[12]] == 10 * 112
    earlier = values(ledger=[buy(1, 1, "AAA", "1", "100")] + LEDGER)  # a new first day: all again
    assert computed[-1] == (date(2024, 12, 31), JAN[20]) and earlier[JAN[1]] == 100


def test_a_period_that_ends_before_the_recomputed_days_reads_only_redis(market, computed, monkeypatch):
    cold = pf.returns(LEDGER, "USD", JAN[1], JAN[20], user_id=USER)
    monkeypatch.setattr(ps, "daily_closes", lambda *a: pytest.fail("the database was read"))
    monkeypatch.setattr(ps.Rates, "read", lambda *a: pytest.fail("the database was read"))
    early = pf.returns(LEDGER, "USD", JAN[1], JAN[9], user_id=USER)
    assert len(computed) == 1 and early["value_end"] == 10 * 109 and cold["value_end"] == 5 * 120


def test_a_change_during_a_computation_is_kept_for_the_next_call(market, computed, monkeypatch):
    values()
    real = ps._compute

    def racing(*args):
        pf.invalidate(USER, JAN[5])  # arrives after the read, before the write
        return real(*args)

    monkeypatch.setattr(ps, "_compute", racing)
    values()
    monkeypatch.setattr(ps, "_compute", real)
    series = ps.load_series(LEDGER, "USD", JAN[20], USER)
    assert series.recomputed_from == JAN[5]


def test_more_changes_than_are_kept_recompute_everything(market, computed):
    values()
    for n in range(cache.performance.CHANGES_KEPT + 1):
        pf.invalidate(USER, JAN[15])
    assert ps.load_series(LEDGER, "USD", JAN[20], USER).recomputed_from == date(2025, 1, 1)
    pf.invalidate(USER, JAN[18])
    pf.invalidate(USER, JAN[12])
    pf.invalidate(USER, JAN[17])
    assert ps.load_series(LEDGER, "USD", JAN[20], USER).recomputed_from == JAN[12]  # the earliest pending day


def test_scopes_and_base_currencies_are_cached_apart(market, computed):
    two = LEDGER + [buy(3, 2, "AAA", "1", "103")]
    assert values(ledger=two)[JAN[5]] == 11 * 105
    assert values(ledger=two, account=2)[JAN[5]] == 105
    assert values(ledger=two, account=2, symbol="AAA")[JAN[5]] == 105
    assert [c[0] for c in computed] == [JAN[1], JAN[2], JAN[2]]  # each scope from its own first day
    fx({n: {"USD": "1.25"} for n in (1, 2)})
    assert pf.daily_values(two, "EUR", JAN[1], JAN[20], user_id=USER)[4][1] == 11 * 105 / D("1.25")
    assert computed[-1] == (JAN[1], JAN[20])
    doc = cache.get_redis().hkeys(cache.key("perf", USER))
    assert {k.decode() for k in doc} == {"series:USD:all", "series:USD:account:2", "series:USD:holding:2:AAA",
                                         "series:EUR:all"}


def test_the_rates_of_the_activities_days_are_cached_and_invalidated(ctx):
    fx({2: {"USD": "1.10"}, 8: {"USD": "1.00"}})
    ledger = [buy(2, 4, "FFF", "10", "100", ccy="EUR"), sell(8, 4, "FFF", "5", "110", ccy="EUR")]
    (row,) = pf.realized(ledger, "USD", user_id=USER)
    assert row.gain_base == 550 - 550  # 110 × 5 at 1.00 − 1000 × 1.10 / 2
    db.session.execute(sa.update(FxRate).where(FxRate.quote == "USD").values(rate=D("2")))
    db.session.commit()
    assert pf.realized(ledger, "USD", user_id=USER)[0].gain_base == 0  # cached rates
    pf.invalidate(USER, JAN[8])
    assert pf.realized(ledger, "USD", user_id=USER)[0].gain_base == 1100 - 550  # the sale's rate read again


def test_without_redis_the_figures_come_from_the_database_alone(market, monkeypatch):
    def down(*args, **kwargs):
        raise cache.RedisError("Redis is down")

    monkeypatch.setattr(cache, "read_performance", down)
    monkeypatch.setattr(cache, "write_performance", down)
    assert values()[JAN[20]] == 5 * 120
    assert pf.realized(LEDGER, "USD", user_id=USER)[0].gain_base == 5 * 20


@pytest.mark.parametrize("seed", [5])
def test_incremental_answers_equal_a_computation_from_scratch_through_random_edits(ctx, seed):
    import random

    rnd = random.Random(seed)
    start = date(2025, 1, 1)
    days = [date.fromordinal(start.toordinal() + n) for n in range(90)]
    fx({1: {"USD": "1.1", "GBP": "0.8"}})
    for symbol, ccy in (("RA", "USD"), ("RB", "EUR"), ("RC", "GBP")):
        closes(symbol, ccy, {n: str(rnd.randint(50, 150)) for n in range(1, 32) if rnd.random() < 0.7})
    ccy_of = {"RA": "USD", "RB": "EUR", "RC": "GBP"}

    def activity(day):
        symbol = rnd.choice(sorted(ccy_of))
        kind = rnd.choice(["buy", "buy", "dividend", "deposit"])
        if kind == "buy":
            return Activity(day, rnd.choice([1, 2]), "buy", symbol, D(rnd.randint(1, 9)), D(rnd.randint(40, 160)),
                            currency=ccy_of[symbol])
        if kind == "dividend":
            return Activity(day, 1, "dividend", symbol, amount=D(rnd.randint(1, 9)), currency=ccy_of[symbol])
        return Activity(day, 2, "deposit", amount=D(rnd.randint(100, 900)))

    ledger = [activity(rnd.choice(days[:60])) for _ in range(40)]
    end = days[-1]
    for step in range(12):
        action = rnd.choice(["add", "delete", "close", "nothing"])
        if action == "add":
            ledger.append(activity(rnd.choice(days[:80])))
        elif action == "delete":
            ledger.pop(rnd.randrange(len(ledger)))
        elif action == "close":
            n = rnd.randint(1, 31)
            set_close_of(rnd.choice(sorted(ccy_of)), n, str(rnd.randint(50, 150)))
            pf.invalidate(USER, JAN[n])
        for account in (None, 1, 2):
            cached = pf.daily_values(ledger, "USD", days[0], end, account=account, user_id=USER)
            assert cached == pf.daily_values(ledger, "USD", days[0], end, account=account), (step, action, account)
        assert pf.report(ledger, "USD", days[0], end, user_id=USER) == pf.report(ledger, "USD", days[0], end)


def set_close_of(symbol: str, n: int, price: str) -> None:
    from webapp.models import Instrument

    inst = db.session.scalars(sa.select(Instrument).where(Instrument.symbol == symbol)).one()
    rows = db.session.scalars(sa.select(Quote).where(Quote.instrument_id == inst.id)).all()
    mine = [q for q in rows if q.as_of.date() == JAN[n]]
    if mine:
        max(mine, key=lambda q: q.as_of).price = D(price)
    else:
        closes(symbol, "USD", {n: price})
    db.session.commit()
