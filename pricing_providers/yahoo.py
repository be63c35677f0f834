"""Yahoo Finance through its unofficial v8 chart endpoint: no key, one call per symbol.

The v7 batch quote endpoint needs a cookie and a crumb, so it is not used.
"""
from __future__ import annotations

import time
from typing import Callable, Sequence
from urllib.parse import quote as urlquote

from .base import (
    FetchResult,
    InstrumentRef,
    MalformedAnswer,
    Provider,
    ProviderDown,
    Quote,
    RateLimit,
    UnknownSymbol,
    to_decimal,
    to_major_unit,
    utc_from_epoch,
)
from .registry import register


@register
class YahooProvider(Provider):
    name = "yahoo"
    label = "Yahoo Finance (unofficial chart API)"
    asset_types = frozenset({"stock", "etf", "mutual_fund"})
    # One symbol per call: with batch_size 1 the chain's throttle counts real requests.
    batch_size = 1
    # No published limit; clients report 429s beyond roughly 2000 calls an hour from
    # one address. 200 per 10 minutes stays well under that and carries a cycle of
    # 200 holdings.
    rate_limit = RateLimit(200, 600)
    needs_key = False
    default_url = "https://query1.finance.yahoo.com"
    probe_symbol = InstrumentRef("AAPL", "stock", "USD")

    def __init__(self, *args, clock: Callable[[], float] = time.time, **kw) -> None:
        super().__init__(*args, **kw)
        self.clock = clock

    def fetch(self, instruments: Sequence[InstrumentRef]) -> FetchResult:
        return self.fetch_each(instruments, self._quote)

    def history(self, instrument: InstrumentRef, days: int) -> list[Quote]:
        now = int(self.clock())
        params = {"period1": str(now - int(days) * 86400), "period2": str(now), "interval": "1d"}
        result = self._chart(instrument.symbol_for(self.name), params)
        meta = _meta(result)
        stamps = result.get("timestamp") or []
        try:
            closes = result["indicators"]["quote"][0]["close"]
        except (KeyError, IndexError, TypeError):
            closes = [] if not stamps else None
        if not isinstance(stamps, list) or not isinstance(closes, list) or len(stamps) != len(closes):
            raise MalformedAnswer("timestamp and close arrays do not match", provider=self.name)
        currency, inferred = self._currency(meta, instrument)
        by_time: dict = {}
        for stamp, close in zip(stamps, closes):
            price, when = to_decimal(close), utc_from_epoch(stamp)
            if price is None or when is None:  # Yahoo leaves nulls for days without a close
                continue
            price, ccy = to_major_unit(price, currency)
            by_time[when] = Quote(instrument.symbol, price, ccy, when, self.name, currency_inferred=inferred)
        return [by_time[t] for t in sorted(by_time)]

    # ---- internals -------------------------------------------------------------------
    def _quote(self, inst: InstrumentRef) -> Quote:
        result = self._chart(inst.symbol_for(self.name), {"range": "1d", "interval": "1d"})
        meta = _meta(result)
        price = to_decimal(meta.get("regularMarketPrice"))
        if price is None:
            raise MalformedAnswer("no regularMarketPrice in the chart meta", provider=self.name)
        as_of = utc_from_epoch(meta.get("regularMarketTime"))
        if as_of is None:
            stamps = [t for t in (result.get("timestamp") or []) if utc_from_epoch(t)]
            as_of = utc_from_epoch(stamps[-1]) if stamps else None
        if as_of is None:
            raise MalformedAnswer("no regularMarketTime in the chart meta", provider=self.name)
        currency, inferred = self._currency(meta, inst)
        prev = to_decimal(meta.get("chartPreviousClose"))
        if prev is None:
            prev = to_decimal(meta.get("previousClose"))
        major_price, major = to_major_unit(price, currency)
        return Quote(
            symbol=inst.symbol,
            price=major_price,
            currency=major,
            as_of=as_of,
            source=self.name,
            previous_close=to_major_unit(prev, currency)[0] if prev is not None else None,
            currency_inferred=inferred,
        )

    def _currency(self, meta: dict, inst: InstrumentRef) -> tuple[str, bool]:
        currency = meta.get("currency")
        if isinstance(currency, str) and len(currency) == 3:
            return currency, False
        if inst.currency:
            return inst.currency, True
        raise MalformedAnswer("no currency in the answer nor on the instrument", provider=self.name)

    def _chart(self, symbol: str, params: dict[str, str]) -> dict:
        resp = self.http_get(f"/v8/finance/chart/{urlquote(symbol, safe='')}", params)
        status = resp.status_code
        if status == 200:
            result, error = _chart_parts(self.decode_json(resp), self.name)
            if error is not None:
                raise _chart_error(error, status, self.name)
            if result is None:
                raise MalformedAnswer("chart answer without a result", provider=self.name)
            return result
        if status in (400, 404, 422):
            try:
                _, error = _chart_parts(self.decode_json(resp), self.name)
            except MalformedAnswer:
                error = None
            if error is None:  # not Yahoo's JSON: a wrong URL or a proxy, not the symbol
                raise ProviderDown(f"HTTP {status} without a chart error", provider=self.name)
            raise _chart_error(error, status, self.name)
        raise ProviderDown(f"HTTP {status}: {resp.text[:100].strip()}", provider=self.name)


def _chart_parts(data: object, provider: str) -> tuple[dict | None, dict | None]:
    chart = data.get("chart") if isinstance(data, dict) else None
    if not isinstance(chart, dict):
        raise MalformedAnswer("answer has no 'chart' object", provider=provider)
    error = chart.get("error")
    results = chart.get("result")
    result = results[0] if isinstance(results, list) and results and isinstance(results[0], dict) else None
    return result, error if isinstance(error, dict) else (None if error is None else {"description": str(error)})


def _chart_error(error: dict, status: int, provider: str) -> Exception:
    code = str(error.get("code") or "")
    description = str(error.get("description") or code or "error")
    if status == 404 or code == "Not Found":
        return UnknownSymbol(description, provider=provider)
    return MalformedAnswer(f"HTTP {status} {code}: {description}", provider=provider)


def _meta(result: dict) -> dict:
    meta = result.get("meta")
    if not isinstance(meta, dict):
        raise MalformedAnswer("chart result without meta", provider=YahooProvider.name)
    return meta

