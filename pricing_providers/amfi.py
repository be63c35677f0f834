"""AMFI's daily NAVAll.txt: every Indian mutual fund's latest NAV in one file, no key.

The file (about 1.6 MB) changes once a day, so the parsed table is kept on the
instance and downloaded again at most once per `refresh_interval`, conditionally
(If-None-Match / If-Modified-Since; a 304 keeps the table). Schemes are found by
AMFI scheme code or by ISIN; `search()` finds them by words of their names.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Callable, Sequence

from .base import (
    FetchResult,
    InstrumentRef,
    MalformedAnswer,
    Provider,
    ProviderDown,
    ProviderError,
    Quote,
    RateLimit,
    Suggestion,
    UnknownSymbol,
    local_time_utc,
    to_decimal,
)
from .registry import register

log = logging.getLogger(__name__)

NAVALL_PATH = "/spages/NAVAll.txt"
MONTHS = {m: i for i, m in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), start=1)}
# NAVs are struck at the Indian market's close; a NAV dated D is "as of" D 15:30 IST.
NAV_TIME = (15, 30)
NAV_TZ = "Asia/Kolkata"


def parse_amfi_date(text: str) -> date | None:
    """dd-Mon-YYYY (28-Aug-2026), any case; None when it is not one."""
    try:
        d, mon, y = text.strip().split("-")
        return date(int(y), MONTHS[mon[:3].lower()], int(d))
    except (ValueError, KeyError):
        return None


@dataclass(frozen=True)
class Scheme:
    code: str
    name: str
    nav: Decimal | None  # None for "N.A."
    day: date | None
    isins: tuple[str, ...] = ()


@dataclass
class NavTable:
    by_code: dict[str, Scheme] = field(default_factory=dict)
    by_isin: dict[str, Scheme] = field(default_factory=dict)
    skipped: int = 0  # rows with ';' that could not be read

    def find(self, key: str) -> Scheme | None:
        key = key.strip()
        return self.by_code.get(key) or self.by_isin.get(key.upper())


@dataclass(frozen=True)
class Columns:
    width: int
    code: int
    isins: tuple[int, ...]
    name: int
    nav: int
    day: int


# Where the header is missing, the two layouts AMFI has used, by field count.
LAYOUTS = {
    8: Columns(8, 0, (1, 2), 3, 6, 7),  # since Aug 2026: ...;Scheme Name;Plan;Option;NAV;Date
    6: Columns(6, 0, (1, 2), 3, 4, 5),
}


def _columns(header: list[str]) -> Columns | None:
    names = [h.strip().lower() for h in header]

    def find(pred) -> int | None:
        return next((i for i, n in enumerate(names) if pred(n)), None)

    code = find(lambda n: n == "scheme code")
    nav = find(lambda n: n.startswith("net asset value") or n == "nav")
    day = find(lambda n: n == "date")
    name = find(lambda n: n == "scheme name")
    isins = tuple(i for i, n in enumerate(names) if "isin" in n)
    if code is None or nav is None or day is None:
        return None
    return Columns(len(names), code, isins, name if name is not None else code, nav, day)


def parse_navall(text: str) -> NavTable:
    """Read NAVAll.txt in either layout; columns come from the (repeatable) header line."""
    table = NavTable()
    columns: Columns | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if ";" not in line:
            continue  # blank (maybe a lone space), a category or a fund-house heading
        fields = [f.strip() for f in line.split(";")]
        if fields[0].lower() == "scheme code":
            columns = _columns(fields) or columns
            continue
        cols = columns if columns is not None and columns.width == len(fields) else LAYOUTS.get(len(fields))
        if cols is None:
            if len(fields) < 5:
                table.skipped += 1
                continue
            # a ';' inside a scheme name: NAV and date are still the last two fields
            cols = Columns(len(fields), 0, (1, 2), 3, len(fields) - 2, len(fields) - 1)
        code = fields[cols.code]
        if not code.isdigit():
            table.skipped += 1
            continue
        isins = tuple(
            fields[i].upper() for i in cols.isins if len(fields[i]) == 12 and fields[i].isalnum()
        )
        scheme = Scheme(
            code=code,
            name=fields[cols.name],
            nav=to_decimal(fields[cols.nav].replace(",", "")),  # "N.A." → None
            day=parse_amfi_date(fields[cols.day]),
            isins=isins,
        )
        table.by_code[code] = scheme
        for isin in isins:
            table.by_isin[isin] = scheme
    return table


@register
class AmfiProvider(Provider):
    name = "amfi"
    label = "AMFI India (daily NAV file)"
    asset_types = frozenset({"mutual_fund"})
    batch_size = 5000  # the whole file answers any number of schemes
    # Downloads are cached; this bounds the calls (and retries while AMFI is down).
    rate_limit = RateLimit(30, 3600)
    needs_key = False
    default_url = "https://portal.amfiindia.com"
    probe_symbol = InstrumentRef("122639", "mutual_fund", "INR")  # Parag Parikh Flexi Cap, direct growth

    def __init__(
        self,
        *args,
        refresh_interval: float = 6 * 3600,
        clock: Callable[[], float] = time.monotonic,
        **kw,
    ) -> None:
        super().__init__(*args, **kw)
        self.refresh_interval = refresh_interval
        self.clock = clock
        self._table: NavTable | None = None
        self._loaded_at: float | None = None
        self._etag: str | None = None
        self._last_modified: str | None = None
        self._lock = threading.Lock()

    @property
    def file_url(self) -> str:
        # PROVIDER_AMFI_URL may name the file itself, or just the host
        return self.base_url if self.base_url.lower().endswith(".txt") else f"{self.base_url}{NAVALL_PATH}"

    def fetch(self, instruments: Sequence[InstrumentRef]) -> FetchResult:
        table = self.table()
        out: FetchResult = {}
        for inst in instruments:
            out[inst.symbol] = self._quote(table, inst)
        return out

    searchable = True

    def search(self, query: str, *, currency: str | None = None, limit: int = 10) -> list[Suggestion]:
        """Schemes whose name holds every word of `query` (any case), or whose code or ISIN it is."""
        table = self.table()
        exact = table.find(query)
        words = query.lower().split()
        found = [exact] if exact is not None else []
        for scheme in table.by_code.values():
            if len(found) >= limit:
                break
            name = scheme.name.lower()
            if scheme is not exact and all(w in name for w in words):
                found.append(scheme)
        return [Suggestion(s.code, s.name, "AMFI", "INR", "mutual_fund", self.name) for s in found]

    def table(self) -> NavTable:
        """The parsed file: from memory while fresh, else downloaded (conditionally)."""
        with self._lock:
            now = self.clock()
            if self._table is not None and self._loaded_at is not None and now - self._loaded_at < self.refresh_interval:
                return self._table
            try:
                self._download(now)
            except ProviderError as exc:
                if self._table is None:
                    raise
                # Every row carries its own NAV date, so yesterday's file is still honest.
                log.warning("amfi: download failed (%s); using the file from memory", exc)
            assert self._table is not None
            return self._table

    def _download(self, now: float) -> None:
        headers = {}
        if self._table is not None:
            if self._etag:
                headers["If-None-Match"] = self._etag
            if self._last_modified:
                headers["If-Modified-Since"] = self._last_modified
        resp = self.http_get(self.file_url, headers=headers)
        if resp.status_code == 304 and self._table is not None:
            self._loaded_at = now
            return
        if resp.status_code != 200:
            raise ProviderDown(f"HTTP {resp.status_code} for NAVAll.txt", provider=self.name)
        text = resp.content.decode("utf-8", errors="replace").lstrip("\ufeff")
        table = parse_navall(text)
        if not table.by_code:
            snippet = " ".join(text[:80].split())
            raise ProviderDown(f"not a NAVAll file: {snippet!r}", provider=self.name)
        self._table = table
        self._loaded_at = now
        self._etag = resp.headers.get("ETag")
        self._last_modified = resp.headers.get("Last-Modified")

    def _quote(self, table: NavTable, inst: InstrumentRef) -> Quote | ProviderError:
        keys = [inst.symbol_for(self.name), inst.symbol]
        scheme = next((s for s in (table.find(k) for k in keys) if s is not None), None)
        if scheme is None:
            return UnknownSymbol(f"no AMFI scheme {keys[0]}", provider=self.name)
        if scheme.nav is None:
            return UnknownSymbol(f"AMFI has no NAV for scheme {scheme.code} (N.A.)", provider=self.name)
        if scheme.day is None:
            return MalformedAnswer(f"AMFI scheme {scheme.code} has no valid NAV date", provider=self.name)
        return Quote(
            symbol=inst.symbol,
            price=scheme.nav,
            currency="INR",
            as_of=local_time_utc(scheme.day, *NAV_TIME, NAV_TZ),
            source=self.name,
        )
