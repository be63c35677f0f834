"""Two-factor login in Chromium: scan-or-type the secret, confirm a code, log in again with one.

The codes come from tests/test_two_factor.py's own RFC 6238 implementation, as a phone would make them.
"""
from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect
from test_two_factor import reference_code

from .ui import PASSWORD, register

pytestmark = pytest.mark.browser


def test_set_up_two_factor_login_and_log_in_with_a_code(browse, server):
    page = browse.context().new_page()
    register(page, "tess@example.com", "Tess")

    page.locator(".topbar a.who").click()  # the name in the top bar leads to the settings
    expect(page).to_have_url(re.compile(r"/settings/$"))
    page.get_by_role("link", name="Set up two-factor login").click()
    qr = page.locator("img.qr")
    expect(qr).to_be_visible()
    # the QR code is a data: image, which the Content-Security-Policy allows: it really rendered
    assert page.evaluate("img => img.complete && img.naturalWidth > 0", qr.element_handle())
    secret = page.locator("#totp-secret").inner_text().replace(" ", "")
    assert re.fullmatch(r"[A-Z2-7]{32}", secret)

    page.get_by_label("Code shown by the app").fill(reference_code(secret))
    page.get_by_role("button", name="Turn on").click()
    expect(page.locator(".flash.success")).to_contain_text("Two-factor login is on.")
    expect(page.locator("#recovery-codes li")).to_have_count(10)
    page.get_by_role("link", name="I have saved them").click()
    expect(page.locator("#two-factor")).to_contain_text("Recovery codes left: 10")

    page.get_by_role("button", name="Log out").click()
    page.goto("/auth/login")
    form = page.locator("form[action='/auth/login']")
    form.get_by_label("Email").fill("tess@example.com")
    form.get_by_label("Password").fill(PASSWORD)
    form.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/auth/login/code$"))
    expect(page.locator("h1")).to_have_text("Two-factor login")

    page.get_by_label(re.compile("Code from your authenticator app")).fill(reference_code(secret, time.time() + 30))
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.locator("#portfolio-summary")).to_be_visible()
    expect(page.locator(".topbar a.who")).to_have_text("Tess")
    browse.assert_no_console_errors()
