"""What the cluster run runs against: a database and a Redis DB of its own, and the environment
every process of the cluster gets."""
from __future__ import annotations

import os
import re
import uuid
from pathlib import Path

import sqlalchemy as sa

from webapp import embedded

DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DATABASE = "folio_cluster"
PREFIX = "folio-cluster:"
SECRET = "folio-cluster-secret"
RUN_ID = uuid.uuid4().hex
LOCK = "folio-test-run-lock"  # the key tests/conftest.py claims a Redis DB with: runs skip each other's


def postgres_url() -> str | None:
    """DATABASE_URL when it is PostgreSQL, else the local server if it answers, else None."""
    url = os.environ.get("DATABASE_URL") or DEFAULT_POSTGRES
    if not url.startswith("postgresql"):
        return None
    try:
        engine = sa.create_engine(url)
        with engine.connect():
            pass
        engine.dispose()
        return url
    except sa.exc.OperationalError:
        return None


def create_database(server_url: str) -> str:
    """A private database on that server, made empty. Returns its URL."""
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{DATABASE}"'))
    admin.dispose()
    return sa.make_url(server_url).set(database=DATABASE).render_as_string(hide_password=False)


def drop_database(server_url: str) -> None:
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)'))
    admin.dispose()


def sqlite_url(results: Path) -> str:
    path = results / "folio-cluster.sqlite3"
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return f"sqlite:///{path}"


def claim_redis(url: str):
    """A Redis DB number nobody else uses (RQ's keys have no prefix), emptied for this run.
    Returns (url, client) or None when every DB is taken."""
    import redis

    for n in list(range(12, 16)) + list(range(1, 12)):  # never DB 0
        candidate = re.sub(r"/\d*$", "", url) + f"/{n}"
        r = redis.Redis.from_url(candidate)
        if r.set(LOCK, RUN_ID, nx=True, ex=3600):
            keep = r.ttl(LOCK)
            r.flushdb()  # ours: claimed a moment ago
            r.set(LOCK, RUN_ID, ex=keep)
            return candidate, r
        r.close()
    return None


def release_redis(r) -> None:
    if r.get(LOCK) == RUN_ID.encode():
        r.flushdb()  # only the claimed DB


def shared_redis() -> str | None:
    url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    return url if embedded.answers(url) else None


def cluster_env(db_url: str, redis_url: str, replay_url: str, heartbeat: int, maintenance: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PROVIDER_", "FOLIO_", "PROMETHEUS_"))}
    env.update({
        "FLASK_APP": "wsgi:app", "DATABASE_URL": db_url, "REDIS_URL": redis_url, "REDIS_PREFIX": PREFIX,
        "SECRET_KEY": SECRET, "FOLIO_DEMO": "0", "PRICE_PROVIDERS": "tiingo",
        "PROVIDER_TIINGO_URL": replay_url, "PROVIDER_TIINGO_API_KEY": "bench",
        "PROVIDER_TIINGO_BATCH_SIZE": "100", "PROVIDER_TIINGO_RATE_LIMIT": "1000/60",
        # exchange rates: nothing here needs one (USD only); the local server answers 404 at once
        "PROVIDER_ECB_URL": replay_url, "PROVIDER_FRANKFURTER_URL": replay_url,
        "PRICE_SKIP_CLOSED_MARKETS": "0", "LOG_LEVEL": "INFO", "WEB_CONCURRENCY": "2",
        "JOB_HEARTBEAT_SECONDS": str(heartbeat), "WORKER_MAINTENANCE_SECONDS": str(maintenance),
        "TRANSIENT_RETRY_INTERVALS": "2,5,10",
    })
    return env
