"""The dashboard and its polling summary partial."""
import re
from decimal import Decimal

import sqlalchemy as sa
from conftest import PREFIX, login, make_user, post, set_price

from webapp.extensions import db
from webapp.models import Account, Holding, Instrument, PortfolioSnapshot

VERSION_RE = re.compile(r'data-version="([^"]+)"')


def setup_portfolio(app, client, holdings=(("AAPL", "10"), ("MSFT", "2.5"))):
    make_user(app, "alice@example.com")
    login(client)
    resp = post(client, "/accounts/", {"name": "Main", "kind": "brokerage"})
    url = resp.headers["Location"]
    for symbol, qty in holdings:
        assert post(client, f"{url}/holdings", {"symbol": symbol, "asset_type": "stock", "quantity": qty}).status_code == 302
    return url


def version_of(html: str) -> str:
    m = VERSION_RE.search(html)
    assert m, html[:500]
    return m.group(1)


def test_dashboard_shows_total_accounts_and_holdings_to_the_cent(app, client):
    setup_portfolio(app, client)
    set_price(app, "AAPL", "187.1234")
    set_price(app, "MSFT", "401.10")
    html = client.get("/").get_data(as_text=True)
    # 10 x 187.1234 + 2.5 x 401.10 = 1871.234 + 1002.75 = 2873.984 -> 2,873.98
    assert "2,873.98 USD" in html
    assert "1,871.23 USD" in html and "1,002.75 USD" in html
    assert "replay" in html  # the source of each price is shown


def test_holding_without_quote_says_fetching_price(app, client):
    setup_portfolio(app, client, holdings=(("ZZZZ", "1"),))
    html = client.get("/").get_data(as_text=True)
    assert "fetching price…" in html
    assert "1 holding waiting for a first price" in html


def test_summary_answers_204_when_unchanged_and_a_fragment_when_a_quote_changes(app, client):
    setup_portfolio(app, client)
    set_price(app, "AAPL", "100")
    set_price(app, "MSFT", "200")
    v = version_of(client.get("/").get_data(as_text=True))

    resp = client.get(f"/portfolio/summary?v={v}", headers={"HX-Request": "true"})
    assert resp.status_code == 204
    assert resp.get_data() == b""

    set_price(app, "AAPL", "101")
    resp = client.get(f"/portfolio/summary?v={v}", headers={"HX-Request": "true"})
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert html.lstrip().startswith('<section id="portfolio-summary"')  # a fragment, not a page
    assert "<html" not in html
    assert "1,510.00 USD" in html  # 10 x 101 + 2.5 x 200
    assert "HX-Request" in resp.headers["Vary"]
    v2 = version_of(html)
    assert v2 != v
    assert client.get(f"/portfolio/summary?v={v2}").status_code == 204


def test_unchanged_poll_costs_one_redis_command(app, client, redis_client, monkeypatch):
    setup_portfolio(app, client)
    set_price(app, "AAPL", "100")
    v = version_of(client.get("/").get_data(as_text=True))
    # a spy on every Redis connection of the process (the app's client and the poll's own
    # connection): every command and pipeline is still sent for real
    from redis.connection import AbstractConnection

    sent = []
    real_pack, real_packs = AbstractConnection.pack_command, AbstractConnection.pack_commands
    monkeypatch.setattr(AbstractConnection, "pack_command",
                        lambda self, *a: sent.append(str(a[0]).upper()) or real_pack(self, *a))
    monkeypatch.setattr(AbstractConnection, "pack_commands",
                        lambda self, cmds: sent.append("PIPELINE") or real_packs(self, cmds))
    assert client.get(f"/portfolio/summary?v={v}").status_code == 204
    assert sent == ["MGET"]
    sent.clear()
    set_price(app, "AAPL", "101")
    sent.clear()
    assert client.get(f"/portfolio/summary?v={v}").status_code == 200
    assert len(sent) > 1  # the spy sees the changed path's reads too


def test_a_new_cycle_rerenders_so_staleness_and_age_are_fresh(app, client):
    setup_portfolio(app, client)
    set_price(app, "AAPL", "100")
    v = version_of(client.get("/").get_data(as_text=True))
    with app.app_context():
        from webapp.services import cache

        cache.finish_cycle({"symbols": 0})
    assert client.get(f"/portfolio/summary?v={v}").status_code == 200


def test_flushed_redis_is_rebuilt_from_the_database(app, client, redis_client):
    setup_portfolio(app, client)
    set_price(app, "AAPL", "100")
    set_price(app, "MSFT", "200")
    for key in redis_client.scan_iter(match=f"{PREFIX}*"):
        redis_client.delete(key)
    html = client.get("/").get_data(as_text=True)
    assert "1,500.00 USD" in html  # never an empty portfolio because Redis forgot
    # and the cache is warm again: quotes and portfolio are back in Redis
    assert redis_client.exists(f"{PREFIX}quote:AAPL")
    assert any(True for _ in redis_client.scan_iter(match=f"{PREFIX}portfolio:*"))


def test_snapshot_written_when_value_changes_not_when_it_does_not(app, client):
    setup_portfolio(app, client, holdings=(("AAPL", "10"),))
    set_price(app, "AAPL", "100")
    with app.app_context():
        n1 = db.session.scalar(sa.select(sa.func.count()).select_from(PortfolioSnapshot))
        from workers.portfolios import recompute_portfolios

        recompute_portfolios()  # nothing changed
        n2 = db.session.scalar(sa.select(sa.func.count()).select_from(PortfolioSnapshot))
    assert n2 == n1
    set_price(app, "AAPL", "101")
    with app.app_context():
        snaps = db.session.scalars(sa.select(PortfolioSnapshot).order_by(PortfolioSnapshot.id)).all()
    assert len(snaps) == n1 + 1
    assert snaps[-1].total_value == Decimal("1010")


def test_dashboard_works_while_redis_is_down(make_app, client, app):
    setup_portfolio(app, client, holdings=(("AAPL", "4"),))
    set_price(app, "AAPL", "25")
    broken = make_app(REDIS_URL="redis://127.0.0.1:1/0")  # nothing listens on port 1
    c = broken.test_client()
    login(c)
    resp = c.get("/")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert "100.00 USD" in html
    assert "Live updates are paused" in html


def test_the_first_fully_priced_state_gets_a_snapshot_even_if_the_total_did_not_move(app, client):
    """The last price to arrive is in a currency without an exchange rate: the base total stays,
    but the portfolio is now fully priced, and its history must start."""
    setup_portfolio(app, client, holdings=(("AAPL", "10"), ("SAP.DE", "2")))
    set_price(app, "AAPL", "100")
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(PortfolioSnapshot)) == 0  # half priced
    set_price(app, "SAP.DE", "200", currency="EUR")
    with app.app_context():
        assert db.session.scalars(sa.select(PortfolioSnapshot.total_value)).all() == [Decimal("1000")]
