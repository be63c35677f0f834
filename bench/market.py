"""A local market that answers like the free providers of the default chain, with their limits.

    python -m bench.market PORT SCALE

One server, one path prefix per provider, so each provider's base URL is
`http://127.0.0.1:PORT/<name>` and its requests are counted (and refused) on their own:

    /yahoo/consent/cookie            a cookie (404 with Set-Cookie, as fc.yahoo.com answers)
    /yahoo/v1/test/getcrumb          the crumb, for that cookie
    /yahoo/v7/finance/quote          up to 50 symbols with a valid crumb (401 Invalid Crumb otherwise)
    /yahoo/v7/finance/spark          up to 20 symbols, no crumb
    /yahoo/v8/finance/chart/{SYM}    one symbol; with period1/period2 a daily history
    /stooq/q/l/                      the quote CSV (`+`-joined symbols, N/D rows for unknown ones)
    /amfi/spages/NAVAll.txt          the NAV file (8 fields a row)
    /mfapi/mf/{code}/latest          one scheme
    /coingecko/api/v3/simple/price   ids -> vs currencies; /coingecko/api/v3/coins/list
    /ecb/stats/eurofxref/eurofxref-daily.xml, /frankfurter/v1/latest

Each provider's declared free-tier limit is enforced as a fixed window (429 in that
provider's own words past it), with every period divided by SCALE: at SCALE 60 a
10-minute cycle takes 10 s and "30 requests an hour" is 30 requests a minute, so a
cycle's requests meet the limit in the same proportion as in real time.

    POST /_bench/move?fraction=0.05&seed=3   new prices, stamped now, for a share of instruments
    GET  /_bench/stats                       requests, refusals and symbols asked, per provider

Bound to 127.0.0.1 only; shapes as in docs/providers.md and tests/payloads.py.
"""
from __future__ import annotations

import json
import random
import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

# the adapters' declared free-tier limits (requests, seconds), as pricing_providers declares them
LIMITS = {"yahoo": (200, 600), "stooq": (30, 3600), "amfi": (30, 3600), "mfapi": (60, 60),
          "coingecko": (5, 60), "ecb": (60, 3600), "frankfurter": (60, 3600)}
PINNED_COINS = {"BTC": "bitcoin", "ETH": "ethereum", "USDT": "tether", "USDC": "usd-coin", "BNB": "binancecoin",
                "SOL": "solana", "XRP": "ripple", "ADA": "cardano", "DOGE": "dogecoin", "DOT": "polkadot",
                "LTC": "litecoin"}
CRUMB = "bEnChCrUmB.1"
COOKIE = "A3=d=bench&S=folio"


def letters(n: int, width: int = 3) -> str:
    out = ""
    for _ in range(width):
        n, r = divmod(n, 26)
        out = chr(65 + r) + out
    return out


def universe(total: int = 1000) -> list[tuple[str, str]]:
    """(symbol, asset type) of a mixed market: 65 % US, 10 % London, 10 % Xetra, 10 % AMFI
    scheme codes, 5 % crypto (the pinned top coins first)."""
    n_l, n_de, n_amfi, n_crypto = total // 10, total // 10, total // 10, total // 20
    n_us = total - n_l - n_de - n_amfi - n_crypto
    out = [(f"U{letters(i)}", "etf" if i % 10 == 0 else "stock") for i in range(n_us)]
    out += [(f"L{letters(i)}.L", "stock") for i in range(n_l)]
    out += [(f"D{letters(i)}.DE", "stock") for i in range(n_de)]
    out += [(str(100001 + i), "mutual_fund") for i in range(n_amfi)]
    coins = list(PINNED_COINS) + [f"Q{letters(i, 2)}" for i in range(max(0, n_crypto - len(PINNED_COINS)))]
    out += [(f"{c}-USD", "crypto") for c in coins[:n_crypto]]
    return out


def newcomers(n: int = 50) -> list[str]:
    """US stocks nobody holds at the start: what people add through the form during a run."""
    return [f"W{letters(i)}" for i in range(n)]


@dataclass
class Price:
    value: Decimal
    previous: Decimal
    as_of: datetime


class Market:
    def __init__(self, scale: float, total: int = 1000, seed: int = 7):
        rng = random.Random(seed)
        self.lock = threading.Lock()
        self.scale = scale
        self.symbols = dict(universe(total))
        self.symbols.update((s, "stock") for s in newcomers())
        now = datetime.now(timezone.utc).replace(microsecond=0)
        self.prices: dict[str, Price] = {}
        for s in self.symbols:
            p = Decimal(rng.randrange(500, 500_000)).scaleb(-2)
            self.prices[s] = Price(p, (p * Decimal("0.99")).quantize(Decimal("0.01")), now)
        self.windows: dict[str, tuple[int, int]] = {}  # provider -> (window, count)
        self.stats: dict[str, dict[str, int]] = {p: {"requests": 0, "refused": 0, "symbols": 0} for p in LIMITS}

    # ---- limits --------------------------------------------------------------------------
    def allow(self, provider: str) -> bool:
        calls, period = LIMITS[provider]
        window = int(time.time() // (period / self.scale))
        with self.lock:
            w, n = self.windows.get(provider, (window, 0))
            n = n + 1 if w == window else 1
            self.windows[provider] = (window, n)
            self.stats[provider]["requests"] += 1
            if n > calls:
                self.stats[provider]["refused"] += 1
                return False
            return True

    def asked(self, provider: str, n: int) -> None:
        with self.lock:
            self.stats[provider]["symbols"] += n

    def move(self, fraction: float, seed: int) -> int:
        rng = random.Random(seed)
        now = datetime.now(timezone.utc).replace(microsecond=0)
        with self.lock:
            chosen = rng.sample(sorted(self.prices), max(0, round(len(self.prices) * fraction)))
            for s in chosen:
                old = self.prices[s]
                new = (old.value * Decimal(rng.randrange(9700, 10300)) / 10000).quantize(Decimal("0.01"))
                self.prices[s] = Price(new if new > 0 else old.value, old.previous, now)
            return len(chosen)

    # ---- answers -------------------------------------------------------------------------
    def yahoo_item(self, s: str) -> dict | None:
        if s not in self.prices or self.symbols[s] in ("mutual_fund", "crypto"):
            return None
        p = self.prices[s]
        pence = s.endswith(".L")
        k = 100 if pence else 1
        return {"symbol": s, "currency": "GBp" if pence else ("EUR" if s.endswith(".DE") else "USD"),
                "regularMarketPrice": p.value * k, "regularMarketTime": int(p.as_of.timestamp()),
                "regularMarketPreviousClose": p.previous * k, "chartPreviousClose": p.previous * k,
                "quoteType": "ETF" if self.symbols[s] == "etf" else "EQUITY", "shortName": f"Bench {s}"}

    def stooq_rows(self, wanted: list[str]) -> str:
        back = {}
        for s in self.prices:
            if s.endswith(".L"):
                back[s[:-2].lower() + ".uk"] = s
            elif s.endswith(".DE"):
                back[s.lower()] = s
            elif self.symbols[s] in ("stock", "etf"):
                back[s.lower() + ".us"] = s
        lines = ["Symbol,Date,Time,Open,High,Low,Close,Volume"]
        for w in wanted:
            s = back.get(w.lower())
            if s is None:
                lines.append(f"{w.upper()},N/D,N/D,N/D,N/D,N/D,N/D,N/D")
                continue
            p = self.prices[s]
            v = p.value * (100 if s.endswith(".L") else 1)
            lines.append(f"{w.upper()},{p.as_of:%Y-%m-%d},{p.as_of:%H:%M:%S},{v},{v},{v},{v},1000")
        return "\n".join(lines) + "\n"

    def navall(self) -> str:
        rows = ["Scheme Code;ISIN Div Payout/ ISIN Growth;ISIN Div Reinvestment;Scheme Name;Plan;Option;"
                "Net Asset Value;Date", "", "Open Ended Schemes(Equity Scheme - Flexi Cap Fund)", "", "Bench Mutual Fund", ""]
        for s, kind in self.symbols.items():
            if kind == "mutual_fund":
                p = self.prices[s]
                rows.append(f"{s};INF000B{s};-;Bench Scheme {s};Direct Plan;Growth;{p.value};{p.as_of:%d-%b-%Y}")
        return "\r\n".join(rows) + "\r\n"

    def coins(self) -> list[dict]:
        out = []
        for s, kind in self.symbols.items():
            if kind == "crypto":
                ticker = s.split("-")[0]
                out.append({"id": PINNED_COINS.get(ticker, f"bench-{ticker.lower()}"), "symbol": ticker.lower(),
                            "name": f"Bench {ticker}"})
        return out

    def coin_prices(self, ids: list[str], vs: list[str]) -> dict:
        by_id = {c["id"]: f"{c['symbol'].upper()}-USD" for c in self.coins()}
        out = {}
        for i in ids:
            s = by_id.get(i)
            if s is None:
                continue
            p = self.prices[s]
            entry: dict = {"last_updated_at": int(p.as_of.timestamp())}
            for v in vs:
                entry[v] = p.value
                entry[f"{v}_24h_change"] = Decimal("1.0")
            out[i] = entry
        return out


def _json(o) -> bytes:
    return json.dumps(o, default=lambda d: float(d) if isinstance(d, Decimal) else str(d)).encode()


TOO_MANY = {
    "yahoo": (b"Too Many Requests", "text/plain"),
    "stooq": (b"Exceeded the daily hits limit", "text/plain"),
    "coingecko": (_json({"status": {"error_code": 429, "error_message": "You've exceeded the Rate Limit."}}),
                  "application/json"),
}


def make_handler(market: Market):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def send(self, status: int, body: bytes | str, ctype: str = "application/json", headers=()) -> None:
            body = body.encode() if isinstance(body, str) else body
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for k, v in headers:
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            parts = urlsplit(self.path)
            q = parse_qs(parts.query)
            if parts.path == "/_bench/move":
                n = market.move(float(q.get("fraction", ["0.05"])[0]), int(q.get("seed", ["1"])[0]))
                return self.send(200, _json({"moved": n}))
            self.send(404, b"{}")

        def do_GET(self):
            parts = urlsplit(self.path)
            q = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
            segments = parts.path.split("/", 2)
            if parts.path == "/_bench/stats":
                with market.lock:
                    return self.send(200, _json(market.stats))
            provider, rest = (segments[1], "/" + (segments[2] if len(segments) > 2 else "")) \
                if len(segments) > 1 else ("", "/")
            if provider not in LIMITS:
                return self.send(404, b'{"error":"no such provider"}')
            if not market.allow(provider):
                body, ctype = TOO_MANY.get(provider, (b'{"error":"Too Many Requests"}', "application/json"))
                status = 200 if provider == "stooq" else 429  # Stooq says it with a 200
                return self.send(status, body, ctype, [("Retry-After", "1")] if status == 429 else [])
            getattr(self, f"_{provider}")(rest, q)

        # ---- providers ---------------------------------------------------------------
        def _yahoo(self, path: str, q: dict) -> None:
            cookie = self.headers.get("Cookie", "")
            if path == "/consent/cookie":
                return self.send(404, b"", "text/html", [("Set-Cookie", f"{COOKIE}; Path=/")])
            if path == "/v1/test/getcrumb":
                return self.send(200, CRUMB, "text/plain") if "A3=" in cookie else self.send(403, b"", "text/plain")
            symbols = [s for s in q.get("symbols", "").split(",") if s]
            market.asked("yahoo", len(symbols))
            if path == "/v7/finance/quote":
                if q.get("crumb") != CRUMB or "A3=" not in cookie:
                    return self.send(401, _json({"finance": {"result": None, "error": {
                        "code": "Unauthorized", "description": "Invalid Crumb"}}}))
                if len(symbols) > 50:
                    return self.send(400, _json({"finance": {"result": None, "error": {"code": "Bad Request"}}}))
                items = [i for i in (market.yahoo_item(s) for s in symbols) if i]
                return self.send(200, _json({"quoteResponse": {"result": items, "error": None}}))
            if path == "/v7/finance/spark":
                if len(symbols) > 20:
                    return self.send(400, _json({"spark": {"result": None, "error": {"code": "Bad Request"}}}))
                result = []
                for s in symbols:
                    item = market.yahoo_item(s)
                    if item:
                        result.append({"symbol": s, "response": [{"meta": item, "timestamp": [item["regularMarketTime"]],
                                                                  "indicators": {"quote": [{"close": [item["regularMarketPrice"]]}]}}]})
                return self.send(200, _json({"spark": {"result": result, "error": None}}))
            if path.startswith("/v8/finance/chart/"):
                s = unquote(path.rsplit("/", 1)[1])
                market.asked("yahoo", 1)
                item = market.yahoo_item(s)
                if item is None:
                    return self.send(404, _json({"chart": {"result": None, "error": {
                        "code": "Not Found", "description": "No data found, symbol may be delisted"}}}))
                now = int(time.time())
                days = (now - int(q["period1"])) // 86400 if "period1" in q else 1
                stamps = [now - 86400 * d for d in range(min(days, 400), 0, -1)] or [item["regularMarketTime"]]
                closes = [item["regularMarketPrice"]] * len(stamps)
                return self.send(200, _json({"chart": {"result": [{"meta": item, "timestamp": stamps, "indicators": {
                    "quote": [{"close": closes}]}}], "error": None}}))
            self.send(404, b"{}")

        def _stooq(self, path: str, q: dict) -> None:
            wanted = [s for s in q.get("s", "").replace(" ", "+").split("+") if s]
            market.asked("stooq", len(wanted))
            self.send(200, market.stooq_rows(wanted), "text/csv")

        def _amfi(self, path: str, q: dict) -> None:
            market.asked("amfi", 1)
            self.send(200, market.navall(), "text/plain")

        def _mfapi(self, path: str, q: dict) -> None:
            code = path.strip("/").split("/")[1] if path.count("/") >= 2 else ""
            market.asked("mfapi", 1)
            if market.symbols.get(code) != "mutual_fund":
                return self.send(200, _json({"meta": {}, "data": [], "status": "ERROR"}))
            p = market.prices[code]
            self.send(200, _json({"meta": {"scheme_code": int(code), "scheme_name": f"Bench Scheme {code}"},
                                  "data": [{"date": f"{p.as_of:%d-%m-%Y}", "nav": str(p.value)}], "status": "SUCCESS"}))

        def _coingecko(self, path: str, q: dict) -> None:
            if path == "/api/v3/coins/list":
                return self.send(200, _json(market.coins()))
            if path == "/api/v3/simple/price":
                ids = [i for i in q.get("ids", "").split(",") if i]
                market.asked("coingecko", len(ids))
                return self.send(200, _json(market.coin_prices(ids, [v for v in q.get("vs_currencies", "usd").split(",") if v])))
            self.send(404, b"{}")

        def _ecb(self, path: str, q: dict) -> None:
            day = datetime.now(timezone.utc).date()
            rates = {"USD": "1.0850", "GBP": "0.8550", "INR": "90.10", "JPY": "162.50"}
            cubes = "".join(f"<Cube currency='{c}' rate='{r}'/>" for c, r in rates.items())
            body = ("<?xml version='1.0' encoding='UTF-8'?><gesmes:Envelope xmlns:gesmes='http://www.gesmes.org/xml/2002-08-01' "
                    "xmlns='http://www.ecb.int/vocabulary/2002-08-01/eurofxref'><gesmes:subject>Reference rates</gesmes:subject>"
                    f"<Cube><Cube time='{day}'>{cubes}</Cube></Cube></gesmes:Envelope>")
            self.send(200, body, "text/xml")

        def _frankfurter(self, path: str, q: dict) -> None:
            day = datetime.now(timezone.utc).date()
            self.send(200, _json({"amount": 1.0, "base": "EUR", "date": str(day),
                                  "rates": {"USD": 1.085, "GBP": 0.855, "INR": 90.1, "JPY": 162.5}}))

    return Handler


def serve(port: int, scale: float, total: int = 1000) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", port), make_handler(Market(scale, total)))
    server.daemon_threads = True
    return server


def main() -> None:
    port, scale = int(sys.argv[1]), float(sys.argv[2])
    total = int(sys.argv[3]) if len(sys.argv) > 3 else 1000
    server = serve(port, scale, total)
    print(f"market on 127.0.0.1:{port}, {total} instruments, time scale {scale:g}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
