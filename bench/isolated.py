"""A migrated app for a self-contained benchmark (bench.ledger, bench.alerts): a private database
(bench/database.py) and a Redis of its own, or REDIS_URL's when it answers, under a private
prefix whose keys are deleted afterwards."""
from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from . import database
from .stack import Stack


@contextmanager
def isolated_app(name: str) -> Iterator[tuple[object, str]]:
    """Yields (app, database label) with an app context pushed; everything is removed on exit."""
    from webapp import create_app, embedded

    configured = os.environ.get("DATABASE_URL")
    with tempfile.TemporaryDirectory(prefix=f"folio-bench-{name}-") as tmp:
        stack = Stack(logs=Path(tmp))
        try:
            app_url, label = database.prepare(configured, Path(tmp))
            url = os.environ.get("REDIS_URL")
            shared = embedded.answers(url)
            redis_url, prefix = (url, f"folio-bench-{name}-{os.getpid()}:") if shared else (stack.redis(), "folio-bench:")
            app = create_app({"SQLALCHEMY_DATABASE_URI": app_url, "REDIS_URL": redis_url, "REDIS_PREFIX": prefix,
                              "SECRET_KEY": "folio-bench-secret", "LOG_LEVEL": "WARNING", "FOLIO_DEMO": False})
            database.migrate(app)
            with app.app_context():
                try:
                    yield app, label
                finally:
                    if shared:  # a shared Redis: leave nothing behind
                        from webapp.services import cache

                        r = cache.get_redis()
                        for k in r.scan_iter(match=f"{prefix}*", count=5000):
                            r.delete(k)
        finally:
            stack.stop_all()
            database.drop(configured)
