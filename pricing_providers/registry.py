"""Known providers by name, and the chain built from `PRICE_PROVIDERS`."""
from __future__ import annotations

import importlib
from types import MappingProxyType
from typing import Mapping

from .base import Provider, RateLimit, SecretStore
from .chain import Chain, Health, Throttle

_providers: dict[str, type[Provider]] = {}
providers = MappingProxyType(_providers)  # read-only view

# Built-in adapters: one module each; adding a provider = one module + one line here.
BUILTIN_MODULES = (
    "simulated",
    "manual",
    "yahoo",
    "stooq",
    "tiingo",
    "finnhub",
    "alphavantage",
    "amfi",
    "mfapi",
    "coingecko",
)


def register(cls: type[Provider]) -> type[Provider]:
    """Class decorator. Refuses a second provider with the same name."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no name")
    existing = _providers.get(cls.name)
    if existing is not None and existing is not cls:
        raise ValueError(f"a provider named {cls.name!r} is already registered ({existing.__name__})")
    _providers[cls.name] = cls
    return cls


def _load_builtins() -> None:
    for mod in BUILTIN_MODULES:
        try:
            importlib.import_module(f"{__package__}.{mod}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__package__}.{mod}":
                raise


def available() -> list[str]:
    _load_builtins()
    return sorted(_providers)


def get(name: str) -> type[Provider]:
    _load_builtins()
    try:
        return _providers[name]
    except KeyError:
        known = ", ".join(sorted(_providers)) or "none"
        raise KeyError(f"unknown price provider {name!r}; known providers: {known}") from None


def parse_names(spec: str | list[str] | tuple[str, ...]) -> list[str]:
    if isinstance(spec, str):
        spec = spec.split(",")
    names = [n.strip().lower() for n in spec if n and n.strip()]
    seen: list[str] = []
    for n in names:
        if n not in seen:
            seen.append(n)
    return seen


def build(name: str, settings: Mapping[str, object] | None = None, **kw) -> Provider:
    """Instantiate a provider from its `PROVIDER_<NAME>_...` settings.

    `_URL` and `_API_KEY` configure where and as whom; an adapter may read more
    (`extra_settings`, e.g. `PROVIDER_YAHOO_COOKIE_URL`); `_BATCH_SIZE` (symbols per request)
    and `_RATE_LIMIT` (`<calls>/<seconds>`, e.g. `600/60`) override what the adapter
    declares, for a paid plan or a local replay server. Unset, the declared values apply.
    """
    settings = settings or {}
    cls = get(name)
    key = name.upper()
    for suffix, keyword in cls.extra_settings.items():  # e.g. PROVIDER_YAHOO_COOKIE_URL
        value = settings.get(f"PROVIDER_{key}_{suffix}")
        if value and keyword not in kw:
            kw[keyword] = value
    provider = cls(
        base_url=settings.get(f"PROVIDER_{key}_URL") or None,  # type: ignore[arg-type]
        api_key=settings.get(f"PROVIDER_{key}_API_KEY") or None,  # type: ignore[arg-type]
        timeout=float(settings.get("PROVIDER_TIMEOUT", 10)),  # type: ignore[arg-type]
        retries=int(settings.get("PROVIDER_RETRIES", 2)),  # type: ignore[arg-type]
        backoff=float(settings.get("PROVIDER_BACKOFF", 0.5)),  # type: ignore[arg-type]
        **kw,
    )
    batch = settings.get(f"PROVIDER_{key}_BATCH_SIZE")
    if batch:
        provider.batch_size = parse_batch_size(str(batch), f"PROVIDER_{key}_BATCH_SIZE")
    limit = settings.get(f"PROVIDER_{key}_RATE_LIMIT")
    if limit:
        provider.rate_limit = parse_rate_limit(str(limit), f"PROVIDER_{key}_RATE_LIMIT")
    return provider


def parse_batch_size(text: str, setting: str = "batch size") -> int:
    try:
        size = int(text.strip())
    except ValueError:
        size = 0
    if size < 1:
        raise ValueError(f"{setting} must be a whole number of symbols, at least 1; got {text!r}")
    return size


def parse_rate_limit(text: str, setting: str = "rate limit") -> RateLimit:
    """`<calls>/<seconds>`, e.g. `50/3600`: at most that many requests per period."""
    calls, sep, period = text.strip().partition("/")
    try:
        limit = RateLimit(int(calls), float(period))
    except ValueError:
        limit = None
    if not sep or limit is None or limit.calls < 1 or limit.period <= 0:
        raise ValueError(f"{setting} must look like <calls>/<seconds>, e.g. 600/60; got {text!r}")
    return limit


def build_chain(
    spec: str | list[str],
    settings: Mapping[str, object] | None = None,
    *,
    health: Health | None = None,
    throttle: Throttle | None = None,
    extra: Mapping[str, Provider] | None = None,
    store: SecretStore | None = None,
) -> Chain:
    """Build the ordered chain. `extra` supplies ready instances (e.g. the manual provider).

    `store` is where providers keep what should outlive one chain (Yahoo's cookie and
    crumb, CoinGecko's symbol → id map); the app passes one shared by its workers.
    Without it each provider keeps its own in memory, so a chain built per cycle
    renews Yahoo's crumb every cycle (two extra requests).
    """
    extra = extra or {}
    kw = {"store": store} if store is not None else {}
    chain = [extra[n] if n in extra else build(n, settings, **kw) for n in parse_names(spec)]
    return Chain(chain, health=health, throttle=throttle)
