"""Bulk writes both supported databases understand: INSERT … ON CONFLICT DO NOTHING."""
from __future__ import annotations

from typing import Sequence

from webapp.extensions import db


def insert_ignoring_duplicates(model, rows: list[dict], keys: Sequence[str]) -> None:
    """Insert `rows` into `model`'s table in one statement, skipping rows whose `keys` (a unique
    constraint) are stored already."""
    if not rows:
        return
    dialect = db.session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:  # pragma: no cover - only the two supported databases
        raise RuntimeError(f"unsupported database {dialect}")
    db.session.execute(insert(model).on_conflict_do_nothing(index_elements=list(keys)), rows)
