"""Exchange-rate providers: ECB reference rates and Frankfurter, the latest day and the history.

Both publish rates per 1 EUR; every other pair is a cross rate through EUR, which
`cross_rates` derives exactly (Decimal). Like the price providers they know nothing
of Flask or the database; base URLs are configurable (PROVIDER_ECB_URL, ...).
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import date, datetime, time, timezone
from decimal import Decimal
from types import MappingProxyType
from typing import ClassVar, Iterable, Mapping
from zoneinfo import ZoneInfo

from .base import MalformedAnswer, Provider, ProviderDown, ProviderError, RateLimit, to_decimal

CET = ZoneInfo("Europe/Berlin")


@dataclass(frozen=True)
class FxRate:
    base: str  # 1 unit of base ...
    quote: str  # ... is `rate` units of quote
    rate: Decimal
    as_of: datetime  # UTC
    source: str


class FxProvider(Provider):
    """Fetches all the rates it publishes at once."""

    batch_size: ClassVar[int] = 1

    def fetch_rates(self) -> list[FxRate]:
        raise NotImplementedError

    def fetch_history(self, since: date | None = None) -> list[FxRate]:
        """Daily rates from `since` (inclusive; all published when None)."""
        raise NotImplementedError


def published(day: date) -> datetime:
    # the ECB publishes around 16:00 CET on each TARGET business day
    return datetime.combine(day, time(16, 0), CET).astimezone(timezone.utc)


class EcbProvider(FxProvider):
    name = "ecb"
    label = "European Central Bank reference rates"
    default_url = "https://www.ecb.europa.eu"
    rate_limit = RateLimit(60, 3600)
    path = "/stats/eurofxref/eurofxref-daily.xml"

    history_path = "/stats/eurofxref/eurofxref-hist.xml"

    def fetch_rates(self) -> list[FxRate]:
        # the daily file has one day; take only the first (newest) should it hold more
        rates = self._parse(self._get_xml(self.path), newest_only=True)
        if not rates:
            raise MalformedAnswer("no rates in the answer", provider=self.name)
        return rates

    def fetch_history(self, since: date | None = None) -> list[FxRate]:
        """Every published day since `since` (all when None) from eurofxref-hist.xml, newest
        first; a currency without a rate that day ('N/A', empty) is skipped, the day kept."""
        root = self._get_xml(self.history_path)
        rates = self._parse(root, since=since)
        if not rates and not any(c.attrib.get("time") for c in root.iter() if c.tag.endswith("Cube")):
            raise MalformedAnswer("no rates in the answer", provider=self.name)
        return rates

    def _get_xml(self, path: str) -> ET.Element:
        resp = self.http_get(path)
        if resp.status_code != 200:
            raise ProviderDown(f"HTTP {resp.status_code}", provider=self.name)
        try:
            return ET.fromstring(resp.content)
        except ET.ParseError as exc:
            raise MalformedAnswer(f"not XML: {exc}", provider=self.name) from None

    def _parse(self, root: ET.Element, since: date | None = None, newest_only: bool = False) -> list[FxRate]:
        rates: list[FxRate] = []
        for cube in root.iter():
            if not cube.tag.endswith("Cube") or "time" not in cube.attrib:
                continue
            try:
                day = date.fromisoformat(cube.attrib["time"])
            except ValueError:
                raise MalformedAnswer(f"bad date {cube.attrib['time']!r}", provider=self.name) from None
            if since is None or day >= since:
                for child in cube:
                    ccy, rate = child.attrib.get("currency", ""), to_decimal(child.attrib.get("rate"))
                    if len(ccy) == 3 and ccy.isalpha() and rate is not None and rate > 0:
                        rates.append(FxRate("EUR", ccy.upper(), rate, published(day), self.name))
            if newest_only:
                break
        return rates


class FrankfurterProvider(FxProvider):
    name = "frankfurter"
    label = "Frankfurter (ECB data)"
    default_url = "https://api.frankfurter.dev"
    rate_limit = RateLimit(60, 3600)

    first_day = date(1999, 1, 4)  # the first ECB reference rates

    def fetch_history(self, since: date | None = None) -> list[FxRate]:
        """The time series `/v1/{since}..` (open-ended: up to the latest day) per 1 EUR."""
        resp = self.http_get(f"/v1/{(since or self.first_day).isoformat()}..", params={"base": "EUR"})
        if resp.status_code != 200:
            raise ProviderDown(f"HTTP {resp.status_code}", provider=self.name)
        body = self.decode_json(resp)
        if not isinstance(body, dict) or not isinstance(body.get("rates"), dict):
            raise MalformedAnswer("no rates object", provider=self.name)
        base = str(body.get("base", "EUR")).upper()
        rates = []
        for text, per_day in body["rates"].items():
            try:
                day = date.fromisoformat(str(text))
            except ValueError:
                raise MalformedAnswer(f"bad date {text!r}", provider=self.name) from None
            if not isinstance(per_day, dict) or (since is not None and day < since):
                continue
            rates += self._rates(base, per_day, day)
        return rates

    def _rates(self, base: str, per_ccy: dict, day: date) -> list[FxRate]:
        rates = []
        for ccy, value in per_ccy.items():
            rate = to_decimal(value)
            if isinstance(ccy, str) and len(ccy) == 3 and rate is not None and rate > 0:
                rates.append(FxRate(base, ccy.upper(), rate, published(day), self.name))
        return rates

    def fetch_rates(self) -> list[FxRate]:
        resp = self.http_get("/v1/latest", params={"base": "EUR"})
        if resp.status_code != 200:
            raise ProviderDown(f"HTTP {resp.status_code}", provider=self.name)
        body = self.decode_json(resp)
        if not isinstance(body, dict) or not isinstance(body.get("rates"), dict):
            raise MalformedAnswer("no rates object", provider=self.name)
        try:
            day = date.fromisoformat(str(body.get("date")))
        except ValueError:
            raise MalformedAnswer(f"bad date {body.get('date')!r}", provider=self.name) from None
        rates = self._rates(str(body.get("base", "EUR")).upper(), body["rates"], day)
        if not rates:
            raise MalformedAnswer("no rates in the answer", provider=self.name)
        return rates


_fx: dict[str, type[FxProvider]] = {"ecb": EcbProvider, "frankfurter": FrankfurterProvider}
fx_providers = MappingProxyType(_fx)


def build_fx(name: str, settings: Mapping[str, object] | None = None) -> FxProvider:
    settings = settings or {}
    try:
        cls = _fx[name]
    except KeyError:
        raise KeyError(f"unknown FX provider {name!r}; known: {', '.join(sorted(_fx))}") from None
    key = name.upper()
    return cls(
        base_url=settings.get(f"PROVIDER_{key}_URL") or None,  # type: ignore[arg-type]
        timeout=float(settings.get("PROVIDER_TIMEOUT", 10)),  # type: ignore[arg-type]
        retries=int(settings.get("PROVIDER_RETRIES", 2)),  # type: ignore[arg-type]
        backoff=float(settings.get("PROVIDER_BACKOFF", 0.5)),  # type: ignore[arg-type]
    )


def fetch_first(providers: Iterable[FxProvider]) -> tuple[list[FxRate], list[tuple[str, ProviderError]]]:
    """The rates of the first provider that answers, and the failures before it."""
    failures: list[tuple[str, ProviderError]] = []
    for p in providers:
        try:
            return p.fetch_rates(), failures
        except ProviderError as exc:
            failures.append((p.name, exc))
    return [], failures


def cross_rates(per_eur: Mapping[str, Decimal]) -> dict[tuple[str, str], Decimal]:
    """Every pair from rates per 1 EUR: A->B = (EUR->B) / (EUR->A), exact to 28 digits."""
    import decimal

    ctx = decimal.Context(prec=28)
    table = dict(per_eur)
    table["EUR"] = Decimal(1)
    return {(a, b): ctx.divide(rb, ra) for a, ra in table.items() for b, rb in table.items() if a != b}
