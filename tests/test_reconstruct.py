"""A new portfolio's past: daily values reconstructed from backfilled closes, so the chart is
real on day one; marked as such, rebuilt rather than duplicated, never mixed with recorded ones."""
from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
import sqlalchemy as sa
from conftest import login, make_user, post, set_price

from webapp.extensions import db
from webapp.models import Instrument, PortfolioSnapshot, Quote

HOLDINGS = (("AAPL", "10"), ("MSFT", "2.5"))


@pytest.fixture
def client_with_portfolio(app, client):
    make_user(app)
    login(client)
    url = post(client, "/accounts/", {"name": "Main", "kind": "brokerage"}).headers["Location"]
    for symbol, qty in HOLDINGS:
        assert post(client, f"{url}/holdings", {"symbol": symbol, "asset_type": "stock", "quantity": qty}).status_code == 302
    return client


def backfill(app, symbol, days):
    result = app.test_cli_runner().invoke(args=["prices", "backfill", symbol, "--days", str(days), "--sync"])
    assert result.exit_code == 0, result.output
    return result.output


def expected_by_day(app) -> dict[date, Decimal]:
    """Σ quantity x the day's last close (carried forward), for every day before today on which
    both instruments have a close: computed here from the quote rows, independently."""
    with app.app_context():
        rows = db.session.execute(sa.select(Instrument.symbol, Quote.as_of, Quote.price)
                                  .join(Quote, Quote.instrument_id == Instrument.id).order_by(Quote.as_of)).all()
    closes: dict[str, dict[date, Decimal]] = {}
    for symbol, as_of, price in rows:
        closes.setdefault(symbol, {})[as_of.date()] = price
    first = max(min(c) for c in closes.values())
    today = datetime.now(timezone.utc).date()
    out, last = {}, {}
    day = min(min(c) for c in closes.values())
    while day < today:
        for symbol, c in closes.items():
            if day in c:
                last[symbol] = c[day]
        if day >= first:
            out[day] = sum((Decimal(q) * last[s] for s, q in HOLDINGS), Decimal(0))
        day = date.fromordinal(day.toordinal() + 1)
    return out


def reconstructed(app, user_id=1) -> dict[date, Decimal]:
    with app.app_context():
        rows = db.session.execute(sa.select(PortfolioSnapshot.as_of, PortfolioSnapshot.total_value)
                                  .where(PortfolioSnapshot.reconstructed.is_(True))
                                  .order_by(PortfolioSnapshot.as_of)).all()
    days = [t.date() for t, _ in rows]
    assert len(days) == len(set(days)), "one reconstructed value per day"
    return {t.date(): v for t, v in rows}


def test_a_backfill_gives_a_new_portfolio_its_past_values(app, client_with_portfolio):
    client = client_with_portfolio
    out = backfill(app, "AAPL", 30)
    assert "0 daily values" in out  # MSFT has no history yet: no day is fully priced
    assert reconstructed(app) == {}
    out = backfill(app, "MSFT", 10)  # the shorter history decides where the past starts
    values = reconstructed(app)
    assert values and values == expected_by_day(app)
    assert len(values) <= 10
    html = client.get("/portfolio/history?range=1M").get_data(as_text=True)
    assert 'id="history-reconstructed"' in html and "reconstructed" in html

    backfill(app, "MSFT", 10)  # again: rebuilt, not duplicated
    assert reconstructed(app) == values


def test_recorded_values_take_over_and_are_the_only_ones_exported(app, client_with_portfolio):
    client = client_with_portfolio
    backfill(app, "AAPL", 20)
    backfill(app, "MSFT", 20)
    assert reconstructed(app)
    set_price(app, "AAPL", "300")
    set_price(app, "MSFT", "400")  # fully priced now: the first recorded snapshot
    with app.app_context():
        recorded = db.session.execute(sa.select(PortfolioSnapshot.as_of, PortfolioSnapshot.total_value)
                                      .where(PortfolioSnapshot.reconstructed.is_(False))).all()
    recorded.sort()
    assert recorded[-1][1] == Decimal(10) * 300 + Decimal("2.5") * 400  # recorded although a
    # reconstructed value sat before it (the "did the total move" check ignores those)
    first_recorded = recorded[0][0].date()
    backfill(app, "MSFT", 20)  # rebuilt: only days before the first recorded value
    assert reconstructed(app) and max(reconstructed(app)) < first_recorded
    rows = client.get("/portfolio/history.csv").get_data(as_text=True).strip().splitlines()
    assert rows[1:] == [f"{t:%Y-%m-%dT%H:%M:%SZ},USD,{format(v, 'f')}" for t, v in recorded]


def test_a_new_holding_asks_for_its_instruments_history_on_the_low_queue(app, client_with_portfolio, redis_client):
    from rq import Queue

    jobs = Queue("low", connection=redis_client).jobs
    assert sorted(j.func_name for j in jobs) == ["workers.history.backfill"] * 2
    assert sorted(j.args[0] for j in jobs) == ["AAPL", "MSFT"]


def test_values_recorded_while_the_holdings_were_entered_are_not_drawn(app, client):
    """One holding priced, then the next added: the first recorded value is of a half-entered
    portfolio. The chart starts after the last entry; a holding added weeks later changes nothing."""
    from datetime import timedelta

    from webapp.models import Holding
    from webapp.services.portfolio import history as history_service

    uid = make_user(app)
    login(client)
    url = post(client, "/accounts/", {"name": "Main", "kind": "brokerage"}).headers["Location"]
    post(client, f"{url}/holdings", {"symbol": "AAPL", "asset_type": "stock", "quantity": "10"})
    set_price(app, "AAPL", "100")  # recorded: 1,000 (AAPL only)
    post(client, f"{url}/holdings", {"symbol": "MSFT", "asset_type": "stock", "quantity": "1"})
    set_price(app, "MSFT", "500")  # recorded: 1,500, the portfolio as entered
    set_price(app, "MSFT", "510")  # recorded: 1,510

    def drawn():
        with app.app_context():
            return [v for _, v in history_service.value_history(uid, "USD", "1M").points]

    assert drawn() == [Decimal(1500), Decimal(1510)]
    assert 'id="history-entered"' in client.get("/portfolio/history?range=1M").get_data(as_text=True)
    exported = client.get("/portfolio/history.csv").get_data(as_text=True).strip().splitlines()[1:]
    assert [row.split(",")[2] for row in exported] == ["1000.0000000000", "1500.0000000000", "1510.0000000000"]

    with app.app_context():  # a holding added long after the first recorded value: history stays whole
        h = db.session.scalar(sa.select(Holding).join(Instrument).where(Instrument.symbol == "MSFT"))
        h.created_at = datetime.now(timezone.utc) + timedelta(days=3)
        db.session.commit()
    assert drawn() == [Decimal(1000), Decimal(1500), Decimal(1510)]
