"""Daily-value CSV files: exchange rates (`date,from,to,rate`) and closes (`date,symbol,close,currency`).

A header row is required (names case-insensitive, columns in any order); every bad line is
reported with its number and reason, so a file is imported whole or not at all. Pure.
"""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import date
from decimal import Context, Decimal, InvalidOperation

from webapp.domain.inputs import SYMBOL_RE, normalise_symbol, parse_decimal

CCY_RE = re.compile(r"[A-Za-z]{3}\Z")
DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}\Z")
MAX_VALUE = Decimal("1e18")  # the columns hold 28 digits, 10 of them decimals
PLACES = Decimal("1e-10")
FX_COLUMNS = ("date", "from", "to", "rate")
CLOSE_COLUMNS = ("date", "symbol", "close", "currency")


@dataclass(frozen=True)
class Close:
    line: int
    day: date
    symbol: str
    close: Decimal
    currency: str


def _rows(text: str, columns: tuple[str, ...], errors: list[str]):
    """(line number, {column: value}) per non-blank data line; header errors go to `errors`."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    header = None
    for fields in reader:
        if not any(f.strip() for f in fields):
            continue
        if header is None:
            header = [f.strip().lower() for f in fields]
            missing = [c for c in columns if c not in header]
            unknown = [f for f in header if f not in columns]
            dupes = sorted({f for f in header if header.count(f) > 1})
            problems = ([f"missing column(s) {', '.join(missing)}"] if missing else []) + \
                ([f"unknown column(s) {', '.join(u[:20] for u in unknown)}"] if unknown else []) + \
                ([f"repeated column(s) {', '.join(dupes)}"] if dupes else [])
            if problems:
                errors.append(f"line {reader.line_num}: the header must name {','.join(columns)}: "
                              + "; ".join(problems))
                return
            continue
        if len(fields) != len(header):
            errors.append(f"line {reader.line_num}: {len(fields)} fields, the header has {len(header)}")
            continue
        yield reader.line_num, {h: f.strip() for h, f in zip(header, fields)}
    if header is None:
        errors.append(f"line 1: empty file; the header must name {','.join(columns)}")


def _day(text: str, today: date) -> date:
    try:
        if not DATE_RE.match(text):
            raise ValueError
        day = date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"date “{text[:20]}” is not YYYY-MM-DD") from None
    if day > today:
        raise ValueError(f"date {day} is in the future")
    return day


def _currency(text: str, column: str) -> str:
    if not CCY_RE.match(text):  # ASCII: "ÄÖÜ".isalpha() is true too
        raise ValueError(f"{column} “{text[:20]}” is not a three-letter currency code")
    return text.upper()


def _positive(text: str, column: str) -> Decimal:
    try:
        value = parse_decimal(text)
    except InvalidOperation:
        raise ValueError(f"{column} “{text[:20]}” is not a number") from None
    if not value.is_finite() or value <= 0:
        raise ValueError(f"{column} {text[:20]} is not a positive number")
    if value >= MAX_VALUE:
        raise ValueError(f"{column} {text[:20]} is too large")
    if value != value.quantize(PLACES, context=Context(prec=40)):
        raise ValueError(f"{column} {text[:20]} has more than 10 decimal places")
    return value


def parse_fx_rates(text: str, today: date) -> tuple[list[tuple[date, str, str, Decimal]], list[str]]:
    """(day, from, to, rate) per line, 1 from = rate to; or the errors, one per bad line."""
    errors: list[str] = []
    seen: dict[tuple[date, str, str], tuple[int, Decimal]] = {}
    for line, row in _rows(text, FX_COLUMNS, errors):
        try:
            day = _day(row["date"], today)
            base, quote = _currency(row["from"], "from"), _currency(row["to"], "to")
            if base == quote:
                raise ValueError(f"from and to are both {base}")
            rate = _positive(row["rate"], "rate")
        except ValueError as exc:
            errors.append(f"line {line}: {exc}")
            continue
        first = seen.setdefault((day, base, quote), (line, rate))
        if first[1] != rate:
            errors.append(f"line {line}: another rate for {base}→{quote} on {day} than line {first[0]}")
    return ([] if errors else [(d, b, q, r) for (d, b, q), (_, r) in seen.items()]), errors


def parse_closes(text: str, today: date) -> tuple[list[Close], list[str]]:
    """One Close per line (a repeated identical line once); or the errors, one per bad line."""
    errors: list[str] = []
    seen: dict[tuple[date, str], Close] = {}
    for line, row in _rows(text, CLOSE_COLUMNS, errors):
        try:
            day = _day(row["date"], today)
            symbol = normalise_symbol(row["symbol"])
            if not SYMBOL_RE.match(symbol):
                raise ValueError(f"symbol “{symbol[:20]}” is not valid (1–20 letters, digits or . - ^ =)")
            close = Close(line, day, symbol, _positive(row["close"], "close"), _currency(row["currency"], "currency"))
        except ValueError as exc:
            errors.append(f"line {line}: {exc}")
            continue
        first = seen.setdefault((day, symbol), close)
        if (first.close, first.currency) != (close.close, close.currency):
            errors.append(f"line {line}: another close for {symbol} on {day} than line {first.line}")
    return ([] if errors else list(seen.values())), errors
