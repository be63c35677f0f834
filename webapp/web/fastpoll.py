"""The summary poll's fast path: `204 No Content` after one Redis read, before Flask runs.

Hand-written because no library answers a signed-cookie poll before the framework runs; it is
what keeps the unchanged poll near hello-world speed (bench/RESULTS.md).

Every open dashboard asks `/portfolio/summary?v=<token>` every POLL_SECONDS, and nearly
every answer is "nothing changed". Through Flask that answer would open the session,
load the user from the database (Flask-Login) and run every hook. Here, in front of the
Flask app: the signed session cookie is checked with the app's own serializer, and one
MGET reads the portfolio's version, the last cycle and the user's current session token,
which Redis keeps for this purpose. The token is written through whenever it rotates
(logout, password reset, disabling: any commit that changes it, see `_publish_tokens`),
and a full request that checked it against the database states it again, with a TTL.

Whatever this cannot decide falls through to Flask untouched: no or unknown session,
a session Flask-Login would modify (protection, remember cookie), a token Redis does not
know, malformed htmx headers, Redis unavailable. When the version moved and the
fragment for the new version is cached, it is served from here too (a second read).
"""
from __future__ import annotations

import hashlib
import logging
import os
import time
from functools import cached_property
from typing import Callable, Iterable

import sqlalchemy as sa
from flask import Flask, current_app, has_app_context
from itsdangerous import BadSignature
from redis import exceptions as redis_exceptions
from werkzeug.http import parse_cookie

from webapp.services import cache

log = logging.getLogger(__name__)
PATH = "/portfolio/summary"
ENVIRON_KEY = "folio.poll"  # set by the fast path only; a client cannot put keys into the WSGI environ
CHANGED_TRIGGER = ("HX-Trigger", "portfolio-changed")  # other widgets (the value history) follow the summary
VERIFIED_MAX = 20_000  # sessions remembered per process (a few MB); forgotten all at once when full
_flags = ("HTTP_HX_REQUEST", "HTTP_HX_BOOSTED", "HTTP_HX_HISTORY_RESTORE_REQUEST")


def install(app: Flask) -> None:
    app.wsgi_app = PollFastPath(app, app.wsgi_app)  # type: ignore[method-assign]


def identifier(remote_addr: str | None, forwarded_for: str | None, user_agent: str | None) -> str:
    """Flask-Login's session identifier (`flask_login.utils._create_identifier`), from a WSGI environ.

    The same bytes-in-an-f-string quirk as Flask-Login 0.6.3; a test compares the two.
    """
    address = forwarded_for if forwarded_for is not None else remote_addr
    addr = address.encode("utf-8").split(b",")[0].strip() if address is not None else None
    agent = user_agent.encode("utf-8") if user_agent is not None else None
    return hashlib.sha512(f"{addr}|{agent}".encode("utf8")).hexdigest()


class PollFastPath:
    """WSGI middleware: answers the unchanged poll itself, passes everything else on."""

    def __init__(self, app: Flask, wsgi_app: Callable):
        self.wsgi_app = wsgi_app
        self.serializer = app.session_interface.get_signing_serializer(app)  # type: ignore[attr-defined]
        self.cookie = app.config["SESSION_COOKIE_NAME"]
        self.max_age = int(app.permanent_session_lifetime.total_seconds())
        self.refresh_permanent = app.config["SESSION_REFRESH_EACH_REQUEST"]
        self.protection = app.config.get("SESSION_PROTECTION", app.login_manager.session_protection)  # type: ignore[attr-defined]
        self.redis = app.extensions["folio_redis"]
        self.prefix = app.config["REDIS_PREFIX"]
        self.active = cache.active_key(self.prefix)
        self.touched = cache.touched(app)
        import webapp

        self.htmx_max = getattr(webapp, "HTMX_HEADER_MAX", 2048)
        self.app = app
        self._headers: list[tuple[str, str]] | None = None
        self.metrics = _metrics()
        self._verified: dict[tuple, tuple[int, str, float]] = {}  # see `user`
        self._conn = None  # see `command`

    @property
    def headers(self) -> list[tuple[str, str]]:
        """The headers the app itself puts on this answer (security headers from its
        after-request hooks), learnt once, when the app is complete."""
        if self._headers is None:
            with self.app.test_request_context(PATH):
                resp = self.app.process_response(self.app.make_response(("", 204)))
            keep = {"content-security-policy", "x-content-type-options", "referrer-policy", "x-frame-options",
                    "strict-transport-security", "permissions-policy", "cross-origin-opener-policy"}
            self._headers = [("Vary", "HX-Request, Cookie"), ("Cache-Control", "no-store")] + [
                (k, v) for k, v in resp.headers.items() if k.lower() in keep]
        return self._headers

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") == PATH and environ.get("REQUEST_METHOD") == "GET":
            started = time.perf_counter()
            try:
                answer = self.answer(environ)
            except cache.RedisError:
                answer = None  # Flask says "live updates paused"
            if answer is not None:
                status, extra, body = answer
                headers = self.headers + extra + [("X-Request-ID", _request_id(environ))]
                start_response(status, headers)
                if self.metrics:
                    self.metrics(status[:3], time.perf_counter() - started)
                return [body]
        return self.wsgi_app(environ, start_response)

    def answer(self, environ) -> tuple[str, list, bytes] | None:
        shown = _version_asked(environ.get("QUERY_STRING", ""))
        if not shown or shown == "offline":
            return None
        user = self.user(environ)
        if user is None:
            return None
        uid, token = user
        keys = cache.poll_keys(self.prefix, uid)
        now = time.time()
        # once a minute per user and process: who is looking (pre-rendering), in the same round trip,
        # so before the session check: a signed cookie Redis no longer vouches for may mark its
        # user active for a while, which costs renders of that user's own fragment, and serves nothing
        if cache.touch_due(self.touched, uid, now):
            (v, cycle, known), _ = self.commands(("MGET", keys.version, keys.cycle, keys.session),
                                                 ("ZADD", self.active, now, uid))
        else:
            v, cycle, known = self.command("MGET", keys.version, keys.cycle, keys.session)
        if known is None or known.decode() != token:
            return None  # Flask checks the session against the database (and may end it)
        current = cache.poll_token(v, cycle)
        if current == shown:
            return "204 NO CONTENT", [], b""
        html = self.command("GET", keys.fragment)
        if html:
            cached, _, body = html.partition(b"\n")
            if cached.decode() == current:
                return "200 OK", [("Content-Type", "text/html; charset=utf-8"), CHANGED_TRIGGER,
                                  ("Content-Length", str(len(body)))], body
        # the view renders it: what was checked here need not be asked again (see `PollUser`)
        environ[ENVIRON_KEY] = (uid, token, current)
        return None

    def command(self, *args):
        """One Redis command on this process's own connection: redis-py's client layer (retries,
        instrumentation) costs more than the round trip itself at thousands of polls a second.
        Any failure drops the connection and goes up as a RedisError (Flask answers instead)."""
        return self._send([args], single=True)[0]

    def commands(self, *cmds) -> list:
        """Several commands in one round trip on the same connection."""
        return self._send(list(cmds), single=False)

    def _send(self, cmds: list, single: bool) -> list:
        conn = self._conn
        if conn is None:
            conn = self._conn = self.redis.connection_pool.make_connection()
        try:
            packed = conn.pack_command(*cmds[0]) if single else conn.pack_commands(cmds)
            conn.send_packed_command(packed, check_health=False)
            replies = [conn.read_response() for _ in cmds]
        except BaseException:
            self._conn = None
            conn.disconnect()
            raise
        for reply in replies:
            if isinstance(reply, redis_exceptions.ResponseError):
                raise reply
        return replies

    def user(self, environ) -> tuple[int, str] | None:
        """The (user id, session token) of a session Flask-Login would accept as it is."""
        for name, value in environ.items():  # htmx headers are checked before any view
            if name.startswith("HTTP_HX_") and (
                len(value) > self.htmx_max or not value.isprintable() or (name in _flags and value != "true")
            ):
                return None
        # a browser polls with the same cookie, address and agent every few seconds: what was
        # verified for exactly these bytes is remembered until the cookie's own expiry
        # (the session token is still checked against Redis on every poll)
        seen = (environ.get("HTTP_COOKIE"), environ.get("REMOTE_ADDR"), environ.get("HTTP_X_FORWARDED_FOR"),
                environ.get("HTTP_USER_AGENT"))
        hit = self._verified.get(seen)
        if hit is not None:
            if time.time() < hit[2]:
                return hit[0], hit[1]
            del self._verified[seen]
        found = self._verify(environ)
        if found is not None:
            if len(self._verified) >= VERIFIED_MAX:
                self._verified.clear()
            self._verified[seen] = found
            return found[0], found[1]
        return None

    def _verify(self, environ) -> tuple[int, str, float] | None:
        raw = parse_cookie(environ.get("HTTP_COOKIE", "")).get(self.cookie)
        if not raw:
            return None
        try:
            data, signed_at = self.serializer.loads(raw, max_age=self.max_age, return_timestamp=True)
        except BadSignature:
            return None
        if data.get("_permanent") and self.refresh_permanent:
            return None  # Flask would send the cookie again
        if "_remember" in data:
            return None  # Flask-Login has a remember cookie to set or clear
        if self.protection in ("basic", "strong"):
            ident = identifier(environ.get("REMOTE_ADDR"), environ.get("HTTP_X_FORWARDED_FOR"),
                               environ.get("HTTP_USER_AGENT"))
            if data.get("_id") != ident and (self.protection == "strong" or data.get("_fresh") is not False):
                return None  # Flask-Login would mark the session (or end it)
        uid, _, token = str(data.get("_user_id", "")).partition(":")
        if not uid.isdigit() or not token:
            return None
        return int(uid), token, signed_at.timestamp() + self.max_age


def _version_asked(query: str) -> str | None:
    if query.startswith("v=") and "&" not in query and "%" not in query and "+" not in query:
        return query[2:]
    from urllib.parse import parse_qs

    values = parse_qs(query).get("v")
    return values[-1] if values else None


def _request_id(environ) -> str:
    incoming = environ.get("HTTP_X_REQUEST_ID", "")
    return incoming if 0 < len(incoming) <= 64 and incoming.isprintable() else os.urandom(16).hex()


def _metrics():
    """Count the answers in the request metrics, like every other request (no log line:
    at 100,000 open dashboards these are 10,000 a second)."""
    try:
        from webapp.observability import LATENCY, REQUESTS
    except ImportError:  # pragma: no cover - metrics are optional
        return None
    children: dict = {}  # created at the first answer: a process has samples once it served

    def observe(status: str, seconds: float) -> None:
        counter = children.get(status)
        if counter is None:
            counter = children[status] = REQUESTS.labels("portfolio.summary", "GET", status)
            children.setdefault("latency", LATENCY.labels("portfolio.summary"))
        counter.inc()
        children["latency"].observe(seconds)

    return observe


class PollUser:
    """The user of a poll whose session the fast path has checked against Redis: enough of a
    Flask-Login user for the summary view, without loading the User row again."""

    is_authenticated = True
    is_active = True
    is_anonymous = False

    def __init__(self, user_id: int, session_token: str):
        self.id = user_id
        self.session_token = session_token

    def get_id(self) -> str:
        return f"{self.id}:{self.session_token}"

    @cached_property
    def _locales(self) -> tuple[str | None, str | None]:
        """The language and number format, read only when a changed summary is rendered (a 204 needs neither)."""
        from webapp.extensions import db
        from webapp.models import User

        row = db.session.execute(sa.select(User.language, User.number_locale).where(User.id == self.id)).first()
        return (row[0], row[1]) if row else (None, None)

    @property
    def language(self) -> str | None:
        return self._locales[0]

    @property
    def number_locale(self) -> str | None:
        return self._locales[1]


def poll_user(environ) -> PollUser | None:
    checked = environ.get(ENVIRON_KEY)
    return PollUser(checked[0], checked[1]) if checked else None


# ---- the session token in Redis follows the database ---------------------------------------
def _watch_tokens() -> None:
    from webapp.extensions import db
    from webapp.models import User

    @sa.event.listens_for(User, "after_update")
    def _token_changed(mapper, connection, target) -> None:
        state = sa.inspect(target)
        if any(state.attrs[a].history.has_changes() for a in ("session_token", "is_disabled", "is_admin")):
            session = sa.orm.object_session(target)
            if session is not None:
                allowed = not target.is_disabled
                session.info.setdefault("folio_tokens", {})[target.id] = target.session_token if allowed else None

    @sa.event.listens_for(User, "after_delete")
    def _user_deleted(mapper, connection, target) -> None:
        session = sa.orm.object_session(target)
        if session is not None:
            session.info.setdefault("folio_tokens", {})[target.id] = None

    @sa.event.listens_for(db.session.session_factory.class_, "after_commit")
    def _publish_tokens(session) -> None:
        tokens = session.info.pop("folio_tokens", None)
        if tokens and has_app_context() and "folio_redis" in current_app.extensions:
            try:
                cache.set_session_tokens(tokens)
            except cache.RedisError:  # the TTL bounds how long the poll may trust the old one
                log.warning("could not write %d rotated session token(s) to Redis", len(tokens))

    @sa.event.listens_for(db.session.session_factory.class_, "after_rollback")
    def _forget_tokens(session) -> None:
        session.info.pop("folio_tokens", None)


_watch_tokens()


def forget_sessions(user_ids: Iterable[int]) -> None:
    """For code that changes session tokens without the ORM (a bulk UPDATE): end the poll's trust."""
    cache.set_session_tokens({uid: None for uid in user_ids})
