"""alert_rules.instrument_id indexed: a tick looks up the rules on the instruments that moved

Revision ID: 0010_alert_rule_instrument
Revises: 0009_alerts
Create Date: 2026-12-07 23:45:00
"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0010_alert_rule_instrument'
down_revision = '0009_alerts'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('alert_rules', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_alert_rules_instrument_id'), ['instrument_id'], unique=False)


def downgrade():
    with op.batch_alter_table('alert_rules', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_alert_rules_instrument_id'))
