"""A synthetic population written straight into the schema the migrations created.

Users with accounts and holdings drawn at random (seeded, so every run is the same
population), instruments with one quote each, plus one user with 50 holdings for the
dashboard benchmark. Rows go in with the database's bulk path (executemany in one
transaction on SQLite, COPY on PostgreSQL); values are bound through the models' own
column types, so they are stored exactly as the application stores them.
"""
from __future__ import annotations

import random
import secrets
import string
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import sqlalchemy as sa
from werkzeug.security import generate_password_hash

from webapp.models import Account, Holding, Instrument, Quote, User

PASSWORD = "bench-password-1"
DASHBOARD_EMAIL = "dashboard@folio.bench"
DASHBOARD_HOLDINGS = 50
ACCOUNT_NAMES = ("Brokerage", "Retirement", "Savings")


@dataclass
class Population:
    users: int
    symbols: int
    holdings_per_user: int
    holdings: int = 0
    accounts: int = 0
    dashboard_user: int = 0
    # instrument id -> (symbol, price) as stored in the initial quote
    prices: dict[int, tuple[str, Decimal]] = field(default_factory=dict)
    as_of: datetime | None = None

    def email(self, n: int) -> str:
        return f"user{n}@folio.bench"


def symbol_of(n: int) -> str:
    """AAAA, AAAB, ... : distinct upper-case tickers that every adapter accepts."""
    letters = []
    for _ in range(4):
        n, r = divmod(n, 26)
        letters.append(string.ascii_uppercase[r])
    return "".join(reversed(letters)) + (str(n) if n else "")


def generate(engine: sa.Engine, users: int, symbols: int, holdings_per_user: int, seed: int = 6) -> Population:
    """Fill an empty, migrated database. Returns what the benchmarks need to know."""
    if holdings_per_user > symbols:
        raise ValueError("HOLDINGS_PER_USER cannot exceed SYMBOLS (a holding per instrument per account)")
    rng = random.Random(seed)
    pop = Population(users=users, symbols=symbols, holdings_per_user=holdings_per_user)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    pop.as_of = now - timedelta(days=1)
    pw_hash = generate_password_hash(PASSWORD, method="scrypt:1024:8:1")  # cheap to check, still scrypt

    inst_rows, quote_rows = [], []
    for i in range(1, symbols + 1):
        sym = symbol_of(i - 1)
        price = Decimal(rng.randrange(100, 100_000_00)).scaleb(-4)  # 0.0100 .. 9999.9999
        pop.prices[i] = (sym, price)
        inst_rows.append({"id": i, "symbol": sym, "asset_type": "stock", "name": f"Bench {sym}", "exchange": "",
                          "currency": "USD", "provider_symbols": {}, "created_at": now})
        quote_rows.append({"id": i, "instrument_id": i, "price": price, "currency": "USD", "as_of": pop.as_of,
                           "fetched_at": pop.as_of, "source": "tiingo", "previous_close": None})

    user_rows, account_rows, holding_rows = [], [], []
    n_accounts = min(len(ACCOUNT_NAMES) - 1, max(1, holdings_per_user // 5))

    def add_user(uid: int, email: str, n_holdings: int, accounts: int) -> None:
        user_rows.append({"id": uid, "email": email, "password_hash": pw_hash, "display_name": "",
                          "base_currency": "USD", "is_admin": False, "is_disabled": False,
                          "session_token": secrets.token_urlsafe(24), "created_at": now, "last_login_at": None})
        first_account = len(account_rows) + 1
        for a in range(accounts):
            account_rows.append({"id": first_account + a, "owner_id": uid, "name": ACCOUNT_NAMES[a],
                                 "institution": "", "kind": "brokerage", "created_at": now})
        for k, iid in enumerate(rng.sample(range(1, symbols + 1), n_holdings)):
            qty = Decimal(rng.randrange(1, 10_000_0000)).scaleb(-4)  # 0.0001 .. 9999.9999
            holding_rows.append({"id": len(holding_rows) + 1, "account_id": first_account + k % accounts,
                                 "instrument_id": iid, "quantity": qty, "cost_basis": None,
                                 "created_at": now, "updated_at": now})

    for uid in range(1, users + 1):
        add_user(uid, pop.email(uid), holdings_per_user, n_accounts)
    pop.dashboard_user = users + 1
    add_user(pop.dashboard_user, DASHBOARD_EMAIL, min(DASHBOARD_HOLDINGS, symbols), len(ACCOUNT_NAMES))
    pop.holdings, pop.accounts = len(holding_rows), len(account_rows)

    with engine.begin() as conn:
        for model, rows in ((Instrument, inst_rows), (Quote, quote_rows), (User, user_rows),
                            (Account, account_rows), (Holding, holding_rows)):
            _bulk_insert(conn, model.__table__, rows)
        if conn.dialect.name == "postgresql":
            for model in (Instrument, Quote, User, Account, Holding):  # ids were given explicitly
                t = model.__tablename__
                conn.exec_driver_sql(f"SELECT setval(pg_get_serial_sequence('{t}', 'id'), (SELECT max(id) FROM {t}))")
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE")
        else:
            conn.exec_driver_sql("ANALYZE")
    return pop


def _bulk_insert(conn: sa.Connection, table: sa.Table, rows: list[dict], chunk: int = 50_000) -> None:
    if not rows:
        return
    dialect = conn.dialect
    cols = [c for c in table.columns if c.name in rows[0]]
    # the columns' own bind processing (exact decimal text on SQLite, UTC handling), once per value
    procs = [c.type._cached_bind_processor(dialect) for c in cols]
    raw = conn.connection.driver_connection
    if dialect.name == "postgresql":
        names = ", ".join(c.name for c in cols)
        with raw.cursor() as cur, cur.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:
            for r in rows:
                copy.write_row([_pg_value(r[c.name], p) for c, p in zip(cols, procs)])
        return
    names = ", ".join(c.name for c in cols)
    marks = ", ".join("?" for _ in cols)
    cur = raw.cursor()
    batch = []
    convert = [_memoized(p) if p else None for p in procs]
    keys = [c.name for c in cols]
    for r in rows:
        batch.append(tuple(f(r[k]) if f and r[k] is not None else r[k] for k, f in zip(keys, convert)))
        if len(batch) >= chunk:
            cur.executemany(f"INSERT INTO {table.name} ({names}) VALUES ({marks})", batch)
            batch = []
    if batch:
        cur.executemany(f"INSERT INTO {table.name} ({names}) VALUES ({marks})", batch)


def _memoized(proc):
    """The same timestamp on every row is converted once (decimals are all different)."""
    memo: dict = {}

    def convert(value):
        if isinstance(value, Decimal):
            return proc(value)
        try:
            return memo[value]
        except KeyError:
            memo[value] = out = proc(value)
            return out
        except TypeError:  # unhashable (a dict for a JSON column)
            return proc(value)

    return convert


def _pg_value(value, proc):
    if value is None:
        return None
    if isinstance(value, dict):
        import json

        return json.dumps(value)
    return proc(value) if proc else value
