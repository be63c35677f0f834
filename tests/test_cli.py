"""Flask CLI commands: each validates its input and answers with a clear message."""
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import payloads
import pytest
import sqlalchemy as sa
from conftest import login, make_user, post, set_price
from replay import ReplayServer

from webapp.extensions import db
from webapp.models import Instrument, Quote


@pytest.fixture
def holding(app):
    make_user(app, "alice@example.com")
    client = app.test_client()
    login(client)
    url = post(client, "/accounts/", {"name": "Main", "kind": "brokerage"}).headers["Location"]
    post(client, f"{url}/holdings", {"symbol": "AAPL", "asset_type": "stock", "quantity": "10"})
    return client


def run(app, *args):
    return app.test_cli_runner().invoke(args=list(args))


def test_prices_refresh_sync_and_show(app, holding):
    result = run(app, "prices", "refresh", "--sync")
    assert result.exit_code == 0, result.output
    assert "1 symbols: 1 fetched, 0 failed, 1 changed" in result.output
    shown = run(app, "prices", "show", "aapl")
    assert shown.exit_code == 0
    assert "AAPL" in shown.output and "USD" in shown.output and "(simulated)" in shown.output


def test_prices_refresh_enqueues_a_job_without_sync(app, holding, redis_client):
    from rq import Queue

    result = run(app, "prices", "refresh")
    assert result.exit_code == 0 and "enqueued job" in result.output
    assert Queue("default", connection=redis_client).count == 1


def test_prices_set_manual_price_revalues_the_portfolio(app, holding):
    result = run(app, "prices", "set", "AAPL", "123.45", "--currency", "usd", "--as-of", "2026-11-20")
    assert result.exit_code == 0, result.output
    with app.app_context():
        q = db.session.scalar(sa.select(Quote).order_by(Quote.id.desc()))
        assert (q.price, q.currency, q.source) == (Decimal("123.45"), "USD", "manual")
    html = holding.get("/").get_data(as_text=True)
    assert "1,234.50 USD" in html and "manual" in html


@pytest.mark.parametrize(
    "args,message",
    [
        (["prices", "set", "AAPL", "abc"], "is not a number"),
        (["prices", "set", "AAPL", "--", "-5"], "must be a positive number"),
        (["prices", "set", "AAPL", "0"], "must be a positive number"),
        (["prices", "set", "AAPL", "NaN"], "must be a positive number"),
        (["prices", "set", "AAPL", "1e400"], "too large"),
        (["prices", "set", "AAPL", "10", "--currency", "dollars"], "three-letter currency code"),
        (["prices", "set", "AAPL", "10", "--as-of", "yesterday"], "is not a date"),
        (["prices", "set", "AAPL", "10", "--as-of", "2999-01-01"], "in the future"),
        (["prices", "set", "NOPE", "10"], "no instrument NOPE"),
        (["prices", "set", "<b>", "10"], "not a valid symbol"),
        (["prices", "show", "ZZZ"], "no instrument ZZZ"),
        (["prices", "refresh", "--symbol", "ZZZ"], "no instrument ZZZ"),
        (["portfolio", "recompute", "--user", "nobody@example.com"], "no user with email"),
    ],
)
def test_bad_arguments_get_a_clear_message_and_a_failing_exit_code(app, holding, args, message):
    result = run(app, *args)
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output


def test_an_older_manual_price_never_replaces_a_newer_quote(app, holding):
    set_price(app, "AAPL", "200")
    result = run(app, "prices", "set", "AAPL", "150", "--as-of", "2020-01-01")
    assert result.exit_code != 0 and "must be newer" in result.output
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Quote)) == 1


def test_manual_provider_in_the_chain_serves_manual_prices(make_app, holding):
    app = make_app(PRICE_PROVIDERS="manual")
    run(app, "prices", "set", "AAPL", "99.5", "--as-of", "2026-11-20")
    result = run(app, "prices", "refresh", "--sync")
    assert "1 fetched, 0 failed" in result.output  # the chain's manual provider answered
    assert "0 changed" in result.output  # with the price we already hold


def test_portfolio_recompute(app, holding):
    set_price(app, "AAPL", "10")
    result = run(app, "portfolio", "recompute", "--user", "ALICE@example.com")
    assert result.exit_code == 0
    assert "1 portfolios recomputed" in result.output


def test_providers_list_shows_the_chain_and_keys_needed(make_app):
    app = make_app(PRICE_PROVIDERS="tiingo,yahoo")
    out = run(app, "providers", "list").output
    assert "chain: tiingo -> yahoo" in out
    assert "NEEDS PROVIDER_TIINGO_API_KEY" in out
    for name in ("yahoo", "stooq", "finnhub", "alphavantage", "amfi", "mfapi", "simulated", "manual"):
        assert name in out


def test_providers_check_reports_ok_and_errors_with_reasons(make_app):
    with ReplayServer() as server:
        server.route(payloads.YAHOO_CHART.format(symbol="AAPL"),
                     body=payloads.yahoo_chart("AAPL", "187.11", "USD", 1790726918),
                     content_type="application/json")
        server.route(payloads.STOOQ_QUOTE, body=payloads.STOOQ_LIMIT)
        app = make_app(PRICE_PROVIDERS="yahoo,stooq,finnhub", PROVIDER_YAHOO_URL=server.url,
                       PROVIDER_STOOQ_URL=server.url, PROVIDER_RETRIES=0)
        result = run(app, "providers", "check")
    assert result.exit_code == 1
    assert "yahoo         ok: AAPL 187.11 USD" in result.output
    assert "stooq         error: provider_down" in result.output
    assert "finnhub       error: needs PROVIDER_FINNHUB_API_KEY" in result.output


def test_prices_backfill_loads_daily_history_once(app, holding):
    result = run(app, "prices", "backfill", "AAPL", "--days", "30", "--sync")
    assert result.exit_code == 0, result.output
    assert "AAPL: 30 daily prices from simulated, 30 new" in result.output
    again = run(app, "prices", "backfill", "AAPL", "--days", "30", "--sync")
    assert "30 daily prices from simulated, 0 new" in again.output
    assert run(app, "prices", "backfill", "AAPL", "--days", "0").exit_code != 0


def test_prices_backfill_from_yahoo_history_over_http(make_app, holding):
    with ReplayServer() as server:
        day = 86400
        start = 1790726918 - 5 * day
        server.route(payloads.YAHOO_CHART.format(symbol="AAPL"), content_type="application/json",
                     body=payloads.yahoo_chart("AAPL", "190", "USD", start + 4 * day,
                                               history=[(start + i * day, None if i == 2 else f"18{i}.5")
                                                        for i in range(5)]))
        app = make_app(PRICE_PROVIDERS="yahoo", PROVIDER_YAHOO_URL=server.url)
        result = run(app, "prices", "backfill", "AAPL", "--days", "5", "--sync")
    assert result.exit_code == 0, result.output
    assert "4 daily prices from yahoo, 4 new" in result.output  # the null close is skipped
    with app.app_context():
        prices = db.session.scalars(sa.select(Quote.price).order_by(Quote.as_of)).all()
    assert prices == [Decimal("180.5"), Decimal("181.5"), Decimal("183.5"), Decimal("184.5")]


def test_demo_seed_creates_the_demo_user_once_and_asks_for_its_history(app, redis_client):
    from rq import Queue

    from webapp.services.demo import DEMO_HOLDINGS

    result = run(app, "demo", "seed")
    assert result.exit_code == 0 and "demo user demo@folio.local" in result.output
    symbols = {s for holdings in DEMO_HOLDINGS.values() for s, _, _ in holdings}
    jobs = Queue("low", connection=redis_client).jobs
    assert {j.args[0] for j in jobs if j.func_name == "workers.history.backfill"} == symbols
    assert "not seeded" in run(app, "demo", "seed").output


def test_demo_history_is_asked_for_once_redis_is_up_and_only_while_there_is_none(app, redis_client):
    from rq import Queue

    from webapp.services.demo import DEMO_HOLDINGS

    symbols = sorted({s for holdings in DEMO_HOLDINGS.values() for s, _, _ in holdings})
    run(app, "demo", "seed")
    Queue("low", connection=redis_client).empty()
    result = run(app, "demo", "history")
    assert result.exit_code == 0 and f"{len(symbols)} backfill job(s) enqueued" in result.output
    for symbol in symbols:  # what the worker does with them (the simulated market has history)
        assert run(app, "prices", "backfill", symbol, "--days", "5", "--sync").exit_code == 0
    html_total = run(app, "demo", "history").output
    assert "has its history already" in html_total
