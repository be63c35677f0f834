"""`EXPLAIN (ANALYZE, BUFFERS)` of the recompute's statements on PostgreSQL, written to
bench/explain-recompute.txt by `python -m bench --explain` after the cycles it measured: the
full recompute's per-account sums and a 1% tick's deltas, over the benchmark's population."""
from __future__ import annotations

import random
from decimal import Decimal
from pathlib import Path


def explain(app, out: Path, moved_fraction: float = 0.01) -> Path:
    from webapp.extensions import db
    from webapp.services.portfolio.delta import _PG_DELTAS
    from webapp.services.portfolio import setbased
    from webapp.services.portfolio.recompute import Prices, _load_prices_sql

    with app.app_context(), db.engine.connect() as conn:
        if conn.dialect.name != "postgresql":
            return out
        raw = conn.connection.driver_connection
        prices = Prices.current()
        _load_prices_sql(raw, prices)
        setbased.prepare(raw)
        ids = sorted(prices.by_id)
        moved = sorted(random.Random(3).sample(ids, max(1, int(len(ids) * moved_fraction))))
        parts = []
        with raw.cursor() as cur:
            cur.execute("SELECT version()")
            parts.append(f"-- {cur.fetchone()[0]}\n")
            for title, sql, params in (
                ("full recompute: every summary document (setbased.SUMMARIES for everybody)",
                 setbased.summaries_sql("TRUE"), None),
                (f"delta tick: {len(moved)} instruments moved, Σ quantity × Δprice per account (delta._PG_DELTAS)",
                 _PG_DELTAS, (moved, [Decimal("0.01")] * len(moved), [prices.by_id[i][1] for i in moved])),
            ):
                cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
                plan = "\n".join(r[0] for r in cur.fetchall())
                parts.append(f"-- {title}\n{sql}\n\n{plan}\n")
        conn.rollback()
    out.write_text("\n".join(parts))
    print(f"  EXPLAIN (ANALYZE, BUFFERS): {out}")
    return out
