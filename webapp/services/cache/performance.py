"""Performance series (`perf:{user_id}`) and the ledger changes not yet folded into them
(`perf:{user_id}:changes`). What the documents hold is webapp/services/portfolio/series.py's
business; this module only stores them.

Each invalidation gets a sequence number; a document records the number it has seen, so a
change that arrives while a series is being computed is never lost: the next read finds it
above the document's number and recomputes from its day.
"""
from __future__ import annotations

from typing import NamedTuple

from webapp.services.cache.core import get_redis, key

PERFORMANCE_TTL = 30 * 86400  # a series unused for a month is dropped (the database rebuilds it)
CHANGES_KEPT = 100  # a document that missed more than this many changes is recomputed in full

_INVALIDATE = """
local seq = redis.call('HINCRBY', KEYS[1], '#seq', 1)
redis.call('LPUSH', KEYS[2], seq .. '|' .. ARGV[1])
redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[2]) - 1)
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[3])
return seq
"""


class Cached(NamedTuple):
    doc: bytes | None  # the stored document, None when there is none
    seq: int  # invalidations of this user so far
    changes: list[tuple[int, str]]  # (seq, ISO day) of the latest invalidations, newest first


def read_performance(user_id: int, name: str) -> Cached:
    """A document and the changes recorded beside it, read together (MULTI)."""
    pipe = get_redis().pipeline(transaction=True)
    pipe.hget(key("perf", user_id), name)
    pipe.hget(key("perf", user_id), "#seq")
    pipe.lrange(key("perf", user_id, "changes"), 0, -1)
    doc, seq, changes = pipe.execute()
    parsed = []
    for item in changes:
        n, _, day = item.decode().partition("|")
        parsed.append((int(n), day))
    return Cached(doc, int(seq or 0), parsed)


def write_performance(user_id: int, name: str, doc: str) -> None:
    pipe = get_redis().pipeline(transaction=True)
    pipe.hset(key("perf", user_id), name, doc)
    pipe.expire(key("perf", user_id), PERFORMANCE_TTL)
    pipe.execute()


def invalidate_performance(user_id: int, day_iso: str) -> int:
    """Record that the user's figures from `day_iso` on are stale; returns the change's number."""
    r = get_redis()
    return int(r.eval(_INVALIDATE, 2, key("perf", user_id), key("perf", user_id, "changes"), day_iso,
                      CHANGES_KEPT, PERFORMANCE_TTL))


def forget_performance(user_id: int) -> None:
    """Drop every cached series of the user (the next call computes them from scratch)."""
    get_redis().delete(key("perf", user_id), key("perf", user_id, "changes"))
