"""Symbol search: the service's merge, ranking, dedupe and Redis cache, and the accounts route
(escaping, every source down, bad queries, rate limit). Providers answer from the replay server."""
from __future__ import annotations

import html
import re
from decimal import Decimal

import payloads as P
import pytest
from conftest import PREFIX, login, post
from payloads import AmfiScheme
from quick_users import quick_user
from replay import replay_fixture  # noqa: F401  (fixture)

from pricing_providers.base import Suggestion
from webapp.services.pricing import search

SOURCES = ("yahoo", "amfi", "coingecko")
COINS = [("bitcoin", "btc", "Bitcoin"), ("apecoin", "ape", "ApeCoin"), ("apple-token", "aplt", "Apple Token")]
SCHEMES = [AmfiScheme("119551", "INF209K01YN0", "-", "Aditya Birla Sun Life Apple Fund - Direct Plan", "50.1"),
           AmfiScheme("122639", "INF879O01027", "-", "Parag Parikh Flexi Cap Fund", "91.18")]


def search_config(replay, **extra) -> dict:
    return {"SYMBOL_SEARCH_PROVIDERS": ",".join(SOURCES), "SYMBOL_SEARCH_TIMEOUT": 1.0,
            **{f"PROVIDER_{n.upper()}_URL": replay.url for n in SOURCES}, **extra}


def route_all(replay, yahoo_quotes=None) -> None:
    replay.route(P.YAHOO_SEARCH, body=P.yahoo_search(yahoo_quotes if yahoo_quotes is not None else [
        P.yahoo_search_quote("APLE", "Apple Hospitality REIT, Inc.", exchange="NYQ", exch_disp="NYSE"),
        P.yahoo_search_quote("AAPL", "Apple Inc."),
        P.yahoo_search_quote("APC.DE", "Apple Inc.", exchange="GER", exch_disp="XETRA"),
    ]))
    replay.route(P.AMFI_NAVALL, body=P.amfi_navall(SCHEMES))
    replay.route(P.COINGECKO_LIST, body=P.coingecko_coins_list(COINS))


def route_all_down(replay) -> None:
    replay.route(P.YAHOO_SEARCH, status=429, body=P.YAHOO_TOO_MANY)
    replay.route(P.AMFI_NAVALL, status=503)
    replay.route(P.COINGECKO_LIST, status=500)


@pytest.fixture
def app(make_app, replay):
    return make_app(**search_config(replay))


@pytest.fixture
def client(app):
    quick_user(app, "alice@example.com")
    client = app.test_client()
    login(client)
    return client


def text(resp) -> str:
    return " ".join(html.unescape(resp.get_data(as_text=True)).split())


# ---- ranking (pure) --------------------------------------------------------------------------
def s(symbol, name="", source="x"):
    return Suggestion(symbol, name, "", "", "stock", source)


def test_rank_puts_the_exact_symbol_first_then_prefixes_then_names_and_drops_duplicates():
    found = [s("APLE", "Apple Hospitality"), s("XYZ", "Something else"), s("AAPL", "Apple Inc."),
             s("APPLX", "Fund"), s("APPL", "Appl exact"), s("APPL", "the same symbol again", "other"),
             s("APPL.L", "London listing")]
    ranked = search.rank("appl", found)
    assert [x.symbol for x in ranked] == ["APPL", "APPL.L", "APPLX", "APLE", "AAPL", "XYZ"]
    assert ranked[0].name == "Appl exact"  # the first source to offer a symbol wins
    assert [x.symbol for x in search.rank("btc", [s("BTCX"), s("BTC-EUR")])] == ["BTC-EUR", "BTCX"]
    assert len(search.rank("a", [s(f"A{i}") for i in range(30)])) == search.MAX_SUGGESTIONS


@pytest.mark.parametrize("raw, normalized", [("  Apple   Inc ", "apple inc"), ("AB", "ab"), ("a", None), ("", None),
                                             (None, None), ("x" * 40, "x" * 40)])
def test_normalize(raw, normalized):
    assert search.normalize(raw) == normalized


@pytest.mark.parametrize("raw", ["x" * 41, "ab\x00c", "ab\u202ec"])
def test_normalize_refuses_long_or_unprintable_queries(raw):
    with pytest.raises(search.BadQuery):
        search.normalize(raw)


# ---- the service -------------------------------------------------------------------------------
def test_suggest_merges_the_three_sources_ranked(app, replay):
    route_all(replay)
    with app.app_context():
        result = search.suggest("Apple", "EUR")
    assert result.note == "" and result.failed == []
    pairs = [(x.symbol, x.source) for x in result.suggestions]
    # nothing is the symbol APPLE; names whose word starts with "apple" come in source order
    assert pairs == [("APLE", "yahoo"), ("AAPL", "yahoo"), ("APC.DE", "yahoo"), ("119551", "amfi"),
                     ("APLT-EUR", "coingecko")]
    amfi = result.suggestions[3]
    assert (amfi.currency, amfi.asset_type, amfi.exchange) == ("INR", "mutual_fund", "AMFI")
    assert [r.path for r in replay.requests].count(P.YAHOO_SEARCH) == 1


def test_suggest_ranks_an_exact_symbol_first_and_dedupes_across_sources(app, replay):
    route_all(replay, [P.yahoo_search_quote("BTC-EUR", "Bitcoin EUR", quote_type="CRYPTOCURRENCY", exchange="CCC",
                                            exch_disp="CCC"),
                       P.yahoo_search_quote("BTCS", "BTCS Inc.")])
    with app.app_context():
        result = search.suggest("btc", "eur")
    assert [(x.symbol, x.source) for x in result.suggestions] == [("BTC-EUR", "yahoo"), ("BTCS", "yahoo")]


def test_a_second_identical_query_is_answered_from_redis(app, replay, redis_client):
    route_all(replay)
    with app.app_context():
        first = search.suggest("apple", "USD")
        asked = len(replay.requests)
        assert asked == 3  # one each: Yahoo's search, AMFI's file, CoinGecko's list
        again = search.suggest("  APPLE ", "usd")  # the same query once normalized
    assert len(replay.requests) == asked  # no HTTP request at all
    assert again == first
    ttl = redis_client.ttl(f"{PREFIX}search:USD:apple")
    assert 3500 < ttl <= 3600


def test_a_failed_source_is_left_out_and_the_answer_kept_briefly(app, replay, redis_client):
    route_all(replay)
    replay.route(P.AMFI_NAVALL, status=503)
    with app.app_context():
        result = search.suggest("apple", "USD")
    assert result.failed == ["amfi"] and result.note == search.NOTE_SOME_DOWN
    assert "119551" not in [x.symbol for x in result.suggestions] and result.suggestions
    assert 0 < redis_client.ttl(f"{PREFIX}search:USD:apple") <= search.PARTIAL_TTL


def test_a_slow_source_is_not_waited_for(app, replay):
    route_all(replay)
    replay.route(P.COINGECKO_LIST, body=P.coingecko_coins_list(COINS), delay=5)
    with app.app_context():
        result = search.suggest("apple", "USD")
    assert result.failed == ["coingecko"]
    assert [x.symbol for x in result.suggestions][:1] == ["APLE"]


def test_search_off_or_too_short_asks_nobody(make_app, replay):
    route_all(replay)
    off = make_app(**search_config(replay, SYMBOL_SEARCH_PROVIDERS=""))
    with off.app_context():
        assert search.suggest("apple").note == search.NOTE_OFF
        assert search.suggest("a").suggestions == []
    assert replay.requests == []


# ---- the route ---------------------------------------------------------------------------------
def test_the_route_renders_each_suggestion_escaped(client, replay):
    route_all(replay, [P.yahoo_search_quote("EVIL", "<script>alert('x')</script> & Co", exch_disp="<b>NYSE</b>")])
    resp = client.get("/accounts/symbols?symbol=evil", headers={"HX-Request": "true"})
    assert resp.status_code == 200
    body = resp.get_data(as_text=True)
    assert "<script>" not in body and "<b>" not in body
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; Co" in body
    assert 'id="symbol-suggestions"' in body and 'role="listbox"' in body
    assert re.search(r'<li id="symbol-option-1" role="option" aria-selected="false"\s+data-symbol="EVIL" '
                     r'data-asset-type="stock" data-currency="USD">', body)
    assert "USD · Stock" in text(resp)


def test_every_source_down_gives_a_note_and_the_form_still_posts(app, client, replay):
    route_all_down(replay)
    resp = client.get("/accounts/symbols?q=apple")
    assert resp.status_code == 200
    assert search.NOTE_ALL_DOWN in text(resp)
    assert 'role="option"' not in resp.get_data(as_text=True)
    created = post(client, "/accounts/", {"name": "Main", "institution": "", "kind": "brokerage"})
    aid = int(created.headers["Location"].rsplit("/", 1)[1])
    page = client.get(f"/accounts/{aid}")
    assert 'role="combobox"' in page.get_data(as_text=True)
    added = post(client, f"/accounts/{aid}/holdings", {"symbol": "zzzq", "asset_type": "etf", "quantity": "2"})
    assert added.status_code == 302
    assert "ZZZQ: 2 held." in text(client.get(f"/accounts/{aid}"))
    from webapp.extensions import db
    from webapp.models import Holding, Instrument
    with app.app_context():
        inst = db.session.query(Instrument).filter_by(symbol="ZZZQ").one()
        assert inst.asset_type == "etf"
        assert db.session.query(Holding).filter_by(instrument_id=inst.id).one().quantity == Decimal("2")


def test_bad_queries(client, replay):
    route_all(replay)
    assert client.get("/accounts/symbols?q=" + "x" * 41).status_code == 400
    assert client.get("/accounts/symbols?q=ab%00").status_code == 400
    short = client.get("/accounts/symbols?q=a")
    assert short.status_code == 200 and 'role="option"' not in short.get_data(as_text=True)
    assert replay.requests == []


def test_the_route_needs_a_login(app, replay):
    resp = app.test_client().get("/accounts/symbols?q=apple")
    assert resp.status_code in (302, 401)
    assert replay.requests == []


def test_the_route_is_rate_limited_per_user(make_app, replay):
    route_all(replay)
    app = make_app(**search_config(replay, SYMBOL_SEARCH_RATE_LIMIT="3 per minute"))
    quick_user(app, "alice@example.com")
    client = app.test_client()
    login(client)
    codes = [client.get(f"/accounts/symbols?q=ap{i}").status_code for i in range(4)]
    assert codes == [200, 200, 200, 429]
