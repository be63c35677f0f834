"""the activities ledger; every holding becomes an opening position

Revision ID: 0006_activities
Revises: 0005_reconstructed
Create Date: 2026-12-07 18:00:00

Every existing holding gets an `opening` activity dated the day it was entered, with its
quantity and its cost basis (unknown stays unknown), so that the ledger re-derives exactly
the holdings there are. A holding that splits changed since (the `splits` table) opens with
its quantity before them, followed by one `split` activity each; when undoing a split does
not give back the same quantity to the last of its 10 places (a rounded reverse split), it
opens on the last split's day with today's quantity instead. Values, cost bases and the
value history are untouched (tests/test_ledger_migration.py).

Holdings also get `cost_basis_base` and `cost_base_currency` (the cost basis in the owner's
base currency at the acquisition days' rates), NULL here: the ledger writes them
(webapp/services/ledger.sync_holdings) at the next change, and until then gains are
converted as before.
"""
from datetime import datetime, time, timezone
from decimal import ROUND_HALF_EVEN, Context, Decimal

from alembic import op
import sqlalchemy as sa

import webapp.types


# revision identifiers, used by Alembic.
revision = '0006_activities'
down_revision = '0005_reconstructed'
branch_labels = None
depends_on = None

_EXACT = Context(prec=80, rounding=ROUND_HALF_EVEN)
_QUANTUM = Decimal(1).scaleb(-10)


def _apply(quantity, numerator, denominator):
    """What webapp/domain/splits.Ratio.apply does (a migration keeps its own copy: the app's may change)."""
    exact = _EXACT.divide(_EXACT.multiply(quantity, Decimal(numerator)), Decimal(denominator))
    return exact.quantize(_QUANTUM, rounding=ROUND_HALF_EVEN, context=_EXACT)


def upgrade():
    op.create_table('activities',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('instrument_id', sa.Integer(), nullable=True),
    sa.Column('type', sa.String(length=20), nullable=False),
    sa.Column('date', sa.Date(), nullable=False),
    sa.Column('quantity', webapp.types.ExactDecimal(precision=28, scale=10), nullable=True),
    sa.Column('price', webapp.types.ExactDecimal(precision=28, scale=10), nullable=True),
    sa.Column('fee', webapp.types.ExactDecimal(precision=28, scale=10), nullable=False),
    sa.Column('amount', webapp.types.ExactDecimal(precision=28, scale=10), nullable=True),
    sa.Column('currency', sa.String(length=3), nullable=True),
    sa.Column('note', sa.String(length=500), nullable=False),
    sa.Column('ratio_numerator', sa.Integer(), nullable=True),
    sa.Column('ratio_denominator', sa.Integer(), nullable=True),
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.Column('created_at', webapp.types.UTCDateTime(), nullable=False),
    sa.CheckConstraint('(ratio_numerator IS NULL) = (ratio_denominator IS NULL)', name=op.f('ck_activities_ratio_whole')),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_activities_account_id_accounts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['instrument_id'], ['instruments.id'], name=op.f('fk_activities_instrument_id_instruments')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_activities'))
    )
    with op.batch_alter_table('activities', schema=None) as batch_op:
        batch_op.create_index('ix_activities_account_date', ['account_id', 'date'], unique=False)
        batch_op.create_index(batch_op.f('ix_activities_instrument_id'), ['instrument_id'], unique=False)
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cost_method', sa.String(length=10), server_default='average', nullable=False))
        batch_op.add_column(sa.Column('benchmark', sa.String(length=20), server_default='^GSPC', nullable=False))
    with op.batch_alter_table('holdings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cost_basis_base', webapp.types.ExactDecimal(precision=28, scale=10),
                                      nullable=True))
        batch_op.add_column(sa.Column('cost_base_currency', sa.String(length=3), nullable=True))
    _openings()


def _openings():
    bind = op.get_bind()
    holdings = sa.table('holdings', sa.column('id', sa.Integer), sa.column('account_id', sa.Integer),
                        sa.column('instrument_id', sa.Integer),
                        sa.column('quantity', webapp.types.ExactDecimal(28, 10)),
                        sa.column('cost_basis', webapp.types.ExactDecimal(28, 10)),
                        sa.column('created_at', webapp.types.UTCDateTime()))
    splits = sa.table('splits', sa.column('instrument_id', sa.Integer), sa.column('numerator', sa.Integer),
                      sa.column('denominator', sa.Integer), sa.column('effective_date', sa.Date),
                      sa.column('scope', sa.String), sa.column('id', sa.Integer))
    activities = sa.table('activities', *(sa.column(c) for c in (
        'account_id', 'instrument_id', 'type', 'date', 'note', 'ratio_numerator', 'ratio_denominator',
        'source', 'created_at')),
        sa.column('quantity', webapp.types.ExactDecimal(28, 10)), sa.column('price', webapp.types.ExactDecimal(28, 10)),
        sa.column('fee', webapp.types.ExactDecimal(28, 10)), sa.column('amount', webapp.types.ExactDecimal(28, 10)),
        sa.column('currency', sa.String), sa.column('created_at', webapp.types.UTCDateTime()))
    by_instrument = {}
    for s in bind.execute(sa.select(splits).order_by(splits.c.effective_date, splits.c.id)):
        by_instrument.setdefault(s.instrument_id, []).append(s)
    now = datetime.now(timezone.utc)
    rows = []
    for h in bind.execute(sa.select(holdings).order_by(holdings.c.id)):
        opened = h.created_at.astimezone(timezone.utc).date()
        candidates = by_instrument.get(h.instrument_id, [])
        own_days = {s.effective_date for s in candidates if s.scope == f"holding:{h.id}"}
        # the splits that changed this holding (webapp/services/splits.splits_of_holding)
        applied = [s for s in candidates if s.scope == f"holding:{h.id}" or (
            s.scope == "all" and h.created_at < datetime.combine(s.effective_date, time(0), timezone.utc)
            and s.effective_date not in own_days)]
        quantity, day, later = h.quantity, opened, []
        if applied:
            before = h.quantity
            for s in reversed(applied):
                before = _EXACT.divide(_EXACT.multiply(before, Decimal(s.denominator)), Decimal(s.numerator))
            before = before.quantize(_QUANTUM, rounding=ROUND_HALF_EVEN, context=_EXACT)
            again = before
            for s in applied:
                again = _apply(again, s.numerator, s.denominator)
            if before > 0 and again == h.quantity and all(s.effective_date > opened for s in applied):
                quantity, later = before, applied
            else:
                day = max(opened, applied[-1].effective_date)
        rows.append(dict(account_id=h.account_id, instrument_id=h.instrument_id, type="opening", date=day,
                         quantity=quantity, price=None, fee=Decimal(0), amount=h.cost_basis, currency=None,
                         note="", ratio_numerator=None, ratio_denominator=None,
                         source="migration", created_at=now))
        for s in later:
            rows.append(dict(account_id=h.account_id, instrument_id=h.instrument_id, type="split",
                             date=s.effective_date, quantity=None, price=None, fee=Decimal(0), amount=None,
                             currency=None, note="", ratio_numerator=s.numerator,
                             ratio_denominator=s.denominator, source="migration", created_at=now))
        if len(rows) >= 5000:
            op.bulk_insert(activities, rows)
            rows = []
    if rows:
        op.bulk_insert(activities, rows)


def downgrade():
    with op.batch_alter_table('holdings', schema=None) as batch_op:
        batch_op.drop_column('cost_base_currency')
        batch_op.drop_column('cost_basis_base')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('benchmark')
        batch_op.drop_column('cost_method')
    with op.batch_alter_table('activities', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_activities_instrument_id'))
        batch_op.drop_index('ix_activities_account_date')
    op.drop_table('activities')
