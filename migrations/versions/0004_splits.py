"""stock splits applied to holdings

Revision ID: 0004_splits
Revises: 0003_perf
Create Date: 2026-11-26 04:00:00

"""
from alembic import op
import sqlalchemy as sa

import webapp.types


# revision identifiers, used by Alembic.
revision = '0004_splits'
down_revision = '0003_perf'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('splits',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('instrument_id', sa.Integer(), nullable=False),
    sa.Column('numerator', sa.Integer(), nullable=False),
    sa.Column('denominator', sa.Integer(), nullable=False),
    sa.Column('effective_date', sa.Date(), nullable=False),
    sa.Column('scope', sa.String(length=30), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('holdings_adjusted', sa.Integer(), nullable=False),
    sa.Column('snapshots_superseded', sa.Integer(), nullable=False),
    sa.Column('applied_at', webapp.types.UTCDateTime(), nullable=False),
    sa.CheckConstraint('numerator > 0 AND denominator > 0', name=op.f('ck_splits_ratio_positive')),
    sa.ForeignKeyConstraint(['instrument_id'], ['instruments.id'], name=op.f('fk_splits_instrument_id_instruments'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_splits_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_splits')),
    sa.UniqueConstraint('instrument_id', 'effective_date', 'scope', name=op.f('uq_splits_instrument_id_effective_date_scope'))
    )
    with op.batch_alter_table('splits', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_splits_user_id'), ['user_id'], unique=False)
    with op.batch_alter_table('portfolio_snapshots', schema=None) as batch_op:
        batch_op.add_column(sa.Column('superseded_by_split_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_portfolio_snapshots_superseded_by_split_id_splits'), 'splits',
                                    ['superseded_by_split_id'], ['id'], ondelete='SET NULL')


def downgrade():
    with op.batch_alter_table('portfolio_snapshots', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_portfolio_snapshots_superseded_by_split_id_splits'), type_='foreignkey')
        batch_op.drop_column('superseded_by_split_id')
    with op.batch_alter_table('splits', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_splits_user_id'))
    op.drop_table('splits')
