"""Yahoo Finance, unofficial and keyless: batches through v7 quote, else spark, else v8 chart.

* v7 `/v7/finance/quote?symbols=A,B&crumb=C`: up to 50 symbols a request; needs a
  cookie (from `cookie_url`, fc.yahoo.com in real life) and a crumb
  (`/v1/test/getcrumb`), both kept in the provider's `store` so workers share them.
  A 401 "Invalid Crumb" renews them once and asks again.
* v7 spark `/v7/finance/spark?symbols=A,B&range=1d&interval=5m`: the keyless fallback
  when no crumb can be had (or the 401 persists), up to 20 symbols a request.
* v8 chart `/v8/finance/chart/{SYMBOL}`: one symbol a request; used for a batch of one
  (no crumb needed, same cost), when spark is unusable too, and for `history()`.
* search `/v1/finance/search?q=…`: instruments by name or symbol, for the add-holding form
  (`search()`; no cookie or crumb).

A rung that fails in a way another may not (no crumb, an answer that is not Yahoo's
JSON) is skipped for `unusable_ttl` seconds, remembered in the store; a 429 or a 5xx
stops the batch instead, since the next rung is the same Yahoo.
"""
from __future__ import annotations

import math
import time
from typing import Callable, Sequence
from urllib.parse import quote as urlquote, urlsplit

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
    to_decimal,
    to_major_unit,
    utc_from_epoch,
)
from .registry import register

QUOTE_PATH = "/v7/finance/quote"
SPARK_PATH = "/v7/finance/spark"
CRUMB_PATH = "/v1/test/getcrumb"
# Where the cookie comes from when the base URL is not Yahoo's own (a replay server)
COOKIE_PATH = "/consent/cookie"
SEARCH_PATH = "/v1/finance/search"

# search's quoteType -> our asset type; other types (INDEX, FUTURE, CURRENCY, OPTION) are skipped
SEARCH_TYPES = {"EQUITY": "stock", "ETF": "etf", "MUTUALFUND": "mutual_fund", "CRYPTOCURRENCY": "crypto"}
# The search answer has no currency. Where the symbol's suffix names one market, its
# currency is clear (prices in pence are converted to pounds by the quote path anyway).
SUFFIX_CURRENCY = {
    "L": "GBP", "IL": "GBP", "DE": "EUR", "F": "EUR", "PA": "EUR", "AS": "EUR", "MI": "EUR", "MC": "EUR",
    "BR": "EUR", "LS": "EUR", "VI": "EUR", "HE": "EUR", "IR": "EUR", "NS": "INR", "BO": "INR", "TO": "CAD",
    "V": "CAD", "AX": "AUD", "NZ": "NZD", "T": "JPY", "HK": "HKD", "SW": "CHF", "ST": "SEK", "OL": "NOK",
    "CO": "DKK", "SI": "SGD", "KS": "KRW", "SA": "BRL", "MX": "MXN", "JO": "ZAR",
}
# Yahoo's codes of US exchanges: a symbol there without a suffix is priced in dollars
US_EXCHANGES = frozenset({"NMS", "NYQ", "NGM", "NCM", "ASE", "PCX", "BTS", "NAS", "NYS", "PNK", "OQB", "OQX", "BATS"})


def search_currency(symbol: str, exchange: str, asset_type: str) -> str:
    """The currency a search hit is quoted in, where the symbol makes it clear; else ""."""
    if asset_type == "crypto":  # BTC-USD: the pair names it
        base, sep, quote = symbol.rpartition("-")
        return quote.upper() if sep and base and len(quote) == 3 and quote.isalpha() else ""
    base, sep, suffix = symbol.rpartition(".")
    if sep and base:
        return SUFFIX_CURRENCY.get(suffix.upper(), "")
    return "USD" if exchange.upper() in US_EXCHANGES else ""


class _Unusable(Exception):
    """This way of asking does not work now; try the next one."""


@register
class YahooProvider(Provider):
    name = "yahoo"
    label = "Yahoo Finance (unofficial quote, spark and chart APIs)"
    asset_types = frozenset({"stock", "etf", "mutual_fund"})
    # The chain hands over 50 symbols at a time: one v7 request, or three spark ones.
    batch_size = 50
    quote_chunk = 50  # v7 fails beyond ~99 symbols; 50 keeps the URL short
    spark_chunk = 20  # spark refuses more than 20 symbols a request
    # Counted in HTTP requests (see requests_for). No published limit; clients report
    # 429s beyond roughly 2000 requests an hour from one address. 200 per 10 minutes
    # stays well under that: 10,000 symbols a cycle through v7, 4,000 through spark.
    rate_limit = RateLimit(200, 600)
    needs_key = False
    default_url = "https://query1.finance.yahoo.com"
    default_cookie_url = "https://fc.yahoo.com/"
    probe_symbol = InstrumentRef("AAPL", "stock", "USD")
    extra_settings = {"COOKIE_URL": "cookie_url"}
    # A crumb lives as long as its cookie (about a year); renew daily regardless.
    crumb_ttl = 24 * 3600

    def __init__(
        self,
        *args,
        clock: Callable[[], float] = time.time,
        cookie_url: str | None = None,
        unusable_ttl: float = 1800.0,
        **kw,
    ) -> None:
        super().__init__(*args, **kw)
        self.clock = clock
        if cookie_url:
            self.cookie_url = cookie_url
        elif self.base_url == self.default_url.rstrip("/"):
            self.cookie_url = self.default_cookie_url
        else:  # never reach out to fc.yahoo.com when pointed at another server
            self.cookie_url = f"{self.base_url}{COOKIE_PATH}"
        self.unusable_ttl = unusable_ttl
        self._key_prefix = f"{self.name}:{urlsplit(self.base_url).netloc}:"

    # ---- the interface -----------------------------------------------------------------
    def requests_for(self, n: int) -> int:
        if n <= 1:
            return 1
        if not self._unusable("quote"):
            crumb = 0 if self.store.get(self._key("crumb")) else 2  # cookie + getcrumb
            return crumb + math.ceil(n / self.quote_chunk)
        if not self._unusable("spark"):
            return math.ceil(n / self.spark_chunk)
        return n

    def fetch(self, instruments: Sequence[InstrumentRef]) -> FetchResult:
        wanted: dict[str, list[InstrumentRef]] = {}
        for inst in instruments:
            wanted.setdefault(inst.symbol_for(self.name), []).append(inst)
        if len(wanted) <= 1:
            return self.fetch_each(instruments, self._quote)

        out: FetchResult = {}
        pending = list(wanted)
        renewed = False

        def ask(symbols: list[str], how: Callable[[list[str]], dict[str, "dict | ProviderError"]], size: int) -> None:
            # Fills `out` chunk by chunk; a chunk that raises _Unusable leaves the rest pending.
            nonlocal pending
            for start in range(0, len(symbols), size):
                chunk = symbols[start : start + size]
                try:
                    answers = how(chunk)
                except (RateLimited, ProviderDown) as exc:
                    exc.provider = exc.provider or self.name
                    if not any(isinstance(v, Quote) for v in out.values()):
                        raise
                    for sym in pending:
                        for inst in wanted[sym]:
                            out[inst.symbol] = exc
                    pending = []
                    return
                for sym in chunk:
                    answer = answers.get(sym)
                    if answer is None:
                        answer = UnknownSymbol(f"{sym} is not in Yahoo's answer", provider=self.name)
                    for inst in wanted[sym]:
                        out[inst.symbol] = answer if isinstance(answer, ProviderError) else self._from_meta(inst, answer)
                pending = [s for s in pending if s not in chunk]

        def v7(chunk: list[str]) -> dict:
            nonlocal renewed
            try:
                return self._v7(chunk, renew=False)
            except _InvalidCrumb:
                if renewed:
                    raise _Unusable("401 Invalid Crumb after renewal") from None
                renewed = True
                return self._v7(chunk, renew=True)

        if not self._unusable("quote"):
            try:
                ask(list(pending), v7, self.quote_chunk)
            except (_Unusable, _InvalidCrumb):
                self._mark_unusable("quote")
        if pending and not self._unusable("spark"):
            try:
                ask(list(pending), self._spark, self.spark_chunk)
            except _Unusable:
                self._mark_unusable("spark")
        if pending:
            rest = [inst for sym in pending for inst in wanted[sym]]
            out.update(self._chart_each(rest, any(isinstance(v, Quote) for v in out.values())))
        return out

    # Consecutive ProviderDown answers from the chart after which the rest of a batch is
    # not asked: the chain's own failure threshold, which used to see each symbol alone.
    chart_down_limit = 3

    def _chart_each(self, instruments: list[InstrumentRef], have_quotes: bool) -> FetchResult:
        """One chart request a symbol. Unlike `fetch_each`, one symbol's ProviderDown (a
        proxy's 4xx page for that path, a timeout) does not stop the batch at once, as it
        did not when each symbol was a batch of its own; a 429, or several failures in a
        row, does."""
        out: FetchResult = {}
        down = 0
        for n, inst in enumerate(instruments):
            try:
                out[inst.symbol] = self._quote(inst)
                down = 0
                have_quotes = True
                continue
            except RateLimited as exc:
                stop: ProviderError | None = exc
            except ProviderDown as exc:
                down += 1
                out[inst.symbol] = exc
                stop = exc if down >= self.chart_down_limit else None
            except ProviderError as exc:
                exc.provider = exc.provider or self.name
                out[inst.symbol] = exc
                down = 0
                continue
            if stop is None:
                continue
            stop.provider = stop.provider or self.name
            if not have_quotes:
                raise stop
            for rest in instruments[n:]:
                out.setdefault(rest.symbol, stop)
            if isinstance(stop, RateLimited):
                out[inst.symbol] = stop
            break
        return out

    searchable = True

    def search(self, query: str, *, currency: str | None = None, limit: int = 10) -> list[Suggestion]:
        """Yahoo's own ranking of instruments for `query` (names and symbols), in our asset types."""
        resp = self.http_get(SEARCH_PATH, {"q": query, "quotesCount": str(limit), "newsCount": "0"})
        if resp.status_code != 200:
            raise ProviderDown(f"search: HTTP {resp.status_code}", provider=self.name)
        data = self.decode_json(resp)
        quotes = data.get("quotes") if isinstance(data, dict) else None
        if not isinstance(quotes, list):
            raise MalformedAnswer("search answer without a quotes list", provider=self.name)
        out: list[Suggestion] = []
        for item in quotes:
            if not isinstance(item, dict):
                continue
            symbol, kind = item.get("symbol"), SEARCH_TYPES.get(str(item.get("quoteType") or ""))
            if not isinstance(symbol, str) or not symbol.strip() or kind is None:
                continue
            symbol = symbol.strip().upper()
            exchange = str(item.get("exchange") or "")
            name = item.get("longname") or item.get("shortname") or symbol
            out.append(Suggestion(symbol, str(name).strip(), str(item.get("exchDisp") or exchange),
                                  search_currency(symbol, exchange, kind), kind, self.name))
        return out[:limit]

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

    # ---- v7 quote with cookie and crumb ----------------------------------------------------
    def _key(self, what: str) -> str:
        return self._key_prefix + what

    def _unusable(self, rung: str) -> bool:
        return self.store.get(self._key(f"unusable:{rung}")) is not None

    def _mark_unusable(self, rung: str) -> None:
        self.store.set(self._key(f"unusable:{rung}"), "1", self.unusable_ttl)

    def _credentials(self, renew: bool) -> tuple[str, str]:
        """(cookie, crumb), from the store unless renewing; _Unusable if none can be had."""
        if not renew:
            crumb, cookie = self.store.get(self._key("crumb")), self.store.get(self._key("cookie"))
            if crumb:
                return cookie or "", crumb
        try:
            self.session.cookies.clear()
            self.http_get(self.cookie_url, allow_redirects=True)  # any status: only Set-Cookie matters
            cookie = "; ".join(f"{c.name}={c.value}" for c in self.session.cookies)
            self.session.cookies.clear()  # the store is the one place the cookie lives
            headers = {"Cookie": cookie} if cookie else {}
            resp = self.http_get(CRUMB_PATH, headers=headers)
        except (RateLimited, ProviderDown) as exc:
            # getcrumb is limited harder than the data endpoints: spark may still answer
            raise _Unusable(f"no crumb: {exc}") from exc
        crumb = resp.text.strip()
        if resp.status_code != 200 or not crumb or len(crumb) > 64 or any(c in crumb for c in "<>{} \n"):
            raise _Unusable(f"no crumb: HTTP {resp.status_code} {crumb[:40]!r}")
        self.store.set(self._key("cookie"), cookie, self.crumb_ttl)
        self.store.set(self._key("crumb"), crumb, self.crumb_ttl)
        return cookie, crumb

    def _v7(self, chunk: list[str], renew: bool) -> dict[str, "dict | ProviderError"]:
        cookie, crumb = self._credentials(renew)
        headers = {"Cookie": cookie} if cookie else {}
        resp = self.http_get(QUOTE_PATH, {"symbols": ",".join(chunk), "crumb": crumb}, headers=headers)
        if resp.status_code == 401:
            raise _InvalidCrumb()
        if resp.status_code != 200:
            raise _Unusable(f"v7 quote: HTTP {resp.status_code}")
        try:
            data = self.decode_json(resp)
        except MalformedAnswer as exc:
            raise _Unusable(str(exc)) from exc
        body = data.get("quoteResponse") if isinstance(data, dict) else None
        results = body.get("result") if isinstance(body, dict) else None
        if not isinstance(results, list) or body.get("error") is not None:
            raise _Unusable("v7 quote: no quoteResponse result")
        by_symbol = {str(r.get("symbol", "")).upper(): r for r in results if isinstance(r, dict)}
        out: dict[str, dict | ProviderError] = {}
        for sym in chunk:
            item = by_symbol.get(sym.upper())
            if item is None:
                continue  # unknown symbols are simply left out
            if to_decimal(item.get("regularMarketPrice")) is None:
                out[sym] = MalformedAnswer(f"{sym}: no regularMarketPrice in the v7 quote", provider=self.name)
                continue
            out[sym] = {
                "meta": {
                    "currency": item.get("currency"),
                    "regularMarketPrice": item.get("regularMarketPrice"),
                    "regularMarketTime": item.get("regularMarketTime"),
                    "previousClose": item.get("regularMarketPreviousClose"),
                }
            }
        return out

    # ---- spark: keyless, 20 symbols a request -------------------------------------------
    def _spark(self, chunk: list[str]) -> dict[str, "dict | ProviderError"]:
        resp = self.http_get(SPARK_PATH, {"symbols": ",".join(chunk), "range": "1d", "interval": "5m"})
        try:
            data = self.decode_json(resp)
        except MalformedAnswer as exc:
            raise _Unusable(f"spark: HTTP {resp.status_code}, {exc}") from exc
        spark = data.get("spark") if isinstance(data, dict) else None
        if not isinstance(spark, dict):
            raise _Unusable(f"spark: HTTP {resp.status_code} without a spark object")
        error, results = spark.get("error"), spark.get("result")
        if isinstance(error, dict) and (resp.status_code == 404 or error.get("code") == "Not Found"):
            # none of the chunk's symbols is known
            return {s: UnknownSymbol(str(error.get("description") or "not found"), provider=self.name) for s in chunk}
        if resp.status_code != 200 or error is not None or not isinstance(results, list):
            raise _Unusable(f"spark: HTTP {resp.status_code} {error!r}")
        out: dict[str, dict | ProviderError] = {}
        for entry in results:
            if not isinstance(entry, dict):
                continue
            sym = next((s for s in chunk if s.upper() == str(entry.get("symbol", "")).upper()), None)
            if sym is None:
                continue
            responses = entry.get("response")
            result = responses[0] if isinstance(responses, list) and responses and isinstance(responses[0], dict) else None
            meta = result.get("meta") if result else None
            if isinstance(entry.get("error"), dict) or not isinstance(meta, dict):
                err = entry.get("error") if isinstance(entry.get("error"), dict) else {}
                out[sym] = UnknownSymbol(f"{sym}: {err.get('description') or 'no data in spark'}", provider=self.name)
            elif to_decimal(meta.get("regularMarketPrice")) is None:
                if not result.get("timestamp"):  # an empty series: Yahoo has nothing for it
                    out[sym] = UnknownSymbol(f"{sym}: no data in spark", provider=self.name)
                else:
                    out[sym] = MalformedAnswer(f"{sym}: no regularMarketPrice in spark", provider=self.name)
            else:
                out[sym] = result
        return out

    # ---- v8 chart: one symbol ------------------------------------------------------------
    def _quote(self, inst: InstrumentRef) -> Quote:
        result = self._chart(inst.symbol_for(self.name), {"range": "1d", "interval": "1d"})
        quote = self._from_meta(inst, result)
        if isinstance(quote, ProviderError):
            raise quote
        return quote

    def _from_meta(self, inst: InstrumentRef, result: dict) -> Quote | ProviderError:
        """A Quote from a chart-like result (chart, a spark response, a v7 item in that shape)."""
        try:
            meta = _meta(result)
            price = to_decimal(meta.get("regularMarketPrice"))
            if price is None:
                raise MalformedAnswer("no regularMarketPrice in the answer", provider=self.name)
            as_of = utc_from_epoch(meta.get("regularMarketTime"))
            if as_of is None:
                stamps = [t for t in (result.get("timestamp") or []) if utc_from_epoch(t)]
                as_of = utc_from_epoch(stamps[-1]) if stamps else None
            if as_of is None:
                raise MalformedAnswer("no regularMarketTime in the answer", provider=self.name)
            currency, inferred = self._currency(meta, inst)
        except MalformedAnswer as exc:
            return exc
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


class _InvalidCrumb(Exception):
    """v7 answered 401: the crumb (or its cookie) is no longer accepted."""


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

