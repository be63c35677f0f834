"""value snapshots reconstructed from daily closes are marked

Revision ID: 0005_reconstructed
Revises: 0004_splits
Create Date: 2026-11-26 05:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0005_reconstructed'
down_revision = '0004_splits'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('portfolio_snapshots', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reconstructed', sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade():
    with op.batch_alter_table('portfolio_snapshots', schema=None) as batch_op:
        batch_op.drop_column('reconstructed')
