"""performance: a covering index for recomputes; one snapshot per user and instant

Revision ID: 0003_perf
Revises: 0002_two_factor
Create Date: 2026-11-26 04:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0003_perf'
down_revision = '0002_two_factor'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('holdings', schema=None) as batch_op:
        batch_op.create_index('ix_holdings_account_instrument_quantity', ['account_id', 'instrument_id', 'quantity'],
                              unique=False)

    # a recompute writes all its snapshots with one as_of, so (user, as_of) repeats only when the
    # same snapshot is written twice: keep the first
    op.execute(
        "DELETE FROM portfolio_snapshots WHERE id NOT IN "
        "(SELECT min(id) FROM portfolio_snapshots GROUP BY user_id, as_of)"
    )
    with op.batch_alter_table('portfolio_snapshots', schema=None) as batch_op:
        batch_op.drop_index('ix_portfolio_snapshots_user_as_of')
        batch_op.create_unique_constraint(batch_op.f('uq_portfolio_snapshots_user_id_as_of'), ['user_id', 'as_of'])


def downgrade():
    with op.batch_alter_table('portfolio_snapshots', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_portfolio_snapshots_user_id_as_of'), type_='unique')
        batch_op.create_index('ix_portfolio_snapshots_user_as_of', ['user_id', 'as_of'], unique=False)

    with op.batch_alter_table('holdings', schema=None) as batch_op:
        batch_op.drop_index('ix_holdings_account_instrument_quantity')
