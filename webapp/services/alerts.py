"""User alerts: evaluated after each recompute, delivered in-app, by e-mail and by webhook.

`evaluate(user_ids, instrument_ids=, totals=)` runs after a recompute for the users it valued
(every user: None). It observes only what can have changed -- the quotes of the instruments that
moved (`current_quotes`: Redis, the database for what Redis lacks) and the totals the recompute
has just computed -- and ONE statement (webapp/services/alert_scope.py)
brings back only the rules that may fire or re-arm on them; those are judged exactly in
Python and their new states stored in one UPDATE. A portfolio day-change rule, or a total no
summary gives, is valued from the database (`value_users`). A rule fires once per crossing
(webapp/domain/alerts.py); a firing is claimed with `UPDATE ... WHERE armed RETURNING id`, so
two evaluations running at once never both send it. A rule is also judged as soon as it is
created or enabled (webapp/services/alert_rules.py), so one whose condition already holds
does not wait for its instrument to move.

Channels: in-app (a `Notification` row), e-mail (the job `workers.mail.deliver`, enqueued by
name, only to a confirmed address: `webapp.services.users.email_confirmed`) and webhook (the job
`workers.alerts.deliver_webhook`, webapp/services/webhooks.py).
"""
from __future__ import annotations

import logging
from datetime import datetime, timezone
from decimal import Decimal
from html import escape
from typing import Iterable, Mapping, Sequence

import sqlalchemy as sa

from webapp.domain import alerts as rules_domain
from webapp.domain.alerts import Observed
from webapp.domain.summary import fully_priced
from webapp.extensions import db
from webapp.models import AlertRule, Instrument, Notification, User
from webapp.services import alert_scope, jobs
from webapp.services import users as users_module

log = logging.getLogger(__name__)
RULES = AlertRule.__table__  # Core statements: the ORM's bulk machinery costs more than the rows
EMAIL_JOB = "workers.mail.deliver"
WEBHOOK_JOB = "workers.alerts.deliver_webhook"

def _chunks(ids: Sequence[int]) -> Iterable[list[int]]:
    for i in range(0, len(ids), alert_scope.CHUNK):
        yield list(ids[i:i + alert_scope.CHUNK])


def _price_scope(users: set[int] | None, instrument_ids: Sequence[int] | None, kinds: set[str]) -> dict:
    """instrument id -> (symbol, PriceInfo) of what the price rules are judged on: the instruments that
    moved (a tick), else those the rules (of these users) watch."""
    from webapp.services.pricing.quotes import current_quotes

    if not kinds & rules_domain.PRICE_KINDS:
        return {}
    symbols: dict[str, int] = {}
    if instrument_ids is not None:
        for ids in _chunks(sorted(set(instrument_ids))):
            symbols.update((s, i) for i, s in db.session.execute(
                sa.select(Instrument.id, Instrument.symbol).where(Instrument.id.in_(ids))))
    else:
        q = (sa.select(AlertRule.instrument_id, Instrument.symbol).distinct()
             .join(Instrument, Instrument.id == AlertRule.instrument_id)
             .where(AlertRule.enabled.is_(True), AlertRule.kind.in_(sorted(kinds & rules_domain.PRICE_KINDS))))
        if users is not None and len(users) <= alert_scope.CHUNK:
            q = q.where(AlertRule.user_id.in_(sorted(users)))
        symbols.update((s, i) for i, s in db.session.execute(q))
    quotes = current_quotes(symbols) if symbols else {}
    return {symbols[s]: (s, q) for s, q in quotes.items()}


def _portfolio_scope(users: set[int] | None, kinds: set[str], totals: Mapping[int, tuple] | None
                     ) -> tuple[list[tuple[int, float | None]], dict[int, Observed]]:
    """(user id, total as a float or None: to be valued) to narrow by, and the exact totals.

    totals: {user id: (base currency, total text, fully priced)} from the recompute that calls us; else
    the summaries it cached in Redis (one MGET per 5,000 users), else the database."""
    if not kinds & rules_domain.PORTFOLIO_KINDS:
        return [], {}
    exact: dict[int, Observed] = {}
    if totals is None:
        q = (sa.select(AlertRule.user_id, User.base_currency).distinct().join(User, User.id == AlertRule.user_id)
             .where(AlertRule.enabled.is_(True), AlertRule.kind.in_(sorted(kinds & rules_domain.PORTFOLIO_KINDS))))
        owners = {uid: base for uid, base in db.session.execute(q) if users is None or uid in users}
        cached = _cached_totals(sorted(owners), owners)
        seen = [(uid, None) for uid in sorted(owners) if uid not in cached]  # no summary: valued from the database
    else:
        cached = {uid: Observed(total=Decimal(total), currency=base) if complete else None
                  for uid, (base, total, complete) in totals.items() if users is None or uid in users}
        # a user the recompute left out (its positions rebuilt apart): valued from the database
        seen = [(uid, None) for uid in sorted(users or ()) if uid not in totals]
    for uid, obs in cached.items():
        if obs is not None:  # a half-priced total would be a false crossing: not judged
            exact[uid] = obs
            seen.append((uid, float(obs.total)))
    seen.sort()
    return seen, exact


_TOTAL = '{"total":"'


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
        out[uid] = Observed(total=Decimal(total), currency=currency) if fully_priced(doc) else None
    return out


def _valued(rules: list, portfolios: dict[int, Observed]) -> None:
    """Value from the database the owners of portfolio rules the narrowing could not judge: a day change
    (not in a cached total), or no total known."""
    from webapp.services.portfolio.read_model import value_users

    need = sorted({r.user_id for r in rules if r.kind in rules_domain.PORTFOLIO_KINDS
                   and (r.kind == "portfolio_day_change_beyond" or r.user_id not in portfolios)})
    for uid, v in (value_users(need) if need else {}).items():
        if v.holding_count and v.complete:  # a half-priced total would be a false crossing
            portfolios[uid] = Observed(total=v.total, day_change_pct=v.day_change_pct, currency=v.currency)


def _observed(rule, quotes: dict, portfolios: dict) -> Observed:
    if rule.kind in rules_domain.PORTFOLIO_KINDS:
        return portfolios.get(rule.user_id, Observed())
    q = quotes.get(rule.instrument_id)
    if q is None:
        return Observed()
    q = q[1]
    return Observed(price=q.price, previous_close=q.previous_close, as_of=q.as_of, currency=q.currency)


def evaluate(user_ids: Sequence[int] | None, *, now: datetime | None = None, kinds: Iterable[str] | None = None,
             instrument_ids: Sequence[int] | None = None, totals: Mapping[int, tuple] | None = None) -> dict:
    """Judge the enabled rules of these users (None: all) that may have changed state; fire what crossed.

    instrument_ids: the instruments whose price just moved (a tick): a price rule on another cannot
    have changed state and is not looked at. totals: {user id: (base currency, total text, fully
    priced)} as the calling recompute computed them. Returns counts (`rules`: those judged in Python,
    after the narrowing in SQL, webapp/services/alert_scope.py)."""
    now = now or datetime.now(timezone.utc)
    kinds = set(rules_domain.KINDS if kinds is None else kinds)
    users = None if user_ids is None else set(user_ids)
    quotes = _price_scope(users, instrument_ids, kinds)
    seen_totals, portfolios = _portfolio_scope(users, kinds, totals)
    seen_prices = [alert_scope.price_seen(iid, q, now) for iid, (_, q) in sorted(quotes.items())]
    rules = [r for r in alert_scope.candidates(seen_prices, seen_totals, kinds) if users is None or r.user_id in users]
    if not rules:
        return {"rules": 0, "fired": 0, "rearmed": 0}
    _valued(rules, portfolios)
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
        db.session.execute(sa.update(RULES).where(RULES.c.id.in_(rearm)).values(armed=True))
    fired: list[tuple] = []
    if firing:
        claimed = db.session.scalars(
            sa.update(RULES).where(RULES.c.id.in_(list(firing)), RULES.c.armed.is_(True))
            .values(armed=False, last_fired_at=now).returning(RULES.c.id)).all()
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
        db.session.execute(sa.insert(Notification.__table__), rows)
    return sends


def _send(sends: list[tuple]) -> None:
    """Enqueue the e-mails and webhooks of what fired (a failure to enqueue is logged, not raised)."""
    emailed = {uid for uid, email, _, _ in sends if email}
    users = ({u.id: u for u in db.session.scalars(sa.select(User).where(User.id.in_(emailed)))}
             if emailed else {})
    for uid, email, url, payload in sends:
        try:
            user = users.get(uid)
            if email and user is not None and users_module.email_confirmed(user):
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
    if any(r.email for r in rules) and users_module.email_confirmed(user):
        jobs.enqueue("default", EMAIL_JOB, to=user.email, subject=f"Folio: {title}", text=body, html=f"<p>{body}</p>")
        sent["email"] = 1
    for url in sorted({r.webhook_url for r in rules if r.webhook and r.webhook_url}):
        jobs.enqueue("default", WEBHOOK_JOB, user.id, url, payload)
        sent["webhook"] += 1
    return sent
