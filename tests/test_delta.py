"""Delta ticks (webapp/services/portfolio/delta.py) against the full revaluation: after any
sequence of random ticks (new prices, newly priced instruments, a changed quote currency,
pages and edits rewriting summaries in between) the cached summaries equal, to the cent and
in fact to the digit, what a full revaluation writes from scratch."""
from __future__ import annotations

import json
import random
from datetime import datetime, timezone
from decimal import Decimal

import pytest
import sqlalchemy as sa
from conftest import PREFIX
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_recompute import populate

from webapp.domain.valuation import PriceInfo
from webapp.extensions import db
from webapp.models import Account, Holding, Instrument, User
from webapp.services import cache

CENT = Decimal("0.01")


def summaries(redis_client, uids) -> dict[int, str | None]:
    return {u: (lambda v: v and v.decode())(redis_client.get(f"{PREFIX}portfolio:{u}")) for u in uids}


def to_the_cent(doc: str | None):
    if doc is None:
        return None
    d = json.loads(doc)
    return (d["currency"], Decimal(d["total"]).quantize(CENT),
            {a: Decimal(v).quantize(CENT) for a, v in d["accounts"].items()},
            {c: Decimal(v).quantize(CENT) for c, v in d["unconverted"].items()}, d["pending"], d["holdings"])


@pytest.fixture
def market(app):
    """The population of test_recompute (a third of the instruments unpriced, some in EUR), a
    few users in EUR, exchange rates for EUR and USD (GBP has none), and a first full revaluation."""
    uids = list(populate(app, users=30, seed=5))
    with app.app_context():
        db.session.execute(sa.update(User).where(User.id.in_(uids[::5])).values(base_currency="EUR"))
        db.session.commit()
        cache.write_fx({"USD": Decimal("1.0842"), "EUR": Decimal(1)}, datetime.now(timezone.utc), "test")
        from webapp.services.portfolio.recompute import recompute_portfolios

        recompute_portfolios(alerts=False)
        symbols = dict(db.session.execute(sa.select(Instrument.id, Instrument.symbol)).all())
    return uids, symbols


tick_strategy = st.lists(
    st.tuples(
        st.lists(st.integers(0, 29), min_size=1, max_size=8, unique=True),  # instruments that move
        st.integers(0, 2**32),  # seed of their new prices
        st.sampled_from(["none", "none", "page", "edit"]),  # what a web request does before the tick
    ),
    min_size=1, max_size=6,
)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ticks=tick_strategy)
def test_delta_ticks_equal_a_full_revaluation(app, redis_client, market, ticks):
    uids, symbols = market
    iids = sorted(symbols)
    with app.app_context():
        from webapp.services.portfolio.read_model import recompute_users
        from webapp.services.portfolio.recompute import recompute_portfolios

        recompute_portfolios(alerts=False)  # each example starts from a baseline
        deltas = 0
        for moved, seed, web in ticks:
            rng = random.Random(seed)
            if web == "page":  # a page rebuilds a summary from the current quotes: it loses its tag
                recompute_users([rng.choice(uids)], snapshot=False)
            elif web == "edit":  # a holding's quantity changes and the edit revalues its owner
                hid, owner = db.session.execute(
                    sa.select(Holding.id, Account.owner_id).join(Account, Account.id == Holding.account_id)
                    .order_by(Holding.id).offset(rng.randrange(20)).limit(1)).one()
                db.session.get(Holding, hid).quantity = Decimal(rng.randrange(1, 10**9)).scaleb(-4)
                db.session.commit()
                recompute_users([owner])
            now = datetime.now(timezone.utc)
            quotes = {}
            for k in moved:
                price = Decimal(rng.randrange(1, 10**9)).scaleb(-rng.choice([2, 4, 6]))
                ccy = "GBP" if rng.random() < 0.05 else ("EUR" if iids[k] % 7 == 0 else "USD")
                quotes[symbols[iids[k]]] = PriceInfo(price=price, currency=ccy, as_of=now, source="test")
            cache.write_quotes(quotes, now)
            stats = recompute_portfolios(instrument_ids=[iids[k] for k in moved], alerts=False)
            deltas += bool(stats.get("delta"))
        by_deltas = summaries(redis_client, uids)
        stats = recompute_portfolios(alerts=False)  # the full revaluation, from scratch
        by_full = summaries(redis_client, uids)
    assert deltas == len(ticks)  # every tick went the delta way
    assert {u: to_the_cent(d) for u, d in by_deltas.items()} == {u: to_the_cent(d) for u, d in by_full.items()}
    assert by_deltas == by_full  # and to the digit
    assert stats["changed"] == 0


def test_a_tick_touches_only_the_holders_and_reads_only_moved_holdings(app, redis_client, market):
    uids, symbols = market
    iid = sorted(symbols)[1]  # priced (populate leaves every third one unpriced)
    with app.app_context():
        from webapp.services.portfolio.recompute import recompute_portfolios

        holders = set(db.session.scalars(sa.select(Account.owner_id).join(Holding, Holding.account_id == Account.id)
                                         .where(Holding.instrument_id == iid)))
        before = summaries(redis_client, uids)
        now = datetime.now(timezone.utc)
        cache.write_quotes({symbols[iid]: PriceInfo(price=Decimal("123.456789"), currency="USD", as_of=now,
                                                    source="test")}, now)
        stats = recompute_portfolios(instrument_ids=[iid], alerts=False)
        after = summaries(redis_client, uids)
    assert stats["delta"] and stats["users"] == len(holders) > 0
    assert "full_users" not in stats  # every holder was in sync: no full valuation
    assert {u for u in uids if before[u] != after[u]} <= holders


def test_a_tick_that_died_halfway_drops_the_baseline_and_the_next_one_values_in_full(app, redis_client, market):
    uids, symbols = market
    iid = sorted(symbols)[1]
    with app.app_context():
        from webapp.services.cache import valuation
        from webapp.services.portfolio.recompute import recompute_portfolios

        now = datetime.now(timezone.utc)
        cache.write_quotes({symbols[iid]: PriceInfo(price=Decimal("77.5"), currency="USD", as_of=now,
                                                    source="test")}, now)
        valuation.begin_tick("dead")  # took the dirty symbols, then the worker was killed
        later = datetime.now(timezone.utc)
        cache.write_quotes({symbols[iid]: PriceInfo(price=Decimal("78.25"), currency="USD", as_of=later,
                                                    source="test")}, later)
        stats = recompute_portfolios(instrument_ids=[iid], alerts=False)
        assert not stats.get("delta") and valuation.baseline() is None
        by_ticks = summaries(redis_client, uids)
        recompute_portfolios(alerts=False)
        assert valuation.baseline() is not None
    assert by_ticks == summaries(redis_client, uids)


def test_postgresql_writes_the_same_summary_text_in_sql_as_python_does(app):
    """setbased.SUMMARIES (the documents built in SQL) against encode_sums over the Python sums:
    the same text, byte for byte, for every user holding only the base currency."""
    uids = list(populate(app, users=40, seed=17))
    with app.app_context():
        from webapp.domain.summary import encode_sums
        from webapp.services.portfolio import setbased
        from webapp.services.portfolio.recompute import Prices, _load_prices_sql, _sums_python

        prices = Prices.current()
        with db.engine.connect() as conn:
            if conn.dialect.name != "postgresql":
                pytest.skip("the summaries are built in SQL on PostgreSQL only")
            raw = conn.connection.driver_connection
            bases = dict(db.session.execute(sa.select(User.id, User.base_currency)).all())
            with raw.cursor() as cur:
                by_python = {u: encode_sums(b, a).summary for u, b, a in _sums_python(uids, bases, prices.by_id, cur, "%s")}
            _load_prices_sql(raw, prices)
            setbased.prepare(raw)
            by_sql = dict(row for rows in setbased.batches(raw, None) for row in rows)
            conn.rollback()
    base_only = {u: s for u, s in by_sql.items() if s is not None}
    assert set(by_sql) == set(by_python)
    assert len(base_only) >= 5 and len(base_only) < len(by_sql)  # both kinds of users are there
    assert base_only == {u: by_python[u] for u in base_only}
