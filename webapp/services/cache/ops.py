"""Operations state: refresh cycles, locks, provider health and throttling, job figures, alerts, FX.

The circuit breaker and throttle are hand-written because they must be shared by every worker
process through Redis and never block (pybreaker and `limits` are per process or blocking).
"""
from __future__ import annotations

import json
import logging
import time
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Iterable, Mapping

from pricing_providers.base import ProviderError, RateLimit, RateLimited
from webapp.services.cache.core import get_redis, key, new_version

log = logging.getLogger(__name__)


# ---- cycles ----------------------------------------------------------------------------
def finish_cycle(stats: Mapping[str, object]) -> None:
    pipe = get_redis().pipeline(transaction=False)
    pipe.set(key("cycle"), new_version())
    pipe.delete(key("cycle", "last"))
    pipe.hset(key("cycle", "last"), mapping={k: str(v) for k, v in stats.items()})
    pipe.execute()


COVERAGE_KEPT = 10


def record_coverage(record: Mapping[str, object]) -> None:
    """Keep the coverage of the last COVERAGE_KEPT cycles, newest first."""
    pipe = get_redis().pipeline()
    pipe.lpush(key("cycle", "coverage"), json.dumps(record, separators=(",", ":")))
    pipe.ltrim(key("cycle", "coverage"), 0, COVERAGE_KEPT - 1)
    pipe.execute()


def coverage_history(n: int = COVERAGE_KEPT) -> list[dict]:
    """The coverage records of the last n cycles, newest first."""
    return [json.loads(raw) for raw in get_redis().lrange(key("cycle", "coverage"), 0, n - 1)]


def last_cycle() -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in get_redis().hgetall(key("cycle", "last")).items()}


_TAKE_OVER = ("if redis.call('get', KEYS[1]) == ARGV[1] then "
              "return redis.call('set', KEYS[1], ARGV[2], 'EX', ARGV[3]) else return false end")


def acquire_lock(name: str, ttl: int, owner: str | None = None, owner_alive=None) -> str | None:
    """A lock for `ttl` seconds; its token, or None when another holder has it. With `owner`
    (e.g. the RQ execution) and `owner_alive(owner) -> bool`, a lock whose holder is known
    dead (a worker killed mid-job) is taken over at once instead of blocking until its TTL."""
    token = f"{owner}#{uuid.uuid4().hex}" if owner else uuid.uuid4().hex
    r = get_redis()
    if r.set(key("lock", name), token, nx=True, ex=ttl):
        return token
    if owner_alive is None:
        return None
    held = r.get(key("lock", name))
    holder = held.decode().rpartition("#")[0] if held else ""
    if held is not None and holder and not owner_alive(holder):
        if r.eval(_TAKE_OVER, 1, key("lock", name), held, token, ttl):
            log.warning("lock %s: its holder %s is dead; taken over", name, holder)
            return token
    return None


_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"


def release_lock(name: str, token: str) -> None:
    get_redis().eval(_RELEASE, 1, key("lock", name), token)


# ---- coalesced instant refreshes -------------------------------------------------------
def instant_add(instrument_ids: list[int], dedupe_seconds: int) -> list[int]:
    """Add instruments to the pending set, except those asked for or fetched within
    `dedupe_seconds` (0: no dedupe). Returns the ones added. One round trip."""
    r = get_redis()
    pipe = r.pipeline(transaction=False)
    if dedupe_seconds > 0:
        for iid in instrument_ids:
            pipe.set(key("instant", "seen", iid), 1, nx=True, ex=dedupe_seconds)
        fresh = [iid for iid, ok in zip(instrument_ids, pipe.execute()) if ok]
    else:
        fresh = list(instrument_ids)
    if fresh:
        r.sadd(key("instant", "pending"), *fresh)
    return fresh


def instant_claim_window(window: int, ttl: int) -> bool:
    """True for the one caller that must enqueue the job of this window."""
    return bool(get_redis().set(key("instant", "job", window), 1, nx=True, ex=ttl))


def instant_drain() -> list[int]:
    """Take every pending instrument id, atomically (no other job gets the same ones)."""
    pipe = get_redis().pipeline(transaction=True)
    pipe.smembers(key("instant", "pending"))
    pipe.delete(key("instant", "pending"))
    members, _ = pipe.execute()
    return sorted(int(m) for m in members)


def instant_pending() -> set[int]:
    return {int(m) for m in get_redis().smembers(key("instant", "pending"))}


def instant_fetched(instrument_ids: Iterable[int], dedupe_seconds: int) -> None:
    """Just fetched: not again for `dedupe_seconds` (counted from now, not from the request)."""
    if dedupe_seconds <= 0:
        return
    pipe = get_redis().pipeline(transaction=False)
    for iid in instrument_ids:
        pipe.set(key("instant", "seen", iid), 1, ex=dedupe_seconds)
    pipe.execute()


# ---- provider health and throttling (shared by every worker) --------------------------
class RedisHealth:
    """Circuit breaker state in Redis, so every worker skips a failing provider."""

    def __init__(self, threshold: int = 3, cooldown: float = 300.0):
        self.threshold, self.cooldown = threshold, cooldown

    def allow(self, provider: str) -> bool:
        until = get_redis().hget(key("provider", provider), "open_until")
        return until is None or float(until) <= time.time()

    def success(self, provider: str) -> None:
        get_redis().hset(
            key("provider", provider),
            mapping={"failures": 0, "open_until": 0, "last_success": time.time()},
        )
        get_redis().hincrby(key("provider", provider), "calls_ok", 1)

    def failure(self, provider: str, error: ProviderError) -> None:
        r = get_redis()
        k = key("provider", provider)
        failures = r.hincrby(k, "failures", 1)
        r.hincrby(k, "calls_failed", 1)
        mapping: dict[str, object] = {"last_error": f"{error.kind}: {error}"[:300], "last_error_at": time.time()}
        if failures >= self.threshold or isinstance(error, RateLimited):
            mapping["open_until"] = time.time() + (getattr(error, "retry_after", None) or self.cooldown)
        r.hset(k, mapping=mapping)


def provider_health(names: Iterable[str]) -> dict[str, dict[str, str]]:
    names = list(names)
    pipe = get_redis().pipeline(transaction=False)
    for n in names:
        pipe.hgetall(key("provider", n))
    return {n: {k.decode(): v.decode() for k, v in h.items()} for n, h in zip(names, pipe.execute())}


class RedisThrottle:
    """Fixed-window counter per provider and period, shared by every worker."""

    def acquire(self, provider: str, limit: RateLimit) -> bool:
        window = int(time.time() // limit.period)
        k = key("throttle", provider, window)
        pipe = get_redis().pipeline()
        pipe.incr(k)
        pipe.expire(k, int(limit.period) + 1)
        count, _ = pipe.execute()
        return count <= limit.calls

    def used(self, provider: str, limit: RateLimit) -> int:
        """Requests already spent in the current window (by cycles, instant refreshes, backfills)."""
        value = get_redis().get(key("throttle", provider, int(time.time() // limit.period)))
        return int(value or 0)


class RedisStore:
    """The providers' `SecretStore` in Redis (`provider-state:{name}`), shared by every worker
    and cycle: Yahoo's cookie and crumb, CoinGecko's ticker -> id map, unusable endpoints."""

    def get(self, name: str) -> str | None:
        value = get_redis().get(key("provider-state", name))
        return None if value is None else value.decode()

    def set(self, name: str, value: str, ttl: float) -> None:
        get_redis().set(key("provider-state", name), value, px=max(1, int(ttl * 1000)))


# ---- operations: job figures and alerts -----------------------------------------------
def record_job(func_name: str, seconds: float, ok: bool) -> None:
    pipe = get_redis().pipeline(transaction=False)
    pipe.hincrby(key("jobs", "count"), func_name, 1)
    pipe.hincrbyfloat(key("jobs", "seconds"), func_name, seconds)
    if not ok:
        pipe.hincrby(key("jobs", "failures"), func_name, 1)
    pipe.execute()


def job_stats() -> dict[str, tuple[int, float, int]]:
    """job name -> (count, total seconds, failures)."""
    pipe = get_redis().pipeline(transaction=False)
    for part in ("count", "seconds", "failures"):
        pipe.hgetall(key("jobs", part))
    count, seconds, failures = pipe.execute()
    return {
        name.decode(): (int(n), float(seconds.get(name, 0)), int(failures.get(name, 0)))
        for name, n in count.items()
    }


def active_alerts() -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in get_redis().hgetall(key("alerts")).items()}


def set_alert(name: str, detail: str) -> bool:
    """Mark an alert active; True only for the call that started the incident."""
    return bool(get_redis().hsetnx(key("alerts"), name, detail))


def clear_alert(name: str) -> bool:
    """True only for the call that ended the incident."""
    return bool(get_redis().hdel(key("alerts"), name))


# ---- exchange rates --------------------------------------------------------------------
def write_fx(per_eur: Mapping[str, Decimal], as_of: datetime, source: str) -> None:
    """The latest rates per 1 EUR, one hash (`fx:EUR`), replaced in one transaction."""
    pipe = get_redis().pipeline()
    pipe.delete(key("fx", "EUR"))
    pipe.hset(key("fx", "EUR"), mapping={
        **{ccy: format(rate, "f") for ccy, rate in per_eur.items()},
        "_as_of": as_of.isoformat(), "_source": source,
    })
    pipe.execute()


def claim_fx_request(ttl: int) -> bool:
    """True for the one caller that should enqueue an on-demand FX fetch in this period."""
    return bool(get_redis().set(key("fx", "requested"), 1, nx=True, ex=max(1, int(ttl))))


def read_fx() -> tuple[dict[str, Decimal], datetime | None, str | None]:
    raw = {k.decode(): v.decode() for k, v in get_redis().hgetall(key("fx", "EUR")).items()}
    as_of = datetime.fromisoformat(raw.pop("_as_of")) if "_as_of" in raw else None
    source = raw.pop("_source", None)
    return {k: Decimal(v) for k, v in raw.items()}, as_of, source


# ---- symbols no provider knows -----------------------------------------------------------
def mark_unknown(symbols: Iterable[str], at: float | None = None) -> list[str]:
    """Remember symbols every provider called unknown; returns those that were not known so."""
    symbols = sorted(set(symbols))
    if not symbols:
        return []
    pipe = get_redis().pipeline()
    for s in symbols:
        pipe.hsetnx(key("unknown-symbols"), s, str(at if at is not None else time.time()))
    return [s for s, new in zip(symbols, pipe.execute()) if new]


def clear_unknown(symbols: Iterable[str]) -> None:
    symbols = list(symbols)
    if symbols:
        get_redis().hdel(key("unknown-symbols"), *symbols)


def unknown_among(symbols: Iterable[str]) -> set[str]:
    symbols = list(symbols)
    if not symbols:
        return set()
    return {s for s, v in zip(symbols, get_redis().hmget(key("unknown-symbols"), symbols)) if v is not None}
