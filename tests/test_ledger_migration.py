"""Migration 0006 turns every holding into an opening position of the ledger and changes
nothing a user sees: values, cost bases and value history are the same after it, on SQLite
and on PostgreSQL, and the ledger re-derives exactly the holdings there were."""
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal as D

import sqlalchemy as sa
from flask_migrate import upgrade

from webapp import create_app
from webapp.types import ExactDecimal, UTCDateTime

NOW = datetime.now(timezone.utc).replace(microsecond=0)
LONG_AGO = NOW - timedelta(days=200)


def _table(name, *cols):
    types = {"quantity": ExactDecimal(), "cost_basis": ExactDecimal(), "price": ExactDecimal(),
             "rate": ExactDecimal(), "total_value": ExactDecimal(), "created_at": UTCDateTime(),
             "as_of": UTCDateTime(), "fetched_at": UTCDateTime(), "applied_at": UTCDateTime(),
             "account_values": sa.JSON(), "provider_symbols": sa.JSON()}
    return sa.table(name, *(sa.column(c, types.get(c)) for c in cols))


def _old_data(conn):
    """Users, accounts and holdings as revision 0005 knew them, with a split already applied."""
    users = _table("users", "id", "email", "password_hash", "display_name", "base_currency", "is_admin",
                   "is_disabled", "session_token", "created_at")
    conn.execute(sa.insert(users), [
        dict(id=i, email=f"u{i}@example.com", password_hash="x", display_name="", base_currency=ccy,
             is_admin=False, is_disabled=False, session_token=f"t{i}", created_at=LONG_AGO)
        for i, ccy in ((1, "USD"), (2, "EUR"))])
    accounts = _table("accounts", "id", "owner_id", "name", "institution", "kind", "created_at")
    conn.execute(sa.insert(accounts), [
        dict(id=10, owner_id=1, name="Broker", institution="", kind="brokerage", created_at=LONG_AGO),
        dict(id=11, owner_id=1, name="Pension", institution="", kind="retirement", created_at=LONG_AGO),
        dict(id=20, owner_id=2, name="Depot", institution="", kind="brokerage", created_at=LONG_AGO)])
    instruments = _table("instruments", "id", "symbol", "asset_type", "name", "exchange", "currency",
                         "provider_symbols", "created_at")
    conn.execute(sa.insert(instruments), [
        dict(id=i, symbol=s, asset_type="stock", name="", exchange="", currency=c, provider_symbols={},
             created_at=LONG_AGO)
        for i, s, c in ((1, "AAPL", "USD"), (2, "SAP.DE", "EUR"), (3, "NVDA", "USD"), (4, "ODD", "USD"))])
    holdings = _table("holdings", "id", "account_id", "instrument_id", "quantity", "cost_basis", "created_at",
                      "updated_at")
    rows = [
        dict(id=1, account_id=10, instrument_id=1, quantity=D("12.5"), cost_basis=D("1500.25"), created_at=LONG_AGO),
        dict(id=2, account_id=10, instrument_id=2, quantity=D("3"), cost_basis=None, created_at=LONG_AGO),
        # split 4:1 sixty days ago: 10 shares became 40
        dict(id=3, account_id=11, instrument_id=3, quantity=D("40"), cost_basis=D("4000"), created_at=LONG_AGO),
        # reverse split 1:3 of 10 shares: 3.3333333333 (rounded; not undone exactly)
        dict(id=4, account_id=11, instrument_id=4, quantity=D("3.3333333333"), cost_basis=D("99"), created_at=LONG_AGO),
        dict(id=5, account_id=20, instrument_id=1, quantity=D("0.0000000001"), cost_basis=D("0.01"),
             created_at=NOW - timedelta(days=3)),
        dict(id=6, account_id=20, instrument_id=2, quantity=D("123456789.123456789"), cost_basis=D("1"),
             created_at=NOW - timedelta(days=3)),
    ]
    conn.execute(sa.insert(holdings), [dict(r, updated_at=r["created_at"]) for r in rows])
    splits = _table("splits", "id", "instrument_id", "numerator", "denominator", "effective_date", "scope",
                    "user_id", "holdings_adjusted", "snapshots_superseded", "applied_at")
    conn.execute(sa.insert(splits), [
        dict(id=1, instrument_id=3, numerator=4, denominator=1, effective_date=(NOW - timedelta(days=60)).date(),
             scope="all", user_id=None, holdings_adjusted=1, snapshots_superseded=0, applied_at=NOW),
        dict(id=2, instrument_id=4, numerator=1, denominator=3, effective_date=(NOW - timedelta(days=30)).date(),
             scope="holding:4", user_id=1, holdings_adjusted=1, snapshots_superseded=0, applied_at=NOW)])
    quotes = _table("quotes", "instrument_id", "price", "currency", "as_of", "fetched_at", "source")
    conn.execute(sa.insert(quotes), [
        dict(instrument_id=i, price=D(p), currency=c, as_of=NOW - timedelta(minutes=5), fetched_at=NOW,
             source="replay") for i, p, c in ((1, "190.12", "USD"), (2, "120.5", "EUR"), (3, "130.01", "USD"),
                                              (4, "30", "USD"))])
    fx = _table("fx_rates", "base", "quote", "rate", "as_of", "source")
    conn.execute(sa.insert(fx), [dict(base="EUR", quote="USD", rate=D("1.0875"), as_of=NOW - timedelta(hours=1),
                                      source="ecb")])
    snaps = _table("portfolio_snapshots", "user_id", "as_of", "currency", "total_value", "account_values",
                   "reconstructed")
    conn.execute(sa.insert(snaps), [
        dict(user_id=u, as_of=NOW - timedelta(days=d), currency=c, total_value=D(v), account_values={},
             reconstructed=d > 100) for u, c in ((1, "USD"), (2, "EUR")) for d, v in ((150, "100.5"), (20, "4000.25"),
                                                                                      (1, "5000"))])


def _seen(app, user_ids):
    """What the users see: each portfolio's value and cost basis, holdings, value history."""
    from webapp.extensions import db
    from webapp.models import Holding
    from webapp.services.portfolio.history import value_history
    from webapp.services.portfolio.read_model import value_users

    with app.app_context():
        values = {uid: (v.currency, v.total, v.cost, v.gain, v.summary()) for uid, v in value_users(user_ids).items()}
        holdings = sorted(db.session.execute(sa.select(Holding.id, Holding.account_id, Holding.instrument_id,
                                                       Holding.quantity, Holding.cost_basis)).all())
        history = {uid: value_history(uid, ccy, "All").points for uid, ccy in ((1, "USD"), (2, "EUR"))}
        db.session.remove()
    return values, holdings, history


# Today's read model selects the holdings' cost in the base currency, which 0006 adds (NULL
# until the ledger writes it): at 0005 the two columns are lent, NULL, for that reading only.
BASE_COST = ("cost_basis_base NUMERIC(28, 10)", "cost_base_currency VARCHAR(3)")


def _seen_at_0005(app, user_ids):
    from webapp.extensions import db

    with app.app_context(), db.engine.begin() as conn:
        for column in BASE_COST:
            conn.execute(sa.text(f"ALTER TABLE holdings ADD COLUMN {column}"))
    try:
        return _seen(app, user_ids)
    finally:
        with app.app_context():
            with db.engine.begin() as conn:
                for column in BASE_COST:
                    conn.execute(sa.text(f"ALTER TABLE holdings DROP COLUMN {column.split()[0]}"))
            db.engine.dispose()


def test_every_holding_becomes_an_opening_position_and_nothing_a_user_sees_changes(empty_database_url, redis_url):
    app = create_app({"SQLALCHEMY_DATABASE_URI": empty_database_url, "REDIS_URL": redis_url, "TESTING": True})
    with app.app_context():
        upgrade(revision="0005_reconstructed")
        from webapp.extensions import db

        with db.engine.begin() as conn:
            _old_data(conn)
        db.engine.dispose()
    before = _seen_at_0005(app, [1, 2])
    # the fixture is what it says (SAP.DE waits for an EUR rate in Redis: counted apart, unconverted)
    assert before[0][1][1] == D("12.5") * D("190.12") + 40 * D("130.01") + D("3.3333333333") * 30
    assert before[0][1][4].unconverted == (("EUR", D("361.5")),)
    with app.app_context():
        upgrade()
        db.engine.dispose()
    after = _seen(app, [1, 2])
    assert after == before

    from webapp.extensions import db
    from webapp.models import Activity, User
    from webapp.services import ledger
    from webapp.domain.ledger import positions

    with app.app_context():
        rows = db.session.execute(sa.select(Activity.account_id, Activity.instrument_id, Activity.type,
                                            Activity.date, Activity.quantity, Activity.amount,
                                            Activity.ratio_numerator, Activity.ratio_denominator)
                                  .order_by(Activity.account_id, Activity.instrument_id, Activity.date)).all()
        long_ago = LONG_AGO.date()
        assert [tuple(r) for r in rows] == [
            (10, 1, "opening", long_ago, D("12.5"), D("1500.25"), None, None),
            (10, 2, "opening", long_ago, D("3"), None, None, None),
            # undone exactly: 10 shares opened, then the 4:1 split on its day
            (11, 3, "opening", long_ago, D("10"), D("4000"), None, None),
            (11, 3, "split", (NOW - timedelta(days=60)).date(), None, None, 4, 1),
            # 3.3333333333 × 3 gives 9.9999999999, which splits back to 3.3333333333: undone too
            (11, 4, "opening", long_ago, D("9.9999999999"), D("99"), None, None),
            (11, 4, "split", (NOW - timedelta(days=30)).date(), None, None, 1, 3),
            (20, 1, "opening", (NOW - timedelta(days=3)).date(), D("0.0000000001"), D("0.01"), None, None),
            (20, 2, "opening", (NOW - timedelta(days=3)).date(), D("123456789.123456789"), D("1"), None, None),
        ]
        # the ledger adds up to the holdings, and re-deriving them from it changes nothing
        held = positions(ledger.activities_of(1))
        assert held == {(10, "AAPL"): D("12.5"), (10, "SAP.DE"): D("3"), (11, "NVDA"): D("40"),
                        (11, "ODD"): D("3.3333333333")}
        for uid in (1, 2):
            ledger.sync_holdings(db.session.get(User, uid))
        db.session.commit()
        db.session.remove()
    assert _seen(app, [1, 2]) == before
    with app.app_context():
        db.engine.dispose()


def test_a_split_that_cannot_be_undone_exactly_opens_on_its_day(empty_database_url, redis_url):
    """7:3 gives quantities 7/3 apart at the 10th place: 1 is none of them (undone: 0.4285714286,
    which splits to 1.0000000001). Such a holding opens on the split's day with its quantity."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": empty_database_url, "REDIS_URL": redis_url, "TESTING": True})
    with app.app_context():
        upgrade(revision="0005_reconstructed")
        from webapp.extensions import db

        with db.engine.begin() as conn:
            _old_data(conn)
            conn.execute(sa.text("UPDATE splits SET numerator = 7, denominator = 3 WHERE id = 2"))
            conn.execute(sa.text("UPDATE holdings SET quantity = '1' WHERE id = 4"))
        upgrade()
        from webapp.models import Activity

        rows = db.session.execute(sa.select(Activity.type, Activity.date, Activity.quantity)
                                  .where(Activity.instrument_id == 4)).all()
        assert [tuple(r) for r in rows] == [("opening", (NOW - timedelta(days=30)).date(), D("1"))]
        db.session.remove()
        db.engine.dispose()
