"""`python -m bench.csv_import`: a 5,000-row holdings CSV through the import page, preview then
confirm, on the configured database (a private SQLite file or schema) and a Redis of its own.

Target (issue "Money"): the whole import under 10 seconds, with a correct preview. Printed
with its ratio to the target; the rows written are checked against the file.
"""
from __future__ import annotations

import argparse
import io
import os
import re
import sys
import tempfile
import time
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa

from . import database
from .stack import Stack

TARGET_SECONDS = 10.0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.csv_import", description=__doc__)
    ap.add_argument("--rows", type=int, default=5000)
    args = ap.parse_args(argv)
    configured = os.environ.get("DATABASE_URL")
    with tempfile.TemporaryDirectory(prefix="folio-bench-csv-") as tmp:
        stack = Stack(logs=Path(tmp))
        try:
            return _run(args.rows, configured, Path(tmp), stack)
        finally:
            stack.stop_all()
            database.drop(configured)


def _run(n: int, configured: str | None, tmp: Path, stack: Stack) -> int:
    app_url, label = database.prepare(configured, tmp)
    from webapp import create_app

    app = create_app({"SQLALCHEMY_DATABASE_URI": app_url, "REDIS_URL": stack.redis(), "REDIS_PREFIX": "folio-bench:",
                      "SECRET_KEY": "folio-bench-secret", "LOG_LEVEL": "WARNING", "WTF_CSRF_ENABLED": False,
                      "RATELIMIT_ENABLED": False})
    database.migrate(app)
    from webapp.extensions import db
    from webapp.models import Holding, User

    with app.app_context():
        user = User(email="csv@folio.bench", display_name="CSV")
        user.set_password("bench-password-1")
        db.session.add(user)
        db.session.commit()
    client = app.test_client()
    client.post("/auth/login", data={"email": "csv@folio.bench", "password": "bench-password-1"})
    for name in ("Broker", "IRA"):
        client.post("/accounts/", data={"name": name, "kind": "brokerage"})
    rows = "".join(f"{'Broker' if i % 2 else 'IRA'},S{i:05d},{i + 1}.5,{i * 3}.25,USD,stock\n" for i in range(n))
    text = "account,symbol,quantity,cost,currency,asset_type\n" + rows

    print(f"CSV import benchmark: {n:,} rows, database {label}, {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC")
    t0 = time.perf_counter()
    preview = client.post("/accounts/import", data={"file": (io.BytesIO(text.encode()), "holdings.csv")},
                          content_type="multipart/form-data")
    t1 = time.perf_counter()
    confirm = client.post("/accounts/import", data={"csv_text": text, "confirm": "1"})
    t2 = time.perf_counter()
    html = preview.get_data(as_text=True)
    if preview.status_code != 200 or not re.search(rf"{n} rows: <strong>{n}</strong> new", html):
        raise AssertionError(f"preview: HTTP {preview.status_code}, not {n} new rows")
    if confirm.status_code != 302:
        raise AssertionError(f"confirm: HTTP {confirm.status_code}")
    with app.app_context():
        written = db.session.scalar(sa.select(sa.func.count()).select_from(Holding))
        total_qty = sum(db.session.scalars(sa.select(Holding.quantity)), Decimal(0))  # exact on both databases
    expected_qty = sum((Decimal(i + 1) + Decimal("0.5") for i in range(n)), Decimal(0))
    if written != n or total_qty != expected_qty:
        raise AssertionError(f"{written} holdings written (expected {n}), Σ quantity {total_qty} (expected {expected_qty})")
    total = t2 - t0
    print(f"  preview (parse, validate, compare): {t1 - t0:.2f} s")
    print(f"  confirm (validate again, write):    {t2 - t1:.2f} s")
    print(f"  correctness: {written:,} holdings written, Σ quantity {expected_qty} as in the file")
    ok = total <= TARGET_SECONDS
    print(f"  {'whole import (preview + confirm)':<46} {total:>8.2f} s   target ≤ {TARGET_SECONDS:.0f} s "
          f"({total / TARGET_SECONDS:.2f}× the target)   {'PASS' if ok else 'FAIL'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
