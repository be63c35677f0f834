"""Folio's own activities CSV: read it (every problem reported with its line and column), give
each activity a fingerprint so that importing the same file twice adds nothing, and write it.

The columns, named by a header row (required; names case-insensitive, in any order):

    date      the day, as YYYY-MM-DD and only so (03/04/2024 could be March or April)
    account   the account's name in Folio
    type      buy, sell, dividend, interest, fee, tax, split, transfer_in, transfer_out,
              deposit, withdrawal or opening
    symbol    the security, for buy, sell, dividend, split, transfers and opening
    quantity  how many shares; for a split, the ratio of new shares to old written n:m
              (2:1 doubles a holding, 1:10 is a reverse split; 2-for-1 is read too)
    price     per share, in `currency`
    fee       on top of a trade (blank is 0)
    amount    the money of a dividend, interest, fee, tax, deposit or withdrawal; the cost
              basis of an opening position or transfer in (blank: quantity × price)
    currency  an ISO 4217 code (USD, EUR, GBP)
    note      free text

date, account, type and currency are required columns; the others may be left out when no
row needs them. Numbers are plain digits with a dot for decimals and an optional sign, read
exactly (no thousands separators: "1,234.5" is refused rather than guessed at). A text cell
that starts with ' followed by = + - @ or ' is read without that ': `write_csv` adds it so
that a spreadsheet does not run the cell as a formula. Pure: the caller maps account names
to accounts and stores the rows.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections import Counter
from datetime import date
from typing import Iterable

from webapp.domain.activity_rows import (
    MAX_ACCOUNT,
    MAX_NOTE,
    ParsedActivity,
    RowError,
    csv_lines,
    decode,
    parse_number,
    parse_symbol,
    parse_text,
    validated,
)
from webapp.domain.csv_format import MAX_ROWS
from webapp.domain.ledger import TYPES, Activity
from webapp.domain.money import ZERO, canonical
from webapp.domain.splits import SplitError, parse_ratio

COLUMNS = ("date", "account", "type", "symbol", "quantity", "price", "fee", "amount", "currency", "note")
REQUIRED = ("date", "account", "type", "currency")
DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}\Z", re.ASCII)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
IDENTITY_VERSION = "folio-activity-1"


def parse(data: bytes | str, today: date) -> tuple[list[ParsedActivity], list[RowError]]:
    """Every activity of the file that is right, and every problem of those that are not.

    A header problem other than an unknown column stops the reading: without the columns,
    each row would only repeat it.
    """
    errors: list[RowError] = []
    text = decode(data, errors)
    if text is None:
        return [], errors
    rows: list[ParsedActivity] = []
    header: list[str] | None = None
    index: dict[str, int] = {}
    count = 0
    for line, fields in csv_lines(text, errors):
        if header is None:
            header = [f.strip().lower() for f in fields]
            index = _read_header(header, fields, line, errors)
            if index is None:
                return [], errors
            continue
        count += 1
        if count > MAX_ROWS:
            errors.append(RowError(line, None, f"More than {MAX_ROWS:,} activities; split the file."))
            break
        row = _read_row(line, fields, header, index, today, errors)
        if row is not None:
            rows.append(row)
    if header is None:
        errors.append(RowError(1, None, "The file is empty: it needs a header row naming its columns "
                                        f"({', '.join(COLUMNS)})."))
    elif count == 0 and not errors:
        errors.append(RowError(2, None, "The file has a header but no activities."))
    return rows, errors


def _read_header(header: list[str], raw: list[str], line: int, errors: list[RowError]) -> dict[str, int] | None:
    """Column name -> position; None when the file cannot be read with this header."""
    fatal = False
    index: dict[str, int] = {}
    for i, name in enumerate(header):
        if not name:
            continue
        if name not in COLUMNS:
            shown = raw[i].strip()[:40]
            errors.append(RowError(line, shown, f"“{shown}” is not a column of Folio's activities file "
                                                f"(the columns are {', '.join(COLUMNS)})."))
        elif name in index:
            errors.append(RowError(line, name, f"The header names “{name}” twice."))
            fatal = True
        else:
            index[name] = i
    for name in REQUIRED:
        if name not in index:
            errors.append(RowError(line, None, f"The header has no “{name}” column "
                                               f"(required: {', '.join(REQUIRED)})."))
            fatal = True
    return None if fatal else index


def _unescape(text: str) -> str:
    return text[1:] if text[:1] == "'" and text[1:2] in (*FORMULA_START, "'") else text


def _read_row(line: int, fields: list[str], header: list[str], index: dict[str, int], today: date,
              errors: list[RowError]) -> ParsedActivity | None:
    seen: set[str] = set()  # columns with a problem already reported

    def fail(column: str, message: str) -> None:
        errors.append(RowError(line, column, message))
        seen.add(column)

    def get(column: str) -> str:
        i = index.get(column)
        return _unescape(fields[i].strip()) if i is not None and i < len(fields) else ""

    for i, value in enumerate(fields):
        if (i >= len(header) or not header[i]) and value.strip():
            fail(f"column {i + 1}", f"A value in a column the header does not name (“{value.strip()[:40]}”).")

    day = None
    if not get("date"):
        fail("date", "Enter a date (YYYY-MM-DD).")
    else:
        try:
            day = date.fromisoformat(get("date")) if DATE_RE.match(get("date")) else None
            if day is None:
                fail("date", f"“{get('date')[:20]}” is not a date written YYYY-MM-DD (like 2024-03-31); other "
                             "forms are refused because 03/04/2024 could be March or April.")
        except ValueError:
            fail("date", f"{get('date')} is not a day of the calendar.")
    account = ""
    try:
        account = parse_text(get("account"), "account name", MAX_ACCOUNT)
        if not account:
            fail("account", "Enter the account's name.")
    except ValueError as exc:
        fail("account", str(exc))
    kind = get("type").lower().replace("-", "_").replace(" ", "_")
    if kind not in TYPES:
        fail("type", f"“{get('type')[:20]}” is not an activity type (one of {', '.join(TYPES)})."
             if kind else f"Enter a type (one of {', '.join(TYPES)}).")
    symbol = None
    try:
        symbol = parse_symbol(get("symbol")) or None
    except ValueError as exc:
        fail("symbol", str(exc))
    ratio = None
    if kind == "split" and get("quantity"):
        try:
            ratio = parse_ratio(get("quantity"))
        except SplitError as exc:
            fail("quantity", str(exc))
        except ValueError:  # a number too long for int()
            fail("quantity", f"“{get('quantity')[:20]}…” is not a split ratio: write new shares for old, like 2:1.")
    numbers = {}
    for column in ("quantity", "price", "fee", "amount"):
        if get(column) and not (column == "quantity" and kind == "split"):
            try:
                numbers[column] = parse_number(get(column))
            except ValueError as exc:
                fail(column, str(exc))
    quantity = numbers.get("quantity")
    currency = get("currency")
    if not currency:
        fail("currency", "Enter a currency (an ISO 4217 code like USD, EUR or GBP).")
    note = ""
    try:
        note = parse_text(get("note"), "note", MAX_NOTE)
    except ValueError as exc:
        fail("note", str(exc))
    activity = Activity(day or today, 0, kind, symbol, quantity, numbers.get("price"), numbers.get("fee", ZERO),
                        numbers.get("amount"), currency.upper() if currency.isascii() else currency, note, ratio)
    if kind not in TYPES:  # what else is needed depends on the type
        return None
    return ParsedActivity(line, account, activity) if validated(line, activity, today, errors, seen) else None


# ---- the same activity again -----------------------------------------------------------------


def _number(value) -> str:
    return "" if value is None else canonical(value)


def identity(account_name: str, activity: Activity) -> str:
    """A fingerprint (sha256, hex) of what the activity says, written one way: the account
    name without case or extra spaces, numbers without trailing zeros ("10" is "10.00"), the
    note trimmed. The same activity in another file, or the same file again, has the same one.
    """
    a = activity
    fields = [IDENTITY_VERSION, a.date.isoformat(), " ".join(account_name.split()).casefold(), a.type,
              a.symbol or "", _number(a.quantity), _number(a.price), _number(a.fee or ZERO), _number(a.amount),
              a.currency, a.note.strip(), "" if a.ratio is None else str(a.ratio)]
    return hashlib.sha256(json.dumps(fields, ensure_ascii=False).encode("utf-8")).hexdigest()


def keyed(rows: Iterable[ParsedActivity]) -> list[tuple[ParsedActivity, str, int]]:
    """Each row with its identity and which occurrence of that identity in the file it is
    (1, 2, …): two identical buys on one day are two buys, and a re-import finds both."""
    counts: Counter[str] = Counter()
    out = []
    for row in rows:
        key = identity(row.account, row.activity)
        counts[key] += 1
        out.append((row, key, counts[key]))
    return out


# ---- writing -----------------------------------------------------------------------------------


def _escape(text: str) -> str:
    """No formula runs when the file is opened in a spreadsheet; `parse` takes the ' off again."""
    return "'" + text if text[:1] in (*FORMULA_START, "'") else text


def write_csv(items: Iterable[tuple[str, Activity]]) -> str:
    """(account name, activity) pairs as Folio's activities CSV, which `parse` reads back to the
    same activities (numbers exactly, a split's ratio in the quantity column)."""
    out = io.StringIO()
    writer = csv.writer(out)  # "\r\n" line ends: the csv module quotes a value with a lone "\r" only then
    writer.writerow(COLUMNS)
    for account, a in items:
        quantity = str(a.ratio) if a.type == "split" and a.ratio is not None else _number(a.quantity)
        writer.writerow([a.date.isoformat(), _escape(account), a.type, _escape(a.symbol or ""), quantity,
                         _number(a.price), _number(a.fee) if a.fee else "", _number(a.amount), a.currency,
                         _escape(a.note)])
    return out.getvalue()


__all__ = ["COLUMNS", "REQUIRED", "parse", "identity", "keyed", "write_csv"]
