"""Activities from files, as a user and an operator meet them: `flask transactions import|export`
and the /activities/import page. Every problem is listed with its line and column, nothing is
imported until there is none, a second import of the same file adds nothing, and an export
imports back to the same activities."""
from decimal import Decimal as D
from pathlib import Path

import sqlalchemy as sa
from conftest import login, make_user, post

from webapp.extensions import db
from webapp.models import Account, Activity, Holding, Instrument, User
from webapp.services import ledger

FIXTURES = Path(__file__).parent / "fixtures" / "activities"


def _holdings(user_id):
    return sorted(db.session.execute(
        sa.select(Account.name, Instrument.symbol, Holding.quantity, Holding.cost_basis)
        .join(Holding, Holding.account_id == Account.id).join(Instrument, Instrument.id == Holding.instrument_id)
        .where(Account.owner_id == user_id)).all())


def test_import_creates_the_accounts_and_a_second_import_adds_nothing(app, runner, alice):
    path = str(FIXTURES / "folio_valid.csv")
    result = runner.invoke(args=["transactions", "import", "alice@example.com", path])
    assert result.exit_code == 1
    assert "accounts the user does not have: Broker, IRA, ISA" in result.output
    result = runner.invoke(args=["transactions", "import", "alice@example.com", path, "--create-accounts",
                                 "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "would import 13, skip 0 duplicates" in result.output
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Activity.id))) == 0
    result = runner.invoke(args=["transactions", "import", "alice@example.com", path, "--create-accounts"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "imported 13, skipped 0 duplicates"
    with app.app_context():
        # 10 + 10 bought (fees 1 each), 5 sold, then 2:1: 30 AAPL at the average cost
        # (1506 + 1506) × 15/20 = 2259; 12.5 VTI opened at 2500; 100 VOD.L in, 50 out
        assert _holdings(alice) == [("Broker", "AAPL", D(30), D(2259)), ("IRA", "VTI", D("12.5"), D(2500)),
                                    ("ISA", "VOD.L", D(50), D(36))]
    again = runner.invoke(args=["transactions", "import", "alice@example.com", path])
    assert again.output.strip() == "imported 0, skipped 13 duplicates"
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Activity.id))) == 13


def test_a_file_with_errors_lists_every_one_and_imports_nothing(app, runner, alice):
    result = runner.invoke(args=["transactions", "import", "alice@example.com",
                                 str(FIXTURES / "folio_errors.csv"), "--create-accounts"])
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 15
    assert "Error: Line 7, column 11: A value in a column the header does not name (“surplus”)." in errors
    assert "15 error(s); nothing imported." in result.output
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Activity.id))) == 0
        assert db.session.scalar(sa.select(sa.func.count(Account.id))) == 0


def test_a_sale_of_more_than_the_file_and_the_ledger_hold_names_its_line(app, runner, alice, tmp_path):
    f = tmp_path / "oversold.csv"
    f.write_text("date,account,type,symbol,quantity,price,currency\n"
                 "2024-01-02,Broker,buy,MSFT,3,100,USD\n2024-01-03,Broker,sell,MSFT,4,110,USD\n")
    result = runner.invoke(args=["transactions", "import", "alice@example.com", str(f), "--create-accounts"])
    assert result.exit_code == 1
    assert "Error: Line 3: You held 3 MSFT on 2024-01-03; you cannot sell 4." in result.output


def test_export_then_import_gives_the_same_activities(app, runner, alice):
    runner.invoke(args=["transactions", "import", "alice@example.com", str(FIXTURES / "folio_valid.csv"),
                        "--create-accounts"])
    exported = runner.invoke(args=["transactions", "export", "alice@example.com"])
    assert exported.exit_code == 0
    bob = make_user(app, "bob@example.com")
    with app.app_context():
        path = Path(app.instance_path) / "alice-export.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(exported.output)
    try:
        result = runner.invoke(args=["transactions", "import", "bob@example.com", str(path), "--create-accounts"])
    finally:
        path.unlink()
    assert result.output.strip() == "imported 13, skipped 0 duplicates"
    with app.app_context():
        def ledger_of(uid):
            names = dict(db.session.execute(sa.select(Account.id, Account.name)).all())
            return sorted((names[a.account], a.date, a.type, a.symbol, a.quantity, a.price, a.fee, a.amount,
                           a.currency, a.note, a.ratio) for a in ledger.activities_of(uid))
        assert ledger_of(bob) == ledger_of(alice)
        assert _holdings(bob) == _holdings(alice)
    # and the export of an import is the file it came from
    assert runner.invoke(args=["transactions", "export", "bob@example.com"]).output == exported.output


def test_ghostfolio_and_trading212_files_report_what_they_cannot_hold(app, runner, alice):
    ghost = runner.invoke(args=["transactions", "import", "alice@example.com",
                                str(FIXTURES / "ghostfolio_export.json"), "--create-accounts"])
    assert ghost.exit_code == 1
    assert "not supported" in ghost.output and "ITEM" in ghost.output
    t212 = runner.invoke(args=["transactions", "import", "alice@example.com",
                               str(FIXTURES / "trading212_export.csv"), "--create-accounts"])
    assert t212.exit_code == 1
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Activity.id))) == 0


def test_bad_arguments_get_a_clear_message(runner, alice):
    result = runner.invoke(args=["transactions", "import", "nobody@example.com", str(FIXTURES / "folio_valid.csv")])
    assert result.exit_code == 2 and "no user with email" in result.output
    result = runner.invoke(args=["transactions", "import", "alice@example.com", "/nonexistent/file.csv"])
    assert result.exit_code == 2 and "cannot read /nonexistent/file.csv" in result.output


def test_the_import_page_previews_errors_then_imports_the_fixed_file(app, client, alice):
    login(client)
    bad = ("date,account,type,symbol,quantity,price,currency\n"
           "2024-01-02,Broker,buy,AAPL,ten,100,USD\n2024-01-03,Broker,buy,AAPL,1,100,USD,extra\n")
    resp = post(client, "/activities/import", {"text": bad})
    assert resp.status_code == 400
    page = resp.get_data(as_text=True)
    assert "2 problems — nothing was imported" in page
    assert "Line 2, column quantity" in page and "Line 3, column 8" in page
    good = bad.replace("ten", "10").replace(",extra", "")
    resp = post(client, "/activities/import", {"text": good})
    assert resp.status_code == 200
    page = resp.get_data(as_text=True)
    assert "accounts you do not have yet: <strong>Broker</strong>" in page
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Activity.id))) == 0  # a preview writes nothing
    resp = post(client, "/activities/import", {"text": good, "confirm": "1", "create": "1"})
    assert resp.status_code == 302
    with app.app_context():
        assert _holdings(alice) == [("Broker", "AAPL", D(11), D(1100))]
    csv = client.get("/activities/export.csv").get_data(as_text=True)
    assert csv.splitlines()[0].startswith("date,account,type,symbol") and "2024-01-02,Broker,buy,AAPL,10,100" in csv
