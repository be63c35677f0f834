"""Alpha Vantage GLOBAL_QUOTE: a free key with 25 requests a day, so a last resort only.

Every answer is HTTP 200; the body says whether it is a quote, an unknown symbol, a bad
key or a rate limit. Quotes carry a date but no time and no currency: `as_of` is that
day's US close (16:00 New York) and the currency is the instrument's, else USD.
"""
from __future__ import annotations

import threading
import time
from datetime import date, datetime, timezone
from typing import Callable, Sequence

from .base import (
    FetchResult,
    InstrumentRef,
    MalformedAnswer,
    Provider,
    ProviderDown,
    Quote,
    RateLimit,
    RateLimited,
    UnknownSymbol,
    local_time_utc,
    to_decimal,
)
from .registry import register


@register
class AlphaVantageProvider(Provider):
    name = "alphavantage"
    label = "Alpha Vantage (free key, 25 calls a day)"
    asset_types = frozenset({"stock", "etf", "mutual_fund"})
    batch_size = 1  # no batch endpoint
    rate_limit = RateLimit(25, 86400)
    needs_key = True
    default_url = "https://www.alphavantage.co"
    probe_symbol = InstrumentRef("IBM", "stock", "USD")

    def __init__(
        self,
        *args,
        min_interval: float = 1.0,
        clock: Callable[[], float] = time.time,
        **kw,
    ) -> None:
        super().__init__(*args, **kw)
        # Free keys also get "1 request per second": space the calls out ourselves.
        self.min_interval = min_interval
        self.clock = clock
        self._last_call = float("-inf")
        self._pace = threading.Lock()

    def fetch(self, instruments: Sequence[InstrumentRef]) -> FetchResult:
        return self.fetch_each(instruments, self._quote)

    def _wait_turn(self) -> None:
        with self._pace:
            wait = self._last_call + self.min_interval - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            self._last_call = time.monotonic()

    def _quote(self, inst: InstrumentRef) -> Quote:
        symbol = inst.symbol_for(self.name)
        self._wait_turn()
        resp = self.http_get(
            "/query", {"function": "GLOBAL_QUOTE", "symbol": symbol, "apikey": self.api_key or ""}
        )
        if resp.status_code != 200:
            raise ProviderDown(f"HTTP {resp.status_code}: {resp.text[:80].strip()!r}", provider=self.name)
        data = self.decode_json(resp)
        if not isinstance(data, dict):
            raise MalformedAnswer(f"expected a JSON object, got {type(data).__name__}", provider=self.name)
        self._raise_for_message(data, symbol)
        gq = data.get("Global Quote")
        if not isinstance(gq, dict):
            raise MalformedAnswer(f"no 'Global Quote' in the answer (keys: {sorted(data)[:5]})", provider=self.name)
        if not gq:
            raise UnknownSymbol(f"Alpha Vantage has no quote for {symbol}", provider=self.name)
        price = to_decimal(gq.get("05. price"))
        if price is None:
            raise MalformedAnswer(f"price {gq.get('05. price')!r}", provider=self.name)
        try:
            day = date.fromisoformat(str(gq.get("07. latest trading day", "")).strip())
        except ValueError:
            raise MalformedAnswer(
                f"latest trading day {gq.get('07. latest trading day')!r}", provider=self.name
            ) from None
        # Date only: the day's US close, but not a time still to come (intraday quotes).
        now = datetime.fromtimestamp(self.clock(), tz=timezone.utc).replace(microsecond=0)
        as_of = min(local_time_utc(day, 16, 0, "America/New_York"), now)
        return Quote(
            symbol=inst.symbol,
            price=price,
            currency=inst.currency or "USD",
            as_of=as_of,
            source=self.name,
            previous_close=to_decimal(gq.get("08. previous close")),
            currency_inferred=True,
        )

    def _raise_for_message(self, data: dict, symbol: str) -> None:
        if "Error Message" in data:
            msg = str(data["Error Message"])
            if "apikey" in msg.lower() or "api key" in msg.lower():
                raise ProviderDown(msg, provider=self.name)
            # "Invalid API call" for a well-formed request means the symbol is the problem
            raise UnknownSymbol(f"{symbol}: {msg}", provider=self.name)
        for key in ("Information", "Note"):
            if key in data:
                msg = str(data[key])
                low = msg.lower()
                if "is a premium endpoint" in low:  # not a limit: this call will never work
                    raise ProviderDown(msg, provider=self.name)
                if "per second" in low:
                    retry_after: float | None = 1.0
                elif "per minute" in low:
                    retry_after = 60.0
                else:  # the daily quota: let the chain's cool-down decide
                    retry_after = None
                raise RateLimited(msg, provider=self.name, retry_after=retry_after)
