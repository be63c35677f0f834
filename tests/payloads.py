"""Answers in each price provider's real wire format (see /work/shared/providers.md).

Every builder returns what the provider sends: JSON text or CSV/plain text, ready for
``ReplayServer.route(path, body=...)``. Prices may be given as str, int or Decimal and
are written exactly as given (``"182.65"`` stays ``182.65`` in the JSON), so a test can
assert the exact Decimal an adapter must return. Error bodies come with the HTTP status
the provider uses for them, noted on each function (many are HTTP 200).

Paths each provider is asked on (for ``route``):

    yahoo          /v8/finance/chart/{SYMBOL}, /v7/finance/quote, /v7/finance/spark,
                   /v1/test/getcrumb, /consent/cookie (the cookie, fc.yahoo.com in real life),
                   /v1/finance/search
    stooq          /q/l/
    tiingo         /iex/          (history: /tiingo/daily/{ticker}/prices)
    finnhub        /api/v1/quote
    alphavantage   /query
    amfi           /spages/NAVAll.txt
    mfapi          /mf/{code}/latest
    coingecko      /api/v3/simple/price, /api/v3/coins/list
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from typing import Iterable, Sequence, Union

from replay import to_json

Number = Union[str, int, Decimal]

YAHOO_CHART = "/v8/finance/chart/{symbol}"
YAHOO_QUOTE = "/v7/finance/quote"
YAHOO_SPARK = "/v7/finance/spark"
YAHOO_CRUMB = "/v1/test/getcrumb"
YAHOO_COOKIE = "/consent/cookie"
YAHOO_SEARCH = "/v1/finance/search"
COINGECKO_PRICE = "/api/v3/simple/price"
COINGECKO_LIST = "/api/v3/coins/list"
STOOQ_QUOTE = "/q/l/"
TIINGO_IEX = "/iex/"
FINNHUB_QUOTE = "/api/v1/quote"
ALPHAVANTAGE_QUERY = "/query"
AMFI_NAVALL = "/spages/NAVAll.txt"
MFAPI_LATEST = "/mf/{code}/latest"


def _num(value: Number | None) -> Decimal | None:
    """An exact number for the JSON writer; floats are refused (they are what we avoid)."""
    if value is None:
        return None
    if isinstance(value, float):
        raise TypeError("give prices as str or Decimal, not float")
    return Decimal(str(value))


def epoch_of(text: str) -> int:
    """Epoch seconds of an ISO time taken as UTC: ``epoch_of("2026-09-30 20:00:00")``."""
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return int(dt.timestamp())


# ---- Yahoo Finance ---------------------------------------------------------------------
def yahoo_chart(
    symbol: str,
    price: Number,
    currency: str | None = "USD",
    epoch: int = 1790726918,
    instrument_type: str = "EQUITY",
    previous_close: Number | None = None,
    *,
    history: Sequence[tuple[int, Number | None]] | None = None,
    exchange_timezone: str = "America/New_York",
    gmtoffset: int = -14400,
) -> str:
    """HTTP 200 answer of ``/v8/finance/chart/{symbol}?range=1d&interval=1d``.

    `price` is meta.regularMarketPrice, `epoch` meta.regularMarketTime, `previous_close`
    meta.chartPreviousClose. `history` is [(epoch, close or None)] for the
    timestamp/close arrays (default: one point, the price at `epoch`). A `currency` of
    None leaves the field out.
    """
    points = list(history) if history is not None else [(epoch, price)]
    meta: dict = {
        "currency": currency,
        "symbol": symbol,
        "exchangeName": "NMS",
        "fullExchangeName": "NasdaqGS",
        "instrumentType": instrument_type,
        "firstTradeDate": 345479400,
        "regularMarketTime": epoch,
        "hasPrePostMarketData": True,
        "gmtoffset": gmtoffset,
        "timezone": "EDT",
        "exchangeTimezoneName": exchange_timezone,
        "regularMarketPrice": _num(price),
        "fiftyTwoWeekHigh": _num(price),
        "fiftyTwoWeekLow": _num(price),
        "regularMarketVolume": 4123456,
        "chartPreviousClose": _num(previous_close),
        "priceHint": 2,
        "dataGranularity": "1d",
        "range": "1d",
        "validRanges": ["1d", "5d", "1mo", "3mo", "6mo", "1y", "2y", "5y", "10y", "ytd", "max"],
    }
    if currency is None:
        del meta["currency"]
    if previous_close is None:
        del meta["chartPreviousClose"]
    closes = [_num(c) for _, c in points]
    return to_json(
        {
            "chart": {
                "result": [
                    {
                        "meta": meta,
                        "timestamp": [t for t, _ in points],
                        "indicators": {
                            "quote": [
                                {
                                    "open": closes,
                                    "high": closes,
                                    "low": closes,
                                    "close": closes,
                                    "volume": [None if c is None else 1000 for c in closes],
                                }
                            ],
                            "adjclose": [{"adjclose": closes}],
                        },
                    }
                ],
                "error": None,
            }
        }
    )


def yahoo_not_found() -> str:
    """HTTP 404 body for an unknown or delisted symbol."""
    return to_json(
        {"chart": {"result": None, "error": {"code": "Not Found", "description": "No data found, symbol may be delisted"}}}
    )


def yahoo_unprocessable() -> str:
    """HTTP 422 body for a bad range/interval."""
    return to_json(
        {"chart": {"result": None, "error": {"code": "Unprocessable Entity", "description": "Invalid input - interval=1d is not supported for range=foo"}}}
    )


YAHOO_TOO_MANY = "Too Many Requests"  # HTTP 429, text/plain
YAHOO_EDGE_TOO_MANY = "Edge: Too Many Requests"  # HTTP 429, text/plain, another variant


# ---- Yahoo v7 quote (cookie + crumb) and spark ------------------------------------------
YAHOO_CRUMB_TEXT = "Xk3bT9pQ.aZ"  # HTTP 200, text/plain: the body of /v1/test/getcrumb is the crumb
YAHOO_COOKIE_HEADER = "A3=d=AQABBKx1&S=AQAAAk; Expires=Wed, 30 Sep 2037 00:00:00 GMT; Path=/; SameSite=None"


def yahoo_cookie_answer() -> tuple[int, dict, str]:
    """What fc.yahoo.com answers: a 404 page that still sets the A3 cookie (status, headers, body)."""
    return 404, {"Set-Cookie": YAHOO_COOKIE_HEADER, "Content-Type": "text/html"}, "<html><body>404 Not Found</body></html>"


def yahoo_invalid_crumb() -> str:
    """HTTP 401 body of /v7/finance/quote without (or with a stale) cookie and crumb."""
    return to_json({"finance": {"result": None, "error": {"code": "Unauthorized", "description": "Invalid Crumb"}}})


def yahoo_quote_item(
    symbol: str,
    price: Number | None,
    currency: str | None = "USD",
    epoch: int = 1790726918,
    previous_close: Number | None = None,
    quote_type: str = "EQUITY",
) -> dict:
    """One element of quoteResponse.result (`price` None gives regularMarketPrice null)."""
    item = {
        "language": "en-US",
        "region": "US",
        "quoteType": quote_type,
        "typeDisp": "Equity",
        "quoteSourceName": "Nasdaq Real Time Price",
        "currency": currency,
        "exchange": "NMS",
        "shortName": f"{symbol} Inc.",
        "longName": f"{symbol} Incorporated",
        "marketState": "POST",
        "regularMarketPrice": _num(price),
        "regularMarketTime": epoch,
        "regularMarketChange": None,
        "regularMarketPreviousClose": _num(previous_close),
        "exchangeTimezoneName": "America/New_York",
        "gmtOffSetMilliseconds": -14400000,
        "priceHint": 2,
        "tradeable": False,
        "symbol": symbol,
    }
    if currency is None:
        del item["currency"]
    if previous_close is None:
        del item["regularMarketPreviousClose"]
    return item


def yahoo_quote(items: Iterable[dict]) -> str:
    """HTTP 200 body of ``/v7/finance/quote?symbols=A,B&crumb=C``; unknown symbols are left out."""
    return to_json({"quoteResponse": {"result": list(items), "error": None}})


def yahoo_spark_item(
    symbol: str,
    price: Number | None,
    currency: str = "USD",
    epoch: int = 1790726918,
    previous_close: Number | None = None,
    *,
    empty: bool = False,
) -> dict:
    """One element of spark.result: ``{"symbol", "response": [chart-like result]}``.

    `empty` gives what spark sends for a symbol it has no data for: a meta without a
    price and ``"timestamp": null``.
    """
    meta = {
        "currency": currency,
        "symbol": symbol,
        "exchangeName": "NMS",
        "instrumentType": "EQUITY",
        "regularMarketTime": epoch,
        "gmtoffset": -14400,
        "exchangeTimezoneName": "America/New_York",
        "regularMarketPrice": _num(price),
        "chartPreviousClose": _num(previous_close),
        "previousClose": _num(previous_close),
        "dataGranularity": "5m",
        "range": "1d",
    }
    if empty:
        meta = {"symbol": symbol, "dataGranularity": "5m", "range": "1d"}
        return {"symbol": symbol, "response": [{"meta": meta, "timestamp": None, "indicators": {"quote": [{}]}}]}
    closes = [_num(previous_close) if previous_close is not None else _num(price), _num(price)]
    return {
        "symbol": symbol,
        "response": [
            {"meta": meta, "timestamp": [epoch - 300, epoch], "indicators": {"quote": [{"close": closes}]}}
        ],
    }


def yahoo_spark(items: Iterable[dict]) -> str:
    """HTTP 200 body of ``/v7/finance/spark?symbols=A,B&range=1d&interval=5m`` (at most 20 symbols)."""
    return to_json({"spark": {"result": list(items), "error": None}})


def yahoo_spark_not_found() -> str:
    """HTTP 404 body of spark when none of the symbols asked for is known."""
    return to_json({"spark": {"result": None, "error": {"code": "Not Found", "description": "No data found for spark symbols"}}})


# ---- Stooq -----------------------------------------------------------------------------
def yahoo_search_quote(symbol: str, name: str, quote_type: str = "EQUITY", exchange: str = "NMS",
                       exch_disp: str = "NASDAQ", *, shortname: str | None = None) -> dict:
    """One entry of the search answer's `quotes` (the fields Yahoo sends that we read, and a few more)."""
    type_disp = {"EQUITY": "Equity", "ETF": "ETF", "MUTUALFUND": "Mutual Fund",
                 "CRYPTOCURRENCY": "Cryptocurrency", "INDEX": "Index", "FUTURE": "Futures"}.get(quote_type, quote_type)
    return {
        "exchange": exchange,
        "shortname": shortname if shortname is not None else name[:32],
        "quoteType": quote_type,
        "symbol": symbol,
        "index": "quotes",
        "score": 20000,
        "typeDisp": type_disp,
        "longname": name,
        "exchDisp": exch_disp,
        "isYahooFinance": True,
    }


def yahoo_search(quotes: Iterable[dict]) -> str:
    """HTTP 200 body of ``/v1/finance/search?q=..&quotesCount=10&newsCount=0``."""
    quotes = list(quotes)
    return to_json({"explains": [], "count": len(quotes), "quotes": quotes, "news": [], "nav": [],
                    "lists": [], "researchReports": [], "totalTime": 21})


STOOQ_HEADER = "Symbol,Date,Time,Open,High,Low,Close,Volume"
STOOQ_LIMIT = "Exceeded the daily hits limit"  # HTTP 200, text/plain
# HTTP 200: the proof-of-work page non-browser clients may get instead of the CSV
STOOQ_HTML = (
    "<!DOCTYPE html><html><head><title>stooq</title>"
    "<script>/* proof of work */ var d=\"0000\";</script></head>"
    "<body>Checking your browser...</body></html>"
)


def stooq_row(
    symbol: str,
    close: Number,
    day: str = "2024-01-05",
    time: str = "22:00:04",
    *,
    open: Number | None = None,  # noqa: A002 - the column's name
    high: Number | None = None,
    low: Number | None = None,
    volume: int = 62303020,
) -> tuple:
    """One quote row (`symbol` as Stooq echoes it, e.g. ``AAPL.US``)."""
    return (symbol, day, time, open or close, high or close, low or close, close, volume)


def stooq_nd(symbol: str) -> tuple:
    """The row Stooq sends for a symbol it does not know (still HTTP 200)."""
    return (symbol,) + ("N/D",) * 7


def stooq_csv(rows: Iterable[Sequence[object]], header: bool = True, newline: str = "\r\n") -> str:
    """HTTP 200 body of ``/q/l/?s=a+b&f=sd2t2ohlcv&h&e=csv``: header, then one row per symbol."""
    lines = [STOOQ_HEADER] if header else []
    lines += [",".join(str(v) for v in row) for row in rows]
    return newline.join(lines) + newline


# ---- Tiingo ----------------------------------------------------------------------------
def tiingo_item(
    ticker: str,
    last: Number | None,
    timestamp: str = "2026-09-30T16:00:00-04:00",
    *,
    prev_close: Number | None = None,
    tngo_last: Number | None = None,
) -> dict:
    """One element of the IEX answer. `last` may be None (then set `tngo_last`)."""
    ref = _num(last) if last is not None else _num(tngo_last)
    return {
        "ticker": ticker.upper(),
        "timestamp": timestamp,
        "lastSaleTimestamp": timestamp,
        "quoteTimestamp": timestamp,
        "open": ref,
        "high": ref,
        "low": ref,
        "mid": None,
        "tngoLast": _num(tngo_last) if tngo_last is not None else ref,
        "last": _num(last),
        "lastSize": None if last is None else 100,
        "bidSize": None,
        "bidPrice": None,
        "askPrice": None,
        "askSize": None,
        "volume": 1234567,
        "prevClose": _num(prev_close),
    }


def tiingo_iex(items: Iterable[dict]) -> str:
    """HTTP 200 body of ``/iex/?tickers=a,b``: a JSON array of `tiingo_item`s."""
    return to_json(list(items))


def tiingo_daily(rows: Iterable[tuple[str, Number]]) -> str:
    """HTTP 200 body of ``/tiingo/daily/{t}/prices``: rows are (YYYY-MM-DD, close)."""
    out = []
    for day, close in rows:
        c = _num(close)
        out.append(
            {"date": f"{day}T00:00:00.000Z", "close": c, "high": c, "low": c, "open": c, "volume": 1000,
             "adjClose": c, "adjHigh": c, "adjLow": c, "adjOpen": c, "adjVolume": 1000, "divCash": 0.0, "splitFactor": 1.0}
        )
    return to_json(out)


def tiingo_not_found(ticker: str) -> str:
    """HTTP 404 body for an unknown ticker."""
    return to_json({"detail": f"Error: Ticker '{ticker}' not found"})


def tiingo_rate_limited() -> str:
    """HTTP 429 body over the hourly allocation."""
    return to_json(
        {"detail": "Error: You have run over your hourly request allocation. Please upgrade at https://api.tiingo.com/pricing to have your limits increased."}
    )


def tiingo_invalid_token() -> str:
    """HTTP 401 body for a bad token."""
    return to_json({"detail": "Invalid token."})


# ---- Finnhub ---------------------------------------------------------------------------
def finnhub_quote(c: Number, pc: Number | None = None, t: int = 1781294400, *, h=None, low=None, o=None) -> str:
    """HTTP 200 body of ``/api/v1/quote?symbol=S``: c current, pc previous close, t epoch."""
    cur = _num(c)
    prev = _num(pc) if pc is not None else cur
    d = None if prev is None or cur is None else cur - prev
    return to_json(
        {"c": cur, "d": d, "dp": None if not prev else (d / prev * 100).quantize(Decimal("0.0001")),
         "h": _num(h) if h is not None else cur, "l": _num(low) if low is not None else cur,
         "o": _num(o) if o is not None else prev, "pc": prev, "t": t}
    )


def finnhub_unknown() -> str:
    """HTTP 200 body for an unknown symbol: all zeros."""
    return '{"c":0,"d":null,"dp":null,"h":0,"l":0,"o":0,"pc":0,"t":0}'


def finnhub_limit() -> str:
    """HTTP 429 body."""
    return to_json({"error": "API limit reached. Please try again later. Remaining Limit: 0"})


def finnhub_no_access() -> str:
    """HTTP 403 body (e.g. a non-US symbol on the free plan)."""
    return to_json({"error": "You don't have access to this resource."})


def finnhub_invalid_key() -> str:
    """HTTP 401 body."""
    return to_json({"error": "Invalid API key"})


# ---- Alpha Vantage (every answer is HTTP 200) -------------------------------------------
def alphavantage_global_quote(
    symbol: str,
    price: Number,
    latest_trading_day: str = "2019-11-29",
    previous_close: Number | None = None,
) -> str:
    """Body of ``/query?function=GLOBAL_QUOTE&symbol=S``: all values are strings."""
    p = Decimal(str(price))
    pc = Decimal(str(previous_close)) if previous_close is not None else p
    change = p - pc
    return to_json(
        {
            "Global Quote": {
                "01. symbol": symbol,
                "02. open": f"{pc:.4f}",
                "03. high": f"{max(p, pc):.4f}",
                "04. low": f"{min(p, pc):.4f}",
                "05. price": str(price),
                "06. volume": "3346648",
                "07. latest trading day": latest_trading_day,
                "08. previous close": str(pc),
                "09. change": f"{change:.4f}",
                "10. change percent": f"{(change / pc * 100) if pc else 0:.4f}%",
            }
        }
    )


def alphavantage_empty() -> str:
    """Unknown symbol."""
    return '{\n    "Global Quote": {}\n}'


def alphavantage_invalid_call() -> str:
    """A call the API rejects (e.g. a malformed symbol)."""
    return to_json(
        {"Error Message": "Invalid API call. Please retry or visit the documentation (https://www.alphavantage.co/documentation/) for GLOBAL_QUOTE."}
    )


def alphavantage_bad_key() -> str:
    return to_json(
        {"Error Message": "the parameter apikey is invalid or missing. Please claim your free API key on (https://www.alphavantage.co/support/#api-key). It should take less than 20 seconds."}
    )


def alphavantage_daily_limit() -> str:
    return to_json(
        {"Information": "We have detected your API key as K and our standard API rate limit is 25 requests per day. Please subscribe to any of the premium plans at https://www.alphavantage.co/premium/ to instantly remove all daily rate limits."}
    )


def alphavantage_per_second() -> str:
    return to_json(
        {"Information": "Please consider spreading out your free API requests more sparingly (1 request per second). You may subscribe to any of the premium plans at https://www.alphavantage.co/premium/ to lift the free key rate limit (25 requests per day), raise the per-second burst limit, and instantly unlock all premium endpoints"}
    )


def alphavantage_premium() -> str:
    """A function the free key may not call."""
    return to_json(
        {"Information": "Thank you for using Alpha Vantage! This is a premium endpoint. You may subscribe to any of the premium plans at https://www.alphavantage.co/premium/ to instantly unlock all premium endpoints"}
    )


def alphavantage_note() -> str:
    """The older keys' per-minute limit."""
    return to_json(
        {"Note": "Thank you for using Alpha Vantage! Our standard API call frequency is 5 calls per minute and 500 calls per day. Please visit https://www.alphavantage.co/premium/ if you would like to target a higher API call frequency."}
    )


# ---- AMFI NAVAll.txt ---------------------------------------------------------------------
AMFI_HEADER_8 = (
    "Scheme Code;ISIN Div Payout/ ISIN Growth;ISIN Div Reinvestment;Scheme Name;Plan;Option;Net Asset Value;Date"
)
AMFI_HEADER_6 = "Scheme Code;ISIN Div Payout/ ISIN Growth;ISIN Div Reinvestment;Scheme Name;Net Asset Value;Date"


@dataclass
class AmfiScheme:
    """One row of NAVAll.txt. `nav` may be "N.A."; an ISIN may be "-"; `day` is dd-Mon-YYYY."""

    code: str
    isin_growth: str
    isin_reinvest: str
    name: str
    nav: str
    day: str = "28-Aug-2026"
    plan: str = "Direct Plan"
    option: str = "Growth"

    def line(self, layout: int) -> str:
        if layout == 8:
            fields = [self.code, self.isin_growth, self.isin_reinvest, self.name, self.plan, self.option, self.nav, self.day]
        elif layout == 6:
            fields = [self.code, self.isin_growth, self.isin_reinvest, self.name, self.nav, self.day]
        else:
            raise ValueError("layout is 8 or 6")
        return ";".join(fields)


AMFI_HEADER = object()  # put in `rows` to repeat the header line at that place


def amfi_navall(rows: Iterable[AmfiScheme | str | object], layout: int = 8, newline: str = "\r\n") -> str:
    """HTTP 200 body of NAVAll.txt, as AMFI writes it.

    `rows` mixes `AmfiScheme`s, heading strings (a category like "Open Ended
    Schemes(Equity Scheme - Flexi Cap Fund)" or a fund house) and `AMFI_HEADER` to repeat
    the header. Like the real file, each heading is surrounded by lines holding a
    single space, and the file starts with the header line.
    """
    header = AMFI_HEADER_8 if layout == 8 else AMFI_HEADER_6
    lines = [header, " "]
    for row in rows:
        if row is AMFI_HEADER:
            lines += [header, " "]
        elif isinstance(row, str):
            lines += [row, " "]
        else:
            assert isinstance(row, AmfiScheme)
            lines.append(row.line(layout))
    return newline.join(lines) + newline


# ---- mfapi -------------------------------------------------------------------------------
def mfapi_latest(code: int | str, nav: str, day: str = "17-05-2024", *, name: str = "Test Fund - Direct Plan - Growth",
                 isin_growth: str | None = "INF000000001", fund_house: str = "Test Mutual Fund") -> str:
    """HTTP 200 body of ``/mf/{code}/latest``: `nav` is a string, `day` dd-mm-yyyy."""
    return to_json(
        {
            "meta": {
                "fund_house": fund_house,
                "scheme_type": "Open Ended Schemes",
                "scheme_category": "Equity Scheme - Flexi Cap Fund",
                "scheme_code": int(code),
                "scheme_name": name,
                "isin_growth": isin_growth,
                "isin_div_reinvestment": None,
            },
            "data": [{"date": day, "nav": nav}],
            "status": "SUCCESS",
        }
    )


def mfapi_empty() -> str:
    """HTTP 200 answer for a scheme code mfapi does not know: no data."""
    return to_json({"meta": {}, "data": [], "status": "SUCCESS"})


def mfapi_failed() -> str:
    """HTTP 200 answer with a non-SUCCESS status."""
    return to_json({"status": "FAIL", "data": []})


# ---- CoinGecko (keyless public API) -----------------------------------------------------
def coingecko_price(prices: dict[str, dict[str, Number]], updated_at: int = 1711356300,
                    change_24h: dict[str, dict[str, Number]] | None = None) -> str:
    """HTTP 200 body of ``/api/v3/simple/price?ids=..&vs_currencies=..&include_last_updated_at=true
    &include_24hr_change=true``: ``{id: {vs: price, "last_updated_at": epoch, "<vs>_24h_change": pct}}``.
    Unknown ids are simply missing."""
    out: dict = {}
    for coin, by_ccy in prices.items():
        entry: dict = {ccy: _num(p) for ccy, p in by_ccy.items()}
        for ccy, pct in ((change_24h or {}).get(coin) or {}).items():
            entry[f"{ccy}_24h_change"] = _num(pct)
        entry["last_updated_at"] = updated_at
        out[coin] = entry
    return to_json(out)


def coingecko_coins_list(coins: Iterable[tuple[str, str, str]]) -> str:
    """HTTP 200 body of ``/api/v3/coins/list``: (id, symbol, name) as ``[{"id","symbol","name"}]``."""
    return to_json([{"id": i, "symbol": s, "name": n} for i, s, n in coins])


def coingecko_rate_limited() -> str:
    """HTTP 429 body (sometimes with a Retry-After header)."""
    return to_json({"status": {"error_code": 429, "error_message": "You've exceeded the Rate Limit. Please visit https://www.coingecko.com/en/api/pricing to subscribe to our API plans for higher rate limits."}})


# ---- shared ------------------------------------------------------------------------------
def utc(*args: int) -> datetime:
    """``utc(2024, 1, 5, 21)`` → an aware UTC datetime, for assertions on `as_of`."""
    return datetime(*args, tzinfo=timezone.utc)


# ---- FX: ECB and Frankfurter -------------------------------------------------------------
ECB_DAILY = "/stats/eurofxref/eurofxref-daily.xml"
FRANKFURTER_LATEST = "/v1/latest"


def ecb_daily(day: str, rates: dict[str, str], quote: str = "'") -> str:
    """The gesmes XML of eurofxref-daily.xml; rates per 1 EUR, attributes in `quote` quotes."""
    q = quote
    cubes = "".join(f"<Cube currency={q}{c}{q} rate={q}{r}{q}/>" for c, r in rates.items())
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<gesmes:Envelope xmlns:gesmes="http://www.gesmes.org/xml/2002-08-01" '
        'xmlns="http://www.ecb.int/vocabulary/2002-08-01/eurofxref">'
        "<gesmes:subject>Reference rates</gesmes:subject>"
        "<gesmes:Sender><gesmes:name>European Central Bank</gesmes:name></gesmes:Sender>"
        f"<Cube><Cube time={q}{day}{q}>{cubes}</Cube></Cube></gesmes:Envelope>"
    )


def frankfurter_latest(day: str, rates: dict[str, str], base: str = "EUR") -> str:
    return to_json({"amount": Decimal("1.0"), "base": base, "date": day,
                    "rates": {c: Decimal(r) for c, r in rates.items()}})


ECB_HIST = "/stats/eurofxref/eurofxref-hist.xml"


def ecb_hist(days: dict[str, dict[str, str]], quote: str = "'") -> str:
    """The gesmes XML of eurofxref-hist.xml: one <Cube time> per day in the order given (the
    ECB's is newest first); a rate "N/A" is written as the ECB writes a missing value."""
    q = quote
    cubes = "".join(
        f"<Cube time={q}{day}{q}>"
        + "".join(f"<Cube currency={q}{c}{q} rate={q}{r}{q}/>" for c, r in rates.items())
        + "</Cube>"
        for day, rates in days.items()
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<gesmes:Envelope xmlns:gesmes="http://www.gesmes.org/xml/2002-08-01" '
        'xmlns="http://www.ecb.int/vocabulary/2002-08-01/eurofxref">'
        "<gesmes:subject>Reference rates</gesmes:subject>"
        "<gesmes:Sender><gesmes:name>European Central Bank</gesmes:name></gesmes:Sender>"
        f"<Cube>{cubes}</Cube></gesmes:Envelope>"
    )


def frankfurter_series_path(start: str, end: str = "") -> str:
    """``/v1/2026-01-02..2026-01-09``, or open-ended ``/v1/2026-01-02..``."""
    return f"/v1/{start}..{end}"


def frankfurter_series(days: dict[str, dict[str, str]], base: str = "EUR") -> str:
    """HTTP 200 body of a Frankfurter time series: rates per day, oldest first."""
    ordered = sorted(days)
    return to_json({"amount": Decimal("1.0"), "base": base, "start_date": ordered[0], "end_date": ordered[-1],
                    "rates": {d: {c: Decimal(r) for c, r in days[d].items()} for d in ordered}})
