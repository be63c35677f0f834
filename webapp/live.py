"""The live cache in Redis. The only module that knows Redis key names.

Redis is a cache: every value here can be rebuilt from the database.
Keys (under the configurable prefix):
  quote:{SYMBOL}          hash  price, currency, as_of, source, fetched_at
  portfolio:{user_id}     JSON  the last Valuation
  portfolio:{user_id}:v   text  version, changes only when the valuation changes
  cycle                   text  id of the last finished refresh cycle
  cycle:last              hash  stats of the last refresh cycle
  lock:cycle              text  held while a refresh cycle runs
  provider:{name}         hash  health: failures, open_until, last_success, last_error
"""
from __future__ import annotations

import time
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Iterable, Mapping

import redis
from flask import current_app

from pricing_providers.base import ProviderError, RateLimit, RateLimited

from .portfolio import PriceInfo

RedisError = redis.RedisError


def connect(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5, health_check_interval=30)


def get_redis() -> redis.Redis:
    return current_app.extensions["folio_redis"]


def key(*parts: object) -> str:
    return current_app.config["REDIS_PREFIX"] + ":".join(str(p) for p in parts)


def new_version() -> str:
    """Unique across Redis restarts, so a flushed cache never repeats a version."""
    return f"{time.time_ns():x}"


# ---- quotes ----------------------------------------------------------------------------
def write_quotes(quotes: Mapping[str, PriceInfo], fetched_at: datetime) -> None:
    r = get_redis()
    pipe = r.pipeline(transaction=False)
    for symbol, q in quotes.items():
        pipe.hset(
            key("quote", symbol),
            mapping={
                "price": format(q.price, "f"),
                "currency": q.currency,
                "as_of": q.as_of.isoformat(),
                "source": q.source,
                "fetched_at": fetched_at.isoformat(),
            },
        )
    pipe.execute()


def read_quotes(symbols: Iterable[str]) -> dict[str, PriceInfo]:
    symbols = list(symbols)
    if not symbols:
        return {}
    pipe = get_redis().pipeline(transaction=False)
    for s in symbols:
        pipe.hgetall(key("quote", s))
    out: dict[str, PriceInfo] = {}
    for s, h in zip(symbols, pipe.execute()):
        if h:
            out[s] = PriceInfo(
                price=Decimal(h[b"price"].decode()),
                currency=h[b"currency"].decode(),
                as_of=datetime.fromisoformat(h[b"as_of"].decode()),
                source=h[b"source"].decode(),
            )
    return out


# ---- portfolios ------------------------------------------------------------------------
def read_token(user_id: int) -> str:
    """The version a browser shows: portfolio version + last cycle, in one round trip."""
    v, cycle = get_redis().mget(key("portfolio", user_id, "v"), key("cycle"))
    return f"{(v or b'0').decode()}.{(cycle or b'0').decode()}"


def read_portfolio(user_id: int) -> tuple[bytes | None, str]:
    raw, v, cycle = get_redis().mget(key("portfolio", user_id), key("portfolio", user_id, "v"), key("cycle"))
    return raw, f"{(v or b'0').decode()}.{(cycle or b'0').decode()}"


def write_portfolios(docs: Mapping[int, str]) -> dict[int, bytes | None]:
    """Store valuations; bump the version of those that changed.

    Returns {user_id: previous document} for the changed ones. SET ... GET swaps
    atomically, so of two workers writing the same new valuation only one sees
    a change (and writes a snapshot).
    """
    if not docs:
        return {}
    r = get_redis()
    ids = list(docs)
    pipe = r.pipeline(transaction=False)
    for i in ids:
        pipe.set(key("portfolio", i), docs[i], get=True)
    old = pipe.execute()
    changed = {i: prev for i, prev in zip(ids, old) if prev is None or prev.decode() != docs[i]}
    if changed:
        pipe = r.pipeline(transaction=False)
        for i in changed:
            pipe.set(key("portfolio", i, "v"), new_version())
        pipe.execute()
    return changed


def forget_portfolio(user_id: int) -> None:
    get_redis().delete(key("portfolio", user_id))


# ---- cycles ----------------------------------------------------------------------------
def finish_cycle(stats: Mapping[str, object]) -> None:
    pipe = get_redis().pipeline(transaction=False)
    pipe.set(key("cycle"), new_version())
    pipe.delete(key("cycle", "last"))
    pipe.hset(key("cycle", "last"), mapping={k: str(v) for k, v in stats.items()})
    pipe.execute()


def last_cycle() -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in get_redis().hgetall(key("cycle", "last")).items()}


def acquire_lock(name: str, ttl: int) -> str | None:
    token = uuid.uuid4().hex
    if get_redis().set(key("lock", name), token, nx=True, ex=ttl):
        return token
    return None


_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"


def release_lock(name: str, token: str) -> None:
    get_redis().eval(_RELEASE, 1, key("lock", name), token)


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


def read_fx() -> tuple[dict[str, Decimal], datetime | None, str | None]:
    raw = {k.decode(): v.decode() for k, v in get_redis().hgetall(key("fx", "EUR")).items()}
    as_of = datetime.fromisoformat(raw.pop("_as_of")) if "_as_of" in raw else None
    source = raw.pop("_source", None)
    return {k: Decimal(v) for k, v in raw.items()}, as_of, source
