"""A local HTTP server that replays canned provider answers, so adapter tests use real HTTP.

    with ReplayServer() as server:
        server.route("/v8/finance/chart/AAPL", body=payloads.yahoo_chart("AAPL", "182.65"))
        server.route("/q/l/", status=500, times=1)        # first a 500 ...
        server.route("/q/l/", body=csv_text)              # ... then the CSV, for good
        server.handle("/iex/", lambda path, query, headers: (200, {}, "[]"))
        provider = SomeProvider(base_url=server.url, timeout=0.3, backoff=0.01)
        ...
        path, query, headers = server.requests[0]

How a request finds its answer (the path is matched without its query string; a route
path ending in ``*`` matches by prefix; ``query`` narrows a route to requests whose
query string holds those values):

1. one-shot answers (``times=n``, or ``queue``) in the order registered, each used n times;
2. otherwise a persistent route (``times=None``): the one with the most ``query`` keys
   matched, and among those the newest, so a test may re-route a path;
3. otherwise ``418`` with a body naming the path, recorded in ``unmatched`` — a status no
   adapter retries or reads as "unknown symbol", so a forgotten route cannot pass a test.

Answers with ``delay`` sleep before answering; closing the server wakes them at once.
Bound to 127.0.0.1 on a free port; nothing here ever reaches another host.
"""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterator, Mapping
from urllib.parse import parse_qsl, unquote, urlsplit

import pytest

# (path, query, headers) -> (status, headers, body)
Handler = Callable[[str, dict, "Headers"], "tuple[int, Mapping[str, str] | None, Any]"]

UNMATCHED_STATUS = 418


class Headers(dict):
    """Request headers, looked up case-insensitively (`headers["authorization"]`)."""

    def __init__(self, items: Any = ()) -> None:
        super().__init__()
        for k, v in dict(items).items():
            self[k] = v

    def __setitem__(self, key: str, value: str) -> None:
        super().__setitem__(key.lower(), value)

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key.lower())

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and super().__contains__(key.lower())

    def get(self, key: str, default: Any = None) -> Any:
        return super().get(key.lower(), default)


@dataclass
class RecordedRequest:
    """One request received. Unpacks as ``path, query, headers``."""

    path: str  # percent-decoded, without the query string
    query: dict[str, str]  # decoded, last value wins; a bare flag like `h` maps to ""
    headers: Headers
    raw_query: str = ""  # exactly as sent, e.g. "s=aapl.us+msft.us&f=sd2t2ohlcv&h&e=csv"
    method: str = "GET"
    raw_path: str = ""  # the path as sent, still percent-encoded

    def __iter__(self) -> Iterator[Any]:
        return iter((self.path, self.query, self.headers))

    def __getitem__(self, index: int) -> Any:
        return (self.path, self.query, self.headers)[index]

    def __len__(self) -> int:
        return 3


@dataclass
class Route:
    path: str
    status: int = 200
    body: Any = ""
    headers: Mapping[str, str] | None = None
    delay: float = 0.0
    content_type: str | None = None
    query: Mapping[str, str] | None = None
    times: int | None = None  # None: answers for good; n: the next n matching requests
    handler: Handler | None = None
    hits: int = field(default=0)

    def matches(self, path: str, query: Mapping[str, str]) -> bool:
        if self.path.endswith("*"):
            if not path.startswith(self.path[:-1]):
                return False
        elif path != self.path:
            return False
        return all(query.get(k) == str(v) for k, v in (self.query or {}).items())

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.hits >= self.times


def encode_body(body: Any, content_type: str | None) -> tuple[bytes, str]:
    """Bytes and a content type for a body given as bytes, str, or JSON-able data."""
    if body is None:
        return b"", content_type or "text/plain; charset=utf-8"
    if isinstance(body, bytes):
        return body, content_type or "text/plain; charset=utf-8"
    if isinstance(body, str):
        return body.encode("utf-8"), content_type or "text/plain; charset=utf-8"
    return to_json(body).encode("utf-8"), content_type or "application/json"


def to_json(data: Any) -> str:
    """JSON text in which a `Decimal` is written as the exact number it holds."""
    marks: dict[str, str] = {}

    def default(obj: Any) -> Any:
        if isinstance(obj, Decimal):
            key = f"@@decimal{len(marks)}@@"
            marks[key] = str(obj)
            return key
        raise TypeError(f"{type(obj).__name__} is not JSON serializable")

    text = json.dumps(data, default=default)
    for key, number in marks.items():
        text = text.replace(f'"{key}"', number)
    return text


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    replay: "ReplayServer"

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (a timeout test) closes its socket: not worth a traceback.
        import sys

        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


class _RequestHandler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.0"  # one request per connection: nothing lingers at shutdown

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        self._answer(send_body=True)

    def do_HEAD(self) -> None:  # noqa: N802
        self._answer(send_body=False)

    def _answer(self, *, send_body: bool) -> None:
        parts = urlsplit(self.path)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        recorded = RecordedRequest(
            path=unquote(parts.path),
            query=query,
            headers=Headers(self.headers.items()),
            raw_query=parts.query,
            method=self.command,
            raw_path=parts.path,
        )
        status, headers, body, content_type = self.server.replay._respond(recorded)
        data, ctype = encode_body(body, content_type)
        if status in (204, 304) or 100 <= status < 200:
            data = b""
        try:
            self.send_response(status)
            sent = {k.lower() for k in (headers or {})}
            if "content-type" not in sent and data:
                self.send_header("Content-Type", ctype)
            for k, v in (headers or {}).items():
                self.send_header(k, str(v))
            if "content-length" not in sent:
                self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if send_body and data:
                self.wfile.write(data)
        except (ConnectionError, TimeoutError):
            pass  # the client gave up first (timeout tests)


class ReplayServer:
    """Serve canned answers on http://127.0.0.1:<free port> from a background thread."""

    def __init__(self) -> None:
        self.routes: list[Route] = []
        self.requests: list[RecordedRequest] = []
        self.unmatched: list[RecordedRequest] = []
        self.errors: list[str] = []  # handlers that raised
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # ---- life cycle --------------------------------------------------------------
    def start(self) -> "ReplayServer":
        if self._server is not None:
            return self
        self._closing.clear()
        self._server = _Server(("127.0.0.1", 0), _RequestHandler)
        self._server.replay = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, name="replay-server", daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        if self._server is None:
            return
        self._closing.set()  # wake answers still sleeping on their delay
        self._server.shutdown()
        self._server.server_close()  # joins the request threads
        assert self._thread is not None
        self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> "ReplayServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the replay server is not started")
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # ---- answers -----------------------------------------------------------------
    def route(
        self,
        path: str,
        status: int = 200,
        body: Any = "",
        headers: Mapping[str, str] | None = None,
        delay: float = 0.0,
        content_type: str | None = None,
        *,
        query: Mapping[str, str] | None = None,
        times: int | None = None,
        handler: Handler | None = None,
    ) -> Route:
        """Answer requests for `path` (see the module docstring for the matching order).

        `body` may be bytes, str (sent as text/plain) or JSON-able data (sent as
        application/json, with Decimals written exactly); `content_type` overrides.
        """
        r = Route(path, status, body, headers, delay, content_type, query, times, handler)
        with self._lock:
            self.routes.append(r)
        return r

    def handle(
        self,
        path: str,
        handler: Handler,
        *,
        query: Mapping[str, str] | None = None,
        times: int | None = None,
        delay: float = 0.0,
    ) -> Route:
        """Answer with `handler(path, query, headers) -> (status, headers, body)`."""
        return self.route(path, query=query, times=times, handler=handler, delay=delay)

    def queue(self, path: str, *answers: Mapping[str, Any] | int) -> list[Route]:
        """One-shot answers for `path`, used in this order: ``queue(p, 500, 500, {"body": ok})``.

        Each answer is a status or a dict of `route` arguments. Once all are used the
        path falls back to its persistent route, if any.
        """
        routes = []
        for a in answers:
            kw = {"status": a} if isinstance(a, int) else dict(a)
            kw.setdefault("times", 1)
            routes.append(self.route(path, **kw))
        return routes

    def reset(self) -> None:
        with self._lock:
            self.routes.clear()
            self.requests.clear()
            self.unmatched.clear()
            self.errors.clear()

    # ---- inspection --------------------------------------------------------------
    def requests_to(self, path: str) -> list[RecordedRequest]:
        return [r for r in list(self.requests) if r.path == path]

    @property
    def paths(self) -> list[str]:
        return [r.path for r in list(self.requests)]

    # ---- serving -----------------------------------------------------------------
    def _pick(self, req: RecordedRequest) -> Route | None:
        with self._lock:
            self.requests.append(req)
            for r in self.routes:
                if r.times is not None and not r.exhausted and r.matches(req.path, req.query):
                    r.hits += 1
                    return r
            persistent = [
                (len(r.query or {}), n, r)
                for n, r in enumerate(self.routes)
                if r.times is None and r.matches(req.path, req.query)
            ]
            if persistent:
                r = max(persistent, key=lambda t: t[:2])[2]
                r.hits += 1
                return r
            self.unmatched.append(req)
            return None

    def _respond(self, req: RecordedRequest) -> tuple[int, Mapping[str, str] | None, Any, str | None]:
        route = self._pick(req)
        if route is None:
            return UNMATCHED_STATUS, None, f"replay: no route for {req.path}", None
        if route.delay:
            self._closing.wait(route.delay)
        if route.handler is not None:
            try:
                status, headers, body = route.handler(req.path, dict(req.query), req.headers)
            except Exception as exc:  # a broken test handler: recorded, and fails the fixture
                self.errors.append(f"{req.path}: {type(exc).__name__}: {exc}")
                return UNMATCHED_STATUS, None, f"replay handler failed: {exc}", None
            return status, headers, body, route.content_type
        return route.status, route.headers, route.body, route.content_type


@pytest.fixture(name="replay")
def replay_fixture() -> Iterator[ReplayServer]:
    """A started ReplayServer, closed after the test; fails the test if a handler raised.

    Import it where conftest files may be off (``--noconftest``):
    ``from replay import replay_fixture  # noqa: F401``.
    """
    with ReplayServer() as server:
        yield server
        assert not server.errors, f"replay handlers raised: {server.errors}"
