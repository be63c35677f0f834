"""Personal access tokens for the JSON API (/api/v1).

A token is `folio_` followed by `secrets.token_urlsafe(32)` (256 random bits); only its
SHA-256 is stored, so a copy of the database lets nobody call the API. A plain hash (no salt,
no slow function) is enough for a random secret of that size, and lets a request find its
token with one indexed lookup. The token is shown once, when it is created.

Scopes: "read" (every GET) or "read write" (also POST, PATCH and DELETE).
"""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from webapp.extensions import db
from webapp.models import ApiToken, User, utcnow

PREFIX = "folio_"
SCOPES = {"read": "Read", "read write": "Read and write"}
MAX_TOKENS = 50  # per user
MAX_DAYS = 3650
LAST_USED_EVERY = timedelta(minutes=1)  # last_used_at is written at most this often


class TokenError(ValueError):
    """A token that cannot be created or revoked; the message says why, for people."""


@dataclass
class Created:
    token: ApiToken
    secret: str  # the token itself: shown once, never stored


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def tokens_of(user: User) -> list[ApiToken]:
    return list(db.session.scalars(sa.select(ApiToken).where(ApiToken.user_id == user.id)
                                   .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())))


def token_of(user_id: int, token_id: int) -> ApiToken | None:
    return db.session.scalar(sa.select(ApiToken).where(ApiToken.id == token_id, ApiToken.user_id == user_id))


def create(user: User, name: str, scopes: str = "read", days: int | None = None) -> Created:
    name = (name or "").strip()
    if not name or len(name) > 80:
        raise TokenError("Give the token a name of 1 to 80 characters.")
    if scopes not in SCOPES:
        raise TokenError("The scopes are “read” or “read write”.")
    if days is not None and not 1 <= days <= MAX_DAYS:
        raise TokenError(f"A token expires after 1 to {MAX_DAYS} days (or never).")
    count = db.session.scalar(sa.select(sa.func.count()).where(ApiToken.user_id == user.id))
    if count >= MAX_TOKENS:
        raise TokenError(f"You have {MAX_TOKENS} tokens already: delete some revoked ones first.")
    secret = PREFIX + secrets.token_urlsafe(32)
    now = utcnow()
    token = ApiToken(user_id=user.id, name=name, token_hash=hash_token(secret), scopes=scopes, created_at=now,
                     expires_at=now + timedelta(days=days) if days else None)
    db.session.add(token)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise TokenError(f"You already have a token named “{name}”.") from None
    return Created(token, secret)


def revoke(token: ApiToken) -> bool:
    """Revoke the token; False when it was revoked already."""
    if token.revoked_at is not None:
        return False
    token.revoked_at = utcnow()
    db.session.commit()
    return True


def is_active(token: ApiToken, now: datetime | None = None) -> bool:
    now = now or datetime.now(timezone.utc)
    return token.revoked_at is None and (token.expires_at is None or token.expires_at > now)


def authenticate(secret: str) -> tuple[ApiToken, User] | None:
    """The active token and its (enabled) user for what came after `Bearer `, else None."""
    if not secret.startswith(PREFIX) or len(secret) > 200:
        return None
    row = db.session.execute(sa.select(ApiToken, User).join(User, User.id == ApiToken.user_id)
                             .where(ApiToken.token_hash == hash_token(secret))).first()
    if row is None:
        return None
    token, user = row
    if not is_active(token) or not user.is_active:
        return None
    return token, user


def touch(token: ApiToken) -> None:
    """Note the token's use, at most once a minute (a conditional UPDATE: no write per request)."""
    now = utcnow()
    if token.last_used_at is not None and now - token.last_used_at < LAST_USED_EVERY:
        return
    db.session.execute(sa.update(ApiToken).where(
        ApiToken.id == token.id,
        sa.or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at < now - LAST_USED_EVERY))
        .values(last_used_at=now))
    db.session.commit()


def find(user: User, name_or_id: str) -> ApiToken | None:
    """The user's token by its name, or by its id (a number that is no token's name)."""
    by_name = db.session.scalar(sa.select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.name == name_or_id))
    if by_name is not None:
        return by_name
    if name_or_id.isascii() and name_or_id.isdigit() and len(name_or_id) < 10:
        return token_of(user.id, int(name_or_id))
    return None
