"""Finnhub's quote endpoint: a free key, one US symbol per call, no currency (inferred)."""
from __future__ import annotations

from typing import Sequence

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
    utc_from_epoch,
)
from .registry import register


@register
class FinnhubProvider(Provider):
    name = "finnhub"
    label = "Finnhub (free key, US)"
    asset_types = frozenset({"stock", "etf"})
    batch_size = 1
    rate_limit = RateLimit(60, 60)  # free tier: 60 calls a minute
    needs_key = True
    default_url = "https://finnhub.io"
    probe_symbol = InstrumentRef("AAPL", "stock", "USD")

    def fetch(self, instruments: Sequence[InstrumentRef]) -> FetchResult:
        return self.fetch_each(instruments, self._quote)

    def _quote(self, inst: InstrumentRef) -> Quote:
        symbol = inst.symbol_for(self.name)
        resp = self.http_get("/api/v1/quote", {"symbol": symbol, "token": self.api_key or ""})
        if resp.status_code != 200:  # 401 bad key, 403 "You don't have access to this resource."
            raise ProviderDown(f"HTTP {resp.status_code}: {self._error(resp)}", provider=self.name)
        data = self.decode_json(resp)
        if not isinstance(data, dict):
            raise MalformedAnswer(f"expected a JSON object, got {type(data).__name__}", provider=self.name)
        if "error" in data and "c" not in data:
            raise ProviderDown(str(data["error"]), provider=self.name)
        price = to_decimal(data.get("c"))
        stamp = data.get("t")
        if (price is None or price == 0) and not stamp:
            # Finnhub's answer for a symbol it does not know: HTTP 200, all zeros
            raise UnknownSymbol(f"Finnhub has no quote for {symbol}", provider=self.name)
        if price is None or price <= 0:
            raise MalformedAnswer(f"price {data.get('c')!r}", provider=self.name)
        as_of = utc_from_epoch(stamp)
        if as_of is None:
            raise MalformedAnswer(f"timestamp {stamp!r}", provider=self.name)
        prev = to_decimal(data.get("pc"))
        return Quote(
            symbol=inst.symbol,
            price=price,
            currency=inst.currency or "USD",
            as_of=as_of,
            source=self.name,
            previous_close=prev if prev else None,
            currency_inferred=True,
        )

    def _error(self, resp) -> str:
        try:
            data = self.decode_json(resp)
        except MalformedAnswer:
            return resp.text[:100].strip()
        if isinstance(data, dict) and data.get("error"):
            return str(data["error"])
        return resp.text[:100].strip()
