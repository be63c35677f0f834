"""`flask demo seed`: a year of the demo user's ledger (two accounts, USD and EUR, buys, a sale,
dividends, a fee, a split), its benchmark and an alert rule; once the worker has loaded the demo
instruments' closes, every page opens with real content."""
from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from conftest import login

from webapp.extensions import db
from webapp.models import Account, Activity, AlertRule, Holding, Instrument, User
from webapp.services.demo import DEMO_BENCHMARK, DEMO_HOLDINGS

EMAIL, PASSWORD = "demo@folio.local", "demo-portfolio"


def run(app, *args):
    result = app.test_cli_runner().invoke(args=list(args))
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture
def demo(app, redis_client):
    """The demo as `make run` has it a minute after the start: seeded, priced, a year of closes."""
    assert f"demo user {EMAIL}" in run(app, "demo", "seed")
    for symbol in sorted({s for holdings in DEMO_HOLDINGS.values() for s, _, _ in holdings}):
        run(app, "prices", "backfill", symbol, "--days", "365", "--sync")  # what the worker's jobs do
    run(app, "prices", "refresh", "--sync")
    with app.app_context():
        return db.session.scalar(sa.select(User.id).where(User.email == EMAIL))


def test_the_demo_ledger_has_every_kind_of_activity_in_two_accounts_and_two_currencies(app, demo):
    with app.app_context():
        rows = db.session.execute(sa.select(Activity, Account.name).join(Account)
                                  .where(Account.owner_id == demo)).all()
        assert {a.type for a, _ in rows} >= {"buy", "sell", "dividend", "fee", "split", "tax"}
        assert {name for _, name in rows} == {"Brokerage", "Retirement"}
        assert {a.currency for a, _ in rows} == {"USD", "EUR"}
        days = [a.date for a, _ in rows]
        assert date.today() - timedelta(days=366) <= min(days) and max(days) < date.today()
        assert all(a.source == "demo" for a, _ in rows)
        holdings = db.session.execute(sa.select(Instrument.symbol, Holding.quantity, Holding.cost_basis)
                                      .join(Holding).join(Account).where(Account.owner_id == demo)).all()
        # the holdings follow from the ledger: what was bought less what was sold, each with its cost
        assert {s for s, _, _ in holdings} == {s for h in DEMO_HOLDINGS.values() for s, _, _ in h}
        assert all(cost is not None and cost > 0 for _, _, cost in holdings)
        assert dict((s, q) for s, q, _ in holdings)["AAPL"] == Decimal("14")
        user = db.session.get(User, demo)
        assert user.benchmark == DEMO_BENCHMARK
        assert db.session.scalar(sa.select(sa.func.count()).select_from(AlertRule)
                                 .where(AlertRule.user_id == demo)) == 1


def holding_rows(html: str) -> dict[str, list[str]]:
    """symbol -> the cells of its row on the dashboard (tags stripped)."""
    rows = {}
    for row in re.findall(r'<tr id="h-\d+".*?</tr>', html, re.S):
        cells = [re.sub(r"<[^>]+>", " ", c).split() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        rows[" ".join(cells[0])] = [" ".join(c) for c in cells]
    return rows


def test_every_page_opens_with_real_content(app, client, demo):
    login(client, EMAIL, PASSWORD)
    dashboard = client.get("/").get_data(as_text=True)
    rows = holding_rows(dashboard)
    assert set(rows) == {s for h in DEMO_HOLDINGS.values() for s, _, _ in h}
    for symbol, cells in rows.items():  # symbol, quantity, price, value, today, gain, as of
        assert re.search(r"[+−-].*\d.*%", cells[5]), (symbol, cells)
    assert 'id="portfolio-gain"' in dashboard

    returns = client.get("/portfolio/returns?period=1Y")
    assert returns.status_code == 200
    html = returns.get_data(as_text=True)
    assert "TWR" in html and "<svg" in html and DEMO_BENCHMARK in html
    gains = client.get("/portfolio/gains").get_data(as_text=True)
    assert "NVDA" in gains  # the sale, after the split
    income = client.get("/portfolio/income").get_data(as_text=True)
    assert "SAP.DE" in income and "AAPL" in income
    with app.app_context():
        brokerage = db.session.scalar(sa.select(Account.id).where(Account.owner_id == demo,
                                                                  Account.name == "Brokerage"))
    activities = client.get(f"/accounts/{brokerage}/activities").get_data(as_text=True)
    for kind in ("buy", "sell", "dividend", "fee", "split"):
        assert re.search(rf">\s*{kind}\s*<", activities, re.I), kind
    alerts = client.get("/alerts/").get_data(as_text=True)
    assert "AAPL" in alerts


def test_add_many_checks_the_activities_together_and_writes_nothing_when_one_is_refused(app):
    from webapp.services import assets, ledger

    with app.app_context():
        user = User(email="batch@example.com", base_currency="USD")
        user.set_password("a long enough password")
        db.session.add(user)
        db.session.commit()
        account = assets.create_account(user, "Broker")
        day = date.today() - timedelta(days=10)
        buy = ledger.Change(date=day, type="buy", symbol="ZZB", quantity=Decimal("5"), price=Decimal("10"))
        sell = ledger.Change(date=day + timedelta(days=1), type="sell", symbol="ZZB", quantity=Decimal("6"),
                             price=Decimal("11"))
        with pytest.raises(ledger.Refused) as refused:  # the sale needs more than the buy of the batch
            ledger.add_many(user, [(account, buy), (account, sell)])
        assert "5" in str(refused.value) and "6" in str(refused.value)
        db.session.rollback()
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Activity)) == 0
        sell.quantity = Decimal("2")
        rows = ledger.add_many(user, [(account, sell), (account, buy)])  # checked in date order, not list order
        assert [r.type for r in rows] == ["sell", "buy"]
        assert db.session.scalar(sa.select(Holding.quantity).where(Holding.account_id == account.id)) == Decimal("3")
