"""Yahoo's batch endpoints against the replay server: v7 quote with cookie and crumb, the
keyless spark fallback, and what each batch costs in HTTP requests."""
from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import payloads as P
import pytest
from replay import replay_fixture  # noqa: F401  (fixture, also with --noconftest)

from pricing_providers import registry
from pricing_providers.base import (
    InstrumentRef,
    MalformedAnswer,
    MemoryStore,
    ProviderDown,
    Quote,
    RateLimit,
    RateLimited,
    UnknownSymbol,
)
from pricing_providers.chain import Chain, MemoryThrottle
from pricing_providers.yahoo import YahooProvider

T = 1790726918
COOKIE_VALUE = "A3=d=AQABBKx1&S=AQAAAk"


def make(replay, **kw) -> YahooProvider:
    kw = {"timeout": 0.3, "backoff": 0.01, "retries": 0, **kw}
    return YahooProvider(base_url=replay.url, **kw)


def serve_cookie_and_crumb(replay, crumb: str = P.YAHOO_CRUMB_TEXT) -> None:
    replay.handle(P.YAHOO_COOKIE, lambda path, query, headers: P.yahoo_cookie_answer())
    replay.route(P.YAHOO_CRUMB, body=crumb)


def serve_quotes(replay, prices: dict[str, str], *, null: tuple[str, ...] = ()) -> None:
    """v7 answers the symbols it knows (those in `prices`), like the real endpoint."""

    def handler(path, query, headers):
        if query.get("crumb") != P.YAHOO_CRUMB_TEXT or "A3=" not in (headers.get("cookie") or ""):
            return 401, {"Content-Type": "application/json"}, P.yahoo_invalid_crumb()
        asked = query["symbols"].split(",")
        items = [P.yahoo_quote_item(s, None if s in null else prices[s], previous_close="1.5")
                 for s in asked if s in prices]
        return 200, {}, P.yahoo_quote(items)

    replay.handle(P.YAHOO_QUOTE, handler)


def serve_spark(replay, prices: dict[str, str]) -> None:
    def handler(path, query, headers):
        asked = query["symbols"].split(",")
        if len(asked) > 20:
            return 400, {}, P.to_json({"spark": {"result": None, "error": {"code": "Bad Request", "description": "too many symbols"}}})
        return 200, {}, P.yahoo_spark([P.yahoo_spark_item(s, prices[s], previous_close="1.5") for s in asked if s in prices])

    replay.handle(P.YAHOO_SPARK, handler)


def refs(symbols) -> list[InstrumentRef]:
    return [InstrumentRef(s) for s in symbols]


def many(n: int) -> dict[str, str]:
    return {f"S{i:03d}": f"{i + 1}.25" for i in range(n)}


# ---- v7 quote --------------------------------------------------------------------------
def test_full_batch_through_v7_with_cookie_and_crumb(replay):
    serve_cookie_and_crumb(replay)
    replay.route(P.YAHOO_QUOTE, body=P.yahoo_quote([
        P.yahoo_quote_item("AAPL", "182.650000000000000001", "USD", T, previous_close="185.57"),
        P.yahoo_quote_item("VOD.L", "7250.5", "GBp", T, previous_close="7200"),
        P.yahoo_quote_item("BRK-B", "410.12", "USD", T),
    ]))
    inst_brk = InstrumentRef("BRK.B", "stock", "USD", {"yahoo": "BRK-B"})
    out = make(replay).fetch([InstrumentRef("AAPL"), InstrumentRef("VOD.L"), inst_brk])

    assert replay.paths == [P.YAHOO_COOKIE, P.YAHOO_CRUMB, P.YAHOO_QUOTE]
    crumb_req, quote_req = replay.requests[1], replay.requests[2]
    assert crumb_req.headers["cookie"] == COOKIE_VALUE
    assert quote_req.headers["cookie"] == COOKIE_VALUE
    assert quote_req.query == {"symbols": "AAPL,VOD.L,BRK-B", "crumb": P.YAHOO_CRUMB_TEXT}

    a = out["AAPL"]
    assert isinstance(a, Quote) and a.price == Decimal("182.650000000000000001")  # exact, never a float
    assert (a.currency, a.previous_close, a.source, a.currency_inferred) == ("USD", Decimal("185.57"), "yahoo", False)
    assert a.as_of == datetime.fromtimestamp(T, tz=timezone.utc)
    v = out["VOD.L"]
    assert (v.price, v.currency, v.previous_close) == (Decimal("72.505"), "GBP", Decimal("72"))  # pence
    assert out["BRK.B"].symbol == "BRK.B" and out["BRK.B"].price == Decimal("410.12")


def test_partial_batch_missing_is_unknown_and_null_price_is_malformed_for_that_symbol_only(replay):
    serve_cookie_and_crumb(replay)
    serve_quotes(replay, {"AAPL": "182.65", "MSFT": "401.2", "IBM": "104"}, null=("MSFT",))
    out = make(replay).fetch(refs(["AAPL", "NOPE", "MSFT", "IBM"]))
    assert out["AAPL"].price == Decimal("182.65") and out["IBM"].price == Decimal("104")
    assert isinstance(out["NOPE"], UnknownSymbol)
    assert isinstance(out["MSFT"], MalformedAnswer) and "regularMarketPrice" in str(out["MSFT"])
    assert replay.paths.count(P.YAHOO_QUOTE) == 1


def test_crumb_is_kept_in_the_store_and_shared_by_instances(replay):
    serve_cookie_and_crumb(replay)
    serve_quotes(replay, {"AAPL": "182.65", "MSFT": "401.2"})
    store = MemoryStore()
    make(replay, store=store).fetch(refs(["AAPL", "MSFT"]))
    make(replay, store=store).fetch(refs(["AAPL", "MSFT"]))  # another worker, same store
    assert replay.paths.count(P.YAHOO_CRUMB) == 1 and replay.paths.count(P.YAHOO_COOKIE) == 1
    assert replay.paths.count(P.YAHOO_QUOTE) == 2
    host = replay.url.split("//", 1)[1]
    assert store.get(f"yahoo:{host}:crumb") == P.YAHOO_CRUMB_TEXT
    assert store.get(f"yahoo:{host}:cookie") == COOKIE_VALUE


def test_invalid_crumb_401_renews_once_then_succeeds(replay):
    store = MemoryStore()
    host = replay.url.split("//", 1)[1]
    store.set(f"yahoo:{host}:crumb", "stale", 3600)  # from an earlier cycle, since expired at Yahoo
    store.set(f"yahoo:{host}:cookie", "A3=old", 3600)
    serve_cookie_and_crumb(replay)
    serve_quotes(replay, {"AAPL": "182.65", "MSFT": "401.2"})
    out = make(replay, store=store).fetch(refs(["AAPL", "MSFT"]))

    assert out["AAPL"].price == Decimal("182.65") and out["MSFT"].price == Decimal("401.2")
    assert replay.paths == [P.YAHOO_QUOTE, P.YAHOO_COOKIE, P.YAHOO_CRUMB, P.YAHOO_QUOTE]
    stale, fresh = replay.requests_to(P.YAHOO_QUOTE)
    assert stale.query["crumb"] == "stale" and stale.headers["cookie"] == "A3=old"
    assert fresh.query["crumb"] == P.YAHOO_CRUMB_TEXT and fresh.headers["cookie"] == COOKIE_VALUE


def test_401_that_persists_renews_exactly_once_then_falls_back_to_spark(replay):
    serve_cookie_and_crumb(replay)
    replay.route(P.YAHOO_QUOTE, status=401, body=P.yahoo_invalid_crumb(), content_type="application/json")
    serve_spark(replay, {"AAPL": "182.65", "MSFT": "401.2"})
    provider = make(replay)
    out = provider.fetch(refs(["AAPL", "MSFT"]))
    assert out["AAPL"].price == Decimal("182.65") and out["MSFT"].price == Decimal("401.2")
    assert replay.paths == [P.YAHOO_COOKIE, P.YAHOO_CRUMB, P.YAHOO_QUOTE,  # first crumb
                            P.YAHOO_COOKIE, P.YAHOO_CRUMB, P.YAHOO_QUOTE,  # the one renewal
                            P.YAHOO_SPARK]

    replay.requests.clear()
    provider.fetch(refs(["AAPL", "MSFT"]))  # v7 is remembered as unusable for a while
    assert replay.paths == [P.YAHOO_SPARK]


# ---- spark fallback ------------------------------------------------------------------------
@pytest.mark.parametrize("status,body", [(429, "Too Many Requests"), (404, "<html>Not Found</html>"), (200, "")])
def test_spark_fallback_when_getcrumb_fails(replay, status, body):
    replay.handle(P.YAHOO_COOKIE, lambda path, query, headers: P.yahoo_cookie_answer())
    replay.route(P.YAHOO_CRUMB, status=status, body=body)
    replay.route(P.YAHOO_SPARK, body=P.yahoo_spark([
        P.yahoo_spark_item("AAPL", "182.65", "USD", T, previous_close="185.57"),
        P.yahoo_spark_item("VOD.L", "7250.5", "GBp", T, previous_close="7200"),
    ]))
    out = make(replay).fetch(refs(["AAPL", "VOD.L"]))
    assert replay.paths == [P.YAHOO_COOKIE, P.YAHOO_CRUMB, P.YAHOO_SPARK]
    assert replay.requests[2].query == {"symbols": "AAPL,VOD.L", "range": "1d", "interval": "5m"}
    assert (out["AAPL"].price, out["AAPL"].previous_close) == (Decimal("182.65"), Decimal("185.57"))
    assert out["AAPL"].as_of == datetime.fromtimestamp(T, tz=timezone.utc)
    assert (out["VOD.L"].price, out["VOD.L"].currency) == (Decimal("72.505"), "GBP")


def test_spark_partial_batch(replay):
    replay.route(P.YAHOO_CRUMB, status=404, body="no")
    no_price = P.yahoo_spark_item("MSFT", "401.2")
    no_price["response"][0]["meta"]["regularMarketPrice"] = None
    replay.route(P.YAHOO_SPARK, body=P.yahoo_spark([
        P.yahoo_spark_item("AAPL", "182.65"),
        P.yahoo_spark_item("GONE", None, empty=True),
        no_price,
        {"symbol": "BAD", "response": [], "error": {"code": "Not Found", "description": "No data found"}},
    ]))
    out = make(replay).fetch(refs(["AAPL", "GONE", "MSFT", "BAD", "MISSING"]))
    assert out["AAPL"].price == Decimal("182.65")
    assert isinstance(out["GONE"], UnknownSymbol)
    assert isinstance(out["MSFT"], MalformedAnswer)
    assert isinstance(out["BAD"], UnknownSymbol)
    assert isinstance(out["MISSING"], UnknownSymbol)


def test_spark_404_for_only_unknown_symbols_is_unknown_not_a_fallback(replay):
    replay.route(P.YAHOO_CRUMB, status=404, body="no")
    replay.route(P.YAHOO_SPARK, status=404, body=P.yahoo_spark_not_found(), content_type="application/json")
    out = make(replay).fetch(refs(["NOPE1", "NOPE2"]))
    assert all(isinstance(out[s], UnknownSymbol) for s in ("NOPE1", "NOPE2"))
    assert not any(p.startswith("/v8/") for p in replay.paths)


def test_without_crumb_and_spark_the_chart_answers_one_symbol_at_a_time(replay):
    for s, price in (("AAPL", "182.65"), ("MSFT", "401.2")):
        replay.route(P.YAHOO_CHART.format(symbol=s), body=P.yahoo_chart(s, price, "USD", T))
    out = make(replay).fetch(refs(["AAPL", "MSFT"]))  # no routes for crumb or spark: 418s
    assert out["AAPL"].price == Decimal("182.65") and out["MSFT"].price == Decimal("401.2")
    assert replay.paths == [P.YAHOO_COOKIE, P.YAHOO_CRUMB, P.YAHOO_SPARK,
                            "/v8/finance/chart/AAPL", "/v8/finance/chart/MSFT"]


def test_a_batch_of_one_uses_the_chart_without_a_crumb(replay):
    replay.route(P.YAHOO_CHART.format(symbol="AAPL"), body=P.yahoo_chart("AAPL", "182.65", "USD", T))
    provider = make(replay)
    assert provider.requests_for(1) == 1
    assert provider.fetch(refs(["AAPL"]))["AAPL"].price == Decimal("182.65")
    assert replay.paths == ["/v8/finance/chart/AAPL"]


def test_429_on_v7_stops_the_batch(replay):
    serve_cookie_and_crumb(replay)
    replay.route(P.YAHOO_QUOTE, status=429, body=P.YAHOO_TOO_MANY, headers={"Retry-After": "90"})
    with pytest.raises(RateLimited) as info:
        make(replay).fetch(refs(["AAPL", "MSFT"]))
    assert info.value.retry_after == 90
    assert P.YAHOO_SPARK not in replay.paths  # the same Yahoo: no point asking spark


def test_5xx_on_spark_is_provider_down(replay):
    replay.route(P.YAHOO_CRUMB, status=404, body="no")
    replay.route(P.YAHOO_SPARK, status=503, body="down")
    with pytest.raises(ProviderDown):
        make(replay).fetch(refs(["AAPL", "MSFT"]))


# ---- request counts --------------------------------------------------------------------------
def test_120_symbols_cost_3_v7_requests(replay):
    prices = many(120)
    serve_cookie_and_crumb(replay)
    serve_quotes(replay, prices)
    provider = make(replay)
    assert provider.requests_for(120) == 2 + 3  # cookie + getcrumb, then 50 + 50 + 20
    out = provider.fetch(refs(prices))
    assert all(isinstance(q, Quote) for q in out.values()) and len(out) == 120
    assert [len(r.query["symbols"].split(",")) for r in replay.requests_to(P.YAHOO_QUOTE)] == [50, 50, 20]
    assert provider.requests_made == 5
    assert provider.requests_for(120) == 3  # the crumb is now in the store


def test_120_symbols_cost_6_spark_requests(replay):
    prices = many(120)
    replay.route(P.YAHOO_CRUMB, status=404, body="no")
    serve_spark(replay, prices)
    provider = make(replay)
    out = provider.fetch(refs(prices))
    assert all(isinstance(q, Quote) for q in out.values()) and len(out) == 120
    assert [len(r.query["symbols"].split(",")) for r in replay.requests_to(P.YAHOO_SPARK)] == [20] * 6
    assert provider.requests_for(120) == 6  # v7 is remembered as unusable


def test_chain_charges_the_throttle_with_every_request_v7(replay):
    prices = many(120)
    serve_cookie_and_crumb(replay)
    serve_quotes(replay, prices)
    throttle = MemoryThrottle()
    result = Chain([make(replay)], throttle=throttle).fetch(refs(prices))
    assert len(result.quotes) == 120
    assert result.calls["yahoo"] == 3  # batches of 50, 50, 20
    assert result.requests["yahoo"] == 5 == len(replay.requests)  # cookie, getcrumb, 3 x v7
    assert len(throttle.calls["yahoo"]) == 5


def test_chain_charges_the_throttle_with_every_request_spark(replay):
    prices = many(120)
    replay.route(P.YAHOO_CRUMB, status=404, body="no")
    serve_spark(replay, prices)
    throttle = MemoryThrottle()
    result = Chain([make(replay)], throttle=throttle).fetch(refs(prices))
    assert len(result.quotes) == 120
    # the chain's batches of 50 split into 20 + 20 + 10: 3 + 3 + 1 spark requests
    assert len(replay.requests_to(P.YAHOO_SPARK)) == 7
    # the first batch was expected to cost 3 (cookie, getcrumb, v7) and cost 5 (cookie,
    # getcrumb, 3 x spark): the 2 extra are charged after the fact; then 3 and 1 as expected
    assert result.requests["yahoo"] == 9 == len(replay.requests)
    assert len(throttle.calls["yahoo"]) == 9


def test_own_rate_limit_counts_requests_not_symbols(replay):
    prices = many(120)
    serve_cookie_and_crumb(replay)
    serve_quotes(replay, prices)
    provider = make(replay)
    provider.rate_limit = RateLimit(4, 600)
    result = Chain([provider], throttle=MemoryThrottle()).fetch(refs(prices))
    # 3 requests for the first 50 (cookie, getcrumb, v7), 1 for the next 50; then the limit
    assert len(result.quotes) == 100
    assert len(replay.requests_to(P.YAHOO_QUOTE)) == 2
    assert all(isinstance(result.failures[s][0][1], RateLimited) for s in result.failed_symbols)
    assert len(result.failed_symbols) == 20


# ---- configuration ------------------------------------------------------------------------
def test_cookie_url_defaults(replay):
    assert YahooProvider().cookie_url == "https://fc.yahoo.com/"
    assert make(replay).cookie_url == f"{replay.url}/consent/cookie"  # never a real host in tests
    assert make(replay, cookie_url="http://127.0.0.1:1/c").cookie_url == "http://127.0.0.1:1/c"
    built = registry.build("yahoo", {"PROVIDER_YAHOO_URL": replay.url, "PROVIDER_YAHOO_COOKIE_URL": f"{replay.url}/c"})
    assert built.cookie_url == f"{replay.url}/c"


def test_build_chain_passes_the_store(replay):
    store = MemoryStore()
    chain = registry.build_chain("yahoo,stooq", {"PROVIDER_YAHOO_URL": replay.url}, store=store)
    assert all(p.store is store for p in chain.providers)
    assert YahooProvider.batch_size == 50 and YahooProvider.rate_limit == RateLimit(200, 600)


def test_chart_fallback_one_symbols_provider_down_does_not_stop_the_batch(replay):
    # a proxy page for one path (the replay's 418 here) used to cost only that symbol,
    # when each symbol was its own batch; three in a row stop the batch
    for s in ("AAPL", "MSFT"):
        replay.route(P.YAHOO_CHART.format(symbol=s), body=P.yahoo_chart(s, "10", "USD", T))
    out = make(replay).fetch(refs(["122639", "AAPL", "X1", "X2", "X3", "MSFT"]))
    assert isinstance(out["122639"], ProviderDown) and out["AAPL"].price == Decimal("10")
    assert all(isinstance(out[s], ProviderDown) for s in ("X1", "X2", "X3", "MSFT"))
    assert "/v8/finance/chart/MSFT" not in replay.paths
