"""User text is shown as text, never run as HTML; and the headers that back this up."""
from __future__ import annotations

import re

import pytest
from conftest import login, post
from quick_users import quick_user

NAME = "<script>alert(1)</script>"
NAME_ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
INSTITUTION = "<img src=x onerror=alert(2)> & \"Bank\" 'Co'"
INSTITUTION_ESCAPED = "&lt;img src=x onerror=alert(2)&gt; &amp; &#34;Bank&#34; &#39;Co&#39;"
DISPLAY = "<b onmouseover=alert(3)>Eve</b>"
DISPLAY_ESCAPED = "&lt;b onmouseover=alert(3)&gt;Eve&lt;/b&gt;"


@pytest.fixture
def eve(app):
    """A logged-in user whose name, account and institution are HTML."""
    quick_user(app, "eve@example.com", display_name=DISPLAY)
    client = app.test_client()
    login(client, "eve@example.com")
    resp = post(client, "/accounts/", {"name": NAME, "institution": INSTITUTION, "kind": "brokerage"})
    assert resp.status_code == 302
    account_url = resp.headers["Location"]
    client.account_url = account_url
    client.first_page = client.get(account_url)  # shows the "created" flash message once
    assert post(client, f"{account_url}/holdings", {"symbol": "AAPL", "asset_type": "stock",
                                                    "quantity": "1"}).status_code == 302
    client.activity_url = re.search(r'href="(/activities/\d+)/edit"',  # the holding's opening position
                                    client.get(f"{account_url}/activities").get_data(as_text=True)).group(1)
    return client


def assert_escaped(body: str, raw: str, escaped: str):
    assert raw not in body
    assert escaped in body


def test_account_page_escapes_the_names(eve):
    body = eve.get(eve.account_url).get_data(as_text=True)
    assert_escaped(body, NAME, NAME_ESCAPED)
    assert_escaped(body, INSTITUTION, INSTITUTION_ESCAPED)
    assert_escaped(body, DISPLAY, DISPLAY_ESCAPED)
    assert f"<title>{NAME_ESCAPED} · Folio</title>" in body
    # in attributes too: the rename box and the delete dialog's text
    assert f'value="{NAME_ESCAPED}"' in body
    assert f"hx-confirm=\"Delete the account “{NAME_ESCAPED}”" in body


def test_flash_message_escapes_the_name(eve):
    body = eve.first_page.get_data(as_text=True)
    assert f"Account “{NAME_ESCAPED}” created." in body
    assert NAME not in body


def test_accounts_list_escapes_the_names(eve):
    body = eve.get("/accounts/").get_data(as_text=True)
    assert_escaped(body, NAME, NAME_ESCAPED)
    assert_escaped(body, INSTITUTION, INSTITUTION_ESCAPED)


def test_dashboard_escapes_the_names(eve, subtests):
    for url in ["/", "/portfolio/summary"]:
        with subtests.test(url=url):
            body = eve.get(url).get_data(as_text=True)
            assert "AAPL" in body  # the account is shown ...
            assert_escaped(body, NAME, NAME_ESCAPED)  # ... as text


def test_delete_confirmation_escapes_the_name(eve):
    body = eve.get(f"{eve.account_url}/delete").get_data(as_text=True)
    assert_escaped(body, NAME, NAME_ESCAPED)
    assert f"Delete “{NAME_ESCAPED}”?" in body


def test_the_rename_error_page_escapes_what_was_typed(eve):
    resp = post(eve, f"{eve.account_url}/rename", {"name": "<i>" + "x" * 80})
    assert resp.status_code == 400
    body = resp.get_data(as_text=True)
    assert "<i>xxx" not in body and "&lt;i&gt;xxx" in body


def test_a_quantity_error_echoes_the_input_escaped(eve):
    resp = post(eve, f"{eve.account_url}/holdings", {"symbol": "MSFT", "asset_type": "stock",
                                                     "quantity": "<svg onload=alert(4)>"})
    assert resp.status_code == 400
    body = resp.get_data(as_text=True)
    assert "<svg" not in body
    assert "“&lt;svg onload=alert(4)&gt;” is not a number." in body


def test_register_form_escapes_the_typed_email(client):
    resp = post(client, "/auth/register", {"email": '"><script>alert(5)</script>', "password": "long enough pw",
                                           "confirm": "long enough pw"})
    assert resp.status_code == 400
    assert "<script>alert(5)" not in resp.get_data(as_text=True)


# ---- headers -----------------------------------------------------------------------------------
def csp(resp) -> dict[str, list[str]]:
    directives = {}
    for part in resp.headers["Content-Security-Policy"].split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


def test_security_headers_on_every_kind_of_answer(app, eve, subtests):
    anonymous = app.test_client()
    for who, client, url, status in [
        ("anonymous", anonymous, "/auth/login", 200),
        ("anonymous", anonymous, "/auth/register", 200),
        ("anonymous", anonymous, "/", 302),
        ("eve", eve, "/", 200),
        ("eve", eve, "/accounts/", 200),
        ("eve", eve, eve.account_url, 200),
        ("eve", eve, "/portfolio/summary", 200),
        ("eve", eve, "/accounts/987654", 404),
        ("eve", eve, "/no/such/page", 404),
        ("eve", eve, "/auth/logout", 405),
        ("eve", eve, "/static/app.js", 200),
    ]:
        with subtests.test(who=who, url=url):
            resp = client.get(url)
            assert resp.status_code == status
            policy = csp(resp)
            script_src = policy.get("script-src", policy.get("default-src"))
            assert script_src == ["'self'"]  # so no 'unsafe-inline' and no 'unsafe-eval'
            assert policy["object-src"] == ["'none'"]
            assert policy["frame-ancestors"] == ["'none'"]
            assert policy["base-uri"] == ["'self'"]
            assert resp.headers["X-Content-Type-Options"] == "nosniff"
            assert resp.headers["X-Frame-Options"] == "DENY"


def test_security_headers_on_redirects_and_form_errors(app, client):
    for resp in (client.get("/"), post(client, "/auth/login", {"email": "", "password": ""}),
                 client.post("/auth/login", data={})):
        assert resp.status_code in (302, 400)
        assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]
        assert resp.headers["X-Content-Type-Options"] == "nosniff"


def test_pages_need_nothing_the_policy_blocks(app, eve, subtests):
    """No inline script, event handler or style attribute: under the CSP they would silently not work."""
    anonymous = app.test_client()
    for client, url in [(eve, "/"), (eve, "/accounts/"), (eve, eve.account_url), (eve, f"{eve.account_url}/delete"),
                        (eve, f"{eve.account_url}/activities"), (eve, f"{eve.activity_url}/edit"),
                        (eve, f"{eve.activity_url}/delete"), (anonymous, "/auth/login"), (anonymous, "/auth/register")]:
        with subtests.test(url=url):
            resp = client.get(url)
            assert resp.status_code == 200
            body = resp.get_data(as_text=True)
            scripts = re.findall(r"<script\b[^>]*>", body)
            assert scripts and all("src=" in tag for tag in scripts), scripts
            assert not re.search(r"<script\b[^>]*>(?!</script>)", body)  # nothing inside <script></script>
            assert not re.search(r"<[^>]+\son[a-z]+\s*=", body, re.I)
            assert not re.search(r"<[^>]+\sstyle\s*=", body, re.I)
            assert not re.search(r"<style\b", body, re.I)


# ---- the display name in the top bar, symbols, the settings pages -----------------------------
def test_the_display_name_in_the_top_bar_is_escaped_on_every_page(eve, subtests):
    for url in ["/", "/accounts/", eve.account_url, f"{eve.account_url}/delete", f"{eve.account_url}/activities",
                "/settings/", "/settings/two-factor", "/no/such/page"]:
        with subtests.test(url=url):
            body = eve.get(url).get_data(as_text=True)
            assert f'<a class="who" href="/settings/" title="Settings">{DISPLAY_ESCAPED}</a>' in body
            assert DISPLAY not in body


@pytest.mark.parametrize("symbol", ["<script>alert(6)</script>", '"><img src=x onerror=alert(7)>', "A'B"])
def test_a_symbol_with_html_is_refused_and_echoed_escaped(eve, symbol):
    import html as html_module

    from markupsafe import escape

    resp = post(eve, f"{eve.account_url}/holdings", {"symbol": symbol, "asset_type": "stock", "quantity": "1"})
    assert resp.status_code == 400
    body = resp.get_data(as_text=True)
    assert "A symbol is 1–20 letters, digits or . - ^ =" in html_module.unescape(body)
    assert symbol.upper() not in body and symbol not in body
    assert str(escape(symbol.upper())) in body  # the field shows what was typed, as text


def test_the_code_forms_echo_what_was_typed_escaped(app, eve):
    resp = post(eve, "/settings/two-factor", {"code": '"><script>alert(8)</script>'})
    assert resp.status_code == 400
    body = resp.get_data(as_text=True)
    assert "<script>alert(8)" not in body and "&lt;script&gt;alert(8)" in body


def test_the_activity_pages_escape_the_account_name_and_the_note(eve):
    note = "<img src=x onerror=alert(9)>"
    resp = post(eve, f"{eve.account_url}/activities", {"date": "2025-03-03", "type": "deposit", "amount": "1",
                                                       "note": note})
    assert resp.status_code == 302
    deposit = re.findall(r'href="(/activities/\d+)/edit"', eve.get(f"{eve.account_url}/activities?type=deposit")
                         .get_data(as_text=True))[0]
    for url in (f"{eve.account_url}/activities", f"{deposit}/edit", f"{deposit}/delete"):
        body = eve.get(url).get_data(as_text=True)
        assert_escaped(body, NAME, NAME_ESCAPED)
        assert note not in body and "&lt;img src=x onerror=alert(9)&gt;" in body


def test_the_alert_form_echoes_what_was_typed_escaped(eve):
    resp = post(eve, "/alerts/", {"kind": "price_above", "symbol": "<b>x</b>", "threshold": NAME, "in_app": "y",
                                  "webhook": "y", "webhook_url": "https://\"><script>alert(5)</script>"})
    assert resp.status_code == 400
    body = resp.get_data(as_text=True)
    assert "<script>" not in body and "<b>x</b>" not in body
    assert NAME_ESCAPED in body
