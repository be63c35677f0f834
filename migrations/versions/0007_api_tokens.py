"""personal access tokens for the JSON API

Revision ID: 0007_api_tokens
Revises: 0006_activities
Create Date: 2026-12-07 19:00:00

Only the SHA-256 of a token is stored (webapp/services/api_tokens.py).
"""
from alembic import op
import sqlalchemy as sa

import webapp.types


# revision identifiers, used by Alembic.
revision = '0007_api_tokens'
down_revision = '0006_activities'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'api_tokens',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=80), nullable=False),
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('scopes', sa.String(length=40), nullable=False),
        sa.Column('created_at', webapp.types.UTCDateTime(), nullable=False),
        sa.Column('expires_at', webapp.types.UTCDateTime(), nullable=True),
        sa.Column('last_used_at', webapp.types.UTCDateTime(), nullable=True),
        sa.Column('revoked_at', webapp.types.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_api_tokens_user_id_users'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_api_tokens')),
        sa.UniqueConstraint('token_hash', name=op.f('uq_api_tokens_token_hash')),
        sa.UniqueConstraint('user_id', 'name', name=op.f('uq_api_tokens_user_id_name')),
    )
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_tokens_user_id'), ['user_id'], unique=False)


def downgrade():
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_tokens_user_id'))
    op.drop_table('api_tokens')
