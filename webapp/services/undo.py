"""Undo of a delete: the rows an account or a holding takes with it (the account, its holdings,
their activities) are kept in Redis for a short window under the owner's id and a signed token,
and `restore` puts them back exactly as they were (same ids and values) in one transaction.

Why not a soft delete: every query of holdings and activities (valuation, the ledger, returns,
the API, the set-based recompute) would have to learn to skip deleted rows, for a 10-second
window. A copy of the rows in the cache touches none of them, and the database stays the truth.
Nothing else refers to an account or a holding by foreign key: snapshots keep account ids as
JSON, a holding's own splits keep `holding:<id>` (so they match again once the id is back).
"""
from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy.exc import IntegrityError

from webapp.extensions import db
from webapp.models import Account, Activity, Holding, User
from webapp.services import assets, cache



class NotYours(Exception):
    """A token that is not the user's (or no token at all): answered like a missing page."""


class TooLate(Exception):
    pass


class Conflict(Exception):
    pass


@dataclass(frozen=True)
class Offer:
    token: str
    expires_at: float  # epoch seconds: when the Undo button goes away


def window() -> int:
    return int(current_app.config.get("UNDO_SECONDS", 10))


def _kept() -> int:
    """How long the copy is kept: the window, and a grace for a click in its last second."""
    return window() + int(current_app.config.get("UNDO_GRACE_SECONDS", 5))


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="folio-undo")


def _encode(value):
    if isinstance(value, Decimal):
        return {"$dec": str(value)}
    if isinstance(value, datetime):
        return {"$dt": value.isoformat()}
    if isinstance(value, date):
        return {"$day": value.isoformat()}
    return value


def _decode(value):
    if isinstance(value, dict) and len(value) == 1:
        tag, raw = next(iter(value.items()))
        if tag == "$dec":
            return Decimal(raw)
        if tag == "$dt":
            return datetime.fromisoformat(raw)
        if tag == "$day":
            return date.fromisoformat(raw)
    return value


def _rows(model, *where) -> list[dict]:
    table = model.__table__
    return [{k: _encode(v) for k, v in row.items()}
            for row in db.session.execute(sa.select(table).where(*where).order_by(table.c.id)).mappings()]


def _offer(user_id: int, kind: str, payload: dict) -> Offer | None:
    """Keep the rows under a new token; None when the cache cannot take them (no undo then)."""
    nonce = secrets.token_urlsafe(16)
    try:
        cache.store_undo(user_id, nonce, json.dumps({"kind": kind, **payload}, separators=(",", ":")), _kept())
    except cache.RedisError:
        current_app.logger.exception("could not keep the undo copy of user %s's %s", user_id, kind)
        return None
    token = _serializer().dumps({"u": user_id, "k": nonce})
    return Offer(token=token, expires_at=time.time() + window())


def _delete_keeping(user: User, kind: str, payload: dict, delete) -> Offer | None:
    """Keep the copy, then delete; a delete that fails (or is refused) drops the copy again."""
    offer = _offer(user.id, kind, payload)
    try:
        delete()
    except Exception:
        if offer is not None:
            _forget(user.id, offer.token)
        raise
    return offer


def delete_account(user: User, account: Account) -> Offer | None:
    """Delete an account with its holdings and activities; the Offer undoes it (None: no undo)."""
    payload = {"label": account.name,
               "accounts": _rows(Account, Account.__table__.c.id == account.id),
               "holdings": _rows(Holding, Holding.__table__.c.account_id == account.id),
               "activities": _rows(Activity, Activity.__table__.c.account_id == account.id)}
    return _delete_keeping(user, "account", payload, lambda: assets.delete(account))


def delete_holding(user: User, holding: Holding) -> Offer | None:
    """Delete a holding with the activities that recorded it; the Offer undoes it (None: no undo)."""
    t = Activity.__table__.c
    payload = {"label": holding.instrument.symbol,
               "holdings": _rows(Holding, Holding.__table__.c.id == holding.id),
               "activities": _rows(Activity, t.account_id == holding.account_id,
                                   t.instrument_id == holding.instrument_id)}
    return _delete_keeping(user, "holding", payload, lambda: assets.delete(holding))


def delete_activity(user: User, row: Activity, label: str) -> Offer | None:
    """Delete an activity through the ledger (which may refuse: ledger.Refused, nothing kept);
    the Offer puts it back, with its holding's row as it was."""
    from webapp.services import ledger

    h = Holding.__table__.c
    payload = {"label": label, "activities": _rows(Activity, Activity.__table__.c.id == row.id),
               "holdings": _rows(Holding, h.account_id == row.account_id, h.instrument_id == row.instrument_id)
               if row.instrument_id is not None else []}
    return _delete_keeping(user, "activity", payload, lambda: ledger.delete(user, row))


def _nonce(user_id: int, token: str) -> str:
    serializer = _serializer()
    try:
        data = serializer.loads(token, max_age=_kept())
    except SignatureExpired as exc:  # genuinely signed, but old: too late, if it is this user's
        try:
            data = serializer.load_payload(exc.payload)
        except BadSignature:
            data = None
        if isinstance(data, dict) and data.get("u") == user_id:
            raise TooLate() from None
        raise NotYours() from None
    except BadSignature:
        raise NotYours() from None
    if not isinstance(data, dict) or data.get("u") != user_id or not isinstance(data.get("k"), str):
        raise NotYours()
    return data["k"]


def _forget(user_id: int, token: str) -> None:
    try:
        cache.drop_undo(user_id, _nonce(user_id, token))
    except Exception:  # the copy expires by itself
        current_app.logger.exception("could not drop an undo copy")


def restore(user: User, token: str) -> dict:
    """Put back what the token's delete took, as it was; then revalue the portfolio as the
    add path does. Returns {"kind", "label", "account_id"}. Raises NotYours (another user's or
    a forged token), TooLate (the window is over, or it was undone already), Conflict (what it
    would restore has been added again meanwhile), cache.RedisError (the cache is down)."""
    raw = cache.take_undo(user.id, _nonce(user.id, token))  # taken at once: a second click finds nothing
    if raw is None:
        raise TooLate()
    data = json.loads(raw)
    accounts = [{k: _decode(v) for k, v in r.items()} for r in data.get("accounts", [])]
    holdings = [{k: _decode(v) for k, v in r.items()} for r in data.get("holdings", [])]
    activities = [{k: _decode(v) for k, v in r.items()} for r in data.get("activities", [])]
    if data["kind"] == "activity":
        _restore_activity(user, data["label"], activities[0], holdings)
        return {"kind": "activity", "label": data["label"], "account_id": activities[0]["account_id"]}
    _refuse_conflicts(user, data["label"], accounts, holdings)
    try:
        for model, rows in ((Account, accounts), (Holding, holdings), (Activity, activities)):
            if rows:
                db.session.execute(sa.insert(model.__table__), rows)
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise Conflict(f"“{data['label']}” could not be put back: something of the same name or id "
                       "has been added since.") from None
    _revalue(user, activities)
    account_id = accounts[0]["id"] if accounts else holdings[0]["account_id"] if holdings else None
    return {"kind": data["kind"], "label": data["label"], "account_id": account_id}


def _restore_activity(user: User, label: str, row: dict, holdings: list[dict]) -> None:
    """The activity back with its id, checked against the ledger as it is now (a sale recorded
    meanwhile may need it not to be there); its holding re-derived as the ledger's add path does."""
    from webapp.services import ledger

    if db.session.scalar(sa.select(Account.id).where(Account.id == row["account_id"],
                                                     Account.owner_id == user.id)) is None:
        raise Conflict("Its account has been deleted since: bring the account back first.")
    try:
        db.session.execute(sa.insert(Activity.__table__), [row])
        for h in holdings:  # the holding's row as it was (its id), whether the delete took it or changed it
            now = db.session.scalar(sa.select(Holding.id).where(Holding.account_id == h["account_id"],
                                                                Holding.instrument_id == h["instrument_id"]))
            if now is None:
                db.session.execute(sa.insert(Holding.__table__), [h])
            elif now == h["id"]:
                db.session.execute(sa.update(Holding.__table__).where(Holding.__table__.c.id == now).values(**h))
        db.session.expire_all()
        db.session.flush()
        ledger.check(user)
    except IntegrityError:
        db.session.rollback()
        raise Conflict(f"{label} could not be put back: something with its id has been added since.") from None
    except ledger.Refused as exc:
        db.session.rollback()
        raise Conflict(f"{label} could not be put back: {exc.problems[0]}") from None
    ledger.changed(user, [row["date"]], also=[(row["account_id"], row["instrument_id"])])


def _refuse_conflicts(user: User, label: str, accounts: list[dict], holdings: list[dict]) -> None:
    if accounts:
        name = accounts[0]["name"]
        if db.session.scalar(sa.select(Account.id).where(Account.owner_id == user.id, Account.name == name)):
            raise Conflict(f"You have an account named “{name}” again; rename it first to bring the deleted "
                           "one back.")
        return
    for h in holdings:
        account = db.session.scalar(sa.select(Account).where(Account.id == h["account_id"],
                                                             Account.owner_id == user.id))
        if account is None:
            raise Conflict("Its account has been deleted since: bring the account back first.")
        if db.session.scalar(sa.select(Holding.id).where(Holding.account_id == h["account_id"],
                                                         Holding.instrument_id == h["instrument_id"])):
            raise Conflict(f"{label} is held in “{account.name}” again; it was not put back twice.")


def _revalue(user: User, activities: list[dict]) -> None:
    from webapp.services.portfolio import performance

    days = [a["date"] for a in activities if a.get("date") is not None]
    if days:
        try:
            performance.invalidate(user.id, min(days))
        except Exception:  # Redis down: the cached series notices the ledger changed by itself
            current_app.logger.exception("could not mark the cached returns of user %s stale", user.id)
    assets.portfolio_changed(user.id)
