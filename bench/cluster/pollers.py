"""Browsers polling the dashboard summary, as htmx does: one kept-alive connection each,
`GET /portfolio/summary?v=<version shown>` with `HX-Request`, every interval (with jitter).

Each poller remembers the version its fragment shows; a 200 carries a new one. After
`mark()`, the poller notes when it first shows a version newer than the one it showed at
the mark: the moment that user's browser displays the cycle's new values.
"""
from __future__ import annotations

import asyncio
import random
import re
import threading
import time
from dataclasses import dataclass, field

VERSION = re.compile(rb'data-version="([^"]+)"')


@dataclass
class Poller:
    cookie: str
    version: str = ""
    at_mark: str | None = None
    updated_at: float | None = None  # time.time() when it first showed a version newer than at_mark


@dataclass
class Totals:
    statuses: dict[int, int] = field(default_factory=dict)
    connection_errors: int = 0
    latencies: list[float] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())

    @property
    def server_errors(self) -> int:
        return sum(n for s, n in self.statuses.items() if s >= 500)


class Pollers:
    def __init__(self, host: str, port: int, cookies: list[str], interval: float, agent: str):
        self.host, self.port, self.interval, self.agent = host, port, interval, agent
        self.pollers = [Poller(c) for c in cookies]
        self.totals = Totals()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(self.interval + 30)

    def mark(self) -> None:
        """The cycle starts: latencies from here on (not the first renders of the warm-up)."""
        self.totals.latencies = []
        for p in self.pollers:
            p.at_mark, p.updated_at = p.version, None

    @property
    def showing(self) -> int:
        return sum(1 for p in self.pollers if p.version)

    @property
    def updated(self) -> list[float]:
        return [p.updated_at for p in self.pollers if p.updated_at is not None]

    async def _main(self) -> None:
        rng = random.Random(16)
        tasks = [asyncio.create_task(self._poll(p, rng.uniform(0, self.interval), rng)) for p in self.pollers]
        await asyncio.gather(*tasks)

    async def _poll(self, p: Poller, first_delay: float, rng: random.Random) -> None:
        await asyncio.sleep(first_delay)
        conn = None
        while not self._stop.is_set():
            started = time.perf_counter()
            try:
                if conn is None:
                    conn = await asyncio.wait_for(asyncio.open_connection(self.host, self.port), 10)
                status, body = await asyncio.wait_for(self._get(conn, p), 60)
            except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, ValueError):
                self.totals.connection_errors += 1
                if conn is not None:
                    conn[1].close()
                conn = None
            else:
                self.totals.latencies.append(time.perf_counter() - started)
                self.totals.statuses[status] = self.totals.statuses.get(status, 0) + 1
                if status == 200:
                    m = VERSION.search(body)
                    if m:
                        p.version = m.group(1).decode()
                        if p.at_mark is not None and p.updated_at is None and p.version != p.at_mark:
                            p.updated_at = time.time()
            await asyncio.sleep(self.interval * rng.uniform(0.9, 1.1))
        if conn is not None:
            conn[1].close()

    async def _get(self, conn, p: Poller) -> tuple[int, bytes]:
        reader, writer = conn
        writer.write((f"GET /portfolio/summary?v={p.version} HTTP/1.1\r\nHost: folio\r\n"
                      f"Cookie: {p.cookie}\r\nHX-Request: true\r\nUser-Agent: {self.agent}\r\n\r\n").encode())
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        body = await reader.readexactly(length) if length else b""
        return status, body
