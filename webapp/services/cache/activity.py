"""Who is looking: the users with a session active lately, and the fragments pre-rendered for them.

Keys (under the prefix):
  active                  zset  user id -> when a session of theirs was last seen (epoch seconds),
                                written at most once a minute per user and process
  portfolio:{user_id}:html      the summary fragment (see core.py), also written by a worker
                                right after a recompute for the active users whose fragment is outdated
"""
from __future__ import annotations

import time
from typing import Iterable, Sequence

from flask import current_app

from webapp.services.cache.core import FRAGMENT_TTL, SCRIPT_CHUNK, _script, get_redis, key

TOUCH_EVERY = 60.0  # seconds: a user's activity is written at most this often per process
TOUCHED_MAX = 200_000  # users remembered per process; forgotten all at once when full


def active_key(prefix: str) -> bytes:
    """The sorted set's name, for the poll's fast path (no app context there)."""
    return f"{prefix}active".encode()


def touched(app) -> dict[int, float]:
    """user id -> when this process (this app) last wrote the user's activity."""
    return app.extensions.setdefault("folio_touched", {})


def touch_due(memory: dict[int, float], user_id: int, now: float) -> bool:
    """True (and remembered) when this process has not written the user's activity for a minute."""
    last = memory.get(user_id)
    if last is not None and now - last < TOUCH_EVERY:
        return False
    if len(memory) >= TOUCHED_MAX:
        memory.clear()
    memory[user_id] = now
    return True


def touch(user_id: int) -> None:
    """A request of this user's session: their fragments are worth pre-rendering for a while."""
    now = time.time()
    if touch_due(touched(current_app), user_id, now):
        get_redis().zadd(key("active"), {str(user_id): now})


def mark_active(user_ids: Iterable[int], when: float | None = None) -> None:
    """Set the last activity of many users at once (a harness, an import of sessions)."""
    when = time.time() if when is None else when
    ids = [str(u) for u in user_ids]
    r = get_redis()
    for start in range(0, len(ids), 5000):
        r.zadd(key("active"), {u: when for u in ids[start : start + 5000]})


def active_since(since: float) -> dict[int, float]:
    """user id -> last activity, of the users active at or after `since`."""
    return {int(m): score for m, score in get_redis().zrangebyscore(key("active"), since, "+inf", withscores=True)}


def outdated_fragments(user_ids: Sequence[int]) -> list[int]:
    """Those of the users whose cached fragment is not the one of their current token."""
    r = get_redis()
    prefix = current_app.config["REDIS_PREFIX"]
    out: list[int] = []
    ids = list(user_ids)
    for start in range(0, len(ids), SCRIPT_CHUNK):
        out += [int(u) for u in _script(r, "outdated_fragments")(keys=[], args=[prefix, *ids[start : start + SCRIPT_CHUNK]])]
    return out


def evict_inactive(before: float) -> int:
    """Forget the users inactive since `before`, and drop their cached fragments."""
    r = get_redis()
    gone = [int(u) for u in r.zrangebyscore(key("active"), "-inf", f"({before}")]
    for start in range(0, len(gone), 5000):
        part = gone[start : start + 5000]
        pipe = r.pipeline(transaction=False)
        pipe.zrem(key("active"), *[str(u) for u in part])
        pipe.delete(*[key("portfolio", u, "html") for u in part])
        pipe.execute()
    return len(gone)


def store_fragment_if_current(user_id: int, token: str, html: str, ttl: int = FRAGMENT_TTL) -> bool:
    """Store a fragment rendered for `token` only if that token is still current (atomic)."""
    return store_fragments_if_current([(user_id, token, html)], ttl)[0]


def store_fragments_if_current(fragments: Sequence[tuple[int, str, str]], ttl: int = FRAGMENT_TTL) -> list[bool]:
    """(user id, token, html) each stored only if its token is still current: one round trip,
    each check-and-set atomic on its own."""
    r = get_redis()
    script = _script(r, "store_fragment_if_current")
    pipe = r.pipeline(transaction=False)
    for uid, token, html in fragments:
        script(keys=[key("portfolio", uid, "v"), key("cycle"), key("portfolio", uid, "html")],
               args=[token, html, ttl], client=pipe)
    return [bool(x) for x in pipe.execute()]
