"""Undo copies (`undo:{user_id}:{nonce}`): the rows a delete took, as JSON, for a few seconds
(webapp/services/undo.py). Under the owner's id: another user's nonce finds nothing."""
from __future__ import annotations

from webapp.services.cache.core import get_redis, key


def store_undo(user_id: int, nonce: str, payload: str, ttl: int) -> None:
    get_redis().set(key("undo", user_id, nonce), payload, ex=ttl)


def take_undo(user_id: int, nonce: str) -> str | None:
    """The copy, removed at once (GETDEL): it is used once. None when it expired or was used."""
    raw = get_redis().getdel(key("undo", user_id, nonce))
    return raw.decode() if isinstance(raw, bytes) else raw


def drop_undo(user_id: int, nonce: str) -> None:
    get_redis().delete(key("undo", user_id, nonce))
