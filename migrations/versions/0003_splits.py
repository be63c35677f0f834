"""stock splits applied to holdings

Revision ID: 0003_splits
Revises: 0002_two_factor
Create Date: 2026-11-26 04:00:00

"""
from alembic import op
import sqlalchemy as sa

import webapp.types


# revision identifiers, used by Alembic.
revision = '0003_splits'
down_revision = '0002_two_factor'
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
    sa.Column('snapshots_removed', sa.Integer(), nullable=False),
    sa.Column('applied_at', webapp.types.UTCDateTime(), nullable=False),
    sa.CheckConstraint('numerator > 0 AND denominator > 0', name=op.f('ck_splits_ratio_positive')),
    sa.ForeignKeyConstraint(['instrument_id'], ['instruments.id'], name=op.f('fk_splits_instrument_id_instruments'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_splits_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_splits')),
    sa.UniqueConstraint('instrument_id', 'effective_date', 'scope', name=op.f('uq_splits_instrument_id_effective_date_scope'))
    )
    with op.batch_alter_table('splits', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_splits_user_id'), ['user_id'], unique=False)


def downgrade():
    with op.batch_alter_table('splits', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_splits_user_id'))
    op.drop_table('splits')
