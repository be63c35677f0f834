"""The benchmark's own database: a private SQLite file, or a private schema of DATABASE_URL.

Never the development database and never the configured schema itself: the
benchmark drops and recreates what it uses on every run.
"""
from __future__ import annotations

import os
from pathlib import Path

import sqlalchemy as sa

SCHEMA = os.environ.get("BENCH_SCHEMA") or "folio_bench"


def prepare(configured_url: str | None, results_dir: Path) -> tuple[str, str]:
    """An empty database for the run. Returns (URL for the app, label to print)."""
    if not configured_url or configured_url.startswith("sqlite"):
        path = results_dir / "folio-bench.sqlite3"
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        import sqlite3

        return f"sqlite:///{path}", f"SQLite {sqlite3.sqlite_version}, file {path}"
    url = sa.make_url(configured_url)
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE'))
        conn.execute(sa.text(f'CREATE SCHEMA "{SCHEMA}"'))
        version = conn.execute(sa.text("SHOW server_version")).scalar()
    admin.dispose()
    app_url = url.update_query_dict({"options": f"-csearch_path={SCHEMA}"}).render_as_string(hide_password=False)
    return app_url, f"PostgreSQL {version}, schema {SCHEMA} of {url.render_as_string(hide_password=True)}"


def drop(configured_url: str | None) -> None:
    if not configured_url or configured_url.startswith("sqlite"):
        return
    admin = sa.create_engine(configured_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE'))
    admin.dispose()


def migrate(app) -> None:
    """The schema exactly as production gets it: the Alembic revisions."""
    from flask_migrate import upgrade

    with app.app_context():
        upgrade(revision="heads")  # every branch: revisions of parallel work may not be merged yet
