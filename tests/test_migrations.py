"""Migrations create the schema from nothing, and the models have not drifted from them."""
import os

import pytest
import sqlalchemy as sa
from flask_migrate import upgrade

from webapp import create_app


def test_upgrade_empty_database_to_head_and_no_drift(empty_database_url, redis_url):
    app = create_app({"SQLALCHEMY_DATABASE_URI": empty_database_url, "REDIS_URL": redis_url, "TESTING": True})
    runner = app.test_cli_runner()
    with app.app_context():
        upgrade()
        from webapp.extensions import db

        tables = set(sa.inspect(db.engine).get_table_names())
        assert {"users", "accounts", "instruments", "holdings", "quotes", "fx_rates",
                "portfolio_snapshots", "alembic_version"} <= tables
    result = runner.invoke(args=["db", "check"])  # the command an operator runs
    assert result.exit_code == 0, result.output
    with app.app_context():
        from alembic.autogenerate import compare_metadata
        from alembic.runtime.migration import MigrationContext

        from webapp.extensions import db

        with db.engine.connect() as conn:
            mc = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(mc, db.metadata) == []
        db.engine.dispose()
