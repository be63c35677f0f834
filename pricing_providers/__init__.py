"""Price providers: turn external price sources into `Quote`s or typed failures.

Providers know nothing of Flask, the database or Redis. The registry builds an
ordered chain of them from configuration; the chain applies fallback, circuit
breaking and rate limiting through small interfaces the caller supplies.
"""
from .base import (
    InstrumentRef,
    MemoryStore,
    MalformedAnswer,
    Provider,
    ProviderDown,
    ProviderError,
    Quote,
    RateLimited,
    SecretStore,
    UnknownSymbol,
)
from .chain import Chain, ChainResult
from .registry import available, build_chain, get, register

__all__ = [
    "Chain",
    "ChainResult",
    "InstrumentRef",
    "MalformedAnswer",
    "MemoryStore",
    "Provider",
    "ProviderDown",
    "ProviderError",
    "Quote",
    "RateLimited",
    "SecretStore",
    "UnknownSymbol",
    "available",
    "build_chain",
    "get",
    "register",
]
