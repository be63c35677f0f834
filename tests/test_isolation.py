"""One user can never see or touch another user's accounts and holdings.

Another user's object must look exactly like one that does not exist (404), for every
URL and method, so ids cannot even be probed.
"""
from __future__ import annotations

import re
from decimal import Decimal

import pytest
import sqlalchemy as sa
from conftest import csrf_token, login, post
from quick_users import quick_user

from webapp.extensions import db
from webapp.models import Account, Holding, Instrument

# distinctive, so finding them anywhere on Bob's pages means a leak
ALICE_ACCOUNT = "Alicesecretvault"
ALICE_INSTITUTION = "Alicebankcorp"
ALICE_SYMBOLS = ("ALICEONLY.X", "ZQXALICE")
BOB_ACCOUNT = "Bobsplainaccount"
BOB_SYMBOL = "BOBSYM"
MISSING = 987654321


def create_account(client, name, institution="") -> int:
    resp = post(client, "/accounts/", {"name": name, "institution": institution, "kind": "brokerage"})
    assert resp.status_code == 302
    return int(re.fullmatch(r"/accounts/(\d+)", resp.headers["Location"]).group(1))


def add(client, account_id, symbol, quantity):
    resp = post(client, f"/accounts/{account_id}/holdings", {"symbol": symbol, "asset_type": "stock",
                                                             "quantity": quantity})
    assert resp.status_code == 302


def snapshot(app):
    """Everything stored about accounts and holdings, to compare before and after."""
    with app.app_context():
        accounts = db.session.execute(
            sa.select(Account.id, Account.owner_id, Account.name, Account.institution, Account.kind)
            .order_by(Account.id)
        ).all()
        holdings = db.session.execute(
            sa.select(Holding.id, Holding.account_id, Instrument.symbol, Holding.quantity)
            .join(Instrument, Instrument.id == Holding.instrument_id).order_by(Holding.id)
        ).all()
        return accounts, holdings


@pytest.fixture
def world(app):
    """Alice with an account and two holdings; Bob with his own; both logged in."""
    quick_user(app, "alice@example.com")
    quick_user(app, "bob@example.com")
    alice, bob = app.test_client(), app.test_client()
    login(alice, "alice@example.com")
    login(bob, "bob@example.com")

    a_id = create_account(alice, ALICE_ACCOUNT, ALICE_INSTITUTION)
    add(alice, a_id, ALICE_SYMBOLS[0], "10")
    add(alice, a_id, ALICE_SYMBOLS[1], "0.5")
    b_id = create_account(bob, BOB_ACCOUNT)
    add(bob, b_id, BOB_SYMBOL, "3")
    for client in (alice, bob):  # show the pending "created"/"held" messages, so no later page has them
        client.get("/accounts/")
    with app.app_context():
        h_ids = list(db.session.scalars(sa.select(Holding.id).where(Holding.account_id == a_id)))
    return {"alice": alice, "bob": bob, "a_id": a_id, "b_id": b_id, "h_id": h_ids[0], "h_ids": h_ids}


def urls(a_id, h_id):
    """Every URL of an account and a holding: method, path, a plausible form, the answer expected.

    405 where the route has no such method: the same for any id, so it tells nothing either.
    """
    return [
        ("GET", f"/accounts/{a_id}", None, 404),
        ("POST", f"/accounts/{a_id}", {"name": "x"}, 405),
        ("POST", f"/accounts/{a_id}/rename", {"name": "Taken over"}, 404),
        ("GET", f"/accounts/{a_id}/rename", None, 405),
        ("GET", f"/accounts/{a_id}/delete", None, 404),
        ("POST", f"/accounts/{a_id}/delete", {}, 404),
        ("POST", f"/accounts/{a_id}/holdings", {"symbol": "EVIL", "asset_type": "stock", "quantity": "1"}, 404),
        ("POST", f"/accounts/{a_id}/holdings", {"symbol": ALICE_SYMBOLS[0], "asset_type": "stock",
                                                "quantity": "1", "merge": "1"}, 404),
        ("POST", f"/accounts/{a_id}/holdings", {"symbol": "", "quantity": "bad"}, 404),  # even invalid forms
        ("GET", f"/accounts/{a_id}/holdings", None, 405),
        ("POST", f"/accounts/holdings/{h_id}/quantity", {"quantity": "999"}, 404),
        ("POST", f"/accounts/holdings/{h_id}/quantity", {"quantity": "-1"}, 404),
        ("GET", f"/accounts/holdings/{h_id}/quantity", None, 405),
        ("POST", f"/accounts/holdings/{h_id}/delete", {}, 404),
        ("GET", f"/accounts/holdings/{h_id}/delete", None, 404),  # its confirmation page
        ("POST", f"/accounts/holdings/{h_id}/cost", {"cost": "1", "cost_kind": "total"}, 404),
        ("POST", f"/accounts/holdings/{h_id}/cost", {"cost": "-5", "cost_kind": "nonsense"}, 404),
        ("GET", f"/accounts/holdings/{h_id}/cost", None, 405),
        ("GET", f"/accounts/holdings/{h_id}/split", None, 404),
        ("POST", f"/accounts/holdings/{h_id}/split", {"ratio": "4:1", "effective_date": "2026-01-02"}, 404),
    ]


def request(client, method, url, data, headers, token):
    if method == "GET":
        return client.get(url, headers=headers)
    return client.post(url, data={**data, "csrf_token": token}, headers=headers)


def test_another_users_objects_are_404_on_every_url(app, world, subtests):
    bob = world["bob"]
    token = csrf_token(bob)  # Bob's own valid token: only the ownership check can stop him
    before = snapshot(app)

    for headers in ({}, {"HX-Request": "true"}):
        for (method, url, data, expected), (_, missing_url, _, _) in zip(urls(world["a_id"], world["h_id"]),
                                                                          urls(MISSING, MISSING)):
            with subtests.test(method=method, url=url, form=data, **headers):
                resp = request(bob, method, url, data, headers, token)
                assert resp.status_code == expected
                body = resp.get_data(as_text=True)
                if expected == 404:
                    assert "There is nothing here, or it is not yours." in body
                # exactly what a missing object gets: "not yours" cannot be told from "no such thing"
                assert request(bob, method, missing_url, data, headers, token).status_code == expected
                assert "HX-Redirect" not in resp.headers
                for secret in (ALICE_ACCOUNT, ALICE_INSTITUTION, *ALICE_SYMBOLS):
                    assert secret not in body

    assert snapshot(app) == before
    with app.app_context():
        assert db.session.scalar(sa.select(Instrument.id).where(Instrument.symbol == "EVIL")) is None
    # and Alice still sees all of it
    page = world["alice"].get(f"/accounts/{world['a_id']}").get_data(as_text=True)
    assert ALICE_ACCOUNT in page and all(s in page for s in ALICE_SYMBOLS)


def test_every_holding_of_another_user_is_404(app, world):
    bob = world["bob"]
    for h_id in world["h_ids"]:
        assert post(bob, f"/accounts/holdings/{h_id}/quantity", {"quantity": "1"}).status_code == 404
        assert post(bob, f"/accounts/holdings/{h_id}/delete").status_code == 404
    with app.app_context():
        quantities = sorted(db.session.scalars(sa.select(Holding.quantity).where(Holding.id.in_(world["h_ids"]))))
    assert quantities == [Decimal("0.5"), Decimal("10")]


def test_a_user_cannot_move_a_holding_into_their_account_by_id(app, world):
    """Posting another user's holding id to one's own account's URLs changes nothing of theirs."""
    bob, b_id = world["bob"], world["b_id"]
    before = snapshot(app)
    resp = post(bob, f"/accounts/{b_id}/holdings", {"symbol": ALICE_SYMBOLS[0], "asset_type": "stock",
                                                   "quantity": "1", "holding_id": str(world["h_id"])})
    assert resp.status_code == 302
    accounts, holdings = snapshot(app)
    assert accounts == before[0]
    # Bob got his own new holding; Alice's rows are exactly as they were
    assert [h for h in holdings if h.account_id == world["a_id"]] == [
        h for h in before[1] if h.account_id == world["a_id"]]
    assert any(h.account_id == b_id and h.symbol == ALICE_SYMBOLS[0] for h in holdings)


def test_another_users_data_never_shows_on_my_pages(app, world, subtests):
    b_account = f"/accounts/{world['b_id']}"
    for url in ["/", "/accounts/", "/portfolio/summary", "/portfolio/summary?v=offline", b_account,
                f"{b_account}/delete", "/portfolio/allocation"]:
        for headers in ({}, {"HX-Request": "true"}):
            with subtests.test(url=url, **headers):
                page = world["bob"].get(url, headers=headers)
                assert page.status_code == 200
                body = page.get_data(as_text=True)
                assert BOB_ACCOUNT in body  # Bob's own data is there ...
                if not url.endswith(("/delete", "/accounts/")):  # pages that list holdings
                    assert BOB_SYMBOL in body
                for secret in (ALICE_ACCOUNT, ALICE_INSTITUTION, *ALICE_SYMBOLS):  # ... and only his
                    assert secret not in body, secret



def test_another_users_history_never_shows_in_my_chart_or_export(app, world):
    """Alice's value history (a snapshot with a distinctive total) is in no page or file of Bob's."""
    from datetime import datetime, timezone

    from webapp.models import PortfolioSnapshot, User

    with app.app_context():
        alice_id = db.session.scalar(sa.select(Account.owner_id).where(Account.id == world["a_id"]))
        db.session.add(PortfolioSnapshot(user_id=alice_id, as_of=datetime.now(timezone.utc), currency="USD",
                                         total_value=Decimal("7777777.77"), account_values={}))
        db.session.commit()
        assert db.session.get(User, alice_id) is not None
    for url in ["/portfolio/history?range=All", "/?range=All", "/portfolio/history.csv"]:
        body = world["bob"].get(url).get_data(as_text=True)
        assert "7,777,777.77" not in body and "7777777.77" not in body, url
    assert "7,777,777.77" in world["alice"].get("/portfolio/history?range=All").get_data(as_text=True)

def test_summary_values_only_my_holdings(app, world):
    from conftest import set_price

    set_price(app, ALICE_SYMBOLS[0], "1000")
    set_price(app, BOB_SYMBOL, "2.50")
    body = world["bob"].get("/portfolio/summary").get_data(as_text=True)
    total = re.search(r'id="portfolio-total">([^<]*)<', body).group(1)
    assert total == "7.50 USD"
    assert ALICE_ACCOUNT not in body and ALICE_SYMBOLS[0] not in body
    alice_total = re.search(r'id="portfolio-total">([^<]*)<',
                            world["alice"].get("/portfolio/summary").get_data(as_text=True)).group(1)
    assert alice_total == "10,000.00 USD"


# ---- anonymous visitors -----------------------------------------------------------------------
def anonymous_urls(a_id, h_id):
    return [
        ("GET", "/", None),
        ("GET", "/portfolio/summary", None),
        ("GET", "/accounts/", None),
        ("POST", "/accounts/", {"name": "Anon", "kind": "brokerage"}),
        ("GET", f"/accounts/{a_id}", None),
        ("GET", f"/accounts/{a_id}/delete", None),
        ("POST", f"/accounts/{a_id}/delete", {}),
        ("POST", f"/accounts/{a_id}/rename", {"name": "Anon"}),
        ("POST", f"/accounts/{a_id}/holdings", {"symbol": "ANON", "asset_type": "stock", "quantity": "1"}),
        ("POST", f"/accounts/holdings/{h_id}/quantity", {"quantity": "5"}),
        ("GET", f"/accounts/holdings/{h_id}/delete", None),
        ("POST", f"/accounts/holdings/{h_id}/delete", {}),
        ("POST", "/undo/any-token", {}),
        ("POST", "/auth/logout", {}),
    ]


def test_anonymous_visitors_are_sent_to_the_login_page(app, world, subtests):
    anon = app.test_client()
    token = csrf_token(anon)  # a valid token of the anonymous session: only the login is missing
    before = snapshot(app)
    for headers in ({}, {"HX-Request": "true"}):
        for method, url, data in anonymous_urls(world["a_id"], world["h_id"]):
            with subtests.test(method=method, url=url, **headers):
                if method == "GET":
                    resp = anon.get(url, headers=headers)
                else:
                    resp = anon.post(url, data={**data, "csrf_token": token}, headers=headers)
                assert resp.status_code == 302
                assert resp.headers["Location"].startswith("/auth/login")
                body = resp.get_data(as_text=True)
                for secret in (ALICE_ACCOUNT, *ALICE_SYMBOLS, BOB_ACCOUNT):
                    assert secret not in body
    assert snapshot(app) == before


def test_after_login_the_visitor_returns_to_the_page_asked_for(app, world):
    anon = app.test_client()
    resp = anon.get(f"/accounts/{world['a_id']}")
    assert resp.headers["Location"] == f"/auth/login?next=%2Faccounts%2F{world['a_id']}"
    resp = login(anon, "alice@example.com", next=f"/accounts/{world['a_id']}")
    assert resp.headers["Location"] == f"/accounts/{world['a_id']}"
    assert ALICE_ACCOUNT in anon.get(resp.headers["Location"]).get_data(as_text=True)
