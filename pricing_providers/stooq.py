"""Stooq's quote CSV: no key, many symbols per call, no currency (inferred from the suffix).

Choices where Stooq's behaviour is unverified (providers.md):

* `.uk` prices are taken to be in pence, like the LSE's own quotes, and divided by
  100 into GBP — unless the instrument says it trades in another currency (an LSE
  listing in USD is quoted in dollars, not cents). `uk_in_pence=False` turns it off.
* Date/Time: the published sample stamps a US close `22:00:04`, which is 16:00 in
  New York read as Stooq's own clock (Europe/Warsaw). So the time is read on Stooq's
  clock, and `as_of` is never later than the exchange's local close on that date,
  nor later than now: an end-of-day row gets exactly the exchange's close (UTC), an
  intraday row its trade time, and if Stooq's clock were the exchange's instead we
  would only under-state the quote's age, never claim a price newer than it is.
"""
from __future__ import annotations

import csv
import time
from dataclasses import dataclass
from datetime import date, datetime, time as dtime, timezone
from typing import Callable, Sequence
from urllib.parse import quote as urlquote
from zoneinfo import ZoneInfo

from .base import (
    FetchResult,
    InstrumentRef,
    MalformedAnswer,
    Provider,
    ProviderDown,
    ProviderError,
    Quote,
    RateLimit,
    UnknownSymbol,
    local_time_utc,
    to_decimal,
    to_major_unit,
)
from .registry import register

STOOQ_CLOCK = "Europe/Warsaw"
FIELDS = "sd2t2ohlcv"  # symbol, date, time, open, high, low, close, volume


@dataclass(frozen=True)
class Market:
    currency: str
    tz: str
    close: tuple[int, int]  # local closing time


MARKETS = {
    "us": Market("USD", "America/New_York", (16, 0)),
    "uk": Market("GBP", "Europe/London", (16, 30)),
    "de": Market("EUR", "Europe/Berlin", (17, 30)),
    "jp": Market("JPY", "Asia/Tokyo", (15, 30)),
    "hk": Market("HKD", "Asia/Hong_Kong", (16, 0)),
    "pl": Market("PLN", "Europe/Warsaw", (17, 0)),
}

# Canonical (Yahoo-style) exchange suffix -> Stooq's
SUFFIXES = {"US": "us", "L": "uk", "UK": "uk", "DE": "de", "T": "jp", "JP": "jp", "HK": "hk", "WA": "pl", "PL": "pl"}


def stooq_symbol(symbol: str) -> str | None:
    """Stooq's symbol for a canonical one (AAPL → aapl.us, VOD.L → vod.uk, 0700.HK → 700.hk).

    None for an exchange Stooq is not mapped for here (give the instrument an explicit
    Stooq symbol then).
    """
    s = symbol.strip()
    if not s:
        return None
    if s.startswith("^"):
        return s.lower()
    if "." in s:
        base, suffix = s.rsplit(".", 1)
        mapped = SUFFIXES.get(suffix.upper())
        if mapped:
            if mapped == "hk":
                base = base.lstrip("0") or "0"
            return f"{base.lower()}.{mapped}"
        if suffix.upper() in ("A", "B", "C"):  # a share class: BRK.B → brk-b.us
            return f"{base.lower()}-{suffix.lower()}.us"
        return None
    return f"{s.lower()}.us"


@register
class StooqProvider(Provider):
    name = "stooq"
    label = "Stooq (CSV quotes)"
    asset_types = frozenset({"stock", "etf"})
    # Symbols joined with "+" in the query string. 50 keeps the URL near 500 characters
    # (an 8-character symbol each), far below the 2-8 KB URL limits servers and proxies
    # commonly enforce. How many symbols Stooq itself answers per call is unpublished:
    # 50 is a conservative guess, and PROVIDER_STOOQ_BATCH_SIZE can change it.
    batch_size = 50
    # Stooq publishes no quota but cuts clients off with "Exceeded the daily hits
    # limit"; as a fallback 30 batch calls an hour (720 a day at most) is plenty.
    rate_limit = RateLimit(30, 3600)
    needs_key = False
    default_url = "https://stooq.com"
    probe_symbol = InstrumentRef("AAPL", "stock", "USD")

    def __init__(self, *args, uk_in_pence: bool = True, clock: Callable[[], float] = time.time, **kw) -> None:
        super().__init__(*args, **kw)
        self.uk_in_pence = uk_in_pence
        self.clock = clock

    def symbol_of(self, inst: InstrumentRef) -> str | None:
        own = inst.provider_symbols.get(self.name)
        return own.strip().lower() if own else stooq_symbol(inst.symbol)

    def fetch(self, instruments: Sequence[InstrumentRef]) -> FetchResult:
        out: FetchResult = {}
        wanted: dict[str, list[InstrumentRef]] = {}
        for inst in instruments:
            sym = self.symbol_of(inst)
            if sym is None:
                out[inst.symbol] = UnknownSymbol(f"no Stooq symbol for {inst.symbol}", provider=self.name)
            else:
                wanted.setdefault(sym, []).append(inst)
        if not wanted:
            return out
        joined = "+".join(urlquote(s, safe=".-") for s in wanted)
        resp = self.http_get(f"/q/l/?s={joined}&f={FIELDS}&h&e=csv")
        rows = self._rows(resp)
        for sym, insts in wanted.items():
            row = rows.get(sym)
            for inst in insts:
                if row is None:
                    out[inst.symbol] = MalformedAnswer(f"{sym} missing from the answer", provider=self.name)
                else:
                    out[inst.symbol] = self._quote(inst, sym, row)
        return out

    # ---- internals -------------------------------------------------------------------
    def _rows(self, resp) -> dict[str, dict[str, str]]:
        text = resp.content.decode("utf-8", errors="replace").lstrip("\ufeff")
        if resp.status_code != 200:
            raise ProviderDown(f"HTTP {resp.status_code}: {text[:80].strip()!r}", provider=self.name)
        lines = [line for line in text.splitlines() if line.strip()]
        header = [c.strip().lower() for c in lines[0].split(",")] if lines else []
        if not {"symbol", "date", "time", "close"} <= set(header):
            if "exceeded the daily hits limit" in text.lower():
                # ProviderDown, as `providers check` and the pipeline tests expect; a
                # RateLimited with the time to midnight would skip Stooq for the rest of the
                # day at once instead of after the failure threshold (a change for the app).
                raise ProviderDown("Stooq: daily hits limit exceeded", provider=self.name)
            snippet = " ".join(text[:80].split())
            raise ProviderDown(f"not the quote CSV (bot check or error page?): {snippet!r}", provider=self.name)
        rows: dict[str, dict[str, str]] = {}
        for values in csv.reader(lines[1:]):
            if len(values) != len(header):
                continue  # a broken row: its symbol ends up "missing from the answer"
            row = {k: v.strip() for k, v in zip(header, values)}
            rows[row["symbol"].lower()] = row
        return rows

    def _quote(self, inst: InstrumentRef, sym: str, row: dict[str, str]) -> Quote | ProviderError:
        if "N/D" in (row["date"].upper(), row["close"].upper()):
            return UnknownSymbol(f"Stooq has no data for {sym}", provider=self.name)
        price = to_decimal(row["close"])
        if price is None:
            return MalformedAnswer(f"close {row['close']!r} for {sym} is not a number", provider=self.name)
        try:
            day = date.fromisoformat(row["date"])
        except ValueError:
            return MalformedAnswer(f"date {row['date']!r} for {sym}", provider=self.name)
        suffix = sym.rsplit(".", 1)[1] if "." in sym else ""
        market = MARKETS.get(suffix)
        currency = inst.currency or (market.currency if market else None)
        if not currency:
            return MalformedAnswer(f"no currency known for {sym}", provider=self.name)
        if suffix == "uk" and self.uk_in_pence and currency.upper() in ("GBP", "GBX"):
            currency = "GBp"
        price, currency = to_major_unit(price, currency)
        return Quote(
            symbol=inst.symbol,
            price=price,
            currency=currency,
            as_of=self._as_of(day, row["time"], market),
            source=self.name,
            currency_inferred=True,
        )

    def _as_of(self, day: date, time_text: str, market: Market | None) -> datetime:
        candidates = [datetime.fromtimestamp(self.clock(), tz=timezone.utc)]
        if market is not None:
            candidates.append(local_time_utc(day, *market.close, market.tz))
        try:
            t = dtime.fromisoformat(time_text)
        except ValueError:
            t = None
        if t is not None:
            stamp = datetime.combine(day, t, tzinfo=ZoneInfo(STOOQ_CLOCK)).astimezone(timezone.utc)
            candidates.append(stamp)
        elif market is None:
            candidates.append(local_time_utc(day, 0, 0, STOOQ_CLOCK))
        return min(candidates).replace(microsecond=0)
