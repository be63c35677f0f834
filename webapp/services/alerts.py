"""User alerts: evaluated after each recompute, delivered in-app, by e-mail and by webhook.

`evaluate(user_ids)` runs after a recompute for the users it valued (every user: None). It
reads the enabled rules of those users in ONE query, judges them against the cached quotes
(`current_quotes`: Redis, the database for what Redis lacks) and, for the users with
portfolio rules, the totals the recompute has just cached (one MGET per 5,000 users; their
valuations from the database, `value_users`, for a day-change rule or a summary Redis lacks
or that is not fully priced), and stores the new states in
one UPDATE. A rule fires once per crossing (webapp/domain/alerts.py); a firing is claimed
with `UPDATE ... WHERE armed RETURNING id`, so two evaluations running at once never both
send it.

Channels: in-app (a `Notification` row), e-mail (the job `workers.mail.deliver`, enqueued by
name, only to a confirmed address: `webapp.services.users.email_confirmed(user)` when that
function exists, every address otherwise) and webhook (the job
`workers.alerts.deliver_webhook`, webapp/services/webhooks.py).
"""
from __future__ import annotations

import logging
from datetime import datetime, timezone
from decimal import Decimal
from html import escape
from typing import Iterable, Sequence

import sqlalchemy as sa

from webapp.domain import alerts as rules_domain
from webapp.domain.alerts import Observed
from webapp.extensions import db
from webapp.models import AlertRule, Instrument, Notification, User
from webapp.services import jobs
from webapp.services import users as users_module

log = logging.getLogger(__name__)
EMAIL_JOB = "workers.mail.deliver"
WEBHOOK_JOB = "workers.alerts.deliver_webhook"

_COLUMNS = (AlertRule.id, AlertRule.user_id, AlertRule.kind, AlertRule.instrument_id, AlertRule.threshold,
            AlertRule.hours, AlertRule.in_app, AlertRule.email, AlertRule.webhook, AlertRule.webhook_url,
            AlertRule.cooldown_minutes, AlertRule.armed, AlertRule.last_fired_at, Instrument.symbol,
            User.base_currency)


def load_rules(user_ids: Sequence[int] | None, kinds: Iterable[str] | None = None) -> list:
    """The enabled rules of these users (None: everybody's; a disabled user's never), with symbol and
    base currency: one query."""
    q = (sa.select(*_COLUMNS).join(User, User.id == AlertRule.user_id)
         .outerjoin(Instrument, Instrument.id == AlertRule.instrument_id)
         .where(AlertRule.enabled.is_(True), User.is_disabled.is_(False)).order_by(AlertRule.id))
    if user_ids is not None:
        q = q.where(AlertRule.user_id.in_(list(user_ids)))
    if kinds is not None:
        q = q.where(AlertRule.kind.in_(list(kinds)))
    return db.session.execute(q).all()


def _observations(rules: list) -> tuple[dict, dict]:
    """(symbol -> PriceInfo, user id -> Observed of the portfolio) for the rules to judge."""
    from webapp.services.portfolio.read_model import value_users
    from webapp.services.pricing.quotes import current_quotes

    wanted = {r.symbol: r.instrument_id for r in rules if r.kind in rules_domain.PRICE_KINDS and r.symbol}
    quotes = current_quotes(wanted) if wanted else {}
    owners = {r.user_id: r.base_currency for r in rules if r.kind in rules_domain.PORTFOLIO_KINDS}
    # a total is what the recompute that calls us has just cached; the day change is not in it
    day_change = {r.user_id for r in rules if r.kind == "portfolio_day_change_beyond"}
    cached = _cached_totals([u for u in owners if u not in day_change], owners)
    portfolios = {uid: seen for uid, seen in cached.items() if seen is not None}
    rest = sorted(u for u in owners if u not in cached)
    for uid, v in (value_users(rest) if rest else {}).items():
        if v.holding_count and v.complete:  # a half-priced total would be a false crossing
            portfolios[uid] = Observed(total=v.total, day_change_pct=v.day_change_pct, currency=v.currency)
    return quotes, portfolios


_TOTAL = '{"total":"'
_COMPLETE = '"unconverted":{},"pending":0,"holdings":'  # fully priced, in the base currency alone


def _cached_totals(user_ids: list[int], base: dict[int, str]) -> dict[int, Observed | None]:
    """From the summaries in Redis (one MGET per 5,000 users) in the user's base currency: the total
    when fully priced, None when not (a half-priced total would be a false crossing; no holdings,
    nothing to judge). Users without such a summary are left out: valued from the database."""
    from webapp.services import cache

    if not user_ids:
        return {}
    try:
        summaries = cache.read_summaries(user_ids)
    except cache.RedisError:
        return {}
    out: dict[int, Observed | None] = {}
    for uid, doc in summaries.items():
        # '{"total":"<total>","currency":"<base>","accounts":{...},"unconverted":{...},"pending":n,"holdings":n,...'
        if not doc.startswith(_TOTAL):
            continue
        total, _, rest = doc[len(_TOTAL):].partition('","currency":"')
        currency = rest[:3]
        if currency != base[uid]:
            continue
        out[uid] = Observed(total=Decimal(total), currency=currency) if (
            _COMPLETE in doc and '"holdings":0,' not in doc) else None
    return out


def _observed(rule, quotes: dict, portfolios: dict) -> Observed:
    if rule.kind in rules_domain.PORTFOLIO_KINDS:
        return portfolios.get(rule.user_id, Observed())
    q = quotes.get(rule.symbol)
    if q is None:
        return Observed()
    return Observed(price=q.price, previous_close=q.previous_close, as_of=q.as_of, currency=q.currency)


def evaluate(user_ids: Sequence[int] | None, *, now: datetime | None = None,
             kinds: Iterable[str] | None = None) -> dict:
    """Judge the enabled rules of these users (None: all); fire what crossed. Returns counts."""
    now = now or datetime.now(timezone.utc)
    rules = load_rules(user_ids, kinds)
    if not rules:
        return {"rules": 0, "fired": 0}
    quotes, portfolios = _observations(rules)
    rearm: list[int] = []
    firing: dict[int, tuple] = {}
    for r in rules:
        seen = _observed(r, quotes, portfolios)
        nxt = rules_domain.step(rules_domain.holds(r.kind, r.threshold, r.hours, seen, now),
                                r.armed, r.last_fired_at, r.cooldown_minutes, now)
        if nxt.fire:
            firing[r.id] = (r, seen)
        elif nxt.armed and not r.armed:
            rearm.append(r.id)
    if rearm:
        db.session.execute(sa.update(AlertRule).where(AlertRule.id.in_(rearm)).values(armed=True))
    fired: list[tuple] = []
    if firing:
        claimed = db.session.scalars(
            sa.update(AlertRule).where(AlertRule.id.in_(list(firing)), AlertRule.armed.is_(True))
            .values(armed=False, last_fired_at=now).returning(AlertRule.id)).all()
        fired = [firing[i] for i in sorted(claimed)]
    sends = _record(fired, now)
    db.session.commit()
    _send(sends)
    return {"rules": len(rules), "fired": len(fired), "rearmed": len(rearm)}


def _payload(rule, seen: Observed, title: str, body: str, now: datetime) -> dict:
    value = rules_domain.value_of(rule.kind, seen)
    if rule.kind == "price_stale" and seen.as_of is not None:
        value = Decimal(int((now - seen.as_of).total_seconds() // 60)) / 60
    return {"rule": rule.id, "kind": rule.kind, "symbol": rule.symbol,
            "value": None if value is None else format(value, "f"),
            "threshold": None if rule.threshold is None else format(rule.threshold, "f"),
            "hours": rule.hours, "fired_at": now.isoformat(), "user": rule.user_id, "title": title, "body": body}


def _record(fired: list[tuple], now: datetime) -> list[tuple]:
    """Insert the in-app notifications; returns the e-mails and webhooks to send after the commit."""
    rows, sends = [], []
    for rule, seen in fired:
        title, body = rules_domain.describe(rule.kind, rule.symbol, rule.threshold, rule.hours, seen,
                                            rule.base_currency)
        if rule.in_app:
            rows.append({"user_id": rule.user_id, "rule_id": rule.id, "title": title, "body": body,
                         "created_at": now})
        sends.append((rule.user_id, rule.email, rule.webhook and rule.webhook_url,
                      _payload(rule, seen, title, body, now)))
    if rows:
        db.session.execute(sa.insert(Notification), rows)
    return sends


def email_confirmed(user: User) -> bool:
    """Another branch adds `users.email_confirmed`; until then every address counts as confirmed."""
    check = getattr(users_module, "email_confirmed", None)
    return True if check is None else bool(check(user))


def _send(sends: list[tuple]) -> None:
    """Enqueue the e-mails and webhooks of what fired (a failure to enqueue is logged, not raised)."""
    emailed = {uid for uid, email, _, _ in sends if email}
    users = ({u.id: u for u in db.session.scalars(sa.select(User).where(User.id.in_(emailed)))}
             if emailed else {})
    for uid, email, url, payload in sends:
        try:
            user = users.get(uid)
            if email and user is not None and email_confirmed(user):
                text = f"{payload['body']}\n\nFolio alert #{payload['rule']}."
                jobs.enqueue("default", EMAIL_JOB, to=user.email, subject=f"Folio: {payload['title']}", text=text,
                             html=f"<p>{escape(payload['body'])}</p><p>Folio alert #{payload['rule']}.</p>")
            if url:
                jobs.enqueue("default", WEBHOOK_JOB, uid, url, payload)
        except Exception:  # Redis down: the notification row is there; the rule stays fired
            log.exception("could not enqueue the delivery of alert %s", payload["rule"])


def send_test(user: User) -> dict:
    """A test notification on every channel of the user's rules: in-app always."""
    now = datetime.now(timezone.utc)
    rules = db.session.scalars(sa.select(AlertRule).where(AlertRule.user_id == user.id)).all()
    title, body = "Test alert", "This is a test notification from Folio."
    db.session.add(Notification(user_id=user.id, title=title, body=body, created_at=now))
    db.session.commit()
    payload = {"rule": None, "kind": "test", "symbol": None, "value": None, "threshold": None, "hours": None,
               "fired_at": now.isoformat(), "user": user.id, "title": title, "body": body}
    sent = {"in_app": 1, "email": 0, "webhook": 0}
    if any(r.email for r in rules) and email_confirmed(user):
        jobs.enqueue("default", EMAIL_JOB, to=user.email, subject=f"Folio: {title}", text=body, html=f"<p>{body}</p>")
        sent["email"] = 1
    for url in sorted({r.webhook_url for r in rules if r.webhook and r.webhook_url}):
        jobs.enqueue("default", WEBHOOK_JOB, user.id, url, payload)
        sent["webhook"] += 1
    return sent
