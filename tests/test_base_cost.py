"""The dashboard's gain in the base currency of a holding bought in another currency: its value
at today's rate less its cost at the rate of the day it was bought (the ledger writes that
cost on the holding), on a real database, Redis and the dashboard page."""
from __future__ import annotations

import json
import re
from datetime import date, datetime, timezone
from decimal import Decimal as D

import pytest
import sqlalchemy as sa
from conftest import login, post, set_price

from pricing_providers.fx import published
from webapp.extensions import db
from webapp.models import Account, FxRate, Holding, Instrument, User
from webapp.services import assets, cache, ledger
from webapp.services.ledger import Change
from webapp.services.portfolio.read_model import portfolio_for
from webapp.web.filters import signed_money

BOUGHT = date(2025, 3, 3)
TODAY = datetime.now(timezone.utc).date()


def rates(day: date, **per_eur: str) -> None:
    """EUR-based reference rates of a day, as the ECB publishes them."""
    for quote, rate in per_eur.items():
        db.session.add(FxRate(base="EUR", quote=quote, rate=D(rate), as_of=published(day), source="test"))
    db.session.commit()


def holding(symbol: str) -> Holding:
    return db.session.scalar(sa.select(Holding).join(Instrument).where(Instrument.symbol == symbol))


def gain_shown(html: str) -> str:
    m = re.search(r'id="portfolio-gain">\s*([^<\n]+?)\s*\n', html)
    assert m, "no portfolio gain on the dashboard"
    return m.group(1)


@pytest.fixture
def bought(app, client, alice):
    """Alice (base USD) buys 10 SAP.DE at 180 EUR (+2 EUR fee) on BOUGHT; SAP.DE is 200 EUR now."""
    login(client)

    def buy(*, symbol="SAP.DE", price="180", currency="EUR", quote="200", fee="2"):
        with app.app_context():
            user = db.session.get(User, alice)
            acc = db.session.scalar(sa.select(Account).where(Account.owner_id == alice)) \
                or assets.create_account(user, "Broker")
            ledger.add(user, acc, Change(BOUGHT, "buy", symbol, D(10), D(price), fee=D(fee), currency=currency))
        set_price(app, symbol, quote, currency=currency)
    return buy


def test_the_cost_is_converted_at_the_purchase_days_rate_and_the_value_at_todays(app, client, bought):
    with app.app_context():
        rates(BOUGHT, USD="1.04")
        rates(TODAY, USD="1.10")
    bought()
    with app.app_context():
        h = holding("SAP.DE")
        assert (h.cost_basis, h.cost_basis_base, h.cost_base_currency) == (D(1802), D("1874.08"), "USD")
        valuation, _, live = portfolio_for(h.account.owner_id)
        assert live and valuation.cost == D("1874.08")  # the account's and portfolio's sums count it
        assert valuation.gain == valuation.accounts[0].gain == D("2200.00") - D("1874.08")
        (hv,) = valuation.accounts[0].holdings
        assert hv.gain == D(198) and hv.base_gain == D("325.92")  # in EUR as before; in USD from both rates
    gain = D(10) * D(200) * D("1.10") - D(1802) * D("1.04")
    assert gain_shown(client.get("/").get_data(as_text=True)) == signed_money(gain, "USD") == "+325.92 USD"
    assert signed_money((D(2000) - D(1802)) * D("1.10"), "USD") == "+217.80 USD"  # what today's rate alone gave


def test_a_holding_in_the_base_currency_is_unchanged_and_needs_no_rate(app, client, bought):
    bought(symbol="AAPL", price="150", currency="USD", quote="187.11", fee="0")  # no exchange rate stored at all
    with app.app_context():
        h = holding("AAPL")
        assert (h.cost_basis, h.cost_basis_base, h.cost_base_currency) == (D(1500), D(1500), "USD")
    assert gain_shown(client.get("/").get_data(as_text=True)) == "+371.10 USD"  # 10 × 187.11 − 1500


def test_with_both_the_sums_add_each_holdings_own_gain(app, client, bought):
    with app.app_context():
        rates(BOUGHT, USD="1.04")
        rates(TODAY, USD="1.10")
    bought()
    bought(symbol="AAPL", price="150", currency="USD", quote="187.11", fee="0")
    html = client.get("/").get_data(as_text=True)
    assert gain_shown(html) == signed_money(D("325.92") + D("371.10"), "USD")
    with app.app_context():
        valuation, _, _ = portfolio_for(holding("AAPL").account.owner_id)
        assert valuation.cost == D("1874.08") + D(1500)  # the % shown is over the cost at purchase rates


def test_without_a_rate_on_the_purchase_day_the_gain_is_converted_at_todays_rate(app, client, bought):
    with app.app_context():
        rates(TODAY, USD="1.10")  # nothing on or before BOUGHT
    bought()
    with app.app_context():
        h = holding("SAP.DE")
        assert h.cost_basis == D(1802) and h.cost_basis_base is None
    assert gain_shown(client.get("/").get_data(as_text=True)) == "+217.80 USD"  # (2000 − 1802) × 1.10


def test_changing_the_base_currency_works_the_cost_out_again_in_the_new_one(app, client, bought):
    with app.app_context():
        rates(BOUGHT, USD="1.04", GBP="0.83")
        rates(TODAY, USD="1.10", GBP="0.85")
    bought()
    assert gain_shown(client.get("/").get_data(as_text=True)) == "+325.92 USD"
    assert post(client, "/settings/currency", {"currency": "GBP"}).status_code == 302
    with app.app_context():
        h = holding("SAP.DE")
        assert (h.cost_basis_base, h.cost_base_currency) == (D("1495.66"), "GBP")  # 1802 × 0.83
    # 2000 × 0.85 − 1495.66, not (2000 − 1802) × 0.85 = 168.30
    assert gain_shown(client.get("/").get_data(as_text=True)) == "+204.34 GBP"
    assert post(client, "/settings/currency", {"currency": "EUR"}).status_code == 302
    with app.app_context():
        assert (holding("SAP.DE").cost_basis_base, holding("SAP.DE").cost_base_currency) == (D(1802), "EUR")
    assert gain_shown(client.get("/").get_data(as_text=True)) == "+198.00 EUR"


def test_a_cost_edited_by_hand_forgets_the_base_cost_until_the_ledger_writes_it_again(app, client, alice):
    login(client)
    with app.app_context():
        rates(BOUGHT, USD="1.04")
        rates(TODAY, USD="1.10")
        user = db.session.get(User, alice)
        acc = assets.create_account(user, "Broker")
        ledger.add(user, acc, Change(BOUGHT, "opening", "SAP.DE", D(10), amount=D(1800), currency="EUR"))
        h = holding("SAP.DE")
        assert h.cost_basis_base == D(1872)
        assets.set_cost(h, D(1900))
        assert holding("SAP.DE").cost_basis_base is None


def test_the_cached_positions_carry_the_base_cost_and_older_documents_still_read(app, bought):
    with app.app_context():
        rates(BOUGHT, USD="1.04")
        rates(TODAY, USD="1.10")
    bought()
    with app.app_context():
        owner = holding("SAP.DE").account.owner_id
        pos, _ = cache.read_positions(owner)
        assert [(p.cost, p.base_cost) for p in pos.positions] == [(D(1802), D("1874.08"))]
        doc = {"currency": "USD", "accounts": [[1, "A"]],
               "holdings": [[1, 1, 7, "X", "stock", "2", "10"], [2, 1, 8, "Y", "stock", "3"]]}
        old = cache.decode_positions(b"fp\n" + json.dumps(doc).encode())
        assert [(p.cost, p.base_cost) for p in old.positions] == [(D(10), None), (None, None)]


def test_a_base_cost_worked_out_in_another_currency_is_not_used(app, bought):
    with app.app_context():
        rates(BOUGHT, USD="1.04")
        rates(TODAY, USD="1.10")
    bought()
    with app.app_context():
        h = holding("SAP.DE")
        owner = h.account.owner_id
        h.cost_base_currency = "GBP"  # as if written before a change of base currency
        db.session.commit()
        from webapp.services.portfolio.read_model import load_holdings

        assert load_holdings([owner])[owner].positions()[0].base_cost is None
