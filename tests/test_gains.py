"""Cost basis, unrealized gain and day change: the pure maths, the forms, the dashboard."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from decimal import Decimal, localcontext

import sqlalchemy as sa
from conftest import login, make_user, post, set_price
from hypothesis import given, settings
from hypothesis import strategies as st

from webapp.domain.valuation import (
    AccountRef,
    Position,
    PriceInfo,
    Valuation,
    value_portfolio,
)
from webapp.extensions import db
from webapp.models import Holding
from webapp.web.filters import signed_money

T = datetime(2026, 11, 20, 15, 0, tzinfo=timezone.utc)


def q(price, ccy="USD", prev=None):
    return PriceInfo(Decimal(price), ccy, T, "test", None if prev is None else Decimal(prev))


def test_gain_and_day_change_per_holding_account_and_portfolio():
    v = value_portfolio(
        [AccountRef(1, "Broker"), AccountRef(2, "ISA")],
        [Position(1, 1, "AAPL", "stock", Decimal("10"), Decimal("1500")),  # bought at 150, now 187.11
         Position(2, 1, "MSFT", "stock", Decimal("2"), Decimal("900")),  # bought at 450, now 401.25: a loss
         Position(3, 2, "VTI", "etf", Decimal("3"))],  # cost unknown
        {"AAPL": q("187.11", prev="190"), "MSFT": q("401.25", prev="400"), "VTI": q("245.5", prev="245")},
        "USD")
    broker, isa = v.accounts
    aapl, msft = broker.holdings
    assert aapl.gain == Decimal("371.10") and msft.gain == Decimal("-97.50")
    assert aapl.gain_pct == Decimal("371.10") / Decimal("1500") * 100
    assert msft.gain_pct < 0
    assert aapl.day_change == Decimal("-28.90") and msft.day_change == Decimal("2.50")
    assert broker.gain == Decimal("273.60") and broker.cost == Decimal("2400")
    assert isa.gain is None and isa.cost is None  # no cost known: no gain invented
    assert isa.holdings[0].day_change == Decimal("1.5")
    assert v.gain == Decimal("273.60") and v.cost == Decimal("2400")
    assert v.day_change == Decimal("-28.90") + Decimal("2.50") + Decimal("1.5")
    # the day change in percent is measured from yesterday's value of the same holdings
    yesterday = Decimal(10) * 190 + Decimal(2) * 400 + Decimal(3) * 245
    with localcontext(prec=80):
        assert v.day_change_pct == v.day_change * 100 / yesterday
    assert Valuation.from_json(v.to_json()) == v


def test_gains_in_another_currency_are_converted_and_never_counted_one_to_one():
    positions = [Position(1, 1, "SAP.DE", "stock", Decimal("4"), Decimal("700"))]
    quotes = {"SAP.DE": q("200", "EUR", prev="190")}
    without = value_portfolio([AccountRef(1, "A")], positions, quotes, "USD")
    assert without.gain is None and without.day_change is None  # no rate: no USD figure
    assert without.accounts[0].holdings[0].gain == Decimal("100")  # its own currency: known
    converted = value_portfolio([AccountRef(1, "A")], positions, quotes, "USD", {("EUR", "USD"): Decimal("1.1")})
    assert converted.gain == Decimal("110.0") and converted.cost == Decimal("770.0")
    assert converted.day_change == Decimal("44.0")


costs = st.decimals(min_value=Decimal("0"), max_value=Decimal("1e9"), places=4)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.decimals(min_value=Decimal("0.001"), max_value=Decimal("1e6"), places=3),
                          st.decimals(min_value=Decimal("0.01"), max_value=Decimal("1e5"), places=2),
                          st.one_of(st.none(), costs),
                          st.integers(0, 2)), min_size=1, max_size=12))
def test_gain_signs_follow_value_against_cost_and_totals_are_sums(rows):
    accounts = [AccountRef(i, f"a{i}") for i in range(3)]
    positions = [Position(k, acc, f"S{k}", "stock", qty, cost) for k, (qty, _, cost, acc) in enumerate(rows)]
    quotes = {f"S{k}": q(price) for k, (_, price, _, _) in enumerate(rows)}
    v = value_portfolio(accounts, positions, quotes, "USD")
    with localcontext(prec=80):
        for h in (h for a in v.accounts for h in a.holdings):
            if h.cost is None:
                assert h.gain is None
            else:
                assert (h.gain > 0) == (h.value > h.cost) and (h.gain < 0) == (h.value < h.cost)
        known = [h for a in v.accounts for h in a.holdings if h.gain is not None]
        assert (v.gain is None) == (not known)
        if known:
            assert v.gain == sum((h.gain for h in known), Decimal(0))
            assert v.cost == sum((h.cost for h in known), Decimal(0))
            assert v.gain == sum((a.gain for a in v.accounts if a.gain is not None), Decimal(0))


# ---- the forms and the dashboard -----------------------------------------------------------
def account_url(client, name="Main"):
    return post(client, "/accounts/", {"name": name, "kind": "brokerage"}).headers["Location"]


def test_a_cost_per_unit_becomes_a_total_and_the_dashboard_shows_the_gain(app, client):
    make_user(app)
    login(client)
    url = account_url(client)
    resp = post(client, f"{url}/holdings", {"symbol": "AAPL", "asset_type": "stock", "quantity": "12.5",
                                            "cost": "150.40", "cost_kind": "per_unit"})
    assert resp.status_code == 302
    with app.app_context():
        assert db.session.scalar(sa.select(Holding.cost_basis)) == Decimal("1880")  # 12.5 x 150.40, exact
    set_price(app, "AAPL", "140", as_of=datetime.now(timezone.utc) - timedelta(days=1))
    set_price(app, "AAPL", "187.11")
    html = client.get("/").get_data(as_text=True)
    gain = Decimal("12.5") * Decimal("187.11") - Decimal("1880")
    assert re.search(r'id="portfolio-gain">\s*' + re.escape(signed_money(gain, "USD")), html)
    day = Decimal("12.5") * (Decimal("187.11") - Decimal("140"))  # from yesterday's close in our history
    assert re.search(r'id="portfolio-day-change">\s*' + re.escape(signed_money(day, "USD")), html)
    assert 'class="change pos"' in html


def test_a_loss_is_signed_and_coloured_and_a_cost_can_be_edited_or_cleared(app, client):
    make_user(app)
    login(client)
    url = account_url(client)
    post(client, f"{url}/holdings", {"symbol": "MSFT", "asset_type": "stock", "quantity": "2", "cost": "1000"})
    set_price(app, "MSFT", "401.25")
    html = client.get("/").get_data(as_text=True)
    assert "−197.50 USD" in html and 'class="change neg"' in html
    with app.app_context():
        hid = db.session.scalar(sa.select(Holding.id))
    assert post(client, f"/accounts/holdings/{hid}/cost", {"cost": "700", "cost_kind": "total"}).status_code == 302
    assert "+102.50 USD" in client.get("/").get_data(as_text=True)
    assert post(client, f"/accounts/holdings/{hid}/cost", {"cost": "", "cost_kind": "total"}).status_code == 302
    assert 'id="portfolio-gain"' not in client.get("/").get_data(as_text=True)


def test_bad_costs_are_refused_with_the_form_and_a_clear_message(app, client):
    make_user(app)
    login(client)
    url = account_url(client)
    for cost, message in (("-5", "cannot be negative"), ("abc", "is not an amount"), ("NaN", "finite"),
                          ("1e309", "too large"), ("1.00000000001", "decimal places"), ("-0", "cannot be negative")):
        resp = post(client, f"{url}/holdings", {"symbol": "AAPL", "asset_type": "stock", "quantity": "1", "cost": cost})
        assert resp.status_code == 400, cost
        assert message in resp.get_data(as_text=True), cost
    resp = post(client, f"{url}/holdings", {"symbol": "AAPL", "asset_type": "stock", "quantity": "1e14",
                                            "cost": "100", "cost_kind": "per_unit"})
    assert resp.status_code == 400 and "over the limit" in resp.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Holding)) == 0


def test_another_users_holding_cost_cannot_be_changed(app, client):
    make_user(app, "alice@example.com")
    make_user(app, "bob@example.com")
    login(client, "alice@example.com")
    url = account_url(client)
    post(client, f"{url}/holdings", {"symbol": "AAPL", "asset_type": "stock", "quantity": "1", "cost": "10"})
    with app.app_context():
        hid = db.session.scalar(sa.select(Holding.id))
    bob = app.test_client()
    login(bob, "bob@example.com")
    assert post(bob, f"/accounts/holdings/{hid}/cost", {"cost": "1", "cost_kind": "total"}).status_code == 404
    with app.app_context():
        assert db.session.scalar(sa.select(Holding.cost_basis)) == Decimal("10")


def test_merging_quantities_adds_known_costs(app, client):
    make_user(app)
    login(client)
    url = account_url(client)
    post(client, f"{url}/holdings", {"symbol": "AAPL", "asset_type": "stock", "quantity": "1", "cost": "100"})
    resp = post(client, f"{url}/holdings", {"symbol": "AAPL", "asset_type": "stock", "quantity": "2", "cost": "90",
                                            "cost_kind": "per_unit", "merge": "1"})
    assert resp.status_code == 302
    with app.app_context():
        assert db.session.execute(sa.select(Holding.quantity, Holding.cost_basis)).one() == (Decimal(3), Decimal(280))
