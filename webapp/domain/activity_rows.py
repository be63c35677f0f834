"""What the activity-file parsers share: their row and error values, and reading one value.

Each format (webapp/domain/activity_csv.py, ghostfolio.py, broker_csv.py) reads its file into
`ParsedActivity` rows and `RowError`s with these helpers, so a number, a symbol or a currency is
accepted or refused the same way, with the same words, whichever file it came from. Pure.
"""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Iterator, Mapping

from webapp.domain.csv_format import MAX_BYTES
from webapp.domain.inputs import (
    CONTROL_RE,
    MAX_QUANTITY,
    QUANTITY_PLACES,
    SYMBOL_RE,
    normalise_symbol,
)
from webapp.domain.ledger import Activity, validate
from webapp.domain.money import EXACT

PLACES = Decimal(1).scaleb(-QUANTITY_PLACES)  # what the columns hold: 10 decimal places
MAX_ACCOUNT = 80  # accounts.name is VARCHAR(80)
MAX_NOTE = 500
NUMBER_RE = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)\Z")
NOT_FINITE_RE = re.compile(r"[+-]?(s?nan|inf|infinity)\Z", re.IGNORECASE)
# Prices quoted in a currency's hundredth (London in pence, Johannesburg in cents, Tel Aviv
# in agorot). The codes are case-sensitive on purpose: "GBp" is pence, "GBP" is pounds.
SUBUNITS = {"GBp": "GBP", "GBX": "GBP", "GBx": "GBP", "ZAc": "ZAR", "ZAC": "ZAR", "ILA": "ILS"}


@dataclass(frozen=True)
class RowError:
    """One problem, where it is: `line` in the file (for JSON: the activity's position, 1 for
    the first, 0 for the file as a whole); `column` a header name, "column 11" for a value past
    the last named column, or None for the whole row."""
    line: int
    column: str | None
    message: str

    def __str__(self) -> str:
        return f"line {self.line}" + (f", {self.column}" if self.column else "") + f": {self.message}"


@dataclass(frozen=True)
class ParsedActivity:
    """One activity read from a file. `activity.account` is 0: the caller maps `account`, the
    name as the file gives it, to one of the user's accounts."""
    line: int
    account: str
    activity: Activity


def decode(data: bytes | str, errors: list[RowError]) -> str | None:
    """The file's text (a byte-order mark dropped), or None with the reason in `errors`."""
    size = len(data) if isinstance(data, bytes) else len(data.encode("utf-8", "surrogatepass"))
    if size > MAX_BYTES:
        errors.append(RowError(1, None, f"The file is larger than {MAX_BYTES // (1024 * 1024)} MB; split it."))
        return None
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = data[:exc.start].count(b"\n") + 1
            errors.append(RowError(line, None, "The file is not UTF-8 text (save it as “CSV UTF-8” or JSON "
                                               "in UTF-8)."))
            return None
    text = data.lstrip("\ufeff")
    if "\x00" in text:
        errors.append(RowError(text[:text.index("\x00")].count("\n") + 1, None, "The file is not a text file."))
        return None
    return text


def parse_number(text: str) -> Decimal:
    """A number as a file writes it: plain digits, a dot for decimals, an optional sign; exact.

    A comma is refused rather than guessed at: "1,234" is a thousand and some in one country
    and one and a bit in another.
    """
    t = text.strip()
    if "," in t:
        raise ValueError(f"“{t[:40]}” has a comma: write numbers without thousands separators and "
                         "with a dot for decimals (like 1234.5).")
    if NOT_FINITE_RE.match(t):
        raise ValueError(f"“{t[:40]}” is not a finite number.")
    if not NUMBER_RE.match(t):
        raise ValueError(f"“{t[:40]}” is not a number (write plain digits with a dot for decimals, like 1234.5).")
    return checked(Decimal(t))


def checked(value: Decimal) -> Decimal:
    """A finite number that the database columns hold exactly (below 10^15, 10 decimal places)."""
    if not value.is_finite():
        raise ValueError("The value is not a finite number.")
    if abs(value) >= MAX_QUANTITY:
        raise ValueError(f"{value:f} is too large (the limit is 1,000,000,000,000,000).")
    if value != value.quantize(PLACES, context=EXACT):
        raise ValueError(f"{value:f} has more than {QUANTITY_PLACES} decimal places.")
    return value


def rounded(value: Decimal) -> Decimal:
    """A computed amount (shares × price, pence ÷ 100) kept to the 10 places a column holds;
    one that has no more is left as it is (4.80 stays 4.80)."""
    if not value.is_finite() or value.as_tuple().exponent >= -QUANTITY_PLACES or abs(value) >= MAX_QUANTITY:
        return value  # nothing to round, or for `checked` to refuse
    return value.quantize(PLACES, rounding=ROUND_HALF_EVEN, context=EXACT)


def major(currency: str, amount: Decimal | None) -> tuple[str, Decimal | None]:
    """A subunit quote in its currency: ("GBX", 4947) is ("GBP", 49.47)."""
    if currency in SUBUNITS:
        return SUBUNITS[currency], None if amount is None else rounded(EXACT.divide(amount, Decimal(100)))
    return currency.upper() if currency.isascii() else currency, amount


def parse_symbol(text: str) -> str:
    symbol = normalise_symbol(text)
    if symbol and not SYMBOL_RE.match(symbol):
        raise ValueError(f"“{text.strip()[:40]}” is not a symbol (1–20 letters, digits or . - ^ =).")
    return symbol


def parse_text(text: str, what: str, limit: int) -> str:
    """An account name or a note: no control characters, at most `limit` characters."""
    text = text.strip()
    if CONTROL_RE.search(text):
        raise ValueError(f"The {what} has control characters or text-direction overrides.")
    if len(text) > limit:
        raise ValueError(f"The {what} is longer than {limit} characters.")
    return text


def column_of(message: str) -> str | None:
    """Which field a `ledger.validate` message is about (its words are fixed; only the quoted
    text varies, so that is dropped before looking)."""
    words = re.sub(r"“[^”]*”", "", message).lower()
    for needle, column in (("activity type", "type"), ("currency", "currency"), ("date", "date"),
                           ("symbol", "symbol"), ("split", "quantity"), ("quantity", "quantity"),
                           ("price", "price"), ("amount", "amount"), ("fee", "fee")):
        if needle in words:
            return column
    return None


def validated(line: int, activity: Activity, today, errors: list[RowError], seen: set[str],
              names: Mapping[str, str] | None = None) -> bool:
    """Add `ledger.validate`'s problems to `errors`, except for fields already reported (in
    `seen`); `names` renames our fields to the file's columns. True when the row has no
    problem at all, so it may be imported."""
    names = names or {}
    problems = 0
    for message in validate(activity, today):
        field = column_of(message)
        if field in seen:
            continue
        errors.append(RowError(line, names.get(field, field), message))
        problems += 1
    return problems == 0 and not seen


__all__ = ["RowError", "ParsedActivity", "SUBUNITS", "decode", "parse_number", "checked", "rounded", "major",
           "parse_symbol", "parse_text", "column_of", "validated"]


def csv_lines(text: str, errors: list[RowError]) -> Iterator[tuple[int, list[str]]]:
    """The non-blank records of a CSV text, each with the line it starts on (a quoted value can
    span lines: the first is reported); a record the csv module cannot read ends the reading
    with an error naming its line."""
    reader = csv.reader(io.StringIO(text, newline=""))
    end = 0
    try:
        for fields in reader:
            line, end = end + 1, reader.line_num
            if any(f.strip() for f in fields):
                yield line, fields
    except csv.Error as exc:
        errors.append(RowError(end + 1, None, f"The CSV cannot be read here: {exc}."))
