"""Allocation: the pure grouping maths, and the page that shows it (own data only)."""
import random
from datetime import datetime, timezone
from decimal import Decimal

from conftest import login, post, set_price

from webapp.domain.allocation import allocate
from webapp.domain.valuation import AccountRef, Position, PriceInfo, value_portfolio
from webapp.models import ASSET_TYPES
from webapp.web.filters import percent

T = datetime(2026, 11, 20, 15, 0, tzinfo=timezone.utc)


def quote(price, ccy="USD"):
    return PriceInfo(Decimal(price), ccy, T, "test")


def valuation(positions, quotes, accounts=((1, "Brokerage"), (2, "IRA")), fx=None):
    return value_portfolio([AccountRef(i, n) for i, n in accounts],
                           [Position(i, a, s, t, Decimal(q)) for i, (a, s, t, q) in enumerate(positions, 1)],
                           quotes, "USD", fx)


def by_label(shares):
    return {s.label: (s.value, s.percent) for s in shares}


def test_groups_by_account_asset_type_currency_and_holding_with_exact_percentages():
    v = valuation(
        [(1, "AAPL", "stock", "10"), (1, "VTI", "etf", "3"), (2, "AAPL", "stock", "5"), (2, "SAP.DE", "stock", "2")],
        {"AAPL": quote("100"), "VTI": quote("200"), "SAP.DE": quote("150", "EUR")},
        fx={("EUR", "USD"): Decimal("1.1")},
    )
    a = allocate(v, ASSET_TYPES)
    # 1000 + 600 + 500 + 330 = 2430
    assert a.total == Decimal("2430")
    accounts = by_label(a.by_account)
    assert accounts["Brokerage"][0] == 1600 and accounts["IRA"][0] == 830
    # exact to 80 digits: 1600 / 2430 = 65.843621399176954732510288065843...
    assert str(accounts["Brokerage"][1]).startswith("65.843621399176954732510288065843621399")
    assert percent(accounts["Brokerage"][1]) == "65.84 %" and percent(accounts["IRA"][1]) == "34.16 %"
    assert [s.label for s in a.by_asset_type] == ["Stock", "ETF"]
    assert a.by_asset_type[0].value == Decimal(1830) and a.by_asset_type[0].holdings == 3
    assert by_label(a.by_currency)["EUR"][0] == Decimal("330.0")  # in USD, through the rate
    # AAPL held in two accounts is one position of 1500
    assert [(s.label, s.value) for s in a.top_holdings] == [("AAPL", 1500), ("VTI", 600), ("SAP.DE", Decimal("330.0"))]
    assert percent(a.top_holdings[0].percent) == "61.73 %"  # 1500 / 2430
    assert a.rest is None and not a.unconverted and not a.pending


def test_percentages_sum_to_100_in_every_grouping_within_rounding():
    rng = random.Random(5)
    symbols = [f"S{i}" for i in range(25)]
    positions = [(rng.choice([1, 2]), s, rng.choice(list(ASSET_TYPES)), str(Decimal(rng.randint(1, 10**6)) / 1000))
                 for s in symbols]
    quotes = {s: quote(str(Decimal(rng.randint(1, 10**7)) / 10000)) for s in symbols}
    a = allocate(valuation(positions, quotes), ASSET_TYPES)
    groups = [a.by_account, a.by_asset_type, a.by_currency, a.top_holdings + [a.rest]]
    for shares in groups:
        exact = sum(s.percent for s in shares)
        assert abs(exact - 100) < Decimal("1e-60")
        shown = sum(Decimal(percent(s.percent).split()[0]) for s in shares)
        assert abs(shown - 100) <= Decimal("0.005") * len(shares)
        assert sum(s.value for s in shares) == a.total
    assert len(a.top_holdings) == 10 and a.rest.holdings == 15 and a.rest.label == "15 other holdings"
    assert [s.value for s in a.top_holdings] == sorted((s.value for s in a.top_holdings), reverse=True)


def test_the_result_does_not_depend_on_the_order_of_the_holdings():
    positions = [(1, "A", "stock", "1"), (2, "B", "etf", "2"), (1, "C", "stock", "3"), (2, "A", "stock", "4")]
    quotes = {"A": quote("10"), "B": quote("5"), "C": quote("10")}  # ties in value sort by label
    first = allocate(valuation(positions, quotes))
    for _ in range(5):
        random.shuffle(positions)
        assert allocate(valuation(positions, quotes)) == first


def test_unconverted_holdings_are_listed_apart_and_never_counted_one_to_one():
    v = valuation([(1, "AAPL", "stock", "1"), (1, "SAP.DE", "stock", "1000")],
                  {"AAPL": quote("100"), "SAP.DE": quote("150", "EUR")})
    a = allocate(v)
    assert a.total == Decimal(100)
    assert by_label(a.by_currency) == {"USD": (Decimal(100), Decimal(100))}
    assert [(u.symbol, u.currency, u.value) for u in a.unconverted] == [("SAP.DE", "EUR", Decimal(150000))]
    assert all(s.label != "SAP.DE" for s in a.top_holdings)


def test_unpriced_holdings_are_pending_and_an_all_pending_portfolio_has_no_percentages():
    v = valuation([(1, "NEW", "stock", "5"), (2, "AAPL", "stock", "1")], {"AAPL": quote("10")})
    a = allocate(v)
    assert [(u.symbol, u.account) for u in a.pending] == [("NEW", "Brokerage")]
    assert a.total == 10
    # the account whose only holding is pending is shown with nothing allocated
    assert by_label(a.by_account) == {"IRA": (Decimal(10), Decimal(100)), "Brokerage": (Decimal(0), Decimal(0))}
    nothing = allocate(valuation([(1, "NEW", "stock", "5")], {}))
    assert nothing.total == 0 and nothing.by_account[0].percent is None and not nothing.empty


def setup(client, holdings):
    url = post(client, "/accounts/", {"name": "Main", "kind": "brokerage"}).headers["Location"]
    for symbol, kind, qty in holdings:
        assert post(client, f"{url}/holdings", {"symbol": symbol, "asset_type": kind, "quantity": qty}).status_code == 302


def test_the_allocation_page_shows_tables_and_bars_with_pending_and_unconverted_flagged(app, client, alice):
    login(client)
    setup(client, [("AAPL", "stock", "3"), ("VTI", "etf", "1"), ("SAP.DE", "stock", "2"), ("NEWCO", "stock", "1")])
    set_price(app, "AAPL", "100")
    set_price(app, "VTI", "100")
    set_price(app, "SAP.DE", "120.5", currency="EUR")
    html = client.get("/portfolio/allocation").get_data(as_text=True)
    assert 'href="/portfolio/allocation"' in html  # in the nav
    assert '<div class="big" id="allocation-total">400.00 USD</div>' in html
    for section in ("allocation-account", "allocation-asset-type", "allocation-currency", "allocation-top"):
        assert f'id="{section}"' in html
    assert "<td>Stock</td><td class=\"num\">300.00 USD</td><td class=\"num\">75.00 %</td>" in html
    assert "<td>ETF</td><td class=\"num\">100.00 USD</td><td class=\"num\">25.00 %</td>" in html
    assert 'class="bar" x="130" y="3" width="195.0"' in html  # 75 % of a 260 px bar
    unconverted = html[html.index('id="allocation-unconverted"'):]
    assert "SAP.DE" in unconverted and "241.00 EUR" in unconverted
    pending = html[html.index('id="allocation-pending"'):]
    assert "NEWCO" in pending and "pending" in pending


def test_allocation_is_the_users_own_and_needs_a_login(app, client, alice, bob):
    assert client.get("/portfolio/allocation").status_code == 302
    login(client, "bob@example.com")
    setup(client, [("BOBCO", "stock", "7")])
    set_price(app, "BOBCO", "9999")
    client2 = app.test_client()
    login(client2)
    html = client2.get("/portfolio/allocation").get_data(as_text=True)
    assert "BOBCO" not in html and "69,993.00" not in html
    assert "Nothing to allocate yet" in html


def test_an_account_holding_only_an_unconverted_instrument_shows_a_zero_share_not_an_error(app, client, alice):
    login(client)
    setup(client, [("AAPL", "stock", "2")])
    url = post(client, "/accounts/", {"name": "Euro broker", "kind": "brokerage"}).headers["Location"]
    assert post(client, f"{url}/holdings", {"symbol": "SAP.DE", "asset_type": "stock", "quantity": "3"}).status_code == 302
    set_price(app, "AAPL", "50")
    set_price(app, "SAP.DE", "100", currency="EUR")
    resp = client.get("/portfolio/allocation")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert '<td>Euro broker</td><td class="num">0.00 USD</td><td class="num">0.00 %</td>' in html
    assert '<td>Main</td><td class="num">100.00 USD</td><td class="num">100.00 %</td>' in html
    assert "300.00 EUR" in html[html.index('id="allocation-unconverted"'):]
