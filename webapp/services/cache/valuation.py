"""The valuation state behind delta ticks (webapp/services/portfolio/delta.py): which prices
the cached summaries were computed with, and which prices moved since.

  valuation:epoch     text  id of the baseline: set by a full revaluation, dropped when it cannot be trusted
  valuation:valued    hash  symbol -> "price|currency": the price every in-sync summary is computed with
  valuation:dirty     set   symbols whose quote was written since (write_quotes adds them)
  valuation:draining  set   the dirty symbols a running recompute took (merged back if it died)
  valuation:busy      text  a tick is applying deltas; left behind by a dead tick: the baseline is dropped
  valuation:users     hash  user id -> the epoch the user's summary is in sync with (absent: not in sync)
  valuation:sums      hash  user id -> per account and currency sums, for users holding other currencies
"""
from __future__ import annotations

from decimal import Decimal
from typing import NamedTuple, Sequence

from flask import current_app

from webapp.services.cache.core import _chunks, get_redis, key

_BEGIN_TICK = """
local epoch, dirty, draining, busy, valued = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
if redis.call('EXISTS', draining) == 1 then
  redis.call('SUNIONSTORE', dirty, dirty, draining)
  redis.call('DEL', draining)
end
if redis.call('EXISTS', busy) == 1 then
  -- a tick died while applying deltas: some summaries have them, others not
  local lost = redis.call('SMEMBERS', dirty)
  redis.call('DEL', epoch, busy, valued, dirty)
  table.insert(lost, 1, '')
  return lost
end
local current = redis.call('GET', epoch)
if not current then return {''} end
redis.call('SET', busy, ARGV[2])
local out = {current}
if redis.call('EXISTS', dirty) == 1 then
  redis.call('RENAME', dirty, draining)
  for _, s in ipairs(redis.call('SMEMBERS', draining)) do
    local q = redis.call('HMGET', ARGV[1] .. s, 'price', 'currency')
    out[#out + 1] = s .. '|' .. (q[1] or '') .. '|' .. (q[2] or '') .. '|' .. (redis.call('HGET', valued, s) or '')
  end
end
return out
"""
_FINISH_TICK = """
for i = 1, #ARGV, 2 do redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1]) end
redis.call('DEL', KEYS[1], KEYS[2])
return 1
"""
_BEGIN_FULL = """
local dirty, draining = KEYS[1], KEYS[2]
if redis.call('EXISTS', draining) == 1 then
  redis.call('SUNIONSTORE', dirty, dirty, draining)
  redis.call('DEL', draining)
end
if redis.call('EXISTS', dirty) == 1 then redis.call('RENAME', dirty, draining) end
return 1
"""
_DROP = """
if redis.call('EXISTS', KEYS[3]) == 1 then
  redis.call('SUNIONSTORE', KEYS[2], KEYS[2], KEYS[3])
end
redis.call('DEL', KEYS[1], KEYS[3], KEYS[4], KEYS[5])
return 1
"""
_READ_USERS = """
local prefix, out = ARGV[1], {}
local epochs, sums = prefix .. 'valuation:users', prefix .. 'valuation:sums'
for i = 2, #ARGV do
  local uid = ARGV[i]
  out[#out + 1] = (redis.call('GET', prefix .. 'portfolio:' .. uid) or '') .. '\\31' ..
    (redis.call('HGET', epochs, uid) or '') .. '\\31' .. (redis.call('HGET', sums, uid) or '')
end
return table.concat(out, '\\30')
"""


def _keys(*names: str) -> list[str]:
    return [key("valuation", n) for n in names]


class Moved(NamedTuple):
    """A dirty instrument as a tick sees it: its price now and the price it was valued at."""

    price: Decimal | None
    currency: str | None
    valued: Decimal | None
    valued_currency: str | None


class TickStart(NamedTuple):
    epoch: str | None  # None: no baseline to apply deltas to
    moved: dict[str, Moved]  # symbol -> prices (with a baseline); the symbols a dead tick left (without)


def begin_tick(tick_id: str) -> TickStart:
    """Take the dirty symbols (atomically with their current prices) and mark a tick busy."""
    r = get_redis()
    rows = r.eval(_BEGIN_TICK, 5, *_keys("epoch", "dirty", "draining", "busy", "valued"),
                  current_app.config["REDIS_PREFIX"] + "quote:", tick_id)
    epoch = rows[0].decode() or None
    moved: dict[str, Moved] = {}
    for row in rows[1:]:
        if epoch is None:
            moved[row.decode()] = Moved(None, None, None, None)
            continue
        symbol, price, ccy, v_price, v_ccy = (row.decode().split("|") + [""])[:5]
        moved[symbol] = Moved(Decimal(price) if price else None, ccy or None,
                              Decimal(v_price) if v_price else None, v_ccy or None)
    return TickStart(epoch, moved)


def finish_tick(valued: dict[str, tuple[Decimal, str]]) -> None:
    """The moved prices are now the valued ones; the tick is over."""
    args: list[str] = []
    for s, (price, ccy) in valued.items():
        args += (s, f"{format(price, 'f')}|{ccy}")
    get_redis().eval(_FINISH_TICK, 3, *_keys("draining", "busy", "valued"), *args)


def drop_baseline() -> None:
    """Deltas can no longer be trusted (a tick failed halfway): until the next full
    revaluation, ticks recompute their holders in full."""
    get_redis().eval(_DROP, 5, *_keys("epoch", "dirty", "draining", "busy", "valued"))


def begin_full() -> None:
    """A full revaluation takes every dirty symbol: it values them all."""
    get_redis().eval(_BEGIN_FULL, 2, *_keys("dirty", "draining"))


def finish_full(epoch: str, valued: dict[str, tuple[Decimal, str]]) -> None:
    """The new baseline: these are the prices every summary written with `epoch` was computed with."""
    r = get_redis()
    valued_key, = _keys("valued")
    pipe = r.pipeline(transaction=True)
    pipe.delete(valued_key)
    for part in _chunks(list(valued.items()), 5000):
        pipe.hset(valued_key, mapping={s: f"{format(p, 'f')}|{c}" for s, (p, c) in part})
    pipe.set(key("valuation", "epoch"), epoch)
    pipe.delete(*_keys("draining", "busy"))
    pipe.execute()


def read_valued() -> dict[str, tuple[Decimal, str]]:
    out = {}
    for s, v in get_redis().hgetall(key("valuation", "valued")).items():
        price, _, ccy = v.decode().partition("|")
        out[s.decode()] = (Decimal(price), ccy)
    return out


def read_user_states(user_ids: Sequence[int]) -> dict[int, tuple[str, str, str]]:
    """user id -> (summary JSON, epoch, currency sums), '' where Redis has none."""
    r = get_redis()
    prefix = current_app.config["REDIS_PREFIX"]
    out: dict[int, tuple[str, str, str]] = {}
    for part in _chunks(list(user_ids), 5000):  # one string per call: no reply per key to parse
        rows = r.eval(_READ_USERS, 0, prefix, *part).decode().split("\x1e")
        for uid, row in zip(part, rows):
            doc, epoch, sums = row.split("\x1f")
            out[uid] = (doc, epoch, sums)
    return out


def baseline() -> str | None:
    v = get_redis().get(key("valuation", "epoch"))
    return v.decode() if v else None
