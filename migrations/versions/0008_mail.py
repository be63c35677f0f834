"""mail: users.email_confirmed_at (the address's owner followed the confirmation link)

Revision ID: 0008_mail
Revises: 0007_api_tokens
Create Date: 2026-12-07 19:00:00

Existing users start unconfirmed (NULL): settings offers them a confirmation mail.
"""
from alembic import op
import sqlalchemy as sa

import webapp.types


# revision identifiers, used by Alembic.
revision = '0008_mail'
down_revision = '0007_api_tokens'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('email_confirmed_at', webapp.types.UTCDateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('email_confirmed_at')
