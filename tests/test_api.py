"""The JSON API (/api/v1): bearer tokens only, scopes, isolation between users, one error
shape, money as strings, the per-token rate limit, and the generated OpenAPI document."""
from __future__ import annotations

import json
import re
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from tests.conftest import login, set_price
from webapp.extensions import db


def no_float(text):
    pytest.fail(f"a JSON float in the response: {text}")


class Api:
    def __init__(self, client, secret):
        self.client, self.secret = client, secret

    def call(self, method, path, body=None, headers=None, **kw):
        h = {"Authorization": f"Bearer {self.secret}"} if self.secret else {}
        h.update(headers or {})
        resp = self.client.open(f"/api/v1{path}", method=method, json=body, headers=h, **kw)
        resp.body = json.loads(resp.get_data(as_text=True), parse_float=no_float) if resp.data else None
        if resp.status_code >= 400:
            assert set(resp.body) == {"error"}, resp.body
            assert set(resp.body["error"]) == {"code", "message", "fields"}, resp.body
            assert resp.body["error"]["message"]
        return resp

    def get(self, path, **kw):
        return self.call("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.call("POST", path, body, **kw)

    def patch(self, path, body=None, **kw):
        return self.call("PATCH", path, body, **kw)

    def delete(self, path, **kw):
        return self.call("DELETE", path, **kw)


def _token(app, user_id, name="t", scopes="read write", days=None):
    from webapp.models import User
    from webapp.services import api_tokens

    with app.app_context():
        return api_tokens.create(db.session.get(User, user_id), name, scopes, days).secret


@pytest.fixture
def api(app, alice):
    return Api(app.test_client(), _token(app, alice))


@pytest.fixture
def bob_api(app, bob):
    return Api(app.test_client(), _token(app, bob, "bob"))


def test_me_and_the_401s(app, api):
    resp = api.get("/me")
    assert resp.status_code == 200
    assert resp.body["email"] == "alice@example.com" and resp.body["token"]["scopes"] == ["read", "write"]
    for headers in ({}, {"Authorization": "Bearer folio_wrong"}, {"Authorization": "Basic abc"},
                    {"Authorization": "Bearer"}, {"Authorization": f"Token {api.secret}"}):
        resp = Api(app.test_client(), None).get("/me", headers=headers)
        assert resp.status_code == 401, headers
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")
        assert resp.body["error"]["code"] == "unauthorized"


def test_a_session_cookie_alone_never_authorizes(app, client, alice):
    login(client)
    assert client.get("/settings/").status_code == 200  # logged in
    for method, path in (("GET", "/me"), ("GET", "/accounts"), ("POST", "/accounts")):
        resp = Api(client, None).call(method, path, {"name": "x"})
        assert resp.status_code == 401


def test_read_scope_cannot_write(app, alice):
    reader = Api(app.test_client(), _token(app, alice, "r", "read"))
    assert reader.get("/accounts").status_code == 200
    resp = reader.post("/accounts", {"name": "Broker"})
    assert resp.status_code == 403 and resp.body["error"]["code"] == "forbidden"
    assert reader.get("/accounts").body == []


def test_accounts(api):
    resp = api.post("/accounts", {"name": "  Main   broker ", "kind": "retirement"})  # no CSRF token needed
    assert resp.status_code == 201, resp.body
    acc = resp.body
    assert acc["name"] == "Main broker" and acc["kind"] == "retirement"
    assert api.post("/accounts", {"name": "Main broker"}).status_code == 409
    resp = api.post("/accounts", {"kind": "castle", "colour": "red"})
    assert resp.status_code == 422
    assert {"name", "kind", "colour"} <= set(resp.body["error"]["fields"])
    assert api.post("/accounts", {"name": "bad\u202e"}).status_code == 422
    assert api.patch(f"/accounts/{acc['id']}", {"name": "Renamed"}).body["name"] == "Renamed"
    assert [a["name"] for a in api.get("/accounts").body] == ["Renamed"]
    assert api.delete(f"/accounts/{acc['id']}").status_code == 204
    assert api.get("/accounts").body == []
    assert api.delete(f"/accounts/{acc['id']}").status_code == 404
    assert api.get("/accounts/99999999999/holdings").status_code == 404


def _account(api, name="Broker"):
    return api.post("/accounts", {"name": name}).body["id"]


def test_holdings(app, api):
    acc = _account(api)
    resp = api.post(f"/accounts/{acc}/holdings", {"symbol": "aapl", "quantity": "10.5", "cost": "1000.10"})
    assert resp.status_code == 201, resp.body
    h = resp.body
    assert (h["symbol"], h["quantity"], h["cost_basis"]) == ("AAPL", "10.5", "1000.1")
    resp = api.post(f"/accounts/{acc}/holdings", {"symbol": "AAPL", "quantity": "1"})
    assert resp.status_code == 409 and "already held" in resp.body["error"]["message"]
    resp = api.post(f"/accounts/{acc}/holdings", {"symbol": "AAPL", "quantity": "1", "merge": True})
    assert resp.status_code == 201 and resp.body["quantity"] == "11.5" and resp.body["cost_basis"] is None
    for bad, field in (({"symbol": "AAPL", "quantity": 1.5}, "quantity"), ({"symbol": "AAPL", "quantity": "-1"}, "quantity"),
                       ({"symbol": "A B", "quantity": "1"}, "symbol"), ({"quantity": "1"}, "symbol"),
                       ({"symbol": "X", "quantity": "1e20"}, "quantity"), ({"symbol": "X", "quantity": "NaN"}, "quantity")):
        resp = api.post(f"/accounts/{acc}/holdings", bad)
        assert resp.status_code == 422 and field in resp.body["error"]["fields"], (bad, resp.body)
    resp = api.patch(f"/holdings/{h['id']}", {"quantity": "3"})
    assert resp.status_code == 200 and resp.body["quantity"] == "3"
    assert api.patch(f"/holdings/{h['id']}", {}).status_code == 422
    assert [x["quantity"] for x in api.get(f"/accounts/{acc}/holdings").body] == ["3"]
    # a buy makes the ledger govern it: its quantity is no longer set by hand
    assert api.post(f"/accounts/{acc}/activities", {"date": date.today().isoformat(), "type": "buy",
                                                    "symbol": "AAPL", "quantity": "2", "price": "100"}).status_code == 201
    resp = api.patch(f"/holdings/{h['id']}", {"quantity": "7"})
    assert resp.status_code == 422 and "recorded by its activities" in resp.body["error"]["message"]
    assert api.delete(f"/holdings/{h['id']}").status_code == 204
    assert api.get(f"/accounts/{acc}/holdings").body == []


def test_activities(api):
    acc = _account(api)
    day = date.today() - timedelta(days=10)
    for i in range(3):
        resp = api.post(f"/accounts/{acc}/activities", {"date": (day + timedelta(days=i)).isoformat(), "type": "buy",
                                                        "symbol": "MSFT", "quantity": "1", "price": "300.25",
                                                        "fee": "0.5", "currency": "USD"})
        assert resp.status_code == 201, resp.body
    assert resp.body["price"] == "300.25" and resp.body["fee"] == "0.5" and resp.body["source"] == "api"
    page = api.get(f"/accounts/{acc}/activities?per_page=2").body
    assert (page["total"], page["pages"], len(page["items"])) == (3, 2, 2)
    assert page["items"][0]["date"] == (day + timedelta(days=2)).isoformat()
    assert len(api.get(f"/accounts/{acc}/activities?per_page=2&page=2").body["items"]) == 1
    assert api.get(f"/accounts/{acc}/activities?per_page=500").status_code == 422
    resp = api.post(f"/accounts/{acc}/activities", {"date": day.isoformat(), "type": "sell", "symbol": "MSFT",
                                                    "quantity": "50", "price": "1"})
    assert resp.status_code == 422 and "quantity" in resp.body["error"]["fields"], resp.body
    resp = api.post(f"/accounts/{acc}/activities", {"date": "2999-01-01", "type": "buy", "symbol": "MSFT",
                                                    "quantity": "1", "price": "1"})
    assert resp.status_code == 422 and "date" in resp.body["error"]["fields"]
    assert api.post(f"/accounts/{acc}/activities", {"date": "yesterday", "type": "buy"}).status_code == 422
    assert api.post(f"/accounts/{acc}/activities", {"date": day.isoformat(), "type": "split", "symbol": "MSFT",
                                                    "ratio": "1:1"}).status_code == 422
    sell = api.post(f"/accounts/{acc}/activities", {"date": date.today().isoformat(), "type": "sell",
                                                    "symbol": "MSFT", "quantity": "3", "price": "310"})
    assert sell.status_code == 201
    first = page["items"][-1]["id"]
    resp = api.delete(f"/activities/{first}")  # the sale needs what it bought
    assert resp.status_code == 422 and "cannot be deleted" in resp.body["error"]["message"]
    assert api.delete(f"/activities/{sell.body['id']}").status_code == 204
    assert api.delete(f"/activities/{first}").status_code == 204
    assert api.delete(f"/activities/{first}").status_code == 404


def test_portfolio_prices_history_and_returns(app, api):
    acc = _account(api)
    day = date.today() - timedelta(days=40)
    api.post(f"/accounts/{acc}/activities", {"date": day.isoformat(), "type": "buy", "symbol": "AAPL",
                                             "quantity": "4", "price": "100", "currency": "USD"})
    set_price(app, "AAPL", "123.45")
    body = api.get("/portfolio").body
    assert body["base_currency"] == "USD" and body["total"] == "493.8"
    assert body["freshness"]["stale_count"] == 0 and body["freshness"]["oldest_price_age_seconds"] >= 0
    assert body["accounts"][0]["total"] == "493.8"
    quote = api.get("/prices/aapl").body
    assert (quote["price"], quote["currency"], quote["stale"]) == ("123.45", "USD", False)
    assert api.get("/prices/NOPE").status_code == 404
    assert api.get("/prices/%E2%80%AE").status_code == 404
    points = api.get(f"/portfolio/history?from={date.today().isoformat()}").body["points"]
    assert points and points[-1]["total_value"] == "493.8"
    assert api.get("/portfolio/history?from=2020-01-01&to=2020-01-31").body["points"] == []
    assert api.get("/portfolio/history?from=2021-01-01&to=2020-01-01").status_code == 422
    assert "from" in api.get("/portfolio/history?from=soon").body["error"]["fields"]
    resp = api.get("/portfolio/returns?period=ALL")
    assert resp.status_code == 200, resp.body
    assert resp.body["currency"] == "USD" and isinstance(resp.body["value_end"], str)
    assert api.get(f"/portfolio/returns?period=1M&account={acc}").status_code == 200
    assert api.get("/portfolio/returns?period=2W").status_code == 422
    assert api.get("/portfolio/returns?period=CUSTOM").status_code == 422
    assert api.get(f"/portfolio/returns?period=CUSTOM&from={day.isoformat()}").status_code == 200
    assert api.get("/portfolio/returns?account=99999").status_code == 404


def test_returns_without_activities(api):
    assert api.get("/portfolio/returns").status_code == 422


def test_another_users_ids_are_404_everywhere(app, api, bob_api):
    acc = _account(bob_api, "Bob's")
    holding = bob_api.post(f"/accounts/{acc}/holdings", {"symbol": "IBM", "quantity": "1"}).body["id"]
    activity = bob_api.get(f"/accounts/{acc}/activities").body["items"][0]["id"]
    for method, path, body in (
            ("GET", f"/accounts/{acc}/holdings", None), ("PATCH", f"/accounts/{acc}", {"name": "x"}),
            ("DELETE", f"/accounts/{acc}", None), ("POST", f"/accounts/{acc}/holdings", {"symbol": "A", "quantity": "1"}),
            ("PATCH", f"/holdings/{holding}", {"quantity": "2"}), ("DELETE", f"/holdings/{holding}", None),
            ("GET", f"/accounts/{acc}/activities", None), ("DELETE", f"/activities/{activity}", None),
            ("POST", f"/accounts/{acc}/activities", {"date": "2024-01-02", "type": "deposit", "amount": "5"}),
            ("GET", f"/portfolio/returns?account={acc}", None)):
        resp = api.call(method, path, body)
        assert resp.status_code == 404, (method, path, resp.body)
        assert resp.body["error"]["code"] == "not_found"
    assert [h["quantity"] for h in bob_api.get(f"/accounts/{acc}/holdings").body] == ["1"]
    assert api.get("/accounts").body == []


def test_errors_off_the_routes_are_json(api):
    resp = api.get("/nothing-here")
    assert resp.status_code == 404 and resp.content_type == "application/json"
    resp = api.call("PUT", "/accounts")
    assert resp.status_code == 405 and resp.body["error"]["code"] == "method_not_allowed"
    resp = api.call("POST", "/accounts", data="not json", headers={"Content-Type": "application/json"})
    assert resp.status_code in (400, 422)


def test_rate_limit_per_token(make_app, alice):
    app = make_app(API_RATE_LIMIT="2 per minute")
    first = Api(app.test_client(), _token(app, alice, "a"))
    other = Api(app.test_client(), _token(app, alice, "b"))
    assert [first.get("/me").status_code for _ in range(2)] == [200, 200]
    resp = first.get("/me")
    assert resp.status_code == 429 and resp.body["error"]["code"] == "rate_limited"
    assert 0 < int(resp.headers["Retry-After"]) <= 60
    assert other.get("/me").status_code == 200  # its own allowance


def test_openapi_document_validates_and_lists_every_endpoint(app):
    from openapi_spec_validator import validate

    resp = app.test_client().get("/api/v1/openapi.json")  # public: no token needed
    assert resp.status_code == 200
    spec = json.loads(resp.get_data(as_text=True))
    assert spec["openapi"] == "3.1.0"
    validate(spec)
    documented = {(m.upper(), p) for p, item in spec["paths"].items() for m in item if m != "parameters"}
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("api."):
            path = re.sub(r"<[^:>]+(?:\([^)]*\))?:(\w+)>", r"{\1}", rule.rule)
            routes |= {(m, path) for m in rule.methods - {"HEAD", "OPTIONS"}}
    assert routes and routes == documented
    assert len(routes) == 16
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    money = spec["components"]["schemas"]["Portfolio"]["properties"]["total"]
    assert money["type"] == "string"


def test_docs_page_lists_the_endpoints_without_scripts(app, client, alice):
    resp = client.get("/api/v1/docs")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert "/api/v1/portfolio/returns" in html and "/api/v1/activities/{activity_id}" in html
    assert "<script>" not in html and "cdn" not in html.lower()
    login(client)
    assert "/api/v1/docs" in client.get("/settings/").get_data(as_text=True)


def test_no_token_row_leaks_another_users(app, api, bob_api):
    assert api.get("/me").body["email"] == "alice@example.com"
    assert bob_api.get("/me").body["email"] == "bob@example.com"
    with app.app_context():
        from webapp.models import ApiToken

        assert db.session.scalar(sa.select(sa.func.count()).select_from(ApiToken)) == 2
