"""Stock splits: the ratio, `flask holdings split`, the one-holding form, and the value history."""
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
import sqlalchemy as sa
from conftest import login, post, set_price

from webapp.domain.splits import Ratio, SplitError, parse_ratio
from webapp.extensions import db
from webapp.models import Account, Holding, Instrument, PortfolioSnapshot, Split, User
from webapp.services.portfolio import history as history_service

TODAY = datetime.now(timezone.utc).date()


@pytest.mark.parametrize("text, ratio", [
    ("4:1", Ratio(4, 1)), ("4-for-1", Ratio(4, 1)), ("4 for 1", Ratio(4, 1)), ("4FOR1", Ratio(4, 1)),
    (" 3 : 2 ", Ratio(3, 2)), ("1:10", Ratio(1, 10)), ("1-for-10", Ratio(1, 10)), ("8/2", Ratio(4, 1)),
])
def test_ratios_people_write_are_understood(text, ratio):
    assert parse_ratio(text) == ratio


@pytest.mark.parametrize("text, message", [
    ("", "is not a split ratio"), ("4", "is not a split ratio"), ("four:one", "whole numbers"),
    ("1.5:1", "whole numbers"), ("0:1", "whole numbers"), ("-4:1", "whole numbers"), ("4:1:2", "whole numbers"),
    ("2000000:1", "whole numbers"), ("٤:١", "whole numbers"), ("3:3", "changes nothing"),
])
def test_bad_ratios_are_refused_with_a_clear_message(text, message):
    with pytest.raises(SplitError, match=message):
        parse_ratio(text)


def test_a_ratio_keeps_quantities_exact_to_10_places():
    assert Ratio(4, 1).apply(Decimal("2.5")) == (Decimal("10.0"), False)
    assert Ratio(1, 3).apply(Decimal("10")) == (Decimal("3.3333333333"), True)


def portfolio(app, email, holdings, cost=None):
    """A user with an account "Main" holding [(symbol, quantity)] added `days_ago` days back."""
    with app.app_context():
        user = User(email=email, display_name=email.split("@")[0])
        user.set_password("correct horse battery")
        db.session.add(user)
        db.session.flush()
        account = Account(owner_id=user.id, name="Main")
        db.session.add(account)
        db.session.flush()
        ids = {}
        for symbol, qty, days_ago in holdings:
            inst = db.session.scalar(sa.select(Instrument).where(Instrument.symbol == symbol))
            if inst is None:
                inst = Instrument(symbol=symbol, asset_type="stock", provider_symbols={})
                db.session.add(inst)
                db.session.flush()
            h = Holding(account_id=account.id, instrument_id=inst.id, quantity=Decimal(qty),
                        cost_basis=Decimal(cost) if cost else None,
                        created_at=datetime.now(timezone.utc) - timedelta(days=days_ago))
            db.session.add(h)
            db.session.flush()
            ids[symbol] = h.id
        db.session.commit()
        return user.id, account.id, ids


def quantities(app):
    with app.app_context():
        return {hid: (q, c) for hid, q, c in db.session.execute(
            sa.select(Holding.id, Holding.quantity, Holding.cost_basis))}


def test_cli_split_multiplies_every_holding_keeps_cost_and_refuses_a_second_time(app, runner):
    _, _, a = portfolio(app, "alice@example.com", [("AAPL", "10", 30), ("MSFT", "3", 30)], cost="1500")
    _, _, b = portfolio(app, "bob@example.com", [("AAPL", "2.5", 30)], cost="700")
    day = (TODAY - timedelta(days=2)).isoformat()
    result = runner.invoke(args=["holdings", "split", "aapl", "4-for-1", "--date", day])
    assert result.exit_code == 0, result.output
    assert f"AAPL split 4:1 effective {day}: 2 holdings of 2 users adjusted" in result.output
    q = quantities(app)
    assert q[a["AAPL"]] == (Decimal("40"), Decimal("1500"))  # cost basis is a total: unchanged
    assert q[b["AAPL"]] == (Decimal("10"), Decimal("700"))
    assert q[a["MSFT"]] == (Decimal("3"), Decimal("1500"))
    with app.app_context():
        s = db.session.scalars(sa.select(Split)).one()
        assert (s.numerator, s.denominator, s.effective_date, s.scope, s.holdings_adjusted) == (4, 1, date.fromisoformat(day), "all", 2)

    again = runner.invoke(args=["holdings", "split", "AAPL", "4:1", "--date", day])
    assert again.exit_code == 2
    assert "already applied to every holding; it is not applied twice" in again.output
    assert quantities(app) == q
    # the same split on another day is another split
    other = runner.invoke(args=["holdings", "split", "AAPL", "1:2", "--date", (TODAY - timedelta(days=1)).isoformat()])
    assert other.exit_code == 0, other.output
    assert quantities(app)[a["AAPL"]][0] == Decimal("20")


@pytest.mark.parametrize("args, message", [
    (["AAPL", "4"], "is not a split ratio"),
    (["AAPL", "1:1"], "A 1:1 split changes nothing"),
    (["AAPL", "4:1", "--date", "2026-02-30"], "is not a date"),
    (["AAPL", "4:1", "--date", "yesterday"], "is not a date"),
    (["AAPL", "4:1", "--date", "1969-12-31"], "before 1970"),
    (["AAPL", "4:1", "--date", (TODAY + timedelta(days=1)).isoformat()], "in the future"),
    (["NOPE", "4:1"], "no instrument NOPE"),
    (["bad symbol!", "4:1"], "is not a valid symbol"),
])
def test_cli_bad_input_is_a_one_line_error_and_changes_nothing(app, runner, args, message):
    portfolio(app, "alice@example.com", [("AAPL", "10", 30)])
    before = quantities(app)
    result = runner.invoke(args=["holdings", "split", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert quantities(app) == before
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Split)) == 0


def test_reverse_split_rounds_to_10_places_and_refuses_a_quantity_that_would_vanish(app, runner):
    _, _, a = portfolio(app, "alice@example.com", [("XYZ", "10", 30)])
    _, _, b = portfolio(app, "bob@example.com", [("XYZ", "0.0000000001", 30)])
    result = runner.invoke(args=["holdings", "split", "XYZ", "1:1000"])
    assert result.exit_code == 2
    assert "less than the smallest quantity kept" in result.output and "nothing was changed" in result.output
    assert quantities(app)[a["XYZ"]][0] == Decimal("10")  # all or nothing
    with app.app_context():
        db.session.execute(sa.delete(Holding).where(Holding.id == b["XYZ"]))
        db.session.commit()
    result = runner.invoke(args=["holdings", "split", "XYZ", "1:3"])
    assert result.exit_code == 0, result.output
    assert "1 quantity kept to 10 decimal places" in result.output
    assert quantities(app)[a["XYZ"]][0] == Decimal("3.3333333333")


def test_cli_leaves_holdings_added_since_the_effective_date_as_entered(app, runner):
    _, _, old = portfolio(app, "alice@example.com", [("AAPL", "10", 30)])
    _, _, new = portfolio(app, "bob@example.com", [("AAPL", "40", 0)])  # added today, in post-split shares
    result = runner.invoke(args=["holdings", "split", "AAPL", "4:1", "--date", (TODAY - timedelta(days=3)).isoformat()])
    assert result.exit_code == 0, result.output
    assert "1 holding added on or after" in result.output
    q = quantities(app)
    assert q[old["AAPL"]][0] == Decimal("40") and q[new["AAPL"]][0] == Decimal("40")


def snapshot_rows(app, user_id, values):
    """Past snapshots: [(datetime, total)]."""
    with app.app_context():
        db.session.execute(sa.insert(PortfolioSnapshot), [
            {"user_id": user_id, "as_of": t, "currency": "USD", "total_value": Decimal(v), "account_values": {}}
            for t, v in values])
        db.session.commit()


def totals(app, user_id, range_key="1M"):
    with app.app_context():
        return [v for _, v in history_service.value_history(user_id, "USD", range_key).points]


def test_the_value_history_shows_no_false_drop_after_a_split(app, runner):
    """10 AAPL at 400 = 4,000. A 4:1 split took effect two days ago: the price is 100 since, so
    until the split is recorded the portfolio counts 10 x 100 = 1,000 (a false drop)."""
    alice, _, _ = portfolio(app, "alice@example.com", [("AAPL", "10", 30)])
    carol, _, _ = portfolio(app, "carol@example.com", [("MSFT", "1", 30)])  # not a holder: untouched
    now = datetime.now(timezone.utc)
    effective = (now - timedelta(days=2)).date()
    before = datetime.combine(effective, datetime.min.time(), timezone.utc) - timedelta(hours=1)
    snapshot_rows(app, alice, [(before - timedelta(days=1), "3900"), (before, "4000"),
                               (before + timedelta(hours=30), "1000"), (before + timedelta(hours=40), "1010")])
    snapshot_rows(app, carol, [(before + timedelta(hours=30), "77")])
    set_price(app, "AAPL", "101", as_of=now - timedelta(minutes=1))  # a cycle now: 10 x 101, still wrong
    assert totals(app, alice)[-1] == Decimal("1010")
    assert min(totals(app, alice)) == Decimal("1000")

    result = runner.invoke(args=["holdings", "split", "AAPL", "4:1", "--date", effective.isoformat()])
    assert result.exit_code == 0, result.output
    assert "2 value snapshots since" in result.output
    drawn = totals(app, alice)
    assert drawn == [Decimal("3900"), Decimal("4000"), Decimal("4040")]  # 40 x 101, taken at once
    assert min(drawn) >= Decimal("3900")
    assert totals(app, carol) == [Decimal("77")]
    with app.app_context():
        assert db.session.scalars(sa.select(Split.snapshots_superseded)).one() == 2
        # nothing is lost: the two wrong snapshots are kept, marked, and left out of the chart
        assert db.session.scalar(sa.select(sa.func.count()).select_from(PortfolioSnapshot)
                                 .where(PortfolioSnapshot.user_id == alice,
                                        PortfolioSnapshot.superseded_by_split_id.is_not(None))) == 2


def holding_page(client, hid):
    return client.get(f"/accounts/holdings/{hid}/split")


def test_a_split_from_the_holding_page_changes_that_holding_only(app, client):
    alice, account, a = portfolio(app, "alice@example.com", [("AAPL", "10", 30)], cost="1234.5")
    with app.app_context():
        other_account = Account(owner_id=alice, name="IRA")
        db.session.add(other_account)
        db.session.flush()
        ira = Holding(account_id=other_account.id, instrument_id=db.session.get(Holding, a["AAPL"]).instrument_id,
                      quantity=Decimal("7"))
        db.session.add(ira)
        db.session.commit()
        ira_id = ira.id
    _, _, b = portfolio(app, "bob@example.com", [("AAPL", "3", 30)])
    login(client)
    detail = client.get(f"/accounts/{account}").get_data(as_text=True)
    assert f'href="/accounts/holdings/{a["AAPL"]}/split">Record a split…</a>' in detail
    page = holding_page(client, a["AAPL"]).get_data(as_text=True)
    assert 'id="split-quantity">10</strong>' in page and "cost 1,234.50" in page
    assert f'value="{TODAY.isoformat()}"' in page  # today by default

    day = (TODAY - timedelta(days=1)).isoformat()
    resp = post(client, f"/accounts/holdings/{a['AAPL']}/split", {"ratio": "4:1", "effective_date": day})
    assert resp.status_code == 302 and resp.headers["Location"] == f"/accounts/{account}"
    assert "AAPL split 4:1: 10 became 40; the cost basis is unchanged." in client.get(resp.headers["Location"]).get_data(as_text=True)
    q = quantities(app)
    assert q[a["AAPL"]] == (Decimal("40"), Decimal("1234.5"))
    assert q[ira_id][0] == Decimal("7") and q[b["AAPL"]][0] == Decimal("3")
    assert f"<td>{day}</td><td>4:1</td>" in holding_page(client, a["AAPL"]).get_data(as_text=True)

    again = post(client, f"/accounts/holdings/{a['AAPL']}/split", {"ratio": "4:1", "effective_date": day})
    assert again.status_code == 409
    assert "already applied to this holding" in again.get_data(as_text=True)
    assert quantities(app)[a["AAPL"]][0] == Decimal("40")


def test_the_cli_then_skips_a_holding_its_owner_already_split(app, client, runner):
    _, _, a = portfolio(app, "alice@example.com", [("AAPL", "10", 30)])
    _, _, b = portfolio(app, "bob@example.com", [("AAPL", "3", 30)])
    login(client)
    assert post(client, f"/accounts/holdings/{a['AAPL']}/split",
                {"ratio": "2:1", "effective_date": TODAY.isoformat()}).status_code == 302
    result = runner.invoke(args=["holdings", "split", "AAPL", "2:1"])
    assert result.exit_code == 0, result.output
    assert "1 holding already split by their owner" in result.output
    q = quantities(app)
    assert q[a["AAPL"]][0] == Decimal("20") and q[b["AAPL"]][0] == Decimal("6")
    # after the split for everyone, nobody applies it again from a holding's page
    client_b = app.test_client()
    login(client_b, "bob@example.com")
    resp = post(client_b, f"/accounts/holdings/{b['AAPL']}/split", {"ratio": "2:1", "effective_date": TODAY.isoformat()})
    assert resp.status_code == 409 and "already applied to every holding" in resp.get_data(as_text=True)
    assert quantities(app)[b["AAPL"]][0] == Decimal("6")


@pytest.mark.parametrize("form, message", [
    ({"ratio": "", "effective_date": TODAY.isoformat()}, "Enter the ratio"),
    ({"ratio": "four", "effective_date": TODAY.isoformat()}, "is not a split ratio"),
    ({"ratio": "1:1", "effective_date": TODAY.isoformat()}, "changes nothing"),
    ({"ratio": "4:1", "effective_date": ""}, "Enter the date"),
    ({"ratio": "4:1", "effective_date": "31/12/2025"}, "Not a valid date"),
    ({"ratio": "4:1", "effective_date": (TODAY + timedelta(days=3)).isoformat()}, "in the future"),
    ({"ratio": "x" * 5000, "effective_date": TODAY.isoformat()}, "40 characters"),
])
def test_bad_split_input_rerenders_the_form_with_a_400(app, client, form, message):
    _, _, a = portfolio(app, "alice@example.com", [("AAPL", "10", 30)])
    login(client)
    resp = post(client, f"/accounts/holdings/{a['AAPL']}/split", form)
    assert resp.status_code == 400
    html = resp.get_data(as_text=True)
    assert message in html and "<form" in html
    assert quantities(app)[a["AAPL"]][0] == Decimal("10")


def test_another_users_holding_is_404_for_the_split_page_and_form(app, client):
    portfolio(app, "alice@example.com", [("AAPL", "10", 30)])
    _, _, b = portfolio(app, "bob@example.com", [("AAPL", "3", 30)])
    login(client)
    assert holding_page(client, b["AAPL"]).status_code == 404
    resp = post(client, f"/accounts/holdings/{b['AAPL']}/split", {"ratio": "4:1", "effective_date": TODAY.isoformat()})
    assert resp.status_code == 404
    assert quantities(app)[b["AAPL"]][0] == Decimal("3")
