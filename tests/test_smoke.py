from decimal import Decimal

from conftest import login, make_user, post


def test_register_create_account_add_holding_and_see_it_valued(client):
    resp = post(client, "/auth/register", {"email": "new@example.com", "password": "long enough pw",
                                           "confirm": "long enough pw"})
    assert resp.status_code == 302
    resp = post(client, "/accounts/", {"name": "Main", "institution": "", "kind": "brokerage"})
    assert resp.status_code == 302
    account_url = resp.headers["Location"]
    resp = post(client, f"{account_url}/holdings", {"symbol": "aapl", "asset_type": "stock", "quantity": "3"})
    assert resp.status_code == 302
    page = client.get("/").get_data(as_text=True)
    assert "AAPL" in page
    assert "fetching price" in page
