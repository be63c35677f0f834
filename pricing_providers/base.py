"""The provider interface: instruments in, `Quote`s or typed failures out."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Callable, ClassVar, Mapping, Protocol, Sequence
from zoneinfo import ZoneInfo

import requests

# What providers can price. The web app keeps its own list of what users may hold;
# "crypto" is here for the coingecko adapter first.
ASSET_TYPES = ("stock", "etf", "mutual_fund", "crypto")

USER_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/126.0 Safari/537.36 Folio"
)


@dataclass(frozen=True)
class InstrumentRef:
    """What a provider needs to know about an instrument."""

    symbol: str
    asset_type: str = "stock"
    currency: str | None = None
    # provider name -> that provider's own symbol, where it differs
    provider_symbols: Mapping[str, str] = field(default_factory=dict)

    def symbol_for(self, provider: str) -> str:
        return self.provider_symbols.get(provider) or self.symbol


@dataclass(frozen=True)
class Quote:
    symbol: str  # the canonical instrument symbol, not the provider's
    price: Decimal
    currency: str
    as_of: datetime  # the provider's timestamp, UTC
    source: str
    previous_close: Decimal | None = None
    currency_inferred: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.price, Decimal):
            raise TypeError("Quote.price must be a Decimal")
        if self.as_of.tzinfo is None:
            raise ValueError("Quote.as_of must be timezone-aware")


@dataclass(frozen=True)
class Suggestion:
    """An instrument a provider's symbol search offers: what the add-holding form fills in."""

    symbol: str  # the canonical symbol to hold (e.g. `VOD.L`, `122639`, `BTC-USD`)
    name: str
    exchange: str  # as the provider shows it ("NASDAQ", "LSE", "AMFI", "CoinGecko")
    currency: str  # "" when the answer does not tell and it cannot be inferred
    asset_type: str  # one of ASSET_TYPES
    source: str


class ProviderError(Exception):
    """A typed failure for one symbol or a whole request."""

    kind = "error"

    def __init__(self, message: str = "", *, provider: str = "") -> None:
        super().__init__(message or self.kind)
        self.provider = provider

    @property
    def transient(self) -> bool:
        """Whether trying again later may help (counts against provider health)."""
        return True


class UnknownSymbol(ProviderError):
    kind = "unknown_symbol"

    @property
    def transient(self) -> bool:
        return False


class RateLimited(ProviderError):
    kind = "rate_limited"

    def __init__(self, message: str = "", *, provider: str = "", retry_after: float | None = None):
        super().__init__(message, provider=provider)
        self.retry_after = retry_after


class ProviderDown(ProviderError):
    kind = "provider_down"


class MalformedAnswer(ProviderError):
    kind = "malformed_answer"


@dataclass(frozen=True)
class RateLimit:
    """At most `calls` requests per `period` seconds."""

    calls: int
    period: float


FetchResult = dict[str, "Quote | ProviderError"]


class SecretStore(Protocol):
    """Where a provider keeps small strings between cycles (Yahoo's cookie and crumb).

    Providers never import Redis or the web app; the app passes a shared store
    (`store=`), and without one each provider instance keeps its own `MemoryStore`.
    """

    def get(self, name: str) -> str | None: ...
    def set(self, name: str, value: str, ttl: float) -> None: ...


class MemoryStore:
    """In-process `SecretStore`: values expire `ttl` seconds after they were set."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._values: dict[str, tuple[str, float]] = {}

    def get(self, name: str) -> str | None:
        value, until = self._values.get(name, (None, 0.0))
        if value is None or until <= self.clock():
            self._values.pop(name, None)
            return None
        return value

    def set(self, name: str, value: str, ttl: float) -> None:
        self._values[name] = (value, self.clock() + ttl)


class Provider:
    """Base class. Subclasses set the class attributes and implement `fetch`."""

    name: ClassVar[str] = ""
    label: ClassVar[str] = ""
    asset_types: ClassVar[frozenset[str]] = frozenset(ASSET_TYPES)
    batch_size: ClassVar[int] = 1
    rate_limit: ClassVar[RateLimit | None] = None
    needs_key: ClassVar[bool] = False
    default_url: ClassVar[str] = ""
    # a symbol `providers check` asks for
    probe_symbol: ClassVar[InstrumentRef] = InstrumentRef("AAPL", "stock", "USD")
    # PROVIDER_<NAME>_<SUFFIX> settings the registry passes as constructor keywords
    extra_settings: ClassVar[Mapping[str, str]] = {}

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 10.0,
        retries: int = 2,
        backoff: float = 0.5,
        max_retry_after: float = 30.0,
        store: SecretStore | None = None,
    ) -> None:
        self.base_url = (base_url or self.default_url).rstrip("/")
        self.api_key = api_key
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.max_retry_after = max_retry_after
        self.store: SecretStore = store if store is not None else MemoryStore()
        self._session: requests.Session | None = None
        # HTTP requests actually sent (retries included); the chain charges its
        # throttle with what a fetch really cost
        self.requests_made = 0

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} {self.base_url}>"

    @property
    def configured(self) -> bool:
        return bool(self.api_key) or not self.needs_key

    def covers(self, instrument: InstrumentRef) -> bool:
        return instrument.asset_type in self.asset_types

    def fetch(self, instruments: Sequence[InstrumentRef]) -> FetchResult:
        """Return, per canonical symbol, a Quote or a ProviderError.

        A failure of the whole request (provider down, rate limited) may be raised
        instead; the chain then applies it to every symbol of the batch.
        """
        raise NotImplementedError

    def requests_for(self, n: int) -> int:
        """How many HTTP requests a `fetch` of `n` instruments is expected to send.

        The chain takes that many tokens from its throttle before the fetch (and charges
        any extra the fetch turned out to need afterwards, from `requests_made`). One
        request per batch unless the adapter splits batches itself.
        """
        return 1

    def history(self, instrument: InstrumentRef, days: int) -> list[Quote]:
        """Daily closes, oldest first. Providers without history raise ProviderDown."""
        raise ProviderDown("no history from this provider", provider=self.name)

    # Whether `search` is implemented (the web app asks only those that say so).
    searchable: ClassVar[bool] = False

    def search(self, query: str, *, currency: str | None = None, limit: int = 10) -> list[Suggestion]:
        """Instruments whose symbol or name matches `query`, best first (at most `limit`).

        `currency` is the holder's base currency, for providers whose symbols carry one
        (crypto pairs). A failure of the whole search raises a ProviderError.
        """
        raise ProviderDown("no symbol search from this provider", provider=self.name)

    # ---- HTTP helpers for adapters -------------------------------------------------
    @property
    def session(self) -> requests.Session:
        if self._session is None:
            s = requests.Session()
            s.headers["User-Agent"] = USER_AGENT
            s.headers["Accept"] = "*/*"
            self._session = s
        return self._session

    def http_get(self, path: str, params: Mapping[str, str] | None = None, **kw) -> requests.Response:
        """GET with a timeout and bounded retries for 5xx, timeouts and 429.

        Returns the final response for any status below 500 except 429; raises
        RateLimited or ProviderDown when retries are exhausted.
        """
        url = path if path.startswith("http") else f"{self.base_url}{path}"
        attempt = 0
        while True:
            self.requests_made += 1
            try:
                resp = self.session.get(url, params=params, timeout=self.timeout, **kw)
            except requests.Timeout as exc:
                err: ProviderError = ProviderDown(f"timed out after {self.timeout:g}s", provider=self.name)
                wait = None
                cause: Exception = exc
            except requests.RequestException as exc:
                err = ProviderDown(f"connection failed: {type(exc).__name__}", provider=self.name)
                wait = None
                cause = exc
            else:
                if resp.status_code == 429:
                    wait = parse_retry_after(resp.headers.get("Retry-After"))
                    err = RateLimited(
                        f"HTTP 429: {resp.text[:120].strip()}", provider=self.name, retry_after=wait
                    )
                    cause = None
                elif resp.status_code >= 500:
                    wait = parse_retry_after(resp.headers.get("Retry-After"))
                    err = ProviderDown(f"HTTP {resp.status_code}", provider=self.name)
                    cause = None
                else:
                    return resp
            if attempt >= self.retries or (wait is not None and wait > self.max_retry_after):
                raise err from cause
            time.sleep(wait if wait is not None else self.backoff * (2**attempt))
            attempt += 1

    def decode_json(self, resp: requests.Response) -> object:
        """The body as JSON with every non-integer number a `Decimal` (never a float)."""
        try:
            text = resp.content.decode("utf-8", errors="replace").lstrip("\ufeff")
            # NaN / Infinity are no price: read them as null rather than a float
            return json.loads(text, parse_float=Decimal, parse_constant=lambda _: None)
        except ValueError as exc:
            snippet = resp.text[:80].strip().replace("\n", " ")
            raise MalformedAnswer(
                f"HTTP {resp.status_code}: not JSON ({snippet!r})", provider=self.name
            ) from exc

    def fetch_each(
        self,
        instruments: Sequence[InstrumentRef],
        fetch_one: Callable[[InstrumentRef], "Quote | ProviderError"],
    ) -> FetchResult:
        """Ask for one instrument at a time, for providers without a batch endpoint.

        `fetch_one` returns (or raises) a per-symbol failure such as UnknownSymbol or
        MalformedAnswer; a RateLimited or ProviderDown it raises stops the loop, since
        asking again at once would only add to the trouble: the instruments not yet
        asked get that error, and if nothing at all was fetched it is raised for the
        whole request.
        """
        out: FetchResult = {}
        for n, inst in enumerate(instruments):
            try:
                out[inst.symbol] = fetch_one(inst)
            except (RateLimited, ProviderDown) as exc:
                exc.provider = exc.provider or self.name
                if not any(isinstance(v, Quote) for v in out.values()):
                    raise
                for rest in instruments[n:]:
                    out[rest.symbol] = exc
                break
            except ProviderError as exc:
                exc.provider = exc.provider or self.name
                out[inst.symbol] = exc
        return out


def parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def to_decimal(value: object) -> Decimal | None:
    """Parse a price from JSON text or a string; None for null, N/A, NaN or garbage."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, float):  # only if a caller forgot parse_float=Decimal
        value = repr(value)
    try:
        d = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    if not d.is_finite():
        return None
    return d


# Minor-unit listings: (reported currency) -> (major currency, divisor)
MINOR_UNITS = {"GBp": ("GBP", 100), "GBX": ("GBP", 100), "ZAc": ("ZAR", 100), "ILA": ("ILS", 100)}


def to_major_unit(price: Decimal, currency: str) -> tuple[Decimal, str]:
    """Convert pence/cents listings (GBp, GBX, ZAc) to their major currency."""
    if currency in MINOR_UNITS:
        major, div = MINOR_UNITS[currency]
        return price / div, major
    return price, currency.upper()


def local_time_utc(day: date, hour: int, minute: int, tz: str) -> datetime:
    """`day` at hour:minute wall-clock time in the zone `tz`, as a UTC datetime."""
    local = datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZoneInfo(tz))
    return local.astimezone(timezone.utc)


def utc_from_epoch(seconds: object) -> datetime | None:
    try:
        value = int(seconds)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    if value <= 0:
        return None
    return datetime.fromtimestamp(value, tz=timezone.utc)
