"""A local market in Tiingo's IEX format, for the benchmark's real provider adapter.

    python -m bench.replay_server MARKET.json PORT [DELAY]

DELAY (seconds, default 0) is added to every batch answer: a provider across a network
(`bench/cluster` uses it so that a refresh cycle is still running when it kills a worker).

MARKET.json maps symbol -> [price, as_of ISO]. `GET /iex/?tickers=a,b,...` answers like
Tiingo's batch endpoint (the same item shape as tests/payloads.py), one item per known
ticker. The harness moves the market between cycles:

    POST /_bench/move?fraction=0.01&seed=2   a new price and a newer timestamp for that share
    GET  /_bench/stats                        requests served, tickers asked for

Bound to 127.0.0.1 only.
"""
from __future__ import annotations

import json
import random
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


class Market:
    def __init__(self, prices: dict[str, tuple[str, str]]):
        self.lock = threading.Lock()
        self.prices = {s.lower(): (Decimal(p), datetime.fromisoformat(t)) for s, (p, t) in prices.items()}
        self.items = {s: self._item(s) for s in self.prices}
        self.requests = 0
        self.tickers = 0

    def _item(self, ticker: str) -> str:
        price, when = self.prices[ticker]
        stamp = when.isoformat()
        p = format(price, "f")
        return (f'{{"ticker":"{ticker.upper()}","timestamp":"{stamp}","lastSaleTimestamp":"{stamp}",'
                f'"quoteTimestamp":"{stamp}","open":{p},"high":{p},"low":{p},"mid":null,"tngoLast":{p},'
                f'"last":{p},"lastSize":100,"bidSize":null,"bidPrice":null,"askPrice":null,"askSize":null,'
                f'"volume":1234567,"prevClose":null}}')

    def move(self, fraction: float, seed: int) -> int:
        """New prices (within ±5%) and a timestamp one second past the newest one, for a share."""
        rng = random.Random(seed)
        with self.lock:
            tickers = sorted(self.prices)
            n = max(1, round(len(tickers) * fraction)) if fraction > 0 else 0
            chosen = rng.sample(tickers, n)
            now = max(max(t for _, t in self.prices.values()) + timedelta(seconds=1),
                      datetime.now(timezone.utc).replace(microsecond=0))
            for t in chosen:
                old, _ = self.prices[t]
                factor = Decimal(rng.randrange(9500, 10500)) / 10000
                new = (old * factor).quantize(Decimal("0.0001"))
                if new == old or new <= 0:
                    new = old + Decimal("0.0001")
                self.prices[t] = (new, now)
                self.items[t] = self._item(t)
            return n

    def answer(self, tickers: list[str]) -> bytes:
        with self.lock:
            self.requests += 1
            self.tickers += len(tickers)
            body = ",".join(self.items[t] for t in tickers if t in self.items)
        return f"[{body}]".encode()


def make_handler(market: Market, delay: float = 0.0):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # quiet
            pass

        def _send(self, status: int, body: bytes, ctype: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            parts = urlsplit(self.path)
            query = parse_qs(parts.query)
            if parts.path in ("/iex", "/iex/"):
                tickers = [t.strip().lower() for t in query.get("tickers", [""])[0].split(",") if t.strip()]
                if delay:
                    time.sleep(delay)
                self._send(200, market.answer(tickers))
            elif parts.path == "/_bench/stats":
                self._send(200, json.dumps({"requests": market.requests, "tickers": market.tickers}).encode())
            else:
                self._send(404, b'{"detail":"Not found."}')

        def do_POST(self):
            parts = urlsplit(self.path)
            query = parse_qs(parts.query)
            if parts.path == "/_bench/move":
                moved = market.move(float(query.get("fraction", ["1"])[0]), int(query.get("seed", ["1"])[0]))
                self._send(200, json.dumps({"moved": moved}).encode())
            else:
                self._send(404, b"{}")

    return Handler


def main() -> None:
    path, port = sys.argv[1], int(sys.argv[2])
    delay = float(sys.argv[3]) if len(sys.argv) > 3 else 0.0
    with open(path) as f:
        market = Market(json.load(f))
    server = ThreadingHTTPServer(("127.0.0.1", port), make_handler(market, delay))
    server.daemon_threads = True
    print(f"replay server on 127.0.0.1:{port} with {len(market.prices)} tickers", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
