"""Ghostfolio's JSON export (Portfolio → Activities → Export) read into Folio activities.

The shape, as Ghostfolio's ExportService writes it (fields Folio does not read left out):

    {"meta": {"date": "2023-02-05T00:00:00.000Z", "version": "2.x"},
     "accounts": [{"id": "b2d3…", "name": "My Online Trading Account", "currency": "USD", …}],
     "activities": [{"accountId": "b2d3…", "comment": null, "fee": 19, "quantity": 5,
                     "type": "BUY", "unitPrice": 298.58, "currency": "USD",
                     "dataSource": "YAHOO", "date": "2021-09-16T00:00:00.000Z",
                     "symbol": "MSFT"}, …]}

How each activity becomes Folio's (Ghostfolio's own dialog enters a fee as quantity 0 and
unit price 0 with the money in `fee`, and interest as 1 × the amount):

    BUY, SELL   buy, sell: quantity at unitPrice, fee on top
    DIVIDEND    dividend of quantity × unitPrice (unitPrice is per share), its fee kept
    INTEREST    interest of quantity × unitPrice, its fee kept
    FEE         fee of `fee`; when that is 0, of quantity × unitPrice
    ITEM, VALUABLE, LIABILITY   refused: Folio records no valuables or debts

An interest's or fee's symbol is Ghostfolio's id for a hand-made asset profile and is dropped.
The account is the `accounts` entry's name (else the accountId itself; the caller's default,
"Ghostfolio", when there is none). The date is the calendar day of the timestamp as written:
Ghostfolio writes midnight UTC. Numbers are read exactly as written (never through float);
Ghostfolio computes in floating point, so one with more than 10 decimal places
(0.30000000000000004) is rounded to 10. Prices in pence or cents (GBp, GBX, ZAc, ILA)
become pounds, rand or shekels. An error's "line" is the activity's position in
`activities` (1 for the first; 0 for the file as a whole) and its column the JSON field. Pure.
"""
from __future__ import annotations

import json
import re
from datetime import date
from decimal import Decimal

from webapp.domain.activity_rows import (
    MAX_ACCOUNT,
    MAX_NOTE,
    SUBUNITS,
    ParsedActivity,
    RowError,
    checked,
    decode,
    major,
    parse_number,
    parse_symbol,
    parse_text,
    rounded,
    validated,
)
from webapp.domain.csv_format import MAX_ROWS
from webapp.domain.ledger import Activity
from webapp.domain.money import EXACT, ZERO

TYPES = {"BUY": "buy", "SELL": "sell", "DIVIDEND": "dividend", "INTEREST": "interest", "FEE": "fee"}
UNSUPPORTED = {"ITEM": "a valuable (ITEM)", "VALUABLE": "a valuable", "LIABILITY": "a liability"}
TIMESTAMP_RE = re.compile(r"(\d{4}-\d{2}-\d{2})(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?\Z",
                          re.ASCII)
# our field -> the JSON field that holds it
FIELDS = {"type": "type", "date": "date", "account": "accountId", "symbol": "symbol", "quantity": "quantity",
          "price": "unitPrice", "fee": "fee", "amount": "unitPrice", "currency": "currency", "note": "comment"}


def parse(data: bytes | str, today: date, default_account: str = "Ghostfolio") -> tuple[list[ParsedActivity],
                                                                                          list[RowError]]:
    """Every activity of the export that Folio can record, and every problem of the others."""
    errors: list[RowError] = []
    text = decode(data, errors)
    if text is None:
        return [], [RowError(0, None, e.message) for e in errors]
    try:
        doc = json.loads(text, parse_float=Decimal, parse_int=Decimal, parse_constant=Decimal)
    except json.JSONDecodeError as exc:
        return [], [RowError(0, None, f"The file is not JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}).")]
    except RecursionError:
        return [], [RowError(0, None, "The file is not a Ghostfolio export (it nests too deeply).")]
    if not isinstance(doc, dict) or not isinstance(doc.get("activities"), list):
        return [], [RowError(0, "activities", "This is not a Ghostfolio export: it has no “activities” list.")]
    accounts = {}
    for account in doc.get("accounts") if isinstance(doc.get("accounts"), list) else []:
        if isinstance(account, dict) and isinstance(account.get("id"), str) and isinstance(account.get("name"), str):
            accounts[account["id"]] = account["name"]
    items = doc["activities"]
    if not items:
        errors.append(RowError(0, "activities", "The export has no activities."))
    rows = []
    for n, item in enumerate(items[:MAX_ROWS], start=1):
        row = _read(n, item, accounts, default_account, today, errors)
        if row is not None:
            rows.append(row)
    if len(items) > MAX_ROWS:
        errors.append(RowError(MAX_ROWS + 1, None, f"More than {MAX_ROWS:,} activities; export fewer at a time."))
    return rows, errors


def _number(item: dict, field: str):
    """A JSON number (or a number in a string), exact, at most 10 places: (value, problem)."""
    value = item.get(field)
    if value is None:
        return None, None
    try:
        if isinstance(value, str):
            return parse_number(value), None
        if not isinstance(value, Decimal):
            if isinstance(value, bool):
                return None, f"“{'true' if value else 'false'}” is not a number."
            return None, f"{'A list' if isinstance(value, list) else 'An object'} is not a number."
        return checked(rounded(value)), None
    except ValueError as exc:
        return None, str(exc)


def _read(n: int, item, accounts: dict, default_account: str, today: date,
          errors: list[RowError]) -> ParsedActivity | None:
    if not isinstance(item, dict):
        errors.append(RowError(n, None, "This activity is not a JSON object."))
        return None
    seen: set[str] = set()
    gtype = item.get("type") if isinstance(item.get("type"), str) else None
    kind = TYPES.get(gtype)
    fields = {**FIELDS, "amount": "fee" if kind == "fee" else "unitPrice"}

    def fail(field: str, message: str) -> None:
        errors.append(RowError(n, fields[field], message))
        seen.add(field)

    if kind is None:
        what = UNSUPPORTED.get(gtype)
        fail("type", f"{what[0].upper()}{what[1:]} is not supported: Folio records securities, cash and income, "
                     "not valuables or debts; leave it out." if what else
             f"“{str(item.get('type'))[:20]}” is not an activity type Folio reads "
             f"({', '.join(TYPES)}).")
        return None
    day = None
    stamp = item.get("date")
    m = TIMESTAMP_RE.match(stamp) if isinstance(stamp, str) else None
    try:
        day = date.fromisoformat(m.group(1)) if m else None
    except ValueError:
        pass
    if day is None:
        fail("date", f"“{str(stamp)[:30]}” is not a date and time like 2021-09-16T00:00:00.000Z.")
    account_id = item.get("accountId")
    account = default_account
    if isinstance(account_id, str) and account_id:
        account = accounts.get(account_id, account_id)
    elif account_id is not None:
        fail("account", "The accountId is not text.")
    try:
        account = parse_text(account, "account name", MAX_ACCOUNT)
    except ValueError as exc:
        fail("account", str(exc))
    values = {}
    for field, key in (("quantity", "quantity"), ("price", "unitPrice"), ("fee", "fee")):
        values[field], problem = _number(item, key)
        if problem:
            fail(field, problem)
    raw = item.get("currency")
    currency = ""
    if not isinstance(raw, str) or not raw.strip():
        fail("currency", "Enter a currency (an ISO 4217 code like USD, EUR or GBP).")
    else:
        raw = raw.strip()
        currency, values["price"] = major(raw, values["price"])
        values["fee"] = major(raw, values["fee"])[1] if raw in SUBUNITS else values["fee"]
    symbol = None
    if kind in ("buy", "sell", "dividend"):
        try:
            symbol = parse_symbol(item.get("symbol") if isinstance(item.get("symbol"), str) else "") or None
        except ValueError as exc:
            fail("symbol", str(exc))
    note = ""
    try:
        note = parse_text(item.get("comment") if isinstance(item.get("comment"), str) else "", "comment", MAX_NOTE)
    except ValueError as exc:
        fail("note", str(exc))
    q, p, fee = values["quantity"], values["price"], values["fee"] if values["fee"] is not None else ZERO
    product = rounded(EXACT.multiply(q, p)) if q is not None and p is not None else None
    parts = {"quantity", "price", "fee"} if kind == "fee" else {"quantity", "price"}
    if kind in ("dividend", "interest", "fee") and parts & seen:
        seen.add("amount")  # the amount is made of them: already reported
    if kind in ("buy", "sell"):
        activity = Activity(day or today, 0, kind, symbol, q, p, fee, None, currency, note)
    elif kind == "fee":
        activity = Activity(day or today, 0, kind, None, None, None, ZERO, fee if fee else product, currency, note)
    else:
        activity = Activity(day or today, 0, kind, symbol, None, None, fee, product, currency, note)
    if validated(n, activity, today, errors, seen, fields):
        return ParsedActivity(n, account, activity)
    return None


__all__ = ["parse", "TYPES", "UNSUPPORTED"]
