"""Delete asks first, and can be undone for UNDO_SECONDS: the account or holding comes back
exactly as it was (ids, quantities, costs, activities) and the portfolio's value with it."""
from __future__ import annotations

import re
import time
from decimal import Decimal

import pytest
import sqlalchemy as sa
from conftest import csrf_token, login, post, set_price
from quick_users import quick_user
from test_accounts import add, create_account, holding_id, text

from webapp import embedded
from webapp.extensions import db
from webapp.models import Account, Activity, Holding

UNDO_RE = re.compile(r'action="(/undo/[^"]+)"')


@pytest.fixture
def alice(app):
    return quick_user(app, "alice@example.com")


@pytest.fixture
def client(app, alice):
    client = app.test_client()
    login(client)
    return client


def stored(app) -> dict[str, list[dict]]:
    """Every row of the tables a delete touches, as the database has them."""
    with app.app_context():
        return {model.__tablename__: [dict(r) for r in db.session.execute(
            sa.select(model.__table__).order_by(model.__table__.c.id)).mappings()]
            for model in (Account, Holding, Activity)}


def total(client) -> str:
    m = re.search(r'id="portfolio-total">([^<]*)<', client.get("/").get_data(as_text=True))
    return m.group(1)


def undo_url(page) -> str:
    m = UNDO_RE.search(page if isinstance(page, str) else page.get_data(as_text=True))
    assert m, "no Undo button on the page"
    return m.group(1)


def record(client, account_id, **fields):
    resp = post(client, f"/accounts/{account_id}/activities", fields)
    assert resp.status_code == 302, text(resp)[-800:]


@pytest.fixture
def portfolio(app, client):
    """Two accounts: Broker (a ledger of buys, a sale, a dividend, a fee, a split, and a holding
    entered by hand with a cost) and Kept (one holding), all priced."""
    broker, kept = create_account(client, "Broker"), create_account(client, "Kept")
    record(client, broker, date="2025-01-06", type="buy", symbol="AAPL", quantity="10", price="150.5",
           fee="1", currency="USD")
    record(client, broker, date="2025-02-03", type="sell", symbol="AAPL", quantity="4", price="170",
           fee="0.5", currency="USD")
    record(client, broker, date="2025-03-03", type="dividend", symbol="AAPL", amount="2.4", currency="USD")
    record(client, broker, date="2025-04-01", type="split", symbol="AAPL", ratio="2:1", currency="USD")
    record(client, broker, date="2025-04-02", type="fee", amount="3", currency="USD")
    assert add(client, broker, "MSFT", "3.25", cost="900.10").status_code == 302
    assert add(client, kept, "VOD.L", "100", cost="70").status_code == 302
    for symbol, price in (("AAPL", "101.25"), ("MSFT", "410"), ("VOD.L", "0.7")):
        set_price(app, symbol, price, currency="USD")
    return broker, kept


def test_an_account_comes_back_exactly_as_it_was_with_its_value(app, client, portfolio):
    broker, kept = portfolio
    before, value_before = stored(app), total(client)
    assert value_before == "2,617.50 USD"  # 12 × 101.25 + 3.25 × 410 + 100 × 0.7

    resp = post(client, f"/accounts/{broker}/delete")
    assert resp.status_code == 302 and resp.headers["Location"] == "/accounts/"
    page = client.get("/accounts/")
    assert "Account “Broker” and its holdings were deleted." in text(page)
    assert stored(app)["accounts"] == [a for a in before["accounts"] if a["id"] == kept]
    assert {h["account_id"] for h in stored(app)["holdings"]} == {kept}
    assert total(client) == "70.00 USD"
    dashboard = client.get("/").get_data(as_text=True)
    url = undo_url(dashboard)  # the dashboard offers the Undo too
    assert url == undo_url(page)

    resp = post(client, url, {"back": "/accounts/"})
    assert resp.status_code == 302 and resp.headers["Location"] == "/accounts/"
    assert "Account “Broker” is back." in text(client.get("/accounts/"))
    assert stored(app) == before  # same ids, quantities, cost bases, activities, dates
    assert total(client) == value_before
    assert UNDO_RE.search(client.get("/").get_data(as_text=True)) is None  # used: the offer is gone


def test_a_holding_comes_back_with_its_activities_and_only_them(app, client, portfolio):
    broker, _ = portfolio
    before, value_before = stored(app), total(client)
    aapl = holding_id(app, broker, "AAPL")
    resp = post(client, f"/accounts/holdings/{aapl}/delete")
    assert resp.status_code == 302 and resp.headers["Location"] == f"/accounts/{broker}"
    after = stored(app)
    assert [h["id"] for h in after["holdings"]] == [h["id"] for h in before["holdings"] if h["id"] != aapl]
    assert {a["type"] for a in after["activities"] if a["account_id"] == broker} == {"opening", "fee"}
    assert total(client) == "1,402.50 USD"

    page = client.get(f"/accounts/{broker}")
    assert "AAPL removed." in text(page)
    resp = post(client, undo_url(page), {"back": f"/accounts/{broker}"})
    assert resp.status_code == 302 and resp.headers["Location"] == f"/accounts/{broker}"
    assert stored(app) == before
    assert total(client) == value_before
    assert "<td>AAPL</td>" in client.get(f"/accounts/{broker}").get_data(as_text=True)


def test_undo_with_htmx_on_the_dashboard_swaps_the_offer_and_refreshes_the_summary(app, client, portfolio):
    broker, _ = portfolio
    aapl = holding_id(app, broker, "AAPL")
    shown = re.search(r'data-version="([^"]+)"', client.get("/").get_data(as_text=True)).group(1)
    token = csrf_token(client)
    resp = client.post(f"/accounts/holdings/{aapl}/delete?from=dashboard",
                       headers={"HX-Request": "true", "X-CSRFToken": token})
    assert resp.status_code == 204 and resp.headers["HX-Redirect"] == "/"
    dashboard = client.get("/").get_data(as_text=True)
    after_delete = re.search(r'data-version="([^"]+)"', dashboard).group(1)
    resp = client.post(undo_url(dashboard), data={"back": "/"}, headers={"HX-Request": "true", "X-CSRFToken": token})
    assert resp.status_code == 200
    assert resp.headers["HX-Trigger"] == "folio:restored"
    assert 'id="undo-offer"' in resp.get_data(as_text=True) and "AAPL is back." in text(resp)
    # the summary's poll (which the trigger fires) finds a new version with the holding in it
    poll = client.get(f"/portfolio/summary?v={after_delete}", headers={"HX-Request": "true"})
    assert poll.status_code == 200 and f'id="h-{aapl}"' in poll.get_data(as_text=True)
    assert shown != after_delete


def test_too_late_to_undo_is_said_plainly(make_app):
    app = make_app(UNDO_SECONDS=1, UNDO_GRACE_SECONDS=0)
    quick_user(app, "alice@example.com")
    client = app.test_client()
    login(client)
    aid = create_account(client, "Broker")
    add(client, aid, "AAPL", "2")
    post(client, f"/accounts/holdings/{holding_id(app, aid, 'AAPL')}/delete")
    url = undo_url(client.get(f"/accounts/{aid}"))
    time.sleep(2.2)
    assert UNDO_RE.search(client.get(f"/accounts/{aid}").get_data(as_text=True)) is None  # no button now
    resp = post(client, url, {"back": f"/accounts/{aid}"})
    assert resp.status_code == 410
    assert "Too late to undo" in text(resp)
    assert stored(app)["holdings"] == []


def test_undo_works_once(app, client, portfolio):
    broker, _ = portfolio
    post(client, f"/accounts/holdings/{holding_id(app, broker, 'MSFT')}/delete")
    url = undo_url(client.get(f"/accounts/{broker}"))
    assert post(client, url).status_code == 302
    before = stored(app)
    resp = post(client, url)
    assert resp.status_code == 410 and "Too late to undo" in text(resp)
    assert stored(app) == before


def test_another_users_token_is_not_found_and_stays_usable_by_its_owner(app, client, portfolio):
    broker, _ = portfolio
    post(client, f"/accounts/{broker}/delete")
    url = undo_url(client.get("/"))
    quick_user(app, "bob@example.com")
    bob = app.test_client()
    login(bob, "bob@example.com")
    gone = stored(app)
    assert post(bob, url).status_code == 404
    assert post(bob, "/undo/forged-token").status_code == 404
    assert post(client, url[:-3] + "abc").status_code == 404  # a token tampered with
    assert stored(app) == gone
    assert post(client, url).status_code == 302  # Alice's own undo still works
    assert [a["name"] for a in stored(app)["accounts"]] == ["Broker", "Kept"]


def test_undo_needs_the_csrf_token_and_a_login(app, client, portfolio):
    broker, _ = portfolio
    post(client, f"/accounts/{broker}/delete")
    url = undo_url(client.get("/"))
    resp = client.post(url, data={"back": "/"})
    assert resp.status_code == 400 and "security token" in text(resp)
    assert app.test_client().post(url).status_code in (302, 400)  # not logged in: nothing happens
    assert [a["name"] for a in stored(app)["accounts"]] == ["Kept"]
    assert post(client, url).status_code == 302
    assert [a["name"] for a in stored(app)["accounts"]] == ["Broker", "Kept"]


def test_a_holding_added_again_meanwhile_is_a_clear_conflict(app, client):
    aid = create_account(client, "Broker")
    add(client, aid, "AAPL", "2")
    post(client, f"/accounts/holdings/{holding_id(app, aid, 'AAPL')}/delete")
    url = undo_url(client.get(f"/accounts/{aid}"))
    add(client, aid, "AAPL", "5")
    resp = post(client, url)
    assert resp.status_code == 409
    assert "AAPL is held in “Broker” again; it was not put back twice." in text(resp)
    with app.app_context():
        assert db.session.scalars(sa.select(Holding.quantity)).all() == [Decimal("5")]


def test_every_delete_asks_first(app, client, portfolio):
    broker, _ = portfolio
    aapl = holding_id(app, broker, "AAPL")
    detail = client.get(f"/accounts/{broker}").get_data(as_text=True)
    # the holding row and the account: a GET form (the confirmation page) that htmx turns into a dialog
    assert f'<form method="get" action="/accounts/holdings/{aapl}/delete">' in detail
    assert f'hx-post="/accounts/holdings/{aapl}/delete"' in detail and "hx-confirm=\"Remove AAPL" in detail
    assert f'<form method="get" action="/accounts/{broker}/delete">' in detail
    dashboard = client.get("/").get_data(as_text=True)
    assert f'href="/accounts/holdings/{aapl}/delete?from=dashboard"' in dashboard
    assert f'hx-post="/accounts/{broker}/delete?from=dashboard"' in dashboard
    assert dashboard.count("hx-confirm=") >= 4  # every holding and every account
    confirm = client.get(f"/accounts/holdings/{aapl}/delete?from=dashboard")
    assert confirm.status_code == 200 and "Remove AAPL from “Broker”?" in text(confirm)
    assert "You can undo it for 10 seconds" in text(confirm)
    assert len(stored(app)["holdings"]) == 3  # asking deleted nothing
    resp = post(client, f"/accounts/holdings/{aapl}/delete", {"from": "dashboard"})
    assert resp.status_code == 302 and resp.headers["Location"] == "/"


def test_a_delete_while_the_cache_is_down_says_it_cannot_be_undone(make_app):
    proc, url = embedded.start()
    try:
        app = make_app(REDIS_URL=url)
        quick_user(app, "alice@example.com")
        client = app.test_client()
        login(client)
        aid = create_account(client, "Broker")
        add(client, aid, "AAPL", "2")
        add(client, aid, "MSFT", "3")
        post(client, f"/accounts/holdings/{holding_id(app, aid, 'MSFT')}/delete")
        earlier_undo = undo_url(client.get(f"/accounts/{aid}"))
        hid = holding_id(app, aid, "AAPL")
    finally:
        proc.terminate()
        proc.wait(10)
    resp = post(client, f"/accounts/holdings/{hid}/delete")
    assert resp.status_code == 302
    page = client.get(f"/accounts/{aid}")
    assert "AAPL removed. It cannot be undone: the cache is unavailable" in text(page)
    assert UNDO_RE.search(page.get_data(as_text=True)) is None
    assert stored(app)["holdings"] == []
    # an Undo asked while the cache is down: said plainly, nothing half-restored
    resp = post(client, earlier_undo)
    assert resp.status_code == 503 and "Undo is unavailable right now" in text(resp)
    assert stored(app)["holdings"] == []


def ledger_view(rows: dict[str, list[dict]]) -> tuple[list, list]:
    """The activities, and what the ledger says of each holding (an activity's change lets the
    ledger also fill in the base-currency cost of the user's other holdings: not undone)."""
    keys = ("id", "account_id", "instrument_id", "quantity", "cost_basis")
    return rows["activities"], [tuple(h[k] for k in keys) for h in rows["holdings"]]


def activity_id(app, type_: str) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(Activity.id).where(Activity.type == type_))


def test_an_activity_comes_back_and_its_holding_is_worked_out_again(app, client, portfolio):
    broker, _ = portfolio
    before, value_before = stored(app), total(client)
    resp = post(client, f"/activities/{activity_id(app, 'sell')}/delete")
    assert resp.status_code == 302
    page = client.get(f"/accounts/{broker}/activities")
    assert "Sell of 4 AAPL on 2025-02-03 deleted." in text(page)
    assert total(client) == "3,427.50 USD"  # 20 AAPL now (the split doubled 10)
    resp = post(client, undo_url(page), {"back": f"/accounts/{broker}/activities"})
    assert resp.status_code == 302 and resp.headers["Location"] == f"/accounts/{broker}/activities"
    assert "Sell of 4 AAPL on 2025-02-03 is back." in text(client.get(resp.headers["Location"]))
    assert ledger_view(stored(app)) == ledger_view(before)
    assert total(client) == value_before


def test_an_opening_whose_holding_went_with_it_brings_the_holding_back_with_its_id(app, client, portfolio):
    broker, _ = portfolio
    before = stored(app)
    msft = holding_id(app, broker, "MSFT")
    post(client, f"/activities/{activity_id(app, 'opening')}/delete")
    assert msft not in [h["id"] for h in stored(app)["holdings"]]
    post(client, undo_url(client.get(f"/accounts/{broker}/activities")))
    assert ledger_view(stored(app)) == ledger_view(before)


def test_an_activity_the_ledger_no_longer_allows_is_refused_with_the_reason(app, client, portfolio):
    broker, _ = portfolio
    post(client, f"/activities/{activity_id(app, 'sell')}/delete")
    url = undo_url(client.get(f"/accounts/{broker}/activities"))
    record(client, broker, date="2025-05-02", type="sell", symbol="AAPL", quantity="20", price="120",
           currency="USD")  # all 20 (10 bought, split 2:1): the deleted sale of 4 no longer fits
    before = stored(app)
    resp = post(client, url)
    assert resp.status_code == 409
    assert "Sell of 4 AAPL on 2025-02-03 could not be put back: You held" in text(resp)
    assert stored(app) == before
