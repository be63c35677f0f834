"""Symbol search for the add-holding form: a few providers asked at once, merged, ranked, cached.

Bounded: at most `MAX_SOURCES` providers (SYMBOL_SEARCH_PROVIDERS), each with a short
timeout and no retry, asked in parallel and given up on after the timeout; queries of 2 to
40 printable characters. A source that fails is left out (the answer says so); when every
source fails the answer is empty with a note, and the form works as before by hand.
"""
from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field

from flask import current_app

from pricing_providers import registry
from pricing_providers.base import Provider, ProviderError, Suggestion
from webapp.services import cache

log = logging.getLogger(__name__)

MIN_QUERY, MAX_QUERY = 2, 40
MAX_SOURCES = 3
MAX_SUGGESTIONS = 10
# an answer some source failed to give is kept only briefly: that source may be back soon
PARTIAL_TTL = 60
NOTE_ALL_DOWN = "Suggestions are unavailable right now. Type the symbol yourself."
NOTE_SOME_DOWN = "Some sources did not answer; there may be more."
NOTE_OFF = "Symbol search is off. Type the symbol yourself."


class BadQuery(ValueError):
    """Not something to search for: too long, or not printable text."""


@dataclass
class SearchResult:
    suggestions: list[Suggestion] = field(default_factory=list)
    note: str = ""
    failed: list[str] = field(default_factory=list)  # the sources that did not answer

    def to_json(self) -> dict:
        return {"suggestions": [asdict(s) for s in self.suggestions], "note": self.note, "failed": self.failed}

    @classmethod
    def from_json(cls, data: dict) -> "SearchResult":
        return cls([Suggestion(**s) for s in data.get("suggestions", [])], data.get("note", ""),
                   list(data.get("failed", [])))


def normalize(query: str | None) -> str | None:
    """The query as searched and cached: trimmed, single-spaced, lower-case. None when too short
    to search; BadQuery when longer than MAX_QUERY or holding unprintable characters."""
    text = " ".join((query or "").split()).lower()
    if len(text) > MAX_QUERY:
        raise BadQuery(f"Search for at most {MAX_QUERY} characters.")
    if not text.isprintable():
        raise BadQuery("Search for printable text only.")
    return text if len(text) >= MIN_QUERY else None


def rank(query: str, suggestions: list[Suggestion], limit: int = MAX_SUGGESTIONS) -> list[Suggestion]:
    """Deduplicated by symbol (the first source to offer one wins), then ordered: the symbol is
    the query (a ticker of a pair or listing counts: `btc` finds BTC-USD, `vod` VOD.L), the symbol
    starts with it, a word of the name starts with it, anything else; each source's order kept."""
    q = query.lower()
    seen: set[str] = set()
    scored: list[tuple[int, int, Suggestion]] = []
    for n, s in enumerate(suggestions):
        sym = s.symbol.upper()
        if sym in seen:
            continue
        seen.add(sym)
        low = sym.lower()
        stem = low.replace("-", ".").split(".")[0]
        words = s.name.lower().split()
        if q in (low, stem):
            score = 0
        elif low.startswith(q):
            score = 1
        elif s.name.lower().startswith(q) or any(w.startswith(q) for w in words):
            score = 2
        else:
            score = 3
        scored.append((score, n, s))
    scored.sort(key=lambda t: t[:2])
    return [s for _, _, s in scored[:limit]]


def source_names() -> list[str]:
    names = registry.parse_names(current_app.config.get("SYMBOL_SEARCH_PROVIDERS") or "")
    return [n for n in names if n in registry.available() and registry.get(n).searchable][:MAX_SOURCES]


def _sources() -> list[Provider]:
    """Search providers of this app, built once per process: AMFI's file and CoinGecko's coin
    list stay in memory between searches."""
    cfg = current_app.config
    built: dict[str, Provider] = current_app.extensions.setdefault("folio_search_providers", {})
    settings = {**cfg, "PROVIDER_TIMEOUT": cfg["SYMBOL_SEARCH_TIMEOUT"], "PROVIDER_RETRIES": 0}
    out = []
    for name in source_names():
        if name not in built:
            built[name] = registry.build(name, settings)
        out.append(built[name])
    return out


def _ask(sources: list[Provider], query: str, currency: str) -> SearchResult:
    timeout = float(current_app.config["SYMBOL_SEARCH_TIMEOUT"])
    pool = ThreadPoolExecutor(max_workers=len(sources), thread_name_prefix="symbol-search")
    try:
        futures = {pool.submit(p.search, query, currency=currency, limit=MAX_SUGGESTIONS): p for p in sources}
        # a download of AMFI's file is several reads: give each source a little over its timeout
        wait(futures, timeout=timeout * 2 + 0.5)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)  # one still running is left behind, not waited for
    found: list[Suggestion] = []
    failed: list[str] = []
    for future, provider in futures.items():
        if not future.done():
            failed.append(provider.name)
            log.warning("symbol search: %s took too long", provider.name)
            continue
        try:
            found += future.result()
        except ProviderError as exc:
            failed.append(provider.name)
            log.warning("symbol search: %s failed: %s (%s)", provider.name, exc.kind, exc)
        except Exception:  # a bug in an adapter must not break the form
            failed.append(provider.name)
            log.exception("symbol search: %s raised", provider.name)
    result = SearchResult(rank(query, found), failed=failed)
    if failed:
        result.note = NOTE_ALL_DOWN if len(failed) == len(sources) else NOTE_SOME_DOWN
    return result


def suggest(query: str | None, currency: str | None = None) -> SearchResult:
    """Suggestions for what a user typed; crypto pairs are offered in `currency` (else USD)."""
    q = normalize(query)
    if q is None:
        return SearchResult()
    ccy = (currency or "USD").upper()
    try:
        cached = cache.read_suggestions(ccy, q)
    except cache.RedisError:
        cached = None
    if cached is not None:
        return SearchResult.from_json(cached)
    sources = _sources()
    if not sources:
        return SearchResult(note=NOTE_OFF)
    result = _ask(sources, q, ccy)
    ttl = PARTIAL_TTL if result.failed else int(current_app.config["SYMBOL_SEARCH_CACHE_SECONDS"])
    try:
        cache.write_suggestions(ccy, q, result.to_json(), ttl)
    except cache.RedisError:
        log.warning("symbol search: could not cache the answer for %r", q)
    return result
