"""A small HTTP/1.1 reverse proxy and load balancer for the cluster run (asyncio, no dependency).

    python -m bench.cluster.proxy PORT BACKEND_URL [BACKEND_URL ...]

Clients keep their connections alive; each request goes to the next backend in turn (gunicorn's
sync workers close every connection, so each forwarded request opens one). A backend that
refuses or drops a connection is left out for a few seconds, and an idempotent request (GET,
HEAD, OPTIONS) whose response was not received in full is sent to the next backend, as HTTP
allows (RFC 9110 §9.2.2); anything else answers 502. `GET /_proxy/stats` gives the counts.
Bound to 127.0.0.1 only.
"""
from __future__ import annotations

import asyncio
import json
import sys
import time
from urllib.parse import urlsplit

IDEMPOTENT = {"GET", "HEAD", "OPTIONS"}
DOWN_SECONDS = 5.0
HOP = {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"}


class Backend:
    def __init__(self, url: str):
        parts = urlsplit(url)
        self.url, self.host, self.port = url, parts.hostname, parts.port
        self.down_until = 0.0
        self.served = 0
        self.failures = 0


class Proxy:
    def __init__(self, backends: list[str]):
        self.backends = [Backend(u) for u in backends]
        self.turn = 0
        self.stats = {"requests": 0, "retried": 0, "bad_gateway": 0, "statuses": {}}

    def order(self) -> list[Backend]:
        """Every backend once, starting at the next in turn; those marked down go last."""
        self.turn = (self.turn + 1) % len(self.backends)
        ring = self.backends[self.turn:] + self.backends[:self.turn]
        now = time.monotonic()
        return [b for b in ring if b.down_until <= now] + [b for b in ring if b.down_until > now]

    async def forward(self, backend: Backend, head: bytes, body: bytes) -> bytes:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(backend.host, backend.port), 5)
        try:
            writer.write(head + body)
            await writer.drain()
            status_and_headers = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
            length = _content_length(status_and_headers)
            if length is not None:
                payload = await asyncio.wait_for(reader.readexactly(length), 30)
            else:  # no length: the body runs to the end of the connection
                payload = await asyncio.wait_for(reader.read(), 30)
            return status_and_headers + payload
        finally:
            writer.close()

    async def handle(self, method: str, target: str, headers: list[tuple[str, str]], body: bytes) -> bytes:
        self.stats["requests"] += 1
        if target == "/_proxy/stats":
            data = dict(self.stats, backends={b.url: {"served": b.served, "failures": b.failures}
                                              for b in self.backends})
            return _response(200, json.dumps(data).encode(), "application/json")
        lines = [f"{method} {target} HTTP/1.1"]
        lines += [f"{k}: {v}" for k, v in headers if k.lower() not in HOP]
        lines += ["Connection: close", "X-Forwarded-For: 127.0.0.1", "", ""]
        head = "\r\n".join(lines).encode("latin-1")
        for attempt, backend in enumerate(self.order()):
            if attempt:
                self.stats["retried"] += 1
            try:
                raw = await self.forward(backend, head, body)
            except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, asyncio.LimitOverrunError):
                backend.failures += 1
                backend.down_until = time.monotonic() + DOWN_SECONDS
                if method not in IDEMPOTENT:
                    break
                continue
            backend.served += 1
            status = raw[9:12].decode()
            self.stats["statuses"][status] = self.stats["statuses"].get(status, 0) + 1
            return _keep_alive(raw)
        self.stats["bad_gateway"] += 1
        return _response(502, b"no backend answered\n", "text/plain")

    async def client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                request_line, *header_lines = head.decode("latin-1").split("\r\n")
                method, target, _ = request_line.split(" ", 2)
                headers = [tuple(h.split(":", 1)) for h in header_lines if ":" in h]
                headers = [(k.strip(), v.strip()) for k, v in headers]
                length = next((int(v) for k, v in headers if k.lower() == "content-length"), 0)
                body = await reader.readexactly(length) if length else b""
                writer.write(await self.handle(method, target, headers, body))
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            writer.close()


def _content_length(head: bytes) -> int | None:
    status = int(head[9:12])
    if status in (204, 304) or 100 <= status < 200:
        return 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value.strip())
    return None


def _keep_alive(raw: bytes) -> bytes:
    """The backend's answer with a length and without its `Connection: close`, for a kept-alive client."""
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = [ln for ln in head.split(b"\r\n")
             if ln.split(b":", 1)[0].strip().lower() not in (b"connection", b"content-length", b"transfer-encoding")]
    status = int(head[9:12])
    if status not in (204, 304):
        lines.append(b"Content-Length: " + str(len(body)).encode())
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def _response(status: int, body: bytes, ctype: str) -> bytes:
    reason = {200: "OK", 502: "Bad Gateway"}[status]
    return (f"HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n\r\n"
            .encode() + body)


async def serve(port: int, backends: list[str]) -> None:
    proxy = Proxy(backends)
    server = await asyncio.start_server(proxy.client, "127.0.0.1", port, backlog=2048)
    print(f"proxy on 127.0.0.1:{port} -> {', '.join(backends)}", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    port, backends = int(sys.argv[1]), sys.argv[2:]
    asyncio.run(serve(port, backends))


if __name__ == "__main__":
    main()
