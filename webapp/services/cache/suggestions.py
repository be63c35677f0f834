"""Symbol-search answers (`search:{currency}:{query}`), kept so that typing the same letters
again asks no provider."""
from __future__ import annotations

import json

from webapp.services.cache.core import get_redis, key


def read_suggestions(currency: str, query: str) -> dict | None:
    """The answer stored for this normalized query, or None."""
    raw = get_redis().get(key("search", currency, query))
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except ValueError:  # not ours: ask again
        return None
    return value if isinstance(value, dict) else None


def write_suggestions(currency: str, query: str, answer: dict, ttl: int) -> None:
    get_redis().set(key("search", currency, query), json.dumps(answer, separators=(",", ":")), ex=max(1, int(ttl)))
