"""A user's alert rules (create, list, enable, delete) and in-app notifications.

Every lookup is scoped by the owner: another user's rule or notification is "not found".
The rule form's input is checked here (plain strings in, messages per field out), so that the
page and any other caller share the same rules.
"""
from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Mapping

import sqlalchemy as sa

from webapp.domain import alerts as rules_domain
from webapp.domain.inputs import normalise_symbol, parse_number
from webapp.extensions import db
from webapp.models import ALERT_KINDS, Account, AlertRule, Holding, Instrument, Notification, User
from webapp.services import webhooks

log = logging.getLogger(__name__)
MAX_COOLDOWN = 60 * 24 * 30  # a month, in minutes
MAX_RULES = 100  # per user


def rules_of(user: User) -> list[AlertRule]:
    return list(db.session.scalars(sa.select(AlertRule).where(AlertRule.user_id == user.id).order_by(AlertRule.id)))


def get_rule(user: User, rule_id: int) -> AlertRule | None:
    return db.session.scalar(sa.select(AlertRule).where(AlertRule.id == rule_id, AlertRule.user_id == user.id))


def held_symbols(user: User) -> dict[str, int]:
    """symbol -> instrument id of what the user holds (in any account)."""
    rows = db.session.execute(
        sa.select(Instrument.symbol, Instrument.id).join(Holding, Holding.instrument_id == Instrument.id)
        .join(Account, Account.id == Holding.account_id).where(Account.owner_id == user.id).distinct()
        .order_by(Instrument.symbol))
    return dict(rows.all())


def parse(user: User, form: Mapping[str, str]) -> tuple[dict, dict[str, str]]:
    """The rule's column values from the form's strings, and a message per field that is wrong."""
    errors: dict[str, str] = {}
    values: dict = {"user_id": user.id, "armed": True, "enabled": True}
    kind = (form.get("kind") or "").strip()
    if kind not in ALERT_KINDS:
        errors["kind"] = "Choose what the alert watches."
        return values, errors
    values["kind"] = kind
    if kind in rules_domain.PRICE_KINDS:
        symbol = normalise_symbol(form.get("symbol"))
        held = held_symbols(user)
        if not symbol:
            errors["symbol"] = "Enter the symbol of one of your holdings."
        elif symbol not in held:
            errors["symbol"] = f"You hold no {symbol[:20]}: choose one of your holdings."
        else:
            values["instrument_id"] = held[symbol]
    if kind == "price_stale":
        raw = (form.get("hours") or "").strip()
        if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= rules_domain.MAX_HOURS:
            errors["hours"] = f"Enter a whole number of hours from 1 to {rules_domain.MAX_HOURS}."
        else:
            values["hours"] = int(raw)
    else:
        try:
            threshold = parse_number(form.get("threshold"), "number")
        except ValueError as e:
            errors["threshold"] = str(e)
        else:
            if threshold is None:
                errors["threshold"] = "Enter the threshold, a number."
            elif kind in rules_domain.PERCENT_KINDS and threshold <= 0:
                errors["threshold"] = "A percentage must be greater than zero."
            elif threshold < 0:
                errors["threshold"] = "The threshold cannot be negative."
            else:
                values["threshold"] = threshold
    raw = (form.get("cooldown_minutes") or "60").strip()
    if not raw.isascii() or not raw.isdigit() or int(raw) > MAX_COOLDOWN:
        errors["cooldown_minutes"] = f"Enter a whole number of minutes from 0 to {MAX_COOLDOWN}."
    else:
        values["cooldown_minutes"] = int(raw)
    for channel in ("in_app", "email", "webhook"):
        values[channel] = bool(form.get(channel))
    url = (form.get("webhook_url") or "").strip()
    if values["webhook"]:
        message = "Enter the webhook's URL." if not url else (
            "The URL is too long (500 characters at most)." if len(url) > 500 else webhooks.check_form_url(url))
        if message:
            errors["webhook_url"] = message
        else:
            values["webhook_url"] = url
    if not (values["in_app"] or values["email"] or values["webhook"]):
        errors["channels"] = "Choose at least one way to be told."
    if not errors and db.session.scalar(
            sa.select(sa.func.count()).select_from(AlertRule).where(AlertRule.user_id == user.id)) >= MAX_RULES:
        errors["kind"] = f"You have {MAX_RULES} alerts already: delete one first."
    return values, errors


def create(user: User, form: Mapping[str, str]) -> tuple[AlertRule | None, dict[str, str]]:
    values, errors = parse(user, form)
    if errors:
        return None, errors
    rule = AlertRule(**values)
    db.session.add(rule)
    db.session.commit()
    if rule.webhook:
        webhooks.ensure_secret(user)  # made on first use, shown on the alerts page
    _judge_now(user.id)
    return rule, {}


def set_enabled(rule: AlertRule, enabled: bool) -> None:
    rule.enabled = enabled
    if enabled:
        rule.armed = True  # judged afresh: a condition true now fires at once
    db.session.commit()
    if enabled:
        _judge_now(rule.user_id)


def _judge_now(user_id: int) -> None:
    """Judge the user's rules at once: a tick judges only rules on what moved, so a new rule whose
    condition already holds would otherwise wait for its instrument to move. Never fails the page."""
    from webapp.services import alerts

    try:
        alerts.evaluate([user_id])
    except Exception:
        log.exception("judging the alerts of user %s failed", user_id)
        db.session.rollback()


def delete(rule: AlertRule) -> None:
    db.session.delete(rule)
    db.session.commit()


# ---- notifications --------------------------------------------------------------------------
def unread_count(user_id: int) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Notification)
                             .where(Notification.user_id == user_id, Notification.read_at.is_(None))) or 0


def notifications_of(user: User, limit: int = 100) -> list[Notification]:
    return list(db.session.scalars(sa.select(Notification).where(Notification.user_id == user.id)
                                   .order_by(Notification.created_at.desc(), Notification.id.desc()).limit(limit)))


def mark_read(user: User, notification_id: int) -> bool:
    """False when the user has no such notification."""
    n = db.session.scalar(sa.select(Notification).where(Notification.id == notification_id,
                                                        Notification.user_id == user.id))
    if n is None:
        return False
    if n.read_at is None:
        n.read_at = datetime.now(timezone.utc)
        db.session.commit()
    return True


def mark_all_read(user: User) -> int:
    done = db.session.execute(sa.update(Notification).where(Notification.user_id == user.id,
                                                            Notification.read_at.is_(None))
                              .values(read_at=datetime.now(timezone.utc))).rowcount
    db.session.commit()
    return done
