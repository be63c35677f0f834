"""Coalesced instant refreshes: new holdings are priced in batches on `high`, one job per
window, never one request per holding; an instrument asked for within a minute is not asked again."""
from __future__ import annotations

import math
import threading
from decimal import Decimal

import payloads as P
import pytest
import sqlalchemy as sa
from conftest import login, make_user, post
from replay import ReplayServer
from rq import Queue, SimpleWorker

from webapp.extensions import db
from webapp.models import Account, Instrument, Quote

T = 1790726918
YAHOO_BATCH = 50


@pytest.fixture
def server():
    with ReplayServer() as s:
        yield s


def serve_yahoo(server) -> None:
    """Yahoo knows every symbol S…: v7 answers a batch, the chart a single symbol."""
    server.handle(P.YAHOO_COOKIE, lambda path, query, headers: P.yahoo_cookie_answer())
    server.route(P.YAHOO_CRUMB, body=P.YAHOO_CRUMB_TEXT)

    def price(sym: str) -> str:
        return f"{int(sym[1:]) + 1}.25"

    server.handle(P.YAHOO_QUOTE, lambda path, query, headers: (200, {}, P.yahoo_quote(
        [P.yahoo_quote_item(s, price(s), "USD", T) for s in query["symbols"].split(",")])))
    server.handle(P.YAHOO_CHART.format(symbol="*"), lambda path, query, headers: (
        200, {}, P.yahoo_chart(path.rsplit("/", 1)[1], price(path.rsplit("/", 1)[1]), "USD", T)))


@pytest.fixture
def yahoo_app(make_app, server):
    serve_yahoo(server)
    return make_app(PRICE_PROVIDERS="yahoo", PROVIDER_YAHOO_URL=server.url, PROVIDER_RETRIES=0,
                    INSTANT_REFRESH_WINDOW=0.3)


def run_high(app, redis_client) -> None:
    with app.app_context():
        SimpleWorker([Queue("high", connection=redis_client)], connection=redis_client).work(burst=True)


def quoted(app) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count(sa.distinct(Quote.instrument_id))))


def yahoo_requests(server) -> dict[str, int]:
    out: dict[str, int] = {}
    for path in server.paths:
        kind = "chart" if path.startswith("/v8/finance/chart/") else path
        out[kind] = out.get(kind, 0) + 1
    return out


def test_a_csv_import_of_500_holdings_costs_ceil_500_over_the_batch_size_requests(yahoo_app, server, redis_client):
    app = yahoo_app
    make_user(app)
    client = app.test_client()
    login(client)
    post(client, "/accounts/", {"name": "Main", "kind": "brokerage"})
    csv = "account,symbol,quantity\n" + "".join(f"Main,S{i:03d},{i + 1}\n" for i in range(500))
    resp = post(client, "/accounts/import", {"csv_text": csv, "confirm": "1"})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:300]
    high = Queue("high", connection=redis_client)
    assert [j.func_name for j in high.jobs] == ["workers.prices.refresh_instant"]

    run_high(app, redis_client)

    assert quoted(app) == 500
    spent = yahoo_requests(server)
    assert spent[P.YAHOO_QUOTE] == math.ceil(500 / YAHOO_BATCH) == 10
    # the only others: the cookie and crumb, once (kept in Redis for every later batch)
    assert spent == {P.YAHOO_QUOTE: 10, P.YAHOO_COOKIE: 1, P.YAHOO_CRUMB: 1}
    html = client.get("/").get_data(as_text=True)
    assert "fetching price…" not in html


def test_holdings_added_one_by_one_are_fetched_together(yahoo_app, server, redis_client):
    from webapp.services import assets

    app = yahoo_app
    uid = make_user(app)
    with app.app_context():
        acct = Account(owner_id=uid, name="Main")
        db.session.add(acct)
        db.session.commit()
        for i in range(60):
            holding = assets.add_holding(acct, f"S{i:03d}", "stock", Decimal(1))
            assets.portfolio_changed(uid, holding.instrument)  # what the add-holding view does
    # one job per window the adds spanned, whichever runs first takes them all
    assert {j.func_name for j in Queue("high", connection=redis_client).jobs} == {"workers.prices.refresh_instant"}
    run_high(app, redis_client)
    assert quoted(app) == 60
    assert yahoo_requests(server)[P.YAHOO_QUOTE] == 2  # 50 + 10, not 60


def test_one_job_per_window_however_many_ask_at_once(make_app, redis_client):
    from webapp.services.pricing import instant

    app = make_app(INSTANT_REFRESH_WINDOW=60)  # every request below falls in one window
    with app.app_context():
        ids = [db.session.scalar(sa.insert(Instrument).values(symbol=f"S{i}", asset_type="stock",
                                                             provider_symbols={}).returning(Instrument.id))
               for i in range(40)]
        db.session.commit()
    barrier = threading.Barrier(8)
    windows = []

    def ask(part):
        with app.app_context():
            barrier.wait()
            windows.append(instant.request(part))

    threads = [threading.Thread(target=ask, args=(ids[n::8],)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    high = Queue("high", connection=redis_client)
    assert len(set(windows)) == 1
    assert [j.id for j in high.jobs] == [f"instant-refresh-{windows[0]}"]
    with app.app_context():
        from webapp.services import cache

        assert cache.instant_pending() == set(ids)
        # asked again within the minute: nothing added, no job
        assert instant.request(ids[:5]) is None
    assert high.count == 1


def test_an_instrument_fetched_within_the_minute_is_not_fetched_again(yahoo_app, server, redis_client):
    from webapp.services.pricing import instant

    app = yahoo_app
    with app.app_context():
        iid = db.session.scalar(sa.insert(Instrument).values(symbol="S007", asset_type="stock",
                                                            provider_symbols={}).returning(Instrument.id))
        db.session.commit()
        instant.request([iid])
    run_high(app, redis_client)
    assert yahoo_requests(server) == {"chart": 1}
    with app.app_context():
        assert instant.request([iid]) is None
    assert Queue("high", connection=redis_client).count == 0


def test_without_dedupe_a_second_request_is_a_second_fetch(make_app, server, redis_client):
    from webapp.services.pricing import instant

    serve_yahoo(server)
    app = make_app(PRICE_PROVIDERS="yahoo", PROVIDER_YAHOO_URL=server.url, PROVIDER_RETRIES=0,
                   INSTANT_REFRESH_WINDOW=0.05, INSTANT_REFRESH_DEDUPE_SECONDS=0)
    with app.app_context():
        iid = db.session.scalar(sa.insert(Instrument).values(symbol="S001", asset_type="stock",
                                                            provider_symbols={}).returning(Instrument.id))
        db.session.commit()
        instant.request([iid])
    run_high(app, redis_client)
    with app.app_context():
        assert instant.request([iid]) is not None
    run_high(app, redis_client)
    assert yahoo_requests(server) == {"chart": 2}
