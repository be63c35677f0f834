"""Stock splits: parse a ratio, multiply holdings' quantities by it (cost basis, a total, stays),
record the split, and correct the value history it would otherwise break.

The history: between a split's effective date and the moment it is recorded here, prices
are already post-split while the quantities are not, so the snapshots of that window show
a false drop (4-for-1: that holding at a quarter of its value). They are marked as
superseded by the split, not patched (their true value would need the quote and exchange
rate each was computed from, which a snapshot does not keep) and not deleted: the chart and
the export leave them out and join the points on either side of the gap, and a fresh
snapshot is taken at once with the new quantities.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from webapp.domain.inputs import MAX_QUANTITY
from webapp.domain.splits import (  # noqa: F401  (the service's callers use these names)
    AlreadyApplied,
    Ratio,
    SplitError,
    check_effective_date,
    parse_ratio,
)
from webapp.extensions import db
from webapp.models import Account, Holding, Instrument, PortfolioSnapshot, Split

log = logging.getLogger(__name__)
@dataclass
class SplitResult:
    split: Split
    adjusted: list[tuple[int, Decimal, Decimal]] = field(default_factory=list)  # holding id, old, new
    rounded: int = 0  # quantities that needed more than 10 decimal places (kept to 10)
    skipped_new: int = 0  # holdings added on or after the effective date: already post-split
    skipped_own: int = 0  # holdings whose owner already recorded this split for them
    users: list[int] = field(default_factory=list)
    snapshots_superseded: int = 0


def _window_start(effective: date) -> datetime:
    return datetime.combine(effective, time(0), timezone.utc)


def apply_split(instrument: Instrument, ratio: Ratio, effective: date, *, holding: Holding | None = None,
                user_id: int | None = None, now: datetime | None = None) -> SplitResult:
    """Apply a split to every holding of `instrument`, or only to `holding` (its owner's, from the UI).

    All or nothing: if any new quantity is out of range nothing changes. The same split
    (instrument, date, and scope) is refused the second time, by the database's unique key too.
    """
    check_effective_date(effective)
    now = now or datetime.now(timezone.utc)
    start = _window_start(effective)
    same_day = sa.select(Split.scope).where(Split.instrument_id == instrument.id, Split.effective_date == effective)
    recorded = set(db.session.scalars(same_day))
    when = f"{instrument.symbol} on {effective:%Y-%m-%d}"
    if "all" in recorded:
        raise AlreadyApplied(f"A split of {when} was already applied to every holding; it is not applied twice.")
    scope = "all" if holding is None else f"holding:{holding.id}"
    if scope in recorded:
        raise AlreadyApplied(f"A split of {when} was already applied to this holding; it is not applied twice.")

    split = Split(instrument_id=instrument.id, numerator=ratio.numerator, denominator=ratio.denominator,
                  effective_date=effective, scope=scope, user_id=user_id, applied_at=now)
    result = SplitResult(split=split)
    if holding is not None:
        targets = [holding]
    else:
        own = {int(s.split(":", 1)[1]) for s in recorded if s.startswith("holding:")}
        candidates = db.session.scalars(
            sa.select(Holding).where(Holding.instrument_id == instrument.id).order_by(Holding.id)).all()
        targets = []
        for h in candidates:
            if h.id in own:
                result.skipped_own += 1
            elif h.created_at >= start:
                result.skipped_new += 1
            else:
                targets.append(h)

    new_quantities = {}
    for h in targets:
        new, rounded = ratio.apply(h.quantity)
        if new <= 0:
            raise SplitError(f"{instrument.symbol}: a quantity of {h.quantity.normalize():f} split {ratio} would be "
                             f"less than the smallest quantity kept (0.0000000001); nothing was changed.")
        if new >= MAX_QUANTITY:
            raise SplitError(f"{instrument.symbol}: a quantity of {h.quantity.normalize():f} split {ratio} would be "
                             "over the limit of 1,000,000,000,000,000; nothing was changed.")
        new_quantities[h.id] = new
        result.rounded += rounded

    db.session.add(split)
    try:
        db.session.flush()  # claims the (instrument, date, scope) key before anything changes
    except IntegrityError:
        db.session.rollback()
        raise AlreadyApplied(f"A split of {when} was just applied by someone else; it is not applied twice.") from None
    before = {h.id: h.quantity for h in targets}
    _record_in_ledgers(split, ratio, targets, per_holding=holding is not None)
    for h in targets:
        db.session.refresh(h)
        result.adjusted.append((h.id, before[h.id], h.quantity))
    if targets:
        owners = db.session.scalars(
            sa.select(Account.owner_id).where(Account.id.in_({h.account_id for h in targets})).distinct())
        result.users = sorted(owners)
        # snapshots that counted the old quantity at post-split prices: a false drop (see above)
        marked = db.session.execute(
            sa.update(PortfolioSnapshot)
            .where(PortfolioSnapshot.user_id.in_(result.users), PortfolioSnapshot.as_of >= start,
                   PortfolioSnapshot.as_of < now, PortfolioSnapshot.superseded_by_split_id.is_(None))
            .values(superseded_by_split_id=split.id)
        )
        result.snapshots_superseded = marked.rowcount or 0
    split.holdings_adjusted = len(targets)
    split.snapshots_superseded = result.snapshots_superseded
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise AlreadyApplied(f"A split of {when} was just applied by someone else; it is not applied twice.") from None
    _revalue(result.users)
    return result


def _record_in_ledgers(split: Split, ratio: Ratio, targets: list[Holding], per_holding: bool) -> None:
    """A `split` activity in the ledger of each holding changed; the holdings are then re-derived
    from the ledgers, so a split changes only the shares held before its day. A holding split
    from its own page was held before the split, by its owner's word: an opening position
    dated on or after the split's day moves to the day before."""
    from webapp.models import Activity, User
    from webapp.services import ledger

    for h in targets:
        ledger._adopt(h.account_id, h.instrument_id)
        if per_holding:
            openings = ledger.only_openings(h) or []
            for row in openings:
                if row.date >= split.effective_date:
                    row.date = split.effective_date - timedelta(days=1)
        db.session.add(Activity(account_id=h.account_id, instrument_id=h.instrument_id, type="split",
                                date=split.effective_date, ratio_numerator=ratio.numerator,
                                ratio_denominator=ratio.denominator, fee=Decimal(0), source="split"))
    db.session.flush()
    owners = db.session.scalars(sa.select(User).join(Account, Account.owner_id == User.id)
                                .where(Account.id.in_({h.account_id for h in targets})).distinct())
    for user in owners:
        ledger.sync_holdings(user)


def _revalue(user_ids: list[int]) -> None:
    """Value the affected portfolios now (a new snapshot with the new quantities)."""
    if not user_ids:
        return
    from webapp.services.portfolio.read_model import recompute_users

    try:
        recompute_users(user_ids)
    except Exception:  # Redis down: the next cycle revalues them
        log.exception("could not revalue %d portfolios after a split", len(user_ids))


def splits_of_holding(holding: Holding) -> list[Split]:
    """The splits that changed this holding: its own, and everyone's that did not skip it."""
    rows = db.session.scalars(
        sa.select(Split)
        .where(Split.instrument_id == holding.instrument_id, Split.scope.in_(("all", f"holding:{holding.id}")))
        .order_by(Split.effective_date.desc(), Split.id.desc())
    )
    rows = list(rows)
    own_dates = {s.effective_date for s in rows if s.scope != "all"}
    return [s for s in rows if s.scope != "all" or (
        holding.created_at < _window_start(s.effective_date) and s.effective_date not in own_dates)]
