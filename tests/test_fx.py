"""Exchange rates: ECB and Frankfurter adapters over HTTP, cross rates, storage."""
from datetime import datetime, timezone
from decimal import Decimal

import payloads
import pytest
import sqlalchemy as sa
from replay import ReplayServer

from pricing_providers import MalformedAnswer, ProviderDown
from pricing_providers.fx import EcbProvider, FrankfurterProvider, cross_rates
from webapp.extensions import db
from webapp.models import FxRate

RATES = {"USD": "1.1186", "GBP": "0.8412", "INR": "93.215", "JPY": "171.32"}


@pytest.fixture
def server():
    with ReplayServer() as s:
        yield s


@pytest.mark.parametrize("quote", ["'", '"'])
def test_ecb_daily_xml_in_either_quote_style(server, quote):
    server.route(payloads.ECB_DAILY, body=payloads.ecb_daily("2026-10-08", RATES, quote), content_type="text/xml")
    rates = EcbProvider(server.url).fetch_rates()
    assert {r.quote: r.rate for r in rates} == {c: Decimal(v) for c, v in RATES.items()}
    assert {r.base for r in rates} == {"EUR"}
    assert rates[0].as_of == datetime(2026, 10, 8, 14, 0, tzinfo=timezone.utc)  # 16:00 CET
    assert rates[0].source == "ecb"


def test_ecb_errors(server):
    server.route(payloads.ECB_DAILY, body="<html>maintenance</html", content_type="text/html")
    with pytest.raises(MalformedAnswer):
        EcbProvider(server.url).fetch_rates()
    server.reset()
    server.route(payloads.ECB_DAILY, status=503, body="down")
    with pytest.raises(ProviderDown):
        EcbProvider(server.url, retries=0).fetch_rates()


def test_frankfurter_latest(server):
    server.route(payloads.FRANKFURTER_LATEST, body=payloads.frankfurter_latest("2026-10-05", RATES),
                 content_type="application/json")
    rates = FrankfurterProvider(server.url).fetch_rates()
    assert {r.quote: r.rate for r in rates} == {c: Decimal(v) for c, v in RATES.items()}
    assert server.requests[0].query.get("base") == "EUR"


def test_cross_rates_through_eur_are_exact_and_round_trip_within_a_cent():
    table = cross_rates({c: Decimal(v) for c, v in RATES.items()})
    assert table[("EUR", "USD")] == Decimal("1.1186")
    assert table[("USD", "EUR")] == Decimal(1) / Decimal("1.1186")
    gbp_usd = table[("GBP", "USD")]
    assert gbp_usd == Decimal("1.1186") / Decimal("0.8412")
    amount = Decimal("12345.67")
    back = amount * table[("USD", "GBP")] * table[("GBP", "USD")]
    assert abs(back - amount) < Decimal("0.01")


def test_refresh_fx_stores_rates_and_falls_back_to_frankfurter(make_app, server):
    server.route(payloads.ECB_DAILY, status=500, body="oops")
    server.route(payloads.FRANKFURTER_LATEST, body=payloads.frankfurter_latest("2026-10-05", RATES),
                 content_type="application/json")
    app = make_app(FX_PROVIDERS="ecb,frankfurter", PROVIDER_ECB_URL=server.url,
                   PROVIDER_FRANKFURTER_URL=server.url, PROVIDER_RETRIES=0)
    with app.app_context():
        from webapp.services.pricing.fx import current_rates
        from workers.fx import refresh_fx

        stats = refresh_fx()
        assert stats == {"fetched": 4, "source": "frankfurter", "failed": ["ecb"], "revalued_users": 0}
        refresh_fx()  # the same day's rates again: no duplicate rows
        assert db.session.scalar(sa.select(sa.func.count()).select_from(FxRate)) == 4
        assert current_rates()[("EUR", "INR")] == Decimal("93.215")
        # Redis forgot: rebuilt from the database
        from webapp.services import cache

        cache.get_redis().delete(cache.key("fx", "EUR"))
        assert current_rates()[("USD", "EUR")] == Decimal(1) / Decimal("1.1186")
        assert cache.read_fx()[0]["USD"] == Decimal("1.1186")
