"""`flask demo population`: a load population created idempotently, with no instant refresh asked for."""
from __future__ import annotations

from decimal import Decimal

import sqlalchemy as sa
from rq import Queue

from webapp.extensions import db
from webapp.models import Account, Holding, Instrument, Quote, User


def run(app, *args):
    return app.test_cli_runner().invoke(args=list(args))


def test_population_spreads_holdings_over_every_instrument_and_runs_twice_safely(app, redis_client):
    result = run(app, "demo", "population", "--users", "25", "--instruments", "40", "--holdings", "8")
    assert result.exit_code == 0, result.output
    assert "25 users created (0 existed already), 40 instruments created, 200 holdings created" in result.output
    with app.app_context():
        emails = db.session.scalars(sa.select(User.email).where(User.email.like("load%@folio.load"))).all()
        assert len(emails) == 25 and "load1@folio.load" in emails and "load25@folio.load" in emails
        per_user = db.session.execute(
            sa.select(Account.owner_id, sa.func.count()).join(Holding, Holding.account_id == Account.id)
            .group_by(Account.owner_id)).all()
        assert sorted(n for _, n in per_user) == [8] * 25
        held = db.session.scalar(sa.select(sa.func.count(sa.distinct(Holding.instrument_id))))
        assert held == 40  # 25 x 8 = 200 holdings cover all 40 instruments
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Quote)) == 0  # a cold start
        total = db.session.scalar(sa.select(sa.func.sum(Holding.quantity)))
        assert Decimal(str(total)) > 0
        user = db.session.scalar(sa.select(User).where(User.email == "load3@folio.load"))
        assert user.check_password("load-password-1")
    # nothing was asked of the providers: no instant refresh job on any queue
    assert all(Queue(name, connection=redis_client).count == 0 for name in ("high", "default", "low"))

    again = run(app, "demo", "population", "--users", "25", "--instruments", "40", "--holdings", "8")
    assert again.exit_code == 0, again.output
    assert "0 users created (25 existed already), 0 instruments created, 0 holdings created" in again.output
    more = run(app, "demo", "population", "--users", "30", "--instruments", "40", "--holdings", "8")
    assert "5 users created (25 existed already), 0 instruments created, 40 holdings created" in more.output


def test_population_reads_symbols_and_asset_types_from_a_file(app, tmp_path):
    f = tmp_path / "symbols.txt"
    f.write_text("# a mixed list\nAAPL\nvod.l\nSAP.DE,stock\n122639\nVTI,etf\n\nAAPL\n")
    result = run(app, "demo", "population", "--users", "3", "--instruments", "5", "--holdings", "2",
                 "--symbols", str(f), "--prefix", "mix")
    assert result.exit_code == 0, result.output
    with app.app_context():
        kinds = dict(db.session.execute(sa.select(Instrument.symbol, Instrument.asset_type)).all())
    assert kinds == {"AAPL": "stock", "VOD.L": "stock", "SAP.DE": "stock", "122639": "mutual_fund", "VTI": "etf"}
    assert "log in as mix1@folio.load" in result.output


def test_population_refuses_bad_input_with_a_clear_message(app, tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("AAPL\nNOT A SYMBOL!\n")
    few = tmp_path / "few.txt"
    few.write_text("AAPL\nMSFT\n")
    kind = tmp_path / "kind.txt"
    kind.write_text("AAPL,bond\n")
    cases = [
        (["--users", "2", "--instruments", "3", "--holdings", "4"], "cannot exceed --instruments"),
        (["--users", "2", "--instruments", "2", "--holdings", "1", "--symbols", str(bad)], "line 2:"),
        (["--users", "2", "--instruments", "3", "--holdings", "1", "--symbols", str(few)], "2 distinct symbols; 3"),
        (["--users", "2", "--instruments", "1", "--holdings", "1", "--symbols", str(kind)], "is not an asset type"),
        (["--users", "2", "--instruments", "3", "--holdings", "1", "--prefix", "Bad Prefix"], "is not a prefix"),
        (["--users", "0", "--instruments", "3", "--holdings", "1"], "Invalid value"),
    ]
    for args, message in cases:
        result = run(app, "demo", "population", *args)
        assert result.exit_code == 2, (args, result.output)
        assert message in result.output, (args, result.output)
        assert "Traceback" not in result.output
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 0
