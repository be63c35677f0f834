"""Served over HTTPS (PUBLIC_URL https://): Secure cookies by default, HSTS; SESSION_COOKIE_SECURE
overrides; FORWARDED_PROXIES trusts a reverse proxy's X-Forwarded-* headers."""
from __future__ import annotations

import pytest
from conftest import TOKEN_RE
from quick_users import PASSWORD, quick_user


def cookie_attributes(resp, name: str) -> set[str]:
    for header in resp.headers.getlist("Set-Cookie"):
        if header.startswith(f"{name}="):
            return {p.strip().lower() for p in header.split(";")[1:]}
    raise AssertionError(f"no {name} cookie in {resp.headers.getlist('Set-Cookie')}")


def login(client, base_url: str, **headers):
    page = client.get("/auth/login", base_url=base_url, headers=headers).get_data(as_text=True)
    return client.post("/auth/login", base_url=base_url, headers={"Referer": f"{base_url}/auth/login", **headers},
                       data={"email": "alice@example.com", "password": PASSWORD, "remember": "y",
                             "csrf_token": TOKEN_RE.search(page).group(1)})


@pytest.fixture
def unset(monkeypatch):
    for name in ("FOLIO_ENV", "SESSION_COOKIE_SECURE", "REMEMBER_COOKIE_SECURE", "HSTS_SECONDS", "FORWARDED_PROXIES"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.mark.parametrize("public_url, secure", [("https://folio.example", True), ("http://127.0.0.1:5000", False)])
def test_cookies_are_secure_by_default_exactly_when_the_public_url_is_https(make_app, unset, public_url, secure):
    app = make_app(PUBLIC_URL=public_url)
    quick_user(app, "alice@example.com")
    resp = login(app.test_client(), public_url)
    assert resp.status_code == 302
    for name in ("session", "remember_token"):
        attributes = cookie_attributes(resp, name)
        assert ("secure" in attributes) is secure, (name, attributes)
        assert {"httponly", "samesite=lax"} <= attributes


@pytest.mark.parametrize("value, secure", [("0", False), ("1", True)])
def test_session_cookie_secure_overrides_the_default(make_app, unset, value, secure):
    unset.setenv("SESSION_COOKIE_SECURE", value)
    public_url = "http://127.0.0.1:5000" if secure else "https://folio.example"
    app = make_app(PUBLIC_URL=public_url)
    quick_user(app, "alice@example.com")
    resp = login(app.test_client(), public_url)
    for name in ("session", "remember_token"):
        assert ("secure" in cookie_attributes(resp, name)) is secure, name


def test_hsts_is_sent_when_served_over_https_and_not_over_http(make_app, unset):
    https = make_app(PUBLIC_URL="https://folio.example").test_client()
    for path in ("/auth/login", "/healthz", "/no-such-page"):
        assert https.get(path, base_url="https://folio.example").headers["Strict-Transport-Security"] \
            == "max-age=31536000", path
    http = make_app(PUBLIC_URL="http://127.0.0.1:5000").test_client()
    assert "Strict-Transport-Security" not in http.get("/auth/login").headers
    unset.setenv("HSTS_SECONDS", "0")
    off = make_app(PUBLIC_URL="https://folio.example").test_client()
    assert "Strict-Transport-Security" not in off.get("/auth/login", base_url="https://folio.example").headers


@pytest.mark.parametrize("hops", ["0", "1"])
def test_forwarded_proxies_makes_the_login_rate_limit_per_client_behind_a_proxy(make_app, unset, hops):
    unset.setenv("FORWARDED_PROXIES", hops)
    app = make_app(LOGIN_RATE_LIMIT="2 per minute", PUBLIC_URL="http://127.0.0.1:5000")
    client = app.test_client()

    def attempt(address: str) -> int:
        page = client.get("/auth/login").get_data(as_text=True)
        return client.post("/auth/login", headers={"X-Forwarded-For": address},
                           data={"email": "nobody@example.com", "password": "wrong password 1",
                                 "csrf_token": TOKEN_RE.search(page).group(1)}).status_code

    assert [attempt("203.0.113.7") for _ in range(3)][-1] == 429
    # another client behind the same proxy: its own limit only when the proxy is trusted
    assert (attempt("198.51.100.9") == 429) is (hops == "0")
