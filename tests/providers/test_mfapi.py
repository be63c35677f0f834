"""mfapi.in adapter against the replay server, with mfapi's real answers."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from decimal import Decimal

import payloads as P
import pytest
from replay import replay_fixture  # noqa: F401  (fixture, also with --noconftest)

from pricing_providers.base import (
    InstrumentRef,
    MalformedAnswer,
    ProviderDown,
    Quote,
    RateLimited,
    UnknownSymbol,
)
from pricing_providers.mfapi import MfapiProvider


def make(replay, **kw) -> MfapiProvider:
    kw = {"timeout": 0.3, "backoff": 0.01, "retries": 1, **kw}
    return MfapiProvider(base_url=replay.url, **kw)


def fund(symbol: str, **kw) -> InstrumentRef:
    return InstrumentRef(symbol, "mutual_fund", "INR", **kw)


def test_latest_nav_exact_and_dated(replay):
    replay.route("/mf/118968/latest", body=P.mfapi_latest(118968, "268.67170", "17-05-2024"))
    q = make(replay).fetch([fund("118968")])["118968"]
    assert isinstance(q, Quote)
    assert q.price == Decimal("268.67170") and str(q.price) == "268.67170"
    assert (q.currency, q.source) == ("INR", "mfapi")
    assert q.as_of == datetime(2024, 5, 17, 10, 0, tzinfo=timezone.utc)  # 15:30 IST
    assert replay.paths == ["/mf/118968/latest"]


def test_scheme_code_from_the_provider_symbols(replay):
    replay.route("/mf/122639/latest", body=P.mfapi_latest(122639, "91.18", "28-08-2026"))
    out = make(replay).fetch(
        [fund("INF879O01027", provider_symbols={"amfi": "122639"}), fund("PPFAS", provider_symbols={"mfapi": "122639"})]
    )
    assert out["INF879O01027"].price == out["PPFAS"].price == Decimal("91.18")


def test_no_scheme_code_is_unknown_without_asking(replay):
    out = make(replay).fetch([fund("INF879O01027")])
    assert isinstance(out["INF879O01027"], UnknownSymbol)
    assert replay.requests == []


@pytest.mark.parametrize("body", [P.mfapi_empty(), P.mfapi_failed(), "[]", "{}"])
def test_empty_or_failed_answer_is_unknown(replay, body):
    replay.route("/mf/999999/latest", body=body)
    assert isinstance(make(replay).fetch([fund("999999")])["999999"], UnknownSymbol)


def test_404_is_unknown(replay):
    replay.route("/mf/999999/latest", status=404, body="Not Found")
    assert isinstance(make(replay).fetch([fund("999999")])["999999"], UnknownSymbol)


def test_answer_for_another_scheme_is_malformed(replay):
    replay.route("/mf/118968/latest", body=P.mfapi_latest(100001, "10.0", "17-05-2024"))
    assert isinstance(make(replay).fetch([fund("118968")])["118968"], MalformedAnswer)


def test_newest_dated_row_wins(replay):
    body = json.loads(P.mfapi_latest(118968, "268.67170", "17-05-2024"))
    body["data"] = [{"date": "16-05-2024", "nav": "260.1"}, {"date": "17-05-2024", "nav": "268.67170"}]
    replay.route("/mf/118968/latest", body=json.dumps(body))
    assert make(replay).fetch([fund("118968")])["118968"].price == Decimal("268.67170")


@pytest.mark.parametrize(
    "data",
    [[{"date": "2024-05-17", "nav": "1.0"}], [{"date": "17-05-2024", "nav": "N.A."}]],
)
def test_bad_row_is_malformed(replay, data):
    body = json.loads(P.mfapi_latest(118968, "1", "17-05-2024"))
    body["data"] = data
    replay.route("/mf/118968/latest", body=json.dumps(body))
    assert isinstance(make(replay).fetch([fund("118968")])["118968"], MalformedAnswer)


def test_garbage_is_malformed(replay):
    replay.route("/mf/118968/latest", body="<html>Bad gateway</html>", content_type="text/html")
    assert isinstance(make(replay).fetch([fund("118968")])["118968"], MalformedAnswer)


def test_5xx_then_success(replay):
    replay.queue("/mf/118968/latest", 500)
    replay.route("/mf/118968/latest", body=P.mfapi_latest(118968, "268.67170"))
    assert make(replay).fetch([fund("118968")])["118968"].price == Decimal("268.67170")


def test_5xx_always_is_provider_down(replay):
    replay.route("/mf/118968/latest", status=503)
    with pytest.raises(ProviderDown):
        make(replay, retries=2).fetch([fund("118968")])
    assert len(replay.requests) == 3


def test_slow_answer_is_provider_down(replay):
    replay.route("/mf/118968/latest", body=P.mfapi_latest(118968, "268.67170"), delay=1.5)
    with pytest.raises(ProviderDown):
        make(replay, retries=0).fetch([fund("118968")])


def test_429_is_rate_limited(replay):
    replay.route("/mf/118968/latest", status=429, body="Too Many Requests", headers={"Retry-After": "0"})
    with pytest.raises(RateLimited):
        make(replay).fetch([fund("118968")])
    assert len(replay.requests) == 2
