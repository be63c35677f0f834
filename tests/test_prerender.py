"""Pre-rendered summary fragments (webapp/web/summary.py): after a recompute the worker renders the
fragment of each active user whose version moved into Redis, and their next poll is served from it
by the fast path. Never another user's, never an outdated one, and nothing breaks without Redis."""
from __future__ import annotations

import time

import pytest
from conftest import PREFIX, login, make_user, post, set_price
from flask import template_rendered
from test_fastpoll import count_queries
from test_portfolio import setup_portfolio, version_of

from webapp.services import cache
from webapp.web.summary import prerender_fragments

HX = {"HX-Request": "true"}


def fragment_in_redis(redis_client, uid: int) -> tuple[str, str] | None:
    raw = redis_client.get(f"{PREFIX}portfolio:{uid}:html")
    if raw is None:
        return None
    token, _, body = raw.decode().partition("\n")
    return token, body


def user_id(app, email: str) -> int:
    import sqlalchemy as sa

    from webapp.extensions import db
    from webapp.models import User

    with app.app_context():
        return db.session.scalar(sa.select(User.id).where(User.email == email))


@pytest.fixture
def renders(app):
    """Every template rendered by the app while the test runs (Flask's own signal)."""
    seen: list[str] = []

    def record(sender, template, context, **extra):
        seen.append(template.name)

    template_rendered.connect(record, app)
    yield seen
    template_rendered.disconnect(record, app)


def add_account(client, holdings):
    url = post(client, "/accounts/", {"name": "Main", "kind": "brokerage"}).headers["Location"]
    for symbol, qty in holdings:
        assert post(client, f"{url}/holdings", {"symbol": symbol, "asset_type": "stock", "quantity": qty}).status_code == 302


def test_the_first_poll_after_a_tick_is_the_prerendered_fragment_byte_for_byte(app, client, redis_client, renders):
    setup_portfolio(app, client, holdings=(("AAPL", "10"),))
    set_price(app, "AAPL", "100")
    v = version_of(client.get("/").get_data(as_text=True))  # the dashboard: Alice is active
    uid = user_id(app, "alice@example.com")
    set_price(app, "AAPL", "101")  # the tick: recompute, then pre-render
    stored = fragment_in_redis(redis_client, uid)
    assert stored is not None and stored[0] != v and "1,010.00 USD" in stored[1]
    queries = count_queries(app)
    renders.clear()
    resp = client.get(f"/portfolio/summary?v={v}", headers=HX)
    assert resp.status_code == 200 and resp.get_data(as_text=True) == stored[1]
    assert renders == [] and queries == []  # a Redis read and a send: no render, no database
    assert resp.headers["HX-Trigger"] == "portfolio-changed"
    assert client.get(f"/portfolio/summary?v={stored[0]}", headers=HX).status_code == 204
    # what the view itself renders for Alice at that version, asked without the cached copy
    redis_client.delete(f"{PREFIX}portfolio:{uid}:html")
    again = client.get(f"/portfolio/summary?v={v}", headers=HX)
    assert renders == ["portfolio/_summary.html"]
    assert again.get_data(as_text=True) == stored[1]
    assert version_of(again.get_data(as_text=True)) == stored[0]


def test_another_users_fragment_is_never_served(app, redis_client):
    make_user(app, "alice@example.com")
    make_user(app, "bob@example.com")
    alice, bob = app.test_client(), app.test_client()
    login(alice, "alice@example.com")
    add_account(alice, (("AAPL", "10"),))
    login(bob, "bob@example.com")
    add_account(bob, (("AAPL", "3"),))
    set_price(app, "AAPL", "100")
    va = version_of(alice.get("/").get_data(as_text=True))
    vb = version_of(bob.get("/").get_data(as_text=True))
    set_price(app, "AAPL", "200")  # both move; both are active: both pre-rendered
    a_id, b_id = user_id(app, "alice@example.com"), user_id(app, "bob@example.com")
    a_frag, b_frag = fragment_in_redis(redis_client, a_id), fragment_in_redis(redis_client, b_id)
    assert "2,000.00 USD" in a_frag[1] and "600.00 USD" in b_frag[1]
    # each asks with the other's version: each gets their own fragment
    got_a = alice.get(f"/portfolio/summary?v={vb}", headers=HX).get_data(as_text=True)
    got_b = bob.get(f"/portfolio/summary?v={va}", headers=HX).get_data(as_text=True)
    assert got_a == a_frag[1] and got_b == b_frag[1]
    assert "2,000.00 USD" not in got_b and "600.00 USD" not in got_a
    # a cookie without a session gets no fragment at all
    anonymous = app.test_client().get(f"/portfolio/summary?v={va}")
    assert anonymous.status_code == 302 and "2,000.00" not in anonymous.get_data(as_text=True)


def test_after_a_new_tick_the_old_fragment_is_not_served(app, client, redis_client):
    setup_portfolio(app, client, holdings=(("AAPL", "10"),))
    set_price(app, "AAPL", "100")
    v = version_of(client.get("/").get_data(as_text=True))
    uid = user_id(app, "alice@example.com")
    set_price(app, "AAPL", "101")
    old = fragment_in_redis(redis_client, uid)
    assert "1,010.00 USD" in old[1]
    app.config["PRERENDER_ACTIVE_MINUTES"] = 0  # the next tick renders nothing: the old copy stays
    set_price(app, "AAPL", "102")
    assert fragment_in_redis(redis_client, uid) == old
    for shown in (v, old[0]):  # the version before both ticks, and the pre-rendered one
        html = client.get(f"/portfolio/summary?v={shown}", headers=HX).get_data(as_text=True)
        assert "1,020.00 USD" in html and "1,010.00 USD" not in html
        assert version_of(html) != old[0]


def test_a_render_that_lost_the_race_with_a_newer_version_is_not_stored(app, client, redis_client):
    setup_portfolio(app, client, holdings=(("AAPL", "10"),))
    set_price(app, "AAPL", "100")
    v = version_of(client.get("/").get_data(as_text=True))
    uid = user_id(app, "alice@example.com")
    set_price(app, "AAPL", "101")
    current = fragment_in_redis(redis_client, uid)
    with app.app_context():
        assert not cache.store_fragment_if_current(uid, v, "<section>old</section>")
        assert cache.store_fragment_if_current(uid, current[0], current[1])
    assert fragment_in_redis(redis_client, uid) == current


def test_only_users_active_lately_are_prerendered_and_the_others_are_forgotten(app, client, redis_client):
    setup_portfolio(app, client, holdings=(("AAPL", "10"),))
    set_price(app, "AAPL", "100")
    client.get("/")
    uid = user_id(app, "alice@example.com")
    redis_client.set(f"{PREFIX}portfolio:{uid}:html", "0.0\n<section>a fragment of an old session</section>")
    with app.app_context():  # her last poll was 16 minutes ago (the window is 15)
        cache.mark_active([uid], time.time() - 16 * 60)
    set_price(app, "AAPL", "101")
    assert fragment_in_redis(redis_client, uid) is None  # not rendered, and the old one dropped
    assert redis_client.zscore(f"{PREFIX}active", str(uid)) is None


def test_the_memory_cap_keeps_the_most_recently_active(app, redis_client):
    ids = {}
    for email, qty in (("alice@example.com", "10"), ("bob@example.com", "3")):
        make_user(app, email)
        c = app.test_client()
        login(c, email)
        add_account(c, (("AAPL", qty),))
        ids[email] = user_id(app, email)
    set_price(app, "AAPL", "100")
    now = time.time()
    with app.app_context():
        cache.mark_active([ids["alice@example.com"]], now - 60)
        cache.mark_active([ids["bob@example.com"]], now)
    set_price(app, "AAPL", "101")  # both pre-rendered: learn a fragment's size
    sizes = {e: len(fragment_in_redis(redis_client, u)[1].encode()) for e, u in ids.items()}
    for u in ids.values():
        redis_client.delete(f"{PREFIX}portfolio:{u}:html")
    app.config["PRERENDER_MAX_BYTES"] = sizes["bob@example.com"] + sizes["alice@example.com"] - 1
    set_price(app, "AAPL", "102")  # the same sizes: room for Bob's alone, the more recent
    assert fragment_in_redis(redis_client, ids["bob@example.com"]) is not None
    assert fragment_in_redis(redis_client, ids["alice@example.com"]) is None


def test_a_new_cycle_prerenders_the_active_users_whose_values_did_not_move(app, redis_client, renders):
    """The cycle's id is part of every token (ages and stale marks follow it): after a cycle every
    active user's poll would render, not only the holders of what moved."""
    clients = {}
    for email, symbol in (("alice@example.com", "AAPL"), ("bob@example.com", "MSFT")):
        make_user(app, email)
        c = clients[email] = app.test_client()
        login(c, email)
        add_account(c, ((symbol, "10"),))
    set_price(app, "AAPL", "100")
    set_price(app, "MSFT", "200")
    shown = {e: version_of(c.get("/").get_data(as_text=True)) for e, c in clients.items()}
    with app.app_context():
        cache.finish_cycle({"symbols": 1})  # a cycle in which only AAPL moved
    set_price(app, "AAPL", "101")  # its recompute: Alice's version moves, Bob's does not
    bob = user_id(app, "bob@example.com")
    stored = fragment_in_redis(redis_client, bob)
    assert stored is not None and stored[0] != shown["bob@example.com"]
    renders.clear()
    resp = clients["bob@example.com"].get(f"/portfolio/summary?v={shown['bob@example.com']}", headers=HX)
    assert resp.status_code == 200 and resp.get_data(as_text=True) == stored[1] and renders == []
    assert "2,000.00 USD" in stored[1]
    html = clients["alice@example.com"].get(f"/portfolio/summary?v={shown['alice@example.com']}",
                                           headers=HX).get_data(as_text=True)
    assert "1,010.00 USD" in html and renders == []


def test_a_poll_marks_its_user_active_at_most_once_a_minute(app, client, redis_client):
    setup_portfolio(app, client, holdings=(("AAPL", "10"),))
    set_price(app, "AAPL", "100")
    v = version_of(client.get("/").get_data(as_text=True))
    uid = user_id(app, "alice@example.com")
    key = f"{PREFIX}active"
    redis_client.delete(key)
    assert client.get(f"/portfolio/summary?v={v}", headers=HX).status_code == 204
    assert redis_client.zscore(key, str(uid)) is None  # the dashboard wrote it a moment ago
    app.extensions["folio_touched"].clear()  # as a minute later, or another process
    assert client.get(f"/portfolio/summary?v={v}", headers=HX).status_code == 204
    first = redis_client.zscore(key, str(uid))
    assert first is not None and abs(first - time.time()) < 60
    assert client.get(f"/portfolio/summary?v={v}", headers=HX).status_code == 204
    assert redis_client.zscore(key, str(uid)) == first


def test_without_redis_the_view_still_answers_and_prerendering_fails_quietly(make_app, app, client):
    setup_portfolio(app, client, holdings=(("AAPL", "4"),))
    set_price(app, "AAPL", "25")
    uid = user_id(app, "alice@example.com")
    broken = make_app(REDIS_URL="redis://127.0.0.1:1/0")  # nothing listens on port 1
    c = broken.test_client()
    login(c)
    for path in ("/", "/portfolio/summary?v=0.0", "/portfolio/summary"):
        resp = c.get(path, headers=HX)
        assert resp.status_code == 200 and "100.00 USD" in resp.get_data(as_text=True)
        assert "Live updates are paused" in resp.get_data(as_text=True)
    with broken.app_context():
        stats = prerender_fragments([uid])
    assert stats["prerendered"] == 0
