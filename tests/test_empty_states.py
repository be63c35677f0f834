"""A new user's empty pages each say what is missing and link to the next action."""
from __future__ import annotations

import html
import re

import pytest
from conftest import login, make_user, post

IMPORT = "/activities/import"
# page -> (what it says, the links to the next action); {a} is the user's one empty account
EMPTY = {
    "/": ("Nothing here yet.", ["/accounts/"]),
    "/accounts/": ("No accounts yet.", ["#new-account", IMPORT]),
    "/portfolio/returns": ("No activities yet.", ["/accounts/", IMPORT]),
    "/portfolio/gains": ("No activities yet", ["/accounts/", IMPORT]),
    "/portfolio/income": ("No dividends or interest recorded yet.", ["/accounts/", IMPORT]),
    "/portfolio/allocation": ("Nothing to allocate yet.", ["/accounts/"]),
    "/portfolio/history": ("No value history yet.", ["/accounts/"]),
    "/alerts/": ("No alerts yet.", ["#new-alert"]),
    "/notifications/": ("No notifications yet.", ["/alerts/"]),
    "/accounts/import": ("The accounts must exist", ["/accounts/", IMPORT]),
}
WITH_ACCOUNT = {
    "/": ("No holdings in this account.", ["/accounts/{a}#add-holding", "/accounts/{a}/activities"]),
    "/accounts/{a}": ("No holdings yet.", ["#add-holding", "/accounts/{a}/activities", "/accounts/import"]),
    "/accounts/{a}/activities": ("No activities in this account yet.", ["#add-activity"]),
}


def links(page: str) -> set[str]:
    main = page.split("<main", 1)[-1]
    return {html.unescape(href) for href in re.findall(r'<a [^>]*href="([^"]+)"', main)}


def text(page: str) -> str:
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page)))


@pytest.fixture
def newcomer(app, client):
    make_user(app, "new@example.com")
    login(client, "new@example.com")
    return client


@pytest.mark.parametrize("url", sorted(EMPTY))
def test_a_new_users_empty_page_links_to_the_next_action(newcomer, url):
    says, targets = EMPTY[url]
    resp = newcomer.get(url)
    assert resp.status_code == 200
    page = resp.get_data(as_text=True)
    assert says in text(page)
    assert set(targets) <= links(page), (url, links(page))


@pytest.mark.parametrize("url", sorted(WITH_ACCOUNT))
def test_an_empty_account_links_to_adding_its_first_holding(newcomer, url):
    resp = post(newcomer, "/accounts/", {"name": "Broker", "kind": "brokerage"})
    account = int(resp.headers["Location"].rsplit("/", 1)[1])
    says, targets = WITH_ACCOUNT[url]
    page = newcomer.get(url.format(a=account)).get_data(as_text=True)
    assert says in text(page)
    assert {t.format(a=account) for t in targets} <= links(page), links(page)
    for target in targets:  # an anchor names an element of the page it is on
        if target.startswith("#"):
            assert f'id="{target[1:]}"' in page, target
