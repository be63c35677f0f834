"""The holdings CSV format: its columns, and every row parsed and checked, each problem by line number.

Pure: the caller gives the user's accounts; webapp/services/csv_import.py reads and writes the database.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Mapping, NamedTuple

from webapp.domain.inputs import SYMBOL_RE, normalise_symbol, parse_quantity


class KnownAccount(NamedTuple):
    id: int
    name: str


MAX_BYTES = 5 * 1024 * 1024
MAX_ROWS = 20_000
COLUMNS = {
    "account": "account",
    "account name": "account",
    "symbol": "symbol",
    "ticker": "symbol",
    "quantity": "quantity",
    "shares": "quantity",
    "units": "quantity",
    "cost": "cost",
    "cost basis": "cost",
    "total cost": "cost",
    "cost per unit": "cost_per_unit",
    "cost_per_unit": "cost_per_unit",
    "unit cost": "cost_per_unit",
    "currency": "currency",
    "asset type": "asset_type",
    "asset_type": "asset_type",
    "type": "asset_type",
}
REQUIRED = ("account", "symbol", "quantity")
ASSET_TYPES = {
    "stock": "stock", "stocks": "stock", "equity": "stock", "share": "stock",
    "etf": "etf",
    "mutual fund": "mutual_fund", "mutual_fund": "mutual_fund", "fund": "mutual_fund", "mf": "mutual_fund",
    "crypto": "crypto", "cryptocurrency": "crypto", "coin": "crypto",
}


@dataclass
class Row:
    line: int
    account_id: int
    account_name: str
    symbol: str
    quantity: Decimal
    cost: Decimal | None
    currency: str | None
    asset_type: str
    action: str = "new"  # "new", "update" or "unchanged", filled by `plan`


@dataclass
class Preview:
    rows: list[Row] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors and bool(self.rows)

    def count(self, action: str) -> int:
        return sum(1 for r in self.rows if r.action == action)


def _decimal(text: str, what: str) -> Decimal:
    raw = text.strip().replace(",", "").replace("_", "")
    try:
        d = Decimal(raw)
    except InvalidOperation:
        raise ValueError(f"{what} “{text[:40]}” is not a number") from None
    if not d.is_finite():
        raise ValueError(f"{what} must be a finite number")
    if d < 0:
        raise ValueError(f"{what} cannot be negative")
    if d >= Decimal("1e17"):
        raise ValueError(f"{what} is too large")
    return d


def parse(text: str, accounts: Mapping[str, KnownAccount]) -> Preview:
    """Validate every row against the user's accounts (lower-cased name -> account)."""
    preview = Preview()
    if len(text.encode("utf-8", "replace")) > MAX_BYTES:
        preview.errors.append(f"The file is larger than {MAX_BYTES // (1024 * 1024)} MB.")
        return preview
    text = text.lstrip("\ufeff")  # a spreadsheet's byte-order mark
    if "\x00" in text:
        preview.errors.append("The file is not a CSV text file.")
        return preview
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        preview.errors.append("The file is empty.")
        return preview
    except csv.Error as exc:
        preview.errors.append(f"Line 1: {exc}")
        return preview
    names = [h.strip().lower().replace("-", " ") for h in header]
    unknown = [header[i] for i, n in enumerate(names) if n and n not in COLUMNS]
    if unknown:
        preview.errors.append("Line 1: unknown column" + ("s " if len(unknown) > 1 else " ")
                              + ", ".join(f"“{u[:40]}”" for u in unknown)
                              + ". Known columns: account, symbol, quantity, cost, cost_per_unit, currency, asset_type.")
    index = {COLUMNS[n]: i for i, n in enumerate(names) if n in COLUMNS}
    missing = [c for c in REQUIRED if c not in index]
    if missing:
        preview.errors.append(f"Line 1: missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)}.")
    if "cost" in index and "cost_per_unit" in index:
        preview.errors.append("Line 1: give either cost (total) or cost_per_unit, not both.")
    if preview.errors:
        return preview

    seen: dict[tuple[int, str], int] = {}
    line = 1
    try:
        for values in reader:
            line = reader.line_num
            if not any(v.strip() for v in values):
                continue
            if len(preview.rows) + len(preview.errors) >= MAX_ROWS:
                preview.errors.append(f"Line {line}: more than {MAX_ROWS:,} rows; split the file.")
                break
            get = lambda col: values[index[col]].strip() if col in index and index[col] < len(values) else ""  # noqa: E731
            problems = [f"column {i + 1} has a value (“{v.strip()[:40]}”) in a column the header does not name"
                        for i, v in enumerate(values) if (i >= len(names) or not names[i]) and v.strip()]
            name = " ".join(get("account").split()).lower()
            account = accounts.get(name)
            if account is None and name[:1] == "'" and name[1:2] in ("=", "+", "-", "@"):
                account = accounts.get(name[1:])  # written by `export`, escaped for spreadsheets
            if not get("account"):
                problems.append("the account is empty")
            elif account is None:
                problems.append(f"there is no account named “{get('account')[:80]}” (create it first)")
            symbol = normalise_symbol(get("symbol"))
            if not symbol:
                problems.append("the symbol is empty")
            elif not SYMBOL_RE.match(symbol):
                problems.append(f"“{get('symbol')[:40]}” is not a valid symbol")
            quantity = None
            try:
                quantity = parse_quantity(get("quantity"))
            except ValueError as exc:
                problems.append(f"quantity: {str(exc).rstrip('.')}")
            cost = None
            try:
                if get("cost"):
                    cost = _decimal(get("cost"), "the cost")
                elif get("cost_per_unit") and quantity is not None:
                    cost = _decimal(get("cost_per_unit"), "the cost per unit") * quantity
                elif get("cost_per_unit"):
                    _decimal(get("cost_per_unit"), "the cost per unit")
            except ValueError as exc:
                problems.append(str(exc))
            currency = get("currency").upper() or None
            if currency is not None and (len(currency) != 3 or not currency.isalpha() or not currency.isascii()):
                problems.append(f"“{get('currency')[:20]}” is not a three-letter currency code")
            asset_type = ASSET_TYPES.get(get("asset_type").lower().replace("-", " ") or "stock")
            if asset_type is None:
                problems.append(f"“{get('asset_type')[:30]}” is not an asset type (stock, etf, mutual fund or crypto)")
            if account is not None and symbol and not problems:
                first = seen.setdefault((account.id, symbol), line)
                if first != line:
                    problems.append(f"{symbol} in “{account.name}” already appears on line {first}")
            if problems:
                preview.errors.append(f"Line {line}: " + "; ".join(problems) + ".")
                continue
            preview.rows.append(Row(line, account.id, account.name, symbol, quantity, cost, currency, asset_type))
    except csv.Error as exc:
        preview.errors.append(f"Line {reader.line_num}: {exc}")
    if not preview.rows and not preview.errors:
        preview.errors.append("The file has a header but no rows.")
    return preview


def _safe_cell(text: str) -> str:
    """No formula injection when the file is opened in a spreadsheet."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
