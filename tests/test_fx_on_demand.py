"""Exchange rates on demand: a currency with no cached rate is fetched at once on `high`, the
dashboard says "fetching rate…" meanwhile; the scheduler fetches rates when it starts; `flask fx`."""
from __future__ import annotations

from decimal import Decimal

import payloads as P
import pytest
from conftest import login, make_user, post
from replay import ReplayServer
from rq import Queue, SimpleWorker

from webapp.web.filters import money

RATES = {"USD": "1.1186", "GBP": "0.8412", "JPY": "171.32"}
T = 1790726918


@pytest.fixture
def server():
    with ReplayServer() as s:
        s.route(P.ECB_DAILY, body=P.ecb_daily("2026-10-08", RATES), content_type="text/xml")
        s.route(P.YAHOO_CHART.format(symbol="SAP.DE"), body=P.yahoo_chart("SAP.DE", "200.50", "EUR", T))
        yield s


@pytest.fixture
def fx_app(make_app, server):
    # FX_REFRESH_CRON never runs here: no scheduler is started, only the on-demand job
    return make_app(PRICE_PROVIDERS="yahoo", PROVIDER_YAHOO_URL=server.url, PROVIDER_ECB_URL=server.url,
                    FX_PROVIDERS="ecb", PROVIDER_RETRIES=0)


def jobs_on(redis_client, name="high") -> list[str]:
    return [j.func_name for j in Queue(name, connection=redis_client).jobs]


def work_one(app, redis_client) -> None:
    with app.app_context():
        SimpleWorker([Queue("high", connection=redis_client)], connection=redis_client).work(burst=True, max_jobs=1)


def test_a_first_eur_holding_of_a_usd_user_is_converted_once_the_on_demand_job_ran(fx_app, server, redis_client):
    app = fx_app
    make_user(app)  # base currency USD
    client = app.test_client()
    login(client)
    url = post(client, "/accounts/", {"name": "Depot", "kind": "brokerage"}).headers["Location"]
    assert post(client, f"{url}/holdings", {"symbol": "SAP.DE", "asset_type": "stock", "quantity": "10"}).status_code == 302
    assert jobs_on(redis_client) == ["workers.prices.refresh_instant"]

    work_one(app, redis_client)  # the price arrives, in EUR: no rate is cached, so one is asked for at once
    assert jobs_on(redis_client) == ["workers.fx.refresh_fx_now"]
    html = client.get("/").get_data(as_text=True)
    assert "fetching rate…" in html and "not converted to USD" in html
    assert f'id="portfolio-total">{money(Decimal(0), "USD")}<' in html
    client.get("/")  # more page views ask for nothing more
    assert jobs_on(redis_client) == ["workers.fx.refresh_fx_now"]

    work_one(app, redis_client)  # the rates; the holders are revalued on `high` as well
    assert jobs_on(redis_client) == ["workers.portfolios.recompute_portfolios"]
    token_before = client.get("/").get_data(as_text=True).split('data-version="')[1].split('"')[0]
    work_one(app, redis_client)

    # the poll (what the open page does) gets the new fragment, no reload needed
    frag = client.get(f"/portfolio/summary?v={token_before}", headers={"HX-Request": "true"})
    assert frag.status_code == 200
    html = frag.get_data(as_text=True)
    expected = Decimal("10") * Decimal("200.50") * Decimal("1.1186")  # 2242.793
    assert f'id="portfolio-total">{money(expected, "USD")}<' in html
    assert "fetching rate…" not in html and "not converted" not in html
    assert len(server.requests_to(P.ECB_DAILY)) == 1


def test_the_on_demand_fetch_is_asked_for_once_per_period(fx_app, redis_client):
    from webapp.services.pricing import fx

    with fx_app.app_context():
        assert fx.request_refresh() is True
        assert fx.request_refresh() is False
        fx.request_if_unconverted({"EUR"})
    assert jobs_on(redis_client) == ["workers.fx.refresh_fx_now"]


def test_the_scheduler_fetches_rates_when_it_starts(fx_app, redis_client):
    result = fx_app.test_cli_runner().invoke(args=["scheduler", "--burst", "--interval", "0.1"])
    assert result.exit_code == 0, result.output
    assert "enqueued an exchange-rate fetch" in result.output
    assert jobs_on(redis_client) == ["workers.fx.refresh_fx_now"]


def test_flask_fx_refresh_and_show(fx_app, server, redis_client):
    runner = fx_app.test_cli_runner()
    result = runner.invoke(args=["fx", "show"])
    assert result.exit_code == 2 and "no exchange rates yet" in result.output

    result = runner.invoke(args=["fx", "refresh"])
    assert result.exit_code == 0 and "enqueued job" in result.output
    assert jobs_on(redis_client, "default") == ["workers.fx.refresh_fx"]

    result = runner.invoke(args=["fx", "refresh", "--sync"])
    assert result.exit_code == 0, result.output
    assert "3 rates from ecb" in result.output

    result = runner.invoke(args=["fx", "show"])
    assert result.exit_code == 0
    assert result.output.splitlines() == [
        "Rates per 1 EUR, as of 2026-10-08 14:00 UTC (ecb):", "  GBP  0.8412", "  JPY  171.32", "  USD  1.1186"]

    result = runner.invoke(args=["fx", "show", "eur"])
    assert result.output.strip() == "1 EUR = 1.1186 USD  as of 2026-10-08 14:00 UTC (ecb)"
    result = runner.invoke(args=["fx", "show", "GBP"])
    lines = result.output.splitlines()
    assert lines[0].startswith(f"1 GBP = {(Decimal('1.1186') / Decimal('0.8412')).normalize():f}"[:16])
    assert lines[1].startswith("1 GBP = 1.188777")


@pytest.mark.parametrize("arg,message", [
    ("EURO", "“EURO” is not a currency code (three letters, e.g. EUR)."),
    ("E1R", "“E1R” is not a currency code (three letters, e.g. EUR)."),
    ("XYZ", "no rate for XYZ; known: EUR, GBP, JPY, USD."),
])
def test_flask_fx_show_refuses_bad_input_in_one_line(fx_app, arg, message):
    runner = fx_app.test_cli_runner()
    assert runner.invoke(args=["fx", "refresh", "--sync"]).exit_code == 0
    result = runner.invoke(args=["fx", "show", arg])
    assert result.exit_code == 2
    assert result.output.strip() == f"Error: {message}"


def test_flask_fx_refresh_sync_says_when_no_provider_answers(make_app):
    result = make_app().test_cli_runner().invoke(args=["fx", "refresh", "--sync"])  # ECB at a closed port
    assert result.exit_code == 1
    assert result.output.strip() == "Error: no FX provider answered (ecb)."
