"""The fallback chain: for each instrument, the first provider with a valid quote wins.

Hand-written because the fallback per symbol, the shared circuit breaker and request budget are
Folio's own rules (no library chains quote providers); the in-memory health and throttle serve tests.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Callable, Protocol, Sequence

from .base import InstrumentRef, MalformedAnswer, Provider, ProviderError, Quote, RateLimit, RateLimited

log = logging.getLogger(__name__)


class Health(Protocol):
    """Circuit breaker: remembers failing providers and skips them for a cool-down."""

    def allow(self, provider: str) -> bool: ...
    def success(self, provider: str) -> None: ...
    def failure(self, provider: str, error: ProviderError) -> None: ...


class Throttle(Protocol):
    """Per-provider rate limiter; `acquire` never blocks, False means 'not now'."""

    def acquire(self, provider: str, limit: RateLimit) -> bool: ...


class MemoryHealth:
    """In-process circuit breaker (the app uses a Redis-backed one shared by workers)."""

    def __init__(self, threshold: int = 3, cooldown: float = 300.0, clock: Callable[[], float] = time.time):
        self.threshold, self.cooldown, self.clock = threshold, cooldown, clock
        self.failures: dict[str, int] = defaultdict(int)
        self.open_until: dict[str, float] = {}

    def allow(self, provider: str) -> bool:
        return self.open_until.get(provider, 0.0) <= self.clock()

    def success(self, provider: str) -> None:
        self.failures[provider] = 0
        self.open_until.pop(provider, None)

    def failure(self, provider: str, error: ProviderError) -> None:
        self.failures[provider] += 1
        if self.failures[provider] >= self.threshold or isinstance(error, RateLimited):
            wait = getattr(error, "retry_after", None) or self.cooldown
            self.open_until[provider] = self.clock() + wait


class MemoryThrottle:
    """Sliding-window limiter per provider, in process."""

    def __init__(self, clock: Callable[[], float] = time.time):
        self.clock = clock
        self.calls: dict[str, deque[float]] = defaultdict(deque)
        self.lock = threading.Lock()

    def acquire(self, provider: str, limit: RateLimit) -> bool:
        now = self.clock()
        with self.lock:
            window = self.calls[provider]
            while window and window[0] <= now - limit.period:
                window.popleft()
            if len(window) >= limit.calls:
                return False
            window.append(now)
            return True


@dataclass
class ChainResult:
    quotes: dict[str, Quote] = field(default_factory=dict)
    # symbol -> [(provider, error)], in the order tried
    failures: dict[str, list[tuple[str, ProviderError]]] = field(default_factory=lambda: defaultdict(list))
    # provider -> fetch calls (batches asked)
    calls: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    # provider -> HTTP requests those calls sent (sub-batches, crumb renewal, retries)
    requests: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    @property
    def failed_symbols(self) -> list[str]:
        return sorted(s for s in self.failures if s not in self.quotes)


Validator = Callable[[Quote], "str | None"]


class Chain:
    def __init__(
        self,
        providers: Sequence[Provider],
        *,
        health: Health | None = None,
        throttle: Throttle | None = None,
    ) -> None:
        self.providers = list(providers)
        self.health = health or MemoryHealth()
        self.throttle = throttle or MemoryThrottle()

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.providers]

    def fetch(self, instruments: Sequence[InstrumentRef], validate: Validator | None = None) -> ChainResult:
        result = ChainResult()
        remaining = {i.symbol: i for i in instruments}
        for provider in self.providers:
            todo = [i for i in remaining.values() if provider.covers(i)]
            if not todo:
                continue
            if not provider.configured:
                continue
            if not self.health.allow(provider.name):
                err = ProviderError("skipped: circuit open after repeated failures", provider=provider.name)
                for i in todo:
                    result.failures[i.symbol].append((provider.name, err))
                continue
            self._ask(provider, todo, result, validate)
            for sym in list(remaining):
                if sym in result.quotes:
                    del remaining[sym]
            if not remaining:
                break
        return result

    def _ask(self, provider: Provider, todo: list[InstrumentRef], result: ChainResult, validate: Validator | None) -> None:
        size = max(1, provider.batch_size)
        for start in range(0, len(todo), size):
            batch = todo[start : start + size]
            if not self.health.allow(provider.name):
                err: ProviderError = ProviderError("skipped: circuit open", provider=provider.name)
                self._fail_all(batch, provider, err, result)
                continue
            # the throttle counts HTTP requests: a batch the adapter splits costs more than one
            cost = _requests_for(provider, len(batch))
            if provider.rate_limit and not self._acquire(provider, cost):
                err = RateLimited("skipped: own rate limit reached for this period", provider=provider.name)
                self._fail_all(batch[:], provider, err, result)
                for rest in todo[start + size :]:
                    result.failures[rest.symbol].append((provider.name, err))
                return
            result.calls[provider.name] += 1
            sent_before = getattr(provider, "requests_made", 0)
            try:
                answers = provider.fetch(batch)
            except ProviderError as exc:
                exc.provider = exc.provider or provider.name
                log.warning("provider %s failed for %d symbols: %s", provider.name, len(batch), exc)
                self._fail_all(batch, provider, exc, result)
                self.health.failure(provider.name, exc)
                continue
            except Exception as exc:  # an adapter bug must not stop the cycle
                log.exception("provider %s raised unexpectedly", provider.name)
                err = MalformedAnswer(f"unexpected {type(exc).__name__}: {exc}", provider=provider.name)
                self._fail_all(batch, provider, err, result)
                self.health.failure(provider.name, err)
                continue
            finally:
                self._charge(provider, cost, getattr(provider, "requests_made", 0) - sent_before, result)
            if not isinstance(answers, dict):  # an adapter bug, like the exceptions above
                log.error("provider %s answered %s instead of a dict", provider.name, type(answers).__name__)
                answers = {}
            transient_failures = 0
            for inst in batch:
                answer = answers.get(inst.symbol)
                if answer is None:
                    answer = MalformedAnswer("symbol missing from the answer", provider=provider.name)
                elif not isinstance(answer, (Quote, ProviderError)):
                    answer = MalformedAnswer(f"unexpected answer {type(answer).__name__}", provider=provider.name)
                if isinstance(answer, Quote):
                    reason = _basic_check(answer, inst) or (validate(answer) if validate else None)
                    if reason is None:
                        result.quotes[inst.symbol] = answer
                        continue
                    log.warning("rejected %s from %s: %s", inst.symbol, provider.name, reason)
                    answer = MalformedAnswer(f"rejected: {reason}", provider=provider.name)
                answer.provider = answer.provider or provider.name
                result.failures[inst.symbol].append((provider.name, answer))
                if answer.transient:
                    transient_failures += 1
            if transient_failures and transient_failures == len(batch):
                self.health.failure(provider.name, MalformedAnswer("no usable quote in the batch"))
            else:
                self.health.success(provider.name)

    def _acquire(self, provider: Provider, cost: int) -> bool:
        """Take `cost` tokens; False as soon as one is refused (those taken stay spent)."""
        assert provider.rate_limit is not None
        return all(self.throttle.acquire(provider.name, provider.rate_limit) for _ in range(max(1, cost)))

    def _charge(self, provider: Provider, cost: int, sent: int, result: ChainResult) -> None:
        """Record the requests a fetch sent; those beyond its estimate still use up the limit."""
        result.requests[provider.name] += sent
        if provider.rate_limit:
            for _ in range(sent - max(1, cost)):
                self.throttle.acquire(provider.name, provider.rate_limit)  # sent already: refusal changes nothing

    @staticmethod
    def _fail_all(batch: list[InstrumentRef], provider: Provider, err: ProviderError, result: ChainResult) -> None:
        for inst in batch:
            result.failures[inst.symbol].append((provider.name, err))


def _requests_for(provider: Provider, n: int) -> int:
    try:
        return max(1, int(provider.requests_for(n)))
    except Exception:  # an adapter bug: count the batch as one request, as before
        log.exception("provider %s: requests_for(%d) failed", provider.name, n)
        return 1


def _basic_check(quote: Quote, inst: InstrumentRef | None = None) -> str | None:
    if inst is not None and quote.symbol != inst.symbol:
        return f"quote is for {quote.symbol!r}, not {inst.symbol!r}"
    if not quote.price.is_finite() or quote.price <= 0:
        return f"price {quote.price} is not positive"
    if not quote.currency or len(quote.currency) != 3:
        return f"currency {quote.currency!r} is not an ISO code"
    return None
