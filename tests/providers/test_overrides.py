"""PROVIDER_<NAME>_BATCH_SIZE and PROVIDER_<NAME>_RATE_LIMIT: a paid plan or a local replay
server may batch more and call more often; unset, every adapter keeps what it declares."""
from __future__ import annotations

import pytest

from pricing_providers import registry
from pricing_providers.base import RateLimit
from pricing_providers.tiingo import TiingoProvider


def test_unset_the_declared_batch_and_limit_apply():
    p = registry.build("tiingo", {})
    assert p.batch_size == TiingoProvider.batch_size == 100
    assert p.rate_limit == TiingoProvider.rate_limit == RateLimit(50, 3600)


def test_overrides_change_one_instance_not_the_adapter():
    p = registry.build("tiingo", {"PROVIDER_TIINGO_BATCH_SIZE": "500", "PROVIDER_TIINGO_RATE_LIMIT": "1000/60"})
    assert p.batch_size == 500
    assert p.rate_limit == RateLimit(1000, 60.0)
    assert TiingoProvider.batch_size == 100 and TiingoProvider.rate_limit == RateLimit(50, 3600)
    assert registry.build("stooq", {"PROVIDER_TIINGO_BATCH_SIZE": "500"}).batch_size == 50


@pytest.mark.parametrize("setting,value", [
    ("PROVIDER_TIINGO_BATCH_SIZE", "0"), ("PROVIDER_TIINGO_BATCH_SIZE", "many"),
    ("PROVIDER_TIINGO_RATE_LIMIT", "1000"), ("PROVIDER_TIINGO_RATE_LIMIT", "0/60"),
    ("PROVIDER_TIINGO_RATE_LIMIT", "10/0"), ("PROVIDER_TIINGO_RATE_LIMIT", "ten/60"),
])
def test_a_bad_override_is_refused_by_name(setting, value):
    with pytest.raises(ValueError, match=setting):
        registry.build("tiingo", {setting: value})


def test_the_environment_reaches_the_app_config(monkeypatch):
    from webapp.config import from_environment

    monkeypatch.setenv("PROVIDER_TIINGO_BATCH_SIZE", "250")
    monkeypatch.setenv("PROVIDER_TIINGO_RATE_LIMIT", "100/60")
    env = from_environment()
    assert env["PROVIDER_TIINGO_BATCH_SIZE"] == "250" and env["PROVIDER_TIINGO_RATE_LIMIT"] == "100/60"
