"""The request budget of a refresh cycle and its coverage: declared limits honoured exactly
(what the window already spent and the reserve for instant refreshes taken off), the cheapest
provider first, the stalest instruments first when short, coverage recorded, shown, exported,
and an alert after two poor cycles in a row."""
from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

import payloads as P
import pytest
import sqlalchemy as sa
from conftest import PREFIX, login, make_user, post
from replay import ReplayServer

from pricing_providers.base import InstrumentRef, RateLimit
from pricing_providers.stooq import StooqProvider
from pricing_providers.tiingo import TiingoProvider
from pricing_providers.yahoo import YahooProvider
from webapp.extensions import db
from webapp.models import Account, Holding, Instrument, Quote
from webapp.services.pricing import budget

T = 1790726918
UTC = timezone.utc


# ---- the plan, pure -----------------------------------------------------------------------
def test_budget_is_the_limit_less_what_the_window_spent_less_the_reserve():
    assert budget.budget_for(RateLimit(30, 3600), used=0, reserve_share=0.1) == 27
    assert budget.budget_for(RateLimit(30, 3600), used=20, reserve_share=0.1) == 7
    assert budget.budget_for(RateLimit(30, 3600), used=29, reserve_share=0.1) == 0
    assert budget.budget_for(RateLimit(200, 600), used=0, reserve_share=0) == 200
    assert budget.budget_for(None, used=5, reserve_share=0.1) == budget.UNLIMITED


def refs(n: int, kind: str = "stock", prefix: str = "S") -> list[InstrumentRef]:
    return [InstrumentRef(f"{prefix}{i:04d}", kind) for i in range(n)]


def test_the_cheapest_provider_that_covers_an_asset_type_gets_it_first_the_fallback_the_rest():
    yahoo = YahooProvider("http://127.0.0.1:9")  # 50 a request, 200 per 10 minutes
    tiingo = TiingoProvider("http://127.0.0.1:9", api_key="k")  # 100 a request, 50 an hour
    stooq = StooqProvider("http://127.0.0.1:9")  # 50 a request, 30 an hour
    tiingo.rate_limit = RateLimit(3, 3600)
    due = refs(500) + refs(3, "mutual_fund", "F")
    plan = budget.make_plan([yahoo, stooq, tiingo], due, {}, used=lambda p: 0, reserve_share=0)
    by_name = {p.name: p for p in plan.providers}
    # tiingo's batches hold 100: it is the cheapest and takes what its 3 requests can carry;
    # yahoo and stooq tie at 50, and yahoo comes first in the chain
    assert [p.name for p in plan.providers] == ["tiingo", "yahoo", "stooq"]
    assert len(by_name["tiingo"].instruments) == 300
    assert {i.asset_type for i in by_name["tiingo"].instruments} == {"stock"}  # tiingo prices no funds
    assert len(by_name["yahoo"].instruments) == 203 and not by_name["stooq"].instruments and not plan.skipped
    # yahoo's first batch also fetches its cookie and crumb: counted when checking the budget
    assert by_name["yahoo"].per_batch == 3


def test_when_short_the_stalest_are_planned_and_the_rest_skipped_for_budget():
    stooq = StooqProvider("http://127.0.0.1:9")
    stooq.rate_limit = RateLimit(3, 3600)
    due = refs(200)
    now = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
    # S0000 is the freshest, S0199 the stalest; S0100..S0109 were never priced
    last = {r.symbol: now - timedelta(minutes=n) for n, r in enumerate(due) if not 100 <= n < 110}
    plan = budget.make_plan([stooq], due, last, used=lambda p: 1, reserve_share=0)  # 2 requests left
    planned = {i.symbol for i in plan.providers[0].instruments}
    assert len(planned) == 100
    assert planned == {f"S{n:04d}" for n in range(100, 200)}  # the never-priced and the 90 stalest
    assert len(plan.skipped) == 100


def test_the_cycle_throttle_refuses_beyond_the_budget_even_when_the_window_has_room():
    from pricing_providers.chain import MemoryThrottle

    t = budget.BudgetThrottle(MemoryThrottle(), {"stooq": 2})
    limit = RateLimit(30, 3600)
    assert [t.acquire("stooq", limit) for _ in range(4)] == [True, True, False, False]
    assert t.acquire("yahoo", limit)  # no budget given: only the inner throttle decides


# ---- cycles against the replay server -----------------------------------------------------
@pytest.fixture
def server():
    with ReplayServer() as s:
        yield s


def serve_stooq(server, known: set[str] | None = None) -> list[list[str]]:
    asked: list[list[str]] = []

    def handler(path, query, headers):
        symbols = [s.upper() for s in query.get("s", "").replace(" ", "+").split("+") if s]
        asked.append(symbols)
        rows = [P.stooq_row(s, "101.5", day="2026-11-24", time="22:00:00") if known is None or s in known
                else P.stooq_nd(s) for s in symbols]
        return 200, {"Content-Type": "text/csv"}, P.stooq_csv(rows)

    server.handle(P.STOOQ_QUOTE, handler)
    return asked


def hold(app, n: int, stale_minutes: dict[int, int] | None = None) -> list[str]:
    """One user holding S0000..S{n-1} (US stocks); quotes `stale_minutes[i]` old where given."""
    uid = make_user(app)
    symbols = [f"S{i:04d}" for i in range(n)]
    with app.app_context():
        acct = Account(owner_id=uid, name="Main")
        db.session.add(acct)
        db.session.flush()
        ids = []
        for s in symbols:
            inst = Instrument(symbol=s, asset_type="stock", provider_symbols={})
            db.session.add(inst)
            db.session.flush()
            ids.append(inst.id)
            db.session.add(Holding(account_id=acct.id, instrument_id=inst.id, quantity=1))
        old = datetime(2026, 11, 20, 21, 0, tzinfo=UTC)
        for i, minutes in (stale_minutes or {}).items():
            db.session.add(Quote(instrument_id=ids[i], price=100, currency="USD", source="stooq",
                                 as_of=old - timedelta(minutes=minutes), fetched_at=old))
        db.session.commit()
    return symbols


@pytest.fixture
def stooq_app(make_app, server, monkeypatch):
    from webapp.services.pricing import refresh

    monkeypatch.setattr(refresh, "utcnow", lambda: datetime(2026, 11, 25, 16, 0, tzinfo=UTC))  # NYSE open

    def build(**extra):
        return make_app(**{"PRICE_PROVIDERS": "stooq", "PROVIDER_STOOQ_URL": server.url, "PROVIDER_RETRIES": 0,
                           "PROVIDER_STOOQ_RATE_LIMIT": "10/3600", "PRICE_BUDGET_RESERVE": 0.2,
                           "PRICE_SKIP_CLOSED_MARKETS": True, **extra})

    return build


def test_a_cycle_spends_exactly_its_budget_and_leaves_the_reserve(stooq_app, server, redis_client):
    from webapp.services import cache
    from webapp.services.pricing import refresh

    app = stooq_app()
    asked = serve_stooq(server)
    hold(app, 600)
    with app.app_context():
        # instant refreshes spent 3 of the 10 this hour; 2 are kept for more of them: 5 for the cycle
        throttle = cache.RedisThrottle()
        for _ in range(3):
            throttle.acquire("stooq", RateLimit(10, 3600))
        stats = refresh.refresh_prices(sync=True)
        assert len(asked) == 5 and all(len(batch) == 50 for batch in asked)
        assert (stats["symbols"], stats["fetched"], stats["skipped_budget"], stats["failed"]) == (600, 250, 350, 0)
        assert throttle.used("stooq", RateLimit(10, 3600)) == 8  # the reserve of 2 is still there
        (record,) = cache.coverage_history()
        assert record["providers"] == {"stooq": {"requests": 5, "budget": 5, "planned": 250}}
        assert (record["held"], record["due"], record["refreshed"], record["skipped_budget"]) == (600, 600, 250, 350)
        assert record["coverage"] == pytest.approx(250 / 600, abs=1e-4)
        # the next cycle of the hour has nothing left but the reserve: it sends nothing
        stats = refresh.refresh_prices(sync=True)
        assert len(asked) == 5 and stats["skipped_budget"] == 600


def test_when_short_a_cycle_refreshes_the_stalest_first(stooq_app, server, redis_client):
    from webapp.services.pricing import refresh

    app = stooq_app(PROVIDER_STOOQ_RATE_LIMIT="2/3600", PRICE_BUDGET_RESERVE=0)
    asked = serve_stooq(server)
    # 150 instruments: quotes from 0 (S0000) to 149 minutes (S0149) older than Friday's close
    hold(app, 150, {i: i for i in range(150)})
    with app.app_context():
        stats = refresh.refresh_prices(sync=True)
    assert stats["fetched"] == 100
    assert {s.split(".")[0] for batch in asked for s in batch} == {f"S{i:04d}" for i in range(50, 150)}


def test_coverage_is_shown_listed_exported_and_alerts_after_two_poor_cycles(stooq_app, server, redis_client,
                                                                         caplog):
    from webapp.services import cache
    from webapp.services.pricing import refresh

    app = stooq_app(PROVIDER_STOOQ_RATE_LIMIT="100/3600", PRICE_BUDGET_RESERVE=0)
    # stooq knows only 90 of the 100: coverage 90 % < 95 %
    serve_stooq(server, known={f"S{i:04d}.US" for i in range(90)})
    hold(app, 100)
    caplog.set_level(logging.WARNING, logger="folio.alerts")
    with app.app_context():
        refresh.refresh_prices(sync=True)
        assert "price_coverage" not in cache.active_alerts()  # one poor cycle is not yet an incident
        refresh.refresh_prices(sync=True)
        alert = cache.active_alerts().get("price_coverage")
    assert alert and "90% and 90% of the due instruments" in alert
    assert [r for r in caplog.records if "alert price_coverage firing" in r.getMessage()]

    lines = app.test_cli_runner().invoke(args=["prices", "coverage"]).output.splitlines()
    assert len(lines) == 2
    assert "coverage 90.0%: 100 held, 0 still fresh, 100 due, 90 refreshed, 10 failed, 0 skipped for budget; " \
           "requests/budget: stooq 2/98" in lines[0]
    assert "requests/budget: stooq 2/100" in lines[1]

    make_user(app, "root@example.com", is_admin=True)
    admin = app.test_client()
    login(admin, "root@example.com")
    text = admin.get("/metrics").get_data(as_text=True)
    assert "folio_price_coverage_ratio 0.9" in text
    assert 'folio_provider_cycle_requests{provider="stooq"} 2.0' in text
    assert 'folio_provider_cycle_budget{provider="stooq"} 98.0' in text  # 100 less the first cycle's 2
    html = admin.get("/admin/status").get_data(as_text=True)
    assert 'id="price-coverage"' in html and "stooq 2/98" in html and "price_coverage" in html

    # a good cycle resolves the incident
    server.reset()
    serve_stooq(server)
    with app.app_context():
        refresh.refresh_prices(sync=True)
        assert "price_coverage" not in cache.active_alerts()
        assert len(cache.coverage_history()) == 3


def test_only_the_last_ten_cycles_are_kept(app):
    from webapp.services import cache

    with app.app_context():
        for n in range(12):
            cache.record_coverage({"n": n})
        assert [c["n"] for c in cache.coverage_history()] == list(range(11, 1, -1))
