"""The recompute of many users (a refresh cycle's) against the one-user path a page uses:
the same totals to the digit, snapshots that survive an interrupted job, cached positions
that cannot miss an edit."""
from __future__ import annotations

import json
import random
from datetime import datetime, timezone
from decimal import Decimal

import pytest
import sqlalchemy as sa
from conftest import PREFIX
from quick_users import password_hash

from webapp.extensions import db
from webapp.models import Account, Holding, Instrument, PortfolioSnapshot, Quote, User
from webapp.services import cache


def populate(app, users=40, seed=3, unpriced=True) -> dict[int, dict]:
    """Users with zero to three accounts (some empty), holdings with unpriced instruments,
    quotes in two currencies; written in bulk like the benchmark's population."""
    rng = random.Random(seed)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    with app.app_context():
        db.session.execute(sa.insert(Instrument), [
            {"symbol": f"I{i:03d}", "asset_type": "stock", "currency": "EUR" if i % 7 == 0 else "USD",
             "provider_symbols": {}} for i in range(30)])
        iids = db.session.scalars(sa.select(Instrument.id).order_by(Instrument.id)).all()
        # a third of the instruments have no price yet; quantities and prices with many places
        db.session.execute(sa.insert(Quote), [
            {"instrument_id": iid, "price": Decimal(rng.randrange(1, 10**9)).scaleb(-rng.choice([4, 6])),
             "currency": "EUR" if k % 7 == 0 else "USD", "as_of": now, "source": "test"}
            for k, iid in enumerate(iids) if k % 3 or not unpriced])
        db.session.execute(sa.insert(User), [
            {"email": f"r{i}@example.com", "password_hash": password_hash("correct horse battery"),
             "display_name": "", "base_currency": "USD", "session_token": f"t{i}"} for i in range(users)])
        uids = db.session.scalars(sa.select(User.id).order_by(User.id)).all()
        db.session.execute(sa.insert(Account), [
            {"owner_id": u, "name": f"acct {a}", "institution": "", "kind": "brokerage"}
            for u in uids for a in range(rng.randrange(0, 4))])
        for aid in db.session.scalars(sa.select(Account.id)):
            for iid in rng.sample(iids, rng.randrange(0, 6)):
                db.session.add(Holding(account_id=aid, instrument_id=iid,
                                       quantity=Decimal(rng.randrange(1, 10**12)).scaleb(-rng.choice([4, 6, 10]))))
        db.session.commit()
        return {u: {} for u in uids}


def cached_summaries(redis_client, uids):
    return {u: redis_client.get(f"{PREFIX}portfolio:{u}") for u in uids}


def snapshot_count(app) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(PortfolioSnapshot))


def test_a_cycle_and_a_page_compute_the_same_summary_to_the_digit(app, redis_client):
    uids = list(populate(app))
    with app.app_context():
        from webapp.services.portfolio.read_model import recompute_users
        from workers.portfolios import recompute_portfolios

        recompute_users(uids)  # holding by holding, as a page does
        by_page = cached_summaries(redis_client, uids)
        versions = {u: redis_client.get(f"{PREFIX}portfolio:{u}:v") for u in uids}
        snaps = snapshot_count(app)
        stats = recompute_portfolios()  # per-account sums, as a refresh cycle does
    assert stats["changed"] == 0
    assert cached_summaries(redis_client, uids) == by_page
    assert {u: redis_client.get(f"{PREFIX}portfolio:{u}:v") for u in uids} == versions
    assert snapshot_count(app) == snaps
    # and the totals are Σ quantity × price of the priced holdings in the base currency
    with app.app_context():
        for uid in uids[:10]:
            doc = by_page[uid]
            if doc is None:
                continue  # no accounts
            expected = Decimal(0)
            rows = db.session.execute(
                sa.select(Holding.quantity, Quote.price, Quote.currency)
                .join(Account, Account.id == Holding.account_id)
                .join(Quote, Quote.instrument_id == Holding.instrument_id)
                .where(Account.owner_id == uid))
            for qty, price, ccy in rows:
                if ccy == "USD":
                    expected += qty * price
            assert Decimal(json.loads(doc)["total"]) == expected


def test_the_database_sums_and_the_python_sums_agree(app):
    """PostgreSQL sums accounts in SQL; SQLite streams holdings to Python. Both on one database."""
    uids = list(populate(app, users=30, seed=11))
    with app.app_context():
        from webapp.services.portfolio.recompute import (
            Prices,
            _load_prices_sql,
            _stream_sql,
            _sums_python,
        )

        prices = Prices.current()
        with db.engine.connect() as conn:
            raw = conn.connection.driver_connection
            pg = conn.dialect.name == "postgresql"
            cur = raw.cursor()
            bases = dict(db.session.execute(sa.select(User.id, User.base_currency)).all())
            by_python = _sums_python(uids, bases, prices.by_id, cur, "%s" if pg else "?")
            if not pg:
                pytest.skip("the SQL sums are PostgreSQL's (NUMERIC is exact there)")
            _load_prices_sql(raw, prices)
            by_sql = list(_stream_sql(uids, raw))
            conn.rollback()
    from webapp.domain.summary import encode_sums

    assert [(u, encode_sums(b, a)) for u, b, a in by_sql] == [(u, encode_sums(b, a)) for u, b, a in by_python]


def test_snapshots_of_an_interrupted_recompute_are_written_by_the_next_one(app, redis_client):
    uids = list(populate(app, users=12, unpriced=False))
    with app.app_context():
        from webapp.services.portfolio.read_model import recompute_users
        from workers.portfolios import recompute_portfolios

        recompute_users(uids)
        before = snapshot_count(app)
        # a recompute that published to Redis and died before its database insert:
        # the summaries (new totals) are written and their snapshot rows left pending
        entries = {}
        for u in uids:
            raw = redis_client.get(f"{PREFIX}portfolio:{u}")
            if raw is None:
                continue
            doc = json.loads(raw)
            if doc["holdings"] and not doc["pending"]:
                doc["total"] = str(Decimal(doc["total"]) + 1)
                text = json.dumps(doc, separators=(",", ":"))
                entries[u] = cache.PortfolioWrite(text, True, doc["positions"], None)
        assert entries
        statuses, fields = cache.write_portfolios(entries, datetime.now(timezone.utc).isoformat())
        assert fields and all(st & 3 == cache.SNAPSHOT for st in statuses.values())
        assert snapshot_count(app) == before
        recompute_portfolios()  # the next job writes them first (and then undoes the fake totals)
        after = snapshot_count(app)
        assert after == before + 2 * len(entries)
        assert not cache.pending_snapshots()
        recompute_portfolios()  # nothing pending, nothing changed: nothing written twice
        assert snapshot_count(app) == after


def test_a_pending_snapshot_already_written_is_not_written_twice(app, redis_client):
    uids = list(populate(app, users=8, unpriced=False))
    with app.app_context():
        from webapp.services.portfolio.read_model import recompute_users
        from webapp.services.portfolio.snapshots import flush_pending_snapshots

        recompute_users(uids)
        rows = db.session.execute(sa.select(PortfolioSnapshot.user_id, PortfolioSnapshot.as_of)).all()
        assert rows
        # as if killed after the insert but before the pending field was cleared
        uid, as_of = rows[0]
        summary = redis_client.get(f"{PREFIX}portfolio:{uid}").decode()
        redis_client.hset(f"{PREFIX}snapshots:pending", f"{as_of.isoformat()}|x|0", f"{uid}\x1fnew\x1f{summary}")
        n = snapshot_count(app)
        flush_pending_snapshots()
        assert snapshot_count(app) == n
        assert not cache.pending_snapshots()


def test_an_edit_the_cache_missed_is_found_by_the_next_recompute(app, client, redis_client):
    from conftest import set_price
    from test_portfolio import setup_portfolio

    setup_portfolio(app, client, holdings=(("AAPL", "10"), ("MSFT", "2")))
    set_price(app, "AAPL", "100")
    set_price(app, "MSFT", "50")
    assert "1,100.00 USD" in client.get("/").get_data(as_text=True)
    with app.app_context():  # behind the application's back: no request rewrote the cache
        aapl = db.session.scalar(sa.select(Instrument.id).where(Instrument.symbol == "AAPL"))
        db.session.execute(sa.update(Holding).where(Holding.instrument_id == aapl).values(quantity="20"))
        db.session.commit()
        from workers.portfolios import recompute_portfolios

        stats = recompute_portfolios()
    assert stats["changed"] == 1 and stats["positions_rebuilt"] == 1
    html = client.get("/").get_data(as_text=True)
    assert "2,100.00 USD" in html and ">20<" in html


def test_a_recompute_reads_every_price_in_one_round_trip(app, redis_client, monkeypatch):
    populate(app, users=5)
    with app.app_context():
        from webapp.services.portfolio.recompute import Prices

        Prices.current()  # fills Redis from the database
        r = cache.get_redis()
        sent = []
        real = r.execute_command
        monkeypatch.setattr(r, "execute_command", lambda *a, **k: sent.append(a[0]) or real(*a, **k))
        prices = Prices.current()
        assert sent == ["EVALSHA"]
        n = db.session.scalar(sa.select(sa.func.count(sa.distinct(Quote.instrument_id))))
        assert len(prices.by_id) == n
