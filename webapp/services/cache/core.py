"""Connection, key names and the hot paths: quotes, portfolios, sessions, the poll."""
from __future__ import annotations

import json
import time
from datetime import datetime
from decimal import Decimal
from typing import Iterable, Mapping, NamedTuple, Sequence

import redis
from flask import current_app

from webapp.domain.valuation import AccountRef, Position, PriceInfo, value_portfolio
from webapp.services.cache.scripts import LUA as _LUA

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
def write_quotes(quotes: Mapping[str, PriceInfo], fetched_at: datetime, *, dirty: bool = True) -> None:
    """Cache quotes; `dirty=False`: prices the caller values everybody with (a full revaluation
    healing Redis from the database), not to be applied again as a delta."""
    r = get_redis()
    when = fetched_at.isoformat()
    items = list(quotes.items())
    for part in _chunks(items):
        args: list[str] = []
        for _, q in part:
            prev = "" if q.previous_close is None else format(q.previous_close, "f")
            args += (format(q.price, "f"), q.currency, q.as_of.isoformat(), q.source, when, prev)
        _script(r, "write_quotes")(keys=[key("quote", s) for s, _ in part], args=args + ([] if dirty else ["0"]))


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
    asset type, quantity, cost or None, cost in `currency` or None). The fingerprint goes
    first, where the write script reads it."""
    doc = {
        "currency": currency,
        "accounts": [[a.id, a.name] for a in accounts],
        "holdings": [[h, a, i, s, t, format(q, "f"), _text(c), _text(b)] for h, a, i, s, t, q, c, b in holdings],
    }
    return fingerprint + "\n" + json.dumps(doc, separators=(",", ":"))


def _text(amount: Decimal | None) -> str | None:
    return None if amount is None else format(amount, "f")


def _number(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def decode_positions(raw: bytes) -> Positions:
    doc = json.loads(raw[raw.index(b"\n") + 1 :])
    instruments = {}
    positions = []
    # documents cached before costs have 6 fields, before base costs 7
    for h, a, i, s, t, q, *rest in doc["holdings"]:
        cost, base_cost = (rest + [None, None])[:2]
        positions.append(Position(h, a, s, t, Decimal(q), _number(cost), _number(base_cost)))
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
    return _live(_script(r, "read_live")(
        keys=[key("portfolio", user_id, "positions"), key("portfolio", user_id, "v"), key("cycle")],
        args=[prefix + "quote:"]))


def read_live_many(user_ids: Sequence[int]) -> dict[int, tuple[Positions | None, dict[str, PriceInfo], str]]:
    """`read_live` of several users in one round trip (a pipeline of the same script)."""
    r = get_redis()
    prefix = current_app.config["REDIS_PREFIX"]
    pipe = r.pipeline(transaction=False)
    script = _script(r, "read_live")
    for uid in user_ids:
        script(keys=[key("portfolio", uid, "positions"), key("portfolio", uid, "v"), key("cycle")],
               args=[prefix + "quote:"], client=pipe)
    return {uid: _live(reply) for uid, reply in zip(user_ids, pipe.execute())}


def _live(reply) -> tuple[Positions | None, dict[str, PriceInfo], str]:
    raw, v, cycle, *rows = reply
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


def read_summaries(user_ids: Sequence[int]) -> dict[int, str]:
    """The cached summaries (`PortfolioWrite.summary` JSON) of these users, those Redis has: MGET by chunk."""
    r = get_redis()
    out: dict[int, str] = {}
    for part in _chunks(list(user_ids), 5000):
        for uid, raw in zip(part, r.mget([key("portfolio", u) for u in part])):
            if raw:
                out[uid] = raw.decode()
    return out


class PortfolioWrite(NamedTuple):
    """One user's share of `write_portfolios`."""

    summary: str  # Summary.to_json(fingerprint): canonical; starts with the total, ends with the fingerprint
    snapshot_worthy: bool  # fully priced: a snapshot is due if the total moved
    fingerprint: str  # positions_fingerprint(...) of the holdings the summary was computed from
    positions: str | None  # encode_positions(...), or None to leave the cached positions alone
    # the valuation epoch the summary is in sync with (webapp/services/portfolio/delta.py);
    # None: computed from other prices than the valued ones (a page, an edit)
    epoch: str | None = None
    expect: str | None = None  # write only if the user's epoch is still this one
    sums: str = ""  # per account and currency (domain.summary.encode_currency_sums): '' = base only


# write_portfolios statuses (low two bits), plus POSITIONS_STALE; CONFLICT alone: not written
UNCHANGED, CHANGED, SNAPSHOT, SNAPSHOT_IF_NEW = 0, 1, 2, 3
POSITIONS_STALE = 4
CONFLICT = 8


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
            f"\x1f{e.epoch or ''}\x1f{e.expect or ''}\x1f{e.sums}"
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


def touch_portfolios(user_ids: Iterable[int]) -> None:
    """A new version for these users although their values did not move (something else on the
    summary did): their next poll renders it."""
    pipe = get_redis().pipeline(transaction=False)
    for uid in user_ids:
        pipe.set(key("portfolio", uid, "v"), new_version())
        pipe.delete(key("portfolio", uid, "html"))
    pipe.execute()


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
