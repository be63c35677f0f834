"""mfapi.in: the latest NAV of one Indian mutual fund by AMFI scheme code (AMFI's fallback).

Reported stale since Aug 2026: the quote keeps mfapi's own NAV date as `as_of`, so an
old NAV shows as old and the caller's staleness check can reject it.
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Sequence
from urllib.parse import quote as urlquote

from .amfi import NAV_TIME, NAV_TZ
from .base import (
    FetchResult,
    InstrumentRef,
    MalformedAnswer,
    Provider,
    ProviderDown,
    Quote,
    RateLimit,
    UnknownSymbol,
    local_time_utc,
    to_decimal,
)
from .registry import register


def parse_mfapi_date(text: object) -> date | None:
    try:
        return datetime.strptime(str(text).strip(), "%d-%m-%Y").date()
    except ValueError:
        return None


@register
class MfapiProvider(Provider):
    name = "mfapi"
    label = "mfapi.in (Indian fund NAVs)"
    asset_types = frozenset({"mutual_fund"})
    batch_size = 1
    rate_limit = RateLimit(60, 60)  # no published limit: stay polite
    needs_key = False
    default_url = "https://api.mfapi.in"
    probe_symbol = InstrumentRef("122639", "mutual_fund", "INR")

    def scheme_code(self, inst: InstrumentRef) -> str | None:
        # mfapi uses AMFI's scheme codes, so an instrument's AMFI code serves too
        for candidate in (inst.provider_symbols.get(self.name), inst.provider_symbols.get("amfi"), inst.symbol):
            if candidate and candidate.strip().isdigit():
                return candidate.strip()
        return None

    def fetch(self, instruments: Sequence[InstrumentRef]) -> FetchResult:
        return self.fetch_each(instruments, self._quote)

    def _quote(self, inst: InstrumentRef) -> Quote:
        code = self.scheme_code(inst)
        if code is None:
            raise UnknownSymbol(f"no AMFI scheme code for {inst.symbol}", provider=self.name)
        resp = self.http_get(f"/mf/{urlquote(code)}/latest")
        if resp.status_code == 404:
            raise UnknownSymbol(f"mfapi has no scheme {code}", provider=self.name)
        if resp.status_code != 200:
            raise ProviderDown(f"HTTP {resp.status_code}: {resp.text[:80].strip()!r}", provider=self.name)
        data = self.decode_json(resp)
        if not isinstance(data, dict) or not data:
            raise UnknownSymbol(f"mfapi has no scheme {code}", provider=self.name)
        status = str(data.get("status", "")).upper()
        rows = data.get("data")
        if status != "SUCCESS" or not isinstance(rows, list) or not rows:
            raise UnknownSymbol(f"mfapi has no NAV for scheme {code} (status {status or 'missing'})", provider=self.name)
        meta = data.get("meta") if isinstance(data.get("meta"), dict) else {}
        answered = str(meta.get("scheme_code", code)).strip()
        if answered != code:
            raise MalformedAnswer(f"asked for scheme {code}, got {answered}", provider=self.name)
        # newest first, says the doc; take the newest dated row rather than trust the order
        dated = [(parse_mfapi_date(r.get("date")), r) for r in rows if isinstance(r, dict)]
        dated = [(d, r) for d, r in dated if d is not None]
        if not dated:
            raise MalformedAnswer(f"no dated NAV for scheme {code}", provider=self.name)
        day, row = max(dated, key=lambda dr: dr[0])
        nav = to_decimal(row.get("nav"))
        if nav is None:
            raise MalformedAnswer(f"nav {row.get('nav')!r} for scheme {code}", provider=self.name)
        return Quote(
            symbol=inst.symbol,
            price=nav,
            currency="INR",
            as_of=local_time_utc(day, *NAV_TIME, NAV_TZ),
            source=self.name,
        )
