"""The live cache in Redis. The only module that knows Redis key names.

Redis is a cache: every value here can be rebuilt from the database.
Keys (under the configurable prefix):
  quote:{SYMBOL}                hash  price, currency, as_of, source, fetched_at
  portfolio:{user_id}           JSON  the Summary of the last valuation (totals and counts)
  portfolio:{user_id}:positions text  fingerprint, newline, JSON: the accounts and holdings a page values
  portfolio:{user_id}:v         text  version, changes only when the valuation changes
  portfolio:{user_id}:html      text  token, newline, HTML: the summary fragment rendered for that token
  session:{user_id}             text  the user's current session token (the poll's login check)
  snapshots:pending             hash  snapshot rows decided but not yet known to be in the database
  cycle                         text  id of the last finished refresh cycle
  cycle:last                    hash  stats of the last refresh cycle
  lock:cycle                    text  held while a refresh cycle runs
  provider:{name}               hash  health: failures, open_until, last_success, last_error

Bulk reads and writes go through Lua scripts: one round trip, and no per-key reply
for redis-py to parse (a pipeline of 10,000 HGETALLs costs about a second in Python).
"""
from __future__ import annotations

import json
import time
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Iterable, Mapping, NamedTuple, Sequence

import redis
from flask import current_app

from pricing_providers.base import ProviderError, RateLimit, RateLimited
from webapp.domain.valuation import AccountRef, Position, PriceInfo, value_portfolio

RedisError = redis.RedisError
# A valid session seen by a full request is trusted by the poll for this long at most, even
# if a token rotation could not be written through (it normally is, at once).
SESSION_TTL = 300
FRAGMENT_TTL = 900
SCRIPT_CHUNK = 2000  # keys per Lua call: long scripts block Redis for other clients


def connect(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5, health_check_interval=30)


def get_redis() -> redis.Redis:
    return current_app.extensions["folio_redis"]


def key(*parts: object) -> str:
    return current_app.config["REDIS_PREFIX"] + ":".join(str(p) for p in parts)


def new_version() -> str:
    """Unique across Redis restarts, so a flushed cache never repeats a version."""
    return f"{time.time_ns():x}"


_scripts: dict[tuple[int, str], object] = {}


def _script(r: redis.Redis, name: str):
    """A registered Lua script (EVALSHA, reloaded by redis-py when Redis lost it)."""
    s = _scripts.get((id(r), name))
    if s is None:
        s = _scripts[(id(r), name)] = r.register_script(_LUA[name])
    return s


def _chunks(seq: Sequence, size: int = SCRIPT_CHUNK):
    for start in range(0, len(seq), size):
        yield seq[start : start + size]


# ---- quotes ----------------------------------------------------------------------------
def write_quotes(quotes: Mapping[str, PriceInfo], fetched_at: datetime) -> None:
    r = get_redis()
    when = fetched_at.isoformat()
    items = list(quotes.items())
    for part in _chunks(items):
        args: list[str] = []
        for _, q in part:
            prev = "" if q.previous_close is None else format(q.previous_close, "f")
            args += (format(q.price, "f"), q.currency, q.as_of.isoformat(), q.source, when, prev)
        _script(r, "write_quotes")(keys=[key("quote", s) for s, _ in part], args=args)


def read_quotes(symbols: Iterable[str]) -> dict[str, PriceInfo]:
    symbols = list(symbols)
    out: dict[str, PriceInfo] = {}
    r = get_redis()
    parse_time = datetime.fromisoformat
    for part in _chunks(symbols, 5000):
        for s, row in zip(part, _script(r, "read_quotes")(keys=[key("quote", s) for s in part])):
            if row:
                price, ccy, as_of, source, prev = row.decode().split("|", 4)
                out[s] = PriceInfo(price=Decimal(price), currency=ccy, as_of=parse_time(as_of), source=source,
                                   previous_close=Decimal(prev) if prev else None)
    return out


def read_prices(symbols: Sequence[str]) -> dict[str, tuple[Decimal, str]]:
    """symbol -> (price, currency) of the cached quotes: what a recompute needs, nothing more."""
    out: dict[str, tuple[Decimal, str]] = {}
    r = get_redis()
    for part in _chunks(list(symbols), 5000):
        raw = _script(r, "read_prices")(keys=[key("quote", s) for s in part])
        for s, row in zip(part, raw.decode().split("\n")):
            if row:
                price, _, ccy = row.partition("|")
                out[s] = (Decimal(price), ccy)
    return out


# ---- portfolios ------------------------------------------------------------------------
def _token(v: bytes | None, cycle: bytes | None) -> str:
    return f"{(v or b'0').decode()}.{(cycle or b'0').decode()}"


def read_token(user_id: int) -> str:
    """The version a browser shows: portfolio version + last cycle, in one round trip."""
    v, cycle = get_redis().mget(key("portfolio", user_id, "v"), key("cycle"))
    return _token(v, cycle)


class Positions(NamedTuple):
    """A user's accounts and holdings as cached: what a page needs besides the quotes."""

    currency: str
    accounts: list[AccountRef]
    positions: list[Position]
    instruments: dict[str, int]  # symbol -> instrument id


def encode_positions(fingerprint: str, currency: str, accounts: Iterable[AccountRef],
                     holdings: Iterable[tuple]) -> str:
    """The cached document: holdings are (holding id, account id, instrument id, symbol,
    asset type, quantity, cost or None). The fingerprint goes first, where the write script reads it."""
    doc = {
        "currency": currency,
        "accounts": [[a.id, a.name] for a in accounts],
        "holdings": [[h, a, i, s, t, format(q, "f"), None if c is None else format(c, "f")]
                     for h, a, i, s, t, q, c in holdings],
    }
    return fingerprint + "\n" + json.dumps(doc, separators=(",", ":"))


def decode_positions(raw: bytes) -> Positions:
    doc = json.loads(raw[raw.index(b"\n") + 1 :])
    instruments = {}
    positions = []
    for h, a, i, s, t, q, *rest in doc["holdings"]:  # documents cached before costs have 6 fields
        cost = rest[0] if rest else None
        positions.append(Position(h, a, s, t, Decimal(q), None if cost is None else Decimal(cost)))
        instruments[s] = i
    return Positions(doc["currency"], [AccountRef(a, n) for a, n in doc["accounts"]], positions, instruments)


def read_positions(user_id: int) -> tuple[Positions | None, str]:
    """The cached positions of a user (None when Redis has none) and the current token."""
    raw, v, cycle = get_redis().mget(key("portfolio", user_id, "positions"), key("portfolio", user_id, "v"),
                                     key("cycle"))
    return (decode_positions(raw) if raw else None), _token(v, cycle)


def read_live(user_id: int) -> tuple[Positions | None, dict[str, PriceInfo], str]:
    """What a page values, in one round trip: the cached positions, the cached quote of each
    of their instruments, and the current token. (None, {}, token) when Redis has no positions."""
    r = get_redis()
    prefix = current_app.config["REDIS_PREFIX"]
    raw, v, cycle, *rows = _script(r, "read_live")(
        keys=[key("portfolio", user_id, "positions"), key("portfolio", user_id, "v"), key("cycle")],
        args=[prefix + "quote:"])
    token = _token(v or None, cycle or None)
    if not raw:
        return None, {}, token
    quotes = {}
    parse_time = datetime.fromisoformat
    for row in rows:
        symbol, price, ccy, as_of, source, prev = row.decode().split("|", 5)
        quotes[symbol] = PriceInfo(price=Decimal(price), currency=ccy, as_of=parse_time(as_of), source=source,
                                   previous_close=Decimal(prev) if prev else None)
    return decode_positions(raw), quotes, token


def read_portfolio(user_id: int) -> tuple[bytes | None, str]:
    """The user's valuation as JSON, from the cache alone (positions and quotes), and its token.

    None when Redis has no positions for the user: the caller rebuilds them from the database.
    """
    pos, token = read_positions(user_id)
    if pos is None:
        return None, token
    from webapp.services.pricing.quotes import rates_if_needed

    quotes = read_quotes(pos.instruments)
    v = value_portfolio(pos.accounts, pos.positions, quotes, pos.currency, rates_if_needed((pos.currency,), quotes.values()))
    return v.to_json().encode(), token


class PortfolioWrite(NamedTuple):
    """One user's share of `write_portfolios`."""

    summary: str  # Summary.to_json(fingerprint): canonical; starts with the total, ends with the fingerprint
    snapshot_worthy: bool  # fully priced: a snapshot is due if the total moved
    fingerprint: str  # positions_fingerprint(...) of the holdings the summary was computed from
    positions: str | None  # encode_positions(...), or None to leave the cached positions alone


# write_portfolios statuses (low two bits), plus POSITIONS_STALE
UNCHANGED, CHANGED, SNAPSHOT, SNAPSHOT_IF_NEW = 0, 1, 2, 3
POSITIONS_STALE = 4


def write_portfolios(entries: Mapping[int, PortfolioWrite], snapshot_as_of: str) -> tuple[dict[int, int], list[str]]:
    """Store summaries (and positions where given); bump the version of each changed user.

    Atomic per call (a Lua script): of two workers writing the same new summary only
    one sees a change. When a fully priced total moved, the summary is also recorded
    under `snapshots:pending` in the same step, so a worker killed before its database
    insert leaves the snapshot to the next recompute instead of losing it.

    Positions are checked, not rewritten, when not given: the start of the cached
    document is compared with the fingerprint of the holdings just summed; if they are
    missing or behind an edit they are dropped (a page then rebuilds them from the
    database) and the user is reported POSITIONS_STALE.

    Returns ({user id: status}, the pending fields written). A status is UNCHANGED,
    CHANGED, SNAPSHOT (a snapshot is due), SNAPSHOT_IF_NEW (due, but Redis knew no
    earlier total: insert it only if the last snapshot differs), plus POSITIONS_STALE.

    The users' records travel as one string per call, split by the script: a million
    separate arguments would cost seconds to encode in redis-py. The script derives the
    key names from the prefix (one Redis, not a cluster).
    """
    if not entries:
        return {}, []
    r = get_redis()
    prefix, version = current_app.config["REDIS_PREFIX"], new_version()
    out: dict[int, int] = {}
    fields: list[str] = []
    for n, part in enumerate(_chunks(list(entries.items()), SCRIPT_CHUNK)):
        payload = "\x1e".join(
            f"{uid}\x1f{e.summary}\x1f{'1' if e.snapshot_worthy else '0'}\x1f{e.fingerprint}\x1f{e.positions or ''}"
            for uid, e in part
        )
        field = f"{snapshot_as_of}|{version}|{n}"
        statuses = [c - 48 for c in _script(r, "write_portfolios")(keys=[], args=[prefix, version, field, payload])]
        out.update(zip((uid for uid, _ in part), statuses))  # b"0".."7" -> 0..7
        if any(st & 2 for st in statuses):
            fields.append(field)
    return out, fields


def pending_snapshots() -> dict[str, list[tuple[int, str, bool]]]:
    """field ("as_of|version|n") -> [(user id, summary JSON, only if new)] left by a recompute."""
    out = {}
    for field, rows in get_redis().hgetall(key("snapshots", "pending")).items():
        parsed = []
        for rec in rows.decode().split("\x1e"):
            uid, kind, summary = rec.split("\x1f")
            parsed.append((int(uid), summary, kind == "check"))
        out[field.decode()] = parsed
    return out


def clear_pending_snapshots(fields: Iterable[str]) -> None:
    fields = list(fields)
    if fields:
        get_redis().hdel(key("snapshots", "pending"), *fields)


def forget_portfolio(user_id: int) -> None:
    get_redis().delete(key("portfolio", user_id), key("portfolio", user_id, "positions"),
                       key("portfolio", user_id, "html"))


# ---- the summary fragment and the poll -------------------------------------------------
def read_fragment(user_id: int, session_token: str | None = None) -> tuple[str, str | None]:
    """The current token, and the fragment rendered for exactly that token if cached.

    With `session_token`, also (re)states the user's session token for the poll's fast
    path: only if none is cached (NX), so a rotation written meanwhile is never undone.
    """
    r = get_redis()
    pipe = r.pipeline(transaction=False)
    pipe.mget(key("portfolio", user_id, "v"), key("cycle"), key("portfolio", user_id, "html"))
    if session_token:
        pipe.set(key("session", user_id), session_token, nx=True, ex=SESSION_TTL)
    (v, cycle, html), *_ = pipe.execute()
    token = _token(v, cycle)
    if html:
        cached_token, _, body = html.decode().partition("\n")
        if cached_token == token:
            return token, body
    return token, None


def store_fragment(user_id: int, token: str, html: str) -> None:
    get_redis().set(key("portfolio", user_id, "html"), f"{token}\n{html}", ex=FRAGMENT_TTL)


def remember_session(user_id: int, session_token: str) -> None:
    get_redis().set(key("session", user_id), session_token, nx=True, ex=SESSION_TTL)


def set_session_tokens(tokens: Mapping[int, str | None]) -> None:
    """Write through a rotated session token (None: the user may not poll at all)."""
    pipe = get_redis().pipeline(transaction=False)
    for uid, token in tokens.items():
        if token is None:
            pipe.delete(key("session", uid))
        else:
            pipe.set(key("session", uid), token, ex=SESSION_TTL)
    pipe.execute()


class PollKeys(NamedTuple):
    """Key names for the poll's fast path, which runs before Flask and has no app context."""

    version: bytes
    cycle: bytes
    session: bytes
    fragment: bytes


def poll_keys(prefix: str, user_id: int) -> PollKeys:
    p = f"{prefix}portfolio:{user_id}:"
    return PollKeys(f"{p}v".encode(), f"{prefix}cycle".encode(), f"{prefix}session:{user_id}".encode(),
                    f"{p}html".encode())


def poll_token(v: bytes | None, cycle: bytes | None) -> str:
    return _token(v, cycle)


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


# ---- Lua -------------------------------------------------------------------------------
_LUA = {
    "write_quotes": """
for i, k in ipairs(KEYS) do
  local a = (i - 1) * 6
  redis.call('HSET', k, 'price', ARGV[a + 1], 'currency', ARGV[a + 2], 'as_of', ARGV[a + 3],
             'source', ARGV[a + 4], 'fetched_at', ARGV[a + 5], 'prev', ARGV[a + 6])
end
return #KEYS
""",
    "read_quotes": """
local out = {}
for i, k in ipairs(KEYS) do
  local v = redis.call('HMGET', k, 'price', 'currency', 'as_of', 'source', 'prev')
  if v[1] and v[2] and v[3] and v[4] then
    out[i] = v[1] .. '|' .. v[2] .. '|' .. v[3] .. '|' .. v[4] .. '|' .. (v[5] or '')
  else
    out[i] = false
  end
end
return out
""",
    # KEYS: positions, version, cycle; ARGV: the quote key prefix. Returns the three values,
    # then "symbol|price|currency|as_of|source" for each cached quote of the positions.
    "read_live": """
local pos = redis.call('GET', KEYS[1])
local out = {pos, redis.call('GET', KEYS[2]), redis.call('GET', KEYS[3])}
if not pos then return out end
local doc = cjson.decode(string.sub(pos, string.find(pos, '\\n', 1, true) + 1))
local seen = {}
for _, h in ipairs(doc.holdings) do
  local symbol = h[4]
  if not seen[symbol] then
    seen[symbol] = true
    local q = redis.call('HMGET', ARGV[1] .. symbol, 'price', 'currency', 'as_of', 'source', 'prev')
    if q[1] and q[2] and q[3] and q[4] then
      out[#out + 1] = symbol .. '|' .. q[1] .. '|' .. q[2] .. '|' .. q[3] .. '|' .. q[4] .. '|' .. (q[5] or '')
    end
  end
end
return out
""",
    "read_prices": """
local out = {}
for i, k in ipairs(KEYS) do
  local v = redis.call('HMGET', k, 'price', 'currency')
  out[i] = (v[1] and v[2]) and (v[1] .. '|' .. v[2]) or ''
end
return table.concat(out, '\\n')
""",
    # ARGV: prefix, version, pending field, records. A record: id, summary, worthy, fingerprint,
    # positions ('' = keep), split by \x1f; records by \x1e. Returns one status digit per
    # record; the summaries whose snapshot is due go under the pending field.
    "write_portfolios": """
local prefix, version, field, data = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local out, due = {}, {}
for uid, summary, worthy, fp, positions in
    string.gmatch(data, '([^\\31\\30]*)\\31([^\\31]*)\\31([^\\31]*)\\31([^\\31]*)\\31([^\\30]*)') do
  local base = prefix .. 'portfolio:' .. uid
  local status = 0
  local old = redis.call('GET', base)
  if old ~= summary then
    redis.call('SET', base, summary)
    status = 1
    if worthy == '1' then
      -- no earlier summary, or one that was not fully priced: Redis cannot tell whether the
      -- total moved since the last snapshot; the database can ("check")
      if not old or string.match(old, '"pending":(%d+)') ~= '0' or string.match(old, '"holdings":(%d+)') == '0' then
        status = 3
        due[#due + 1] = uid .. '\\31check\\31' .. summary
      elseif string.match(old, '^{"total":"([^"]*)"') ~= string.match(summary, '^{"total":"([^"]*)"') then
        status = 2
        due[#due + 1] = uid .. '\\31new\\31' .. summary
      end
    end
  end
  if positions ~= '' then
    if redis.call('GET', base .. ':positions') ~= positions then
      redis.call('SET', base .. ':positions', positions)
      if status == 0 then status = 1 end
    end
  elseif redis.call('GETRANGE', base .. ':positions', 0, #fp) ~= fp .. '\\n' then
    redis.call('DEL', base .. ':positions')
    status = status + 4
  end
  if status % 4 ~= 0 then redis.call('SET', base .. ':v', version) end
  out[#out + 1] = tostring(status)
end
if #due > 0 then redis.call('HSET', prefix .. 'snapshots:pending', field, table.concat(due, '\\30')) end
return table.concat(out)
""",
}
