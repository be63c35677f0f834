"""users: the interface language and the number format locale (both optional: None follows the browser)

Revision ID: 0011_language
Revises: 0010_alert_rule_instrument
Create Date: 2026-12-07 23:30:00
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0011_language'
down_revision = '0010_alert_rule_instrument'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users') as batch_op:
        batch_op.add_column(sa.Column('language', sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column('number_locale', sa.String(length=20), nullable=True))


def downgrade():
    with op.batch_alter_table('users') as batch_op:
        batch_op.drop_column('number_locale')
        batch_op.drop_column('language')
