"""Tiingo's IEX endpoint: a free key, many US tickers per call, prices in USD (inferred)."""
from __future__ import annotations

import re
import time
from datetime import date, datetime, timedelta, timezone
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

NOT_FOUND = re.compile(r"ticker '([^']+)' not found", re.IGNORECASE)
# Share classes written with a dot (BRK.B); other one-letter suffixes are exchanges (.L, .T)
SHARE_CLASS = re.compile(r"^[abc]$", re.IGNORECASE)


def tiingo_ticker(symbol: str) -> str | None:
    """Tiingo's ticker for a canonical symbol (BRK.B / BRK-B → brk-b); None if not a US one."""
    s = symbol.strip().lower()
    if s.endswith(".us"):
        s = s[:-3]
    if "." in s:
        base, suffix = s.rsplit(".", 1)
        if not SHARE_CLASS.match(suffix):
            return None  # another exchange (VOD.L, 7203.T): Tiingo's IEX feed is US only
        s = f"{base}-{suffix}"
    return s or None


def parse_time(value: object) -> datetime | None:
    """An ISO 8601 time (Tiingo sends nanoseconds and offsets) as aware UTC."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        dt = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc)


@register
class TiingoProvider(Provider):
    name = "tiingo"
    label = "Tiingo (IEX, free key)"
    asset_types = frozenset({"stock", "etf"})
    batch_size = 100
    # Free tier: about 50 requests an hour (unverified) and 1000 a day; batch everything.
    rate_limit = RateLimit(50, 3600)
    needs_key = True
    default_url = "https://api.tiingo.com"
    probe_symbol = InstrumentRef("AAPL", "stock", "USD")
    max_not_found_retries = 3

    def __init__(self, *args, clock: Callable[[], float] = time.time, **kw) -> None:
        super().__init__(*args, **kw)
        self.clock = clock

    @property
    def auth(self) -> dict[str, str]:
        # The header keeps the key out of URLs (and so out of logs and error messages).
        return {"Authorization": f"Token {self.api_key}"}

    def ticker_of(self, inst: InstrumentRef) -> str | None:
        own = inst.provider_symbols.get(self.name)
        return own.strip().lower() if own else tiingo_ticker(inst.symbol)

    def fetch(self, instruments: Sequence[InstrumentRef]) -> FetchResult:
        out: FetchResult = {}
        wanted: dict[str, list[InstrumentRef]] = {}
        for inst in instruments:
            t = self.ticker_of(inst)
            if t is None:
                out[inst.symbol] = UnknownSymbol(f"Tiingo IEX has no ticker for {inst.symbol}", provider=self.name)
            else:
                wanted.setdefault(t, []).append(inst)
        remaining = list(wanted)
        items: dict[str, dict] = {}
        for _ in range(self.max_not_found_retries + 1):
            if not remaining:
                break
            resp = self.http_get("/iex/", {"tickers": ",".join(remaining)}, headers=self.auth)
            if resp.status_code == 404:
                detail = self._detail(resp)
                m = NOT_FOUND.search(detail)
                gone = m.group(1).lower() if m else (remaining[0] if len(remaining) == 1 and detail else None)
                if gone not in remaining:
                    raise ProviderDown(f"HTTP 404: {detail or resp.text[:80]!r}", provider=self.name)
                # One unknown ticker fails the whole batch: mark it, ask for the rest.
                for inst in wanted[gone]:
                    out[inst.symbol] = UnknownSymbol(detail, provider=self.name)
                remaining.remove(gone)
                continue
            items = self._items(resp)
            break
        else:
            if remaining:
                raise ProviderDown("too many unknown tickers in one batch", provider=self.name)
        for t in remaining:
            item = items.get(t)
            for inst in wanted[t]:
                if item is None:
                    out[inst.symbol] = UnknownSymbol(f"{t} not in Tiingo's answer", provider=self.name)
                else:
                    out[inst.symbol] = self._quote(inst, item)
        return out

    def history(self, instrument: InstrumentRef, days: int) -> list[Quote]:
        t = self.ticker_of(instrument)
        if t is None:
            raise UnknownSymbol(f"Tiingo has no ticker for {instrument.symbol}", provider=self.name)
        start = datetime.fromtimestamp(self.clock(), tz=timezone.utc).date() - timedelta(days=int(days))
        resp = self.http_get(f"/tiingo/daily/{t}/prices", {"startDate": start.isoformat()}, headers=self.auth)
        if resp.status_code == 404:
            raise UnknownSymbol(self._detail(resp) or f"{t} not found", provider=self.name)
        self._check_status(resp)
        data = self.decode_json(resp)
        if not isinstance(data, list):
            raise MalformedAnswer("daily prices: expected a JSON array", provider=self.name)
        quotes = {}
        for row in data:
            if not isinstance(row, dict):
                continue
            price = to_decimal(row.get("close"))
            try:
                day = date.fromisoformat(str(row.get("date", ""))[:10])
            except ValueError:
                continue
            if price is None:
                continue
            as_of = local_time_utc(day, 16, 0, "America/New_York")
            quotes[as_of] = Quote(instrument.symbol, price, "USD", as_of, self.name, currency_inferred=True)
        return [quotes[k] for k in sorted(quotes)]

    # ---- internals -------------------------------------------------------------------
    def _detail(self, resp) -> str:
        try:
            data = self.decode_json(resp)
        except MalformedAnswer:
            return ""
        return str(data.get("detail") or "") if isinstance(data, dict) else ""

    def _check_status(self, resp) -> None:
        if resp.status_code in (401, 403):
            raise ProviderDown(f"HTTP {resp.status_code}: {self._detail(resp) or 'not authorised'}", provider=self.name)
        if resp.status_code != 200:
            raise ProviderDown(f"HTTP {resp.status_code}: {resp.text[:80].strip()!r}", provider=self.name)

    def _items(self, resp) -> dict[str, dict]:
        self._check_status(resp)
        data = self.decode_json(resp)
        if isinstance(data, dict) and "detail" in data:  # errors may also come with 200
            detail = str(data["detail"])
            if "allocation" in detail.lower() or "rate limit" in detail.lower():
                raise RateLimited(detail, provider=self.name)
            raise ProviderDown(detail, provider=self.name)
        if not isinstance(data, list):
            raise MalformedAnswer(f"expected a JSON array, got {type(data).__name__}", provider=self.name)
        return {str(i.get("ticker", "")).lower(): i for i in data if isinstance(i, dict)}

    def _quote(self, inst: InstrumentRef, item: dict) -> Quote | MalformedAnswer:
        price = to_decimal(item.get("last"))
        if price is None:  # no IEX trade yet (pre-market, holidays): Tiingo's own last
            price = to_decimal(item.get("tngoLast"))
        if price is None:
            return MalformedAnswer("neither last nor tngoLast", provider=self.name)
        as_of = parse_time(item.get("timestamp")) or parse_time(item.get("lastSaleTimestamp"))
        if as_of is None:
            return MalformedAnswer(f"timestamp {item.get('timestamp')!r}", provider=self.name)
        return Quote(
            symbol=inst.symbol,
            price=price,
            currency="USD",
            as_of=as_of,
            source=self.name,
            previous_close=to_decimal(item.get("prevClose")),
            currency_inferred=True,
        )
