"""user alerts: rules, in-app notifications, the webhook secret, the daily digest's hour

Revision ID: 0009_alerts
Revises: 0008_mail
Create Date: 2026-12-07 18:40:00
"""
from alembic import op
import sqlalchemy as sa

import webapp.types


# revision identifiers, used by Alembic.
revision = '0009_alerts'
down_revision = '0008_mail'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users') as batch_op:
        batch_op.add_column(sa.Column('webhook_secret', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('digest_hour', sa.SmallInteger(), nullable=True))
    op.create_table(
        'alert_rules',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=40), nullable=False),
        sa.Column('instrument_id', sa.Integer(), nullable=True),
        sa.Column('threshold', webapp.types.ExactDecimal(precision=28, scale=10), nullable=True),
        sa.Column('hours', sa.Integer(), nullable=True),
        sa.Column('in_app', sa.Boolean(), nullable=False),
        sa.Column('email', sa.Boolean(), nullable=False),
        sa.Column('webhook', sa.Boolean(), nullable=False),
        sa.Column('webhook_url', sa.String(length=500), nullable=True),
        sa.Column('cooldown_minutes', sa.Integer(), nullable=False),
        sa.Column('armed', sa.Boolean(), nullable=False),
        sa.Column('enabled', sa.Boolean(), nullable=False),
        sa.Column('last_fired_at', webapp.types.UTCDateTime(), nullable=True),
        sa.Column('created_at', webapp.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['instrument_id'], ['instruments.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('alert_rules') as batch_op:
        batch_op.create_index(batch_op.f('ix_alert_rules_user_id'), ['user_id'], unique=False)
    op.create_table(
        'notifications',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('rule_id', sa.Integer(), nullable=True),
        sa.Column('title', sa.String(length=200), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('created_at', webapp.types.UTCDateTime(), nullable=False),
        sa.Column('read_at', webapp.types.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(['rule_id'], ['alert_rules.id'], ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('notifications') as batch_op:
        batch_op.create_index('ix_notifications_user_read', ['user_id', 'read_at'], unique=False)


def downgrade():
    with op.batch_alter_table('notifications') as batch_op:
        batch_op.drop_index('ix_notifications_user_read')
    op.drop_table('notifications')
    with op.batch_alter_table('alert_rules') as batch_op:
        batch_op.drop_index(batch_op.f('ix_alert_rules_user_id'))
    op.drop_table('alert_rules')
    with op.batch_alter_table('users') as batch_op:
        batch_op.drop_column('digest_hour')
        batch_op.drop_column('webhook_secret')
