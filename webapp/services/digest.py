"""The optional daily digest: at the hour (UTC) a user chose, an e-mail with the portfolio's value,
its day change, the top movers and the stale prices (the job `workers.mail.deliver`, by name)."""
from __future__ import annotations

from datetime import datetime, timezone

import sqlalchemy as sa

from webapp.domain import digest, staleness
from webapp.extensions import db
from webapp.models import User
from webapp.services import jobs
from webapp.services.alerts import EMAIL_JOB
from webapp.services.users import email_confirmed


def set_hour(user: User, hour: int | None) -> None:
    user.digest_hour = hour
    db.session.commit()


def send_due(now: datetime | None = None) -> int:
    """Enqueue the digest of every active user whose hour it is; returns how many."""
    from webapp.services.portfolio.read_model import value_users

    now = now or datetime.now(timezone.utc)
    users = db.session.scalars(sa.select(User).where(User.digest_hour == now.hour,
                                                     User.is_disabled.is_(False))).all()
    users = [u for u in users if email_confirmed(u)]
    valuations = value_users([u.id for u in users]) if users else {}
    sent = 0
    for user in users:
        v = valuations.get(user.id)
        if v is None:
            continue
        stale_ids = {hid for hid, is_stale in staleness.judge(v, now).items() if is_stale}
        stale = sorted({h.symbol for a in v.accounts for h in a.holdings if h.holding_id in stale_ids})
        subject, text, html = digest.render(v, stale)
        jobs.enqueue("default", EMAIL_JOB, to=user.email, subject=subject, text=text, html=html)
        sent += 1
    return sent
