"""CoinGecko's keyless public API: crypto prices for many coins in one request.

A canonical symbol `BTC-USD` is a coin ticker and the currency it is quoted in. CoinGecko
wants its own coin ids (`bitcoin`), found through `/api/v3/coins/list` (fetched only when
a ticker is not pinned below, and its answers kept in the store for a day).

Previous close: crypto trades round the clock and has no close. The 24-hour change is
what the market calls the day's move, so `previous_close` is the price 24 hours ago,
derived as price / (1 + change/100) in Decimal, rounded to the quote's own decimal
places (at least cents); None when CoinGecko sends no change.
"""
from __future__ import annotations

import time
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Callable, Sequence

from .base import (
    FetchResult,
    InstrumentRef,
    MalformedAnswer,
    Provider,
    ProviderDown,
    ProviderError,
    Quote,
    RateLimit,
    RateLimited,
    Suggestion,
    UnknownSymbol,
    parse_retry_after,
    to_decimal,
    utc_from_epoch,
)
from .registry import register

PRICE_PATH = "/api/v3/simple/price"
LIST_PATH = "/api/v3/coins/list"

# coins/list holds dozens of coins per popular ticker (wrapped, bridged and copy-cat
# tokens all call themselves "btc" or "eth") and does not rank them, so the list alone
# cannot tell which one a holder means. The most held coins are pinned here; any other
# ticker is resolved only when exactly one coin has it, and an ambiguous one must be
# given its CoinGecko id on the instrument (provider symbol "coingecko"). Kept small on
# purpose: every entry is a claim that this id is the one people hold.
WELL_KNOWN_IDS = {
    "btc": "bitcoin",
    "eth": "ethereum",
    "usdt": "tether",
    "usdc": "usd-coin",
    "bnb": "binancecoin",
    "sol": "solana",
    "xrp": "ripple",
    "ada": "cardano",
    "doge": "dogecoin",
    "dot": "polkadot",
    "ltc": "litecoin",
}


def split_symbol(symbol: str) -> tuple[str, str | None]:
    """`BTC-USD` → ("btc", "usd"); `BTC` → ("btc", None)."""
    base, sep, quote = symbol.strip().rpartition("-")
    if not sep or not base:
        return symbol.strip().lower(), None
    return base.lower(), quote.lower() or None


@register
class CoinGeckoProvider(Provider):
    name = "coingecko"
    label = "CoinGecko (public API, no key)"
    asset_types = frozenset({"crypto"})
    # Ids joined with commas: 100 ids of ~12 characters keep the URL near 1.5 KB, well
    # under the 8 KB request-line limits of common servers and CDNs.
    batch_size = 100
    # Keyless access is limited per IP address and varies with CoinGecko's load; users
    # report 429s at 5 to 15 calls a minute (the keyed demo plan documents 30). Five a
    # minute is 50 requests, 5,000 coins, per 10-minute cycle: far more than needed.
    rate_limit = RateLimit(5, 60)
    needs_key = False
    default_url = "https://api.coingecko.com"
    probe_symbol = InstrumentRef("BTC-USD", "crypto", "USD")
    id_ttl = 24 * 3600  # coins/list changes slowly: resolve each ticker at most daily

    def __init__(self, *args, clock: Callable[[], float] = time.time, **kw) -> None:
        super().__init__(*args, **kw)
        self.clock = clock
        self._list: tuple[float, dict[str, list[str]]] | None = None  # (fetched at, ticker -> ids)
        self._names: list[tuple[str, str, str]] = []  # (id, ticker, name) of that list, for search
        self._list_error: ProviderError | None = None

    @property
    def headers(self) -> dict[str, str]:
        # A free demo key, if configured, raises the limit; the API works without one.
        return {"x-cg-demo-api-key": self.api_key} if self.api_key else {}

    def fetch(self, instruments: Sequence[InstrumentRef]) -> FetchResult:
        out: FetchResult = {}
        wanted: dict[str, list[tuple[InstrumentRef, str]]] = {}  # coin id -> [(inst, vs)]
        self._list_error = None
        for inst in instruments:
            try:
                coin, vs = self._resolve(inst)
            except ProviderError as exc:  # unknown, or coins/list failed: that symbol only
                exc.provider = exc.provider or self.name
                out[inst.symbol] = exc
                continue
            wanted.setdefault(coin, []).append((inst, vs))
        if not wanted:
            if self._list_error is not None and all(v is self._list_error for v in out.values()):
                raise self._list_error  # the whole request failed (e.g. 429): let the chain back off
            return out
        currencies = sorted({vs for pairs in wanted.values() for _, vs in pairs})
        resp = self.http_get(
            PRICE_PATH,
            {
                "ids": ",".join(wanted),
                "vs_currencies": ",".join(currencies),
                "include_last_updated_at": "true",
                "include_24hr_change": "true",
            },
            headers=self.headers,
        )
        data = self._answer(resp)
        for coin, pairs in wanted.items():
            entry = data.get(coin)
            for inst, vs in pairs:
                if not isinstance(entry, dict):
                    out[inst.symbol] = UnknownSymbol(f"CoinGecko has no price for {coin}", provider=self.name)
                else:
                    out[inst.symbol] = self._quote(inst, coin, vs, entry)
        return out

    # ---- ids -------------------------------------------------------------------------------
    def _resolve(self, inst: InstrumentRef) -> tuple[str, str]:
        ticker, vs = split_symbol(inst.symbol)
        vs = vs or (inst.currency or "").lower() or None
        if vs is None:
            raise UnknownSymbol(f"{inst.symbol}: no quote currency (use e.g. BTC-USD)", provider=self.name)
        own = inst.provider_symbols.get(self.name)
        if own:
            return own.strip().lower(), vs
        if ticker in WELL_KNOWN_IDS:
            return WELL_KNOWN_IDS[ticker], vs
        key = f"{self.name}:id:{ticker}"
        known = self.store.get(key)
        if known is None:
            ids = self._coins().get(ticker, [])
            known = ids[0] if len(ids) == 1 else ("?" + ",".join(ids[:5]) if ids else "")
            self.store.set(key, known, self.id_ttl)  # misses too: no list download every cycle
        if not known:
            raise UnknownSymbol(f"CoinGecko lists no coin {ticker!r}", provider=self.name)
        if known.startswith("?"):
            raise UnknownSymbol(
                f"several CoinGecko coins are {ticker!r} ({known[1:]}, ...): give the instrument its CoinGecko id",
                provider=self.name,
            )
        return known, vs

    def _coins(self) -> dict[str, list[str]]:
        if self._list is not None and self.clock() - self._list[0] < self.id_ttl:
            return self._list[1]
        if self._list_error is not None:  # failed earlier in this fetch: do not ask again
            raise self._list_error
        try:
            data = self._json(self.http_get(LIST_PATH, headers=self.headers))
            if not isinstance(data, list):
                raise MalformedAnswer("coins/list: expected a JSON array", provider=self.name)
        except ProviderError as exc:
            self._list_error = exc
            raise
        by_ticker: dict[str, list[str]] = {}
        names: list[tuple[str, str, str]] = []
        for coin in data:
            if isinstance(coin, dict) and coin.get("id") and coin.get("symbol"):
                ticker = str(coin["symbol"]).lower()
                by_ticker.setdefault(ticker, []).append(str(coin["id"]))
                names.append((str(coin["id"]), ticker, str(coin.get("name") or coin["id"])))
        self._list = (self.clock(), by_ticker)
        self._names = names
        return by_ticker

    searchable = True

    def search(self, query: str, *, currency: str | None = None, limit: int = 10) -> list[Suggestion]:
        """Coins by ticker or name, as `TICKER-<currency>` pairs (`currency` defaults to USD).

        Only coins a holding could be priced by are offered: a pinned ticker's own coin, or a
        ticker exactly one coin has (an ambiguous one would be an unknown symbol later).
        """
        self._list_error = None  # a failure of an earlier call is not this call's
        by_ticker = self._coins()
        q = query.strip().lower()
        vs = (currency or "USD").upper()
        ranked: list[tuple[int, int, Suggestion]] = []
        for n, (coin, ticker, name) in enumerate(self._names):
            if not (ticker.isascii() and ticker.isalnum() and len(ticker) <= 12):
                continue  # no symbol the form takes (and some are not tickers at all)
            if ticker in WELL_KNOWN_IDS:
                if WELL_KNOWN_IDS[ticker] != coin:
                    continue
            elif len(by_ticker.get(ticker, ())) != 1:
                continue
            if ticker == q:
                rank = 0
            elif ticker.startswith(q):
                rank = 1
            elif q in name.lower():
                rank = 2
            else:
                continue
            ranked.append((rank, n, Suggestion(f"{ticker.upper()}-{vs}", name, "CoinGecko", vs, "crypto", self.name)))
        ranked.sort(key=lambda t: t[:2])
        return [s for _, _, s in ranked[:limit]]

    # ---- answers -----------------------------------------------------------------------------
    def _json(self, resp) -> object:
        if resp.status_code != 200:
            raise ProviderDown(f"HTTP {resp.status_code}: {resp.text[:100].strip()!r}", provider=self.name)
        data = self.decode_json(resp)
        status = data.get("status") if isinstance(data, dict) else None
        if isinstance(status, dict) and status.get("error_code"):  # errors may come with 200
            message = str(status.get("error_message") or status["error_code"])
            if str(status["error_code"]) == "429":
                raise RateLimited(message, provider=self.name, retry_after=parse_retry_after(resp.headers.get("Retry-After")))
            raise ProviderDown(message, provider=self.name)
        return data

    def _answer(self, resp) -> dict:
        data = self._json(resp)
        if isinstance(data, dict) and "error" in data and not isinstance(data["error"], dict):
            raise MalformedAnswer(f"CoinGecko: {data['error']}", provider=self.name)
        if not isinstance(data, dict):
            raise MalformedAnswer(f"expected a JSON object, got {type(data).__name__}", provider=self.name)
        return data

    def _quote(self, inst: InstrumentRef, coin: str, vs: str, entry: dict) -> Quote | ProviderError:
        price = to_decimal(entry.get(vs))
        if price is None:
            return MalformedAnswer(f"{coin}: no {vs} price", provider=self.name)
        as_of = utc_from_epoch(entry.get("last_updated_at"))
        if as_of is None:
            return MalformedAnswer(f"{coin}: no last_updated_at", provider=self.name)
        return Quote(
            symbol=inst.symbol,
            price=price,
            currency=vs.upper(),
            as_of=as_of,
            source=self.name,
            previous_close=price_24h_ago(price, to_decimal(entry.get(f"{vs}_24h_change"))),
        )


def price_24h_ago(price: Decimal, change_pct: Decimal | None) -> Decimal | None:
    """price / (1 + change/100), at the price's own decimal places (at least 2)."""
    if change_pct is None:
        return None
    factor = 1 + change_pct / 100
    if factor <= 0:
        return None
    exponent = min(price.as_tuple().exponent, -2)  # type: ignore[type-var]
    return (price / factor).quantize(Decimal(1).scaleb(exponent), rounding=ROUND_HALF_EVEN)

