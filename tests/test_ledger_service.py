"""The ledger in the database: activities recorded, checked against the rest of the user's
ledger, and the holdings they govern re-derived after every change."""
from datetime import date, timedelta
from decimal import Decimal as D

import pytest
import sqlalchemy as sa

from webapp.domain.splits import Ratio
from webapp.extensions import db
from webapp.models import Account, Activity, Holding, Instrument, User
from webapp.services import assets, ledger
from webapp.services.ledger import Change, Refused

DAY = date(2025, 3, 3)


def _holding(account_id, symbol):
    return db.session.scalar(sa.select(Holding).join(Instrument).where(
        Holding.account_id == account_id, Instrument.symbol == symbol))


@pytest.fixture
def alice_account(ctx, alice):
    user = db.session.get(User, alice)
    return user, assets.create_account(user, "Broker")


def test_buys_and_a_sale_make_the_holding_with_its_average_cost(alice_account):
    user, acc = alice_account
    ledger.add(user, acc, Change(DAY, "buy", "AAPL", D(10), D(100), fee=D(1), currency="USD"))
    ledger.add(user, acc, Change(DAY + timedelta(days=30), "buy", "AAPL", D(10), D(130), currency="USD"))
    ledger.add(user, acc, Change(DAY + timedelta(days=60), "sell", "AAPL", D(5), D(150), fee=D(2), currency="USD"))
    h = _holding(acc.id, "AAPL")
    assert (h.quantity, h.cost_basis) == (D(15), D("1725.75"))  # (1001 + 1300) × 15/20
    user.cost_method = "fifo"
    ledger.sync_holdings(user)
    assert _holding(acc.id, "AAPL").cost_basis == D("1800.5")  # 5 @ 100.1 + 10 @ 130


def test_selling_more_than_held_then_is_refused_naming_the_quantity(alice_account):
    user, acc = alice_account
    ledger.add(user, acc, Change(DAY, "buy", "MSFT", D(4), D(300), currency="USD"))
    ledger.add(user, acc, Change(DAY + timedelta(days=10), "buy", "MSFT", D(6), D(310), currency="USD"))
    with pytest.raises(Refused, match=r"You held 4 MSFT on 2025-03-05; you cannot sell 5"):
        ledger.add(user, acc, Change(DAY + timedelta(days=2), "sell", "MSFT", D(5), D(320), currency="USD"))
    assert _holding(acc.id, "MSFT").quantity == D(10)
    assert db.session.scalar(sa.select(sa.func.count(Activity.id))) == 2


@pytest.mark.parametrize("change, message", [
    (Change(date.today() + timedelta(days=2), "buy", "X", D(1), D(1)), "The date is in the future."),
    (Change(DAY, "buy", "X", D(0), D(1)), "The quantity must be more than zero."),
    (Change(DAY, "buy", "X", D(1), D(-1)), "The price must be more than zero."),
    (Change(DAY, "dividend", "X", amount=D(-3)), "The amount must be more than zero."),
    (Change(DAY, "buy", "X", D(1), D(1), currency="EUX"), "is not an ISO 4217 currency code"),
    (Change(DAY, "split", "X"), "A split needs a ratio like 2:1"),
])
def test_an_impossible_activity_is_refused_with_a_reason(alice_account, change, message):
    user, acc = alice_account
    with pytest.raises(Refused) as exc:
        ledger.add(user, acc, change)
    assert any(message in p for p in exc.value.problems), exc.value.problems


def test_deleting_a_buy_a_later_sale_needs_is_refused_with_the_reason(alice_account):
    user, acc = alice_account
    buy = ledger.add(user, acc, Change(DAY, "buy", "NVDA", D(10), D(100), currency="USD"))
    ledger.add(user, acc, Change(DAY + timedelta(days=1), "sell", "NVDA", D(8), D(110), currency="USD"))
    with pytest.raises(Refused, match=r"This buy cannot be deleted: without it, you held 0 NVDA on 2025-03-04"):
        ledger.delete(user, buy)
    assert _holding(acc.id, "NVDA").quantity == D(2)


def test_editing_and_deleting_rederive_the_holding(alice_account):
    user, acc = alice_account
    buy = ledger.add(user, acc, Change(DAY, "buy", "AMD", D(10), D(100), currency="USD"))
    ledger.edit(user, buy, acc, Change(DAY, "buy", "AMD", D(12), D(100), currency="USD"))
    assert _holding(acc.id, "AMD").quantity == D(12)
    ledger.delete(user, buy)
    assert _holding(acc.id, "AMD") is None  # nothing held, no holding


def test_a_transfer_between_own_accounts_moves_the_holding_with_its_cost(alice_account):
    user, acc = alice_account
    other = assets.create_account(user, "Pension")
    ledger.add(user, acc, Change(DAY, "buy", "VTI", D(10), D(200), currency="USD"))
    ledger.add(user, acc, Change(DAY + timedelta(days=5), "transfer_out", "VTI", D(4), currency="USD"))
    ledger.add(user, other, Change(DAY + timedelta(days=5), "transfer_in", "VTI", D(4), currency="USD"))
    assert (_holding(acc.id, "VTI").quantity, _holding(acc.id, "VTI").cost_basis) == (D(6), D(1200))
    assert (_holding(other.id, "VTI").quantity, _holding(other.id, "VTI").cost_basis) == (D(4), D(800))


def test_a_split_activity_multiplies_what_was_held_before_its_day(alice_account):
    user, acc = alice_account
    ledger.add(user, acc, Change(DAY, "buy", "TSLA", D(3), D(600), currency="USD"))
    ledger.add(user, acc, Change(DAY + timedelta(days=20), "split", "TSLA", ratio=Ratio(3, 1), currency="USD"))
    ledger.add(user, acc, Change(DAY + timedelta(days=21), "buy", "TSLA", D(1), D(210), currency="USD"))
    h = _holding(acc.id, "TSLA")
    assert (h.quantity, h.cost_basis) == (D(10), D(2010))


def test_a_hand_entered_holding_is_an_opening_position_and_mixes_with_activities(alice_account):
    user, acc = alice_account
    h = assets.add_holding(acc, "META", "stock", D(5), cost=D(1500))
    (opening,) = db.session.scalars(sa.select(Activity)).all()
    assert (opening.type, opening.quantity, opening.amount, opening.date) == ("opening", D(5), D(1500), ledger.today())
    assets.set_quantity(h, D(6))  # only an opening position: set by hand, still
    assert db.session.scalar(sa.select(Activity.quantity)) == D(6)
    ledger.add(user, acc, Change(ledger.today(), "buy", "META", D(2), D(400), currency="USD"))
    h = _holding(acc.id, "META")
    assert (h.quantity, h.cost_basis) == (D(8), D(2300))
    with pytest.raises(assets.RecordedByLedger, match="record a buy or a sell"):
        assets.set_quantity(h, D(3))
    assert _holding(acc.id, "META").quantity == D(8)


def test_a_bulk_written_holding_is_adopted_as_an_opening_position_on_its_first_activity(alice_account):
    user, acc = alice_account
    inst = assets.instrument_for("IBM", "stock", "USD")
    db.session.add(Holding(account_id=acc.id, instrument_id=inst.id, quantity=D(7), cost_basis=None))
    db.session.commit()
    assert [(a.type, a.quantity) for a in ledger.activities_of(user.id)] == [("opening", D(7))]
    ledger.add(user, acc, Change(ledger.today(), "sell", "IBM", D(2), D(250), currency="USD"))
    h = _holding(acc.id, "IBM")
    assert (h.quantity, h.cost_basis) == (D(5), None)  # its cost was never known
    assert [a.type for a in db.session.scalars(sa.select(Activity).order_by(Activity.id))] == ["opening", "sell"]


def test_another_users_activities_are_out_of_reach(alice_account, app, bob):
    user, acc = alice_account
    row = ledger.add(user, acc, Change(DAY, "buy", "AAPL", D(1), D(1), currency="USD"))
    assert ledger.activity_of(bob, row.id) is None
    assert ledger.activity_of(user.id, row.id) is row
    assert ledger.activities_of(bob) == []
    assert ledger.list_activities(bob, acc.id).total == 0


def test_deleting_an_account_deletes_its_activities(alice_account):
    user, acc = alice_account
    ledger.add(user, acc, Change(DAY, "deposit", amount=D(1000), currency="USD"))
    ledger.add(user, acc, Change(DAY, "buy", "AAPL", D(1), D(100), currency="USD"))
    assets.delete(db.session.get(Account, acc.id))
    assert db.session.scalar(sa.select(sa.func.count(Activity.id))) == 0


def test_the_list_filters_and_pages_newest_first(alice_account):
    user, acc = alice_account
    for i in range(7):
        ledger.add(user, acc, Change(DAY + timedelta(days=i), "buy", "AAPL" if i % 2 else "MSFT", D(1), D(10),
                                     currency="USD"))
    ledger.add(user, acc, Change(DAY + timedelta(days=9), "dividend", "MSFT", amount=D(3), currency="USD"))
    page = ledger.list_activities(user.id, acc.id, per_page=3)
    assert (page.total, page.pages) == (8, 3)
    assert [r.date for r in page.rows] == [DAY + timedelta(days=d) for d in (9, 6, 5)]
    msft = ledger.list_activities(user.id, acc.id, symbol="MSFT", types=["buy"])
    assert [r.date.day for r in msft.rows] == [9, 7, 5, 3]
    window = ledger.list_activities(user.id, acc.id, since=DAY + timedelta(days=2), until=DAY + timedelta(days=3))
    assert window.total == 2
