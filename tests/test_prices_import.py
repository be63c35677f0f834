"""`flask prices import`: daily closes from a CSV file, all lines or none."""
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
import sqlalchemy as sa
from conftest import login, make_user, post, set_price

from webapp.extensions import db
from webapp.models import Instrument, PortfolioSnapshot, Quote

TODAY = datetime.now(timezone.utc).date()


def day(n: int) -> str:
    return (TODAY - timedelta(days=n)).isoformat()


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


def write(tmp_path, text: str):
    f = tmp_path / "closes.csv"
    f.write_text(text)
    return str(f)


def quotes(app, symbol="AAPL"):
    with app.app_context():
        return [(q.as_of.date(), q.price, q.source) for q in db.session.scalars(
            sa.select(Quote).join(Instrument).where(Instrument.symbol == symbol).order_by(Quote.as_of))]


def current_price(app, symbol="AAPL"):
    with app.app_context():
        from webapp.services.pricing.quotes import current_quotes

        inst = db.session.scalar(sa.select(Instrument).where(Instrument.symbol == symbol))
        return current_quotes({symbol: inst.id})[symbol].price


def test_import_closes_once_and_rebuild_the_holders_past(app, holding, tmp_path):
    set_price(app, "AAPL", "200", "USD")  # today's price from a cycle
    f = write(tmp_path, f"Symbol,CLOSE,date,currency\naapl,190.5,{day(3)},USD\nAAPL,191.25,{day(2)},USD\n")
    result = run(app, "prices", "import", f)
    assert result.exit_code == 0, result.output
    assert "2 closes read, 2 new, 0 already known" in result.output
    assert quotes(app)[:2] == [(TODAY - timedelta(days=3), Decimal("190.5"), "import"),
                               (TODAY - timedelta(days=2), Decimal("191.25"), "import")]
    assert current_price(app) == Decimal("200")  # the latest price stays today's
    with app.app_context():
        past = db.session.execute(sa.select(PortfolioSnapshot.as_of, PortfolioSnapshot.total_value)
                                  .where(PortfolioSnapshot.reconstructed.is_(True))
                                  .order_by(PortfolioSnapshot.as_of)).all()
    # the portfolio's chart now has its past: 10 AAPL at each imported close (carried forward)
    assert [(a.date(), v) for a, v in past][:2] == [(TODAY - timedelta(days=3), Decimal("1905")),
                                                     (TODAY - timedelta(days=2), Decimal("1912.5"))]
    again = run(app, "prices", "import", f)
    assert "2 closes read, 0 new, 2 already known" in again.output
    assert len(quotes(app)) == 3


def test_older_closes_loaded_after_newer_ones_keep_the_current_price(app, holding, tmp_path):
    newer = write(tmp_path, f"date,symbol,close,currency\n{day(1)},AAPL,150,USD\n")
    assert run(app, "prices", "import", newer).exit_code == 0
    assert current_price(app) == Decimal("150")  # nothing newer known: the file's close is the price
    older = write(tmp_path, f"date,symbol,close,currency\n{day(30)},AAPL,120,USD\n{day(20)},AAPL,130,USD\n")
    result = run(app, "prices", "import", older)
    assert result.exit_code == 0, result.output
    assert current_price(app) == Decimal("150")
    with app.app_context():
        from webapp.services import cache

        assert cache.read_quotes(["AAPL"])["AAPL"].price == Decimal("150")
    assert [p for _, p, _ in quotes(app)] == [Decimal("120"), Decimal("130"), Decimal("150")]
    shown = run(app, "prices", "show", "AAPL", "--history", "1")
    assert "AAPL  150 USD" in shown.output


def test_unknown_symbols_are_refused_unless_created(app, holding, tmp_path):
    f = write(tmp_path, f"date,symbol,close,currency\n{day(2)},AAPL,190,USD\n"
                        f"{day(2)},OLDFUND,12.5,EUR\n{day(1)},OLDFUND,12.75,EUR\n{day(1)},AAPL,10,EUR\n")
    result = run(app, "prices", "import", f)
    assert result.exit_code == 2
    assert "line 3: unknown symbol OLDFUND (no such instrument; --create adds it)" in result.output
    assert "line 4: unknown symbol OLDFUND" in result.output
    assert "line 5: AAPL is priced in USD, not EUR" in result.output
    assert "nothing imported" in result.output
    assert quotes(app) == []
    f = write(tmp_path, f"date,symbol,close,currency\n{day(2)},OLDFUND,12.5,EUR\n{day(1)},OLDFUND,12.75,EUR\n")
    created = run(app, "prices", "import", f, "--create")
    assert created.exit_code == 0, created.output
    assert "1 instruments added (OLDFUND)" in created.output
    with app.app_context():
        assert db.session.scalar(sa.select(Instrument.currency).where(Instrument.symbol == "OLDFUND")) == "EUR"
    assert current_price(app, "OLDFUND") == Decimal("12.75")


def test_bad_lines_are_each_reported(app, holding, tmp_path):
    f = write(tmp_path, f"date,symbol,close,currency\n{day(1)},AAPL,0,USD\nyesterday,AAPL,1,USD\n"
                        f"{day(1)},AA PL,1,USD\n{day(1)},AAPL,1.123456789012,USD\n")
    result = run(app, "prices", "import", f)
    assert result.exit_code == 2
    assert "line 2: close 0 is not a positive number" in result.output
    assert "line 3: date “yesterday” is not YYYY-MM-DD" in result.output
    assert "line 4: symbol “AA PL” is not valid" in result.output
    assert "line 5: close 1.123456789012 has more than 10 decimal places" in result.output
    assert quotes(app) == []
