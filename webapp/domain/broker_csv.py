"""Trading 212's History export (History → Export → CSV, Invest and ISA accounts) read into
Folio activities, all in one account the caller names ("Trading 212" by default).

Trading 212 writes one row per event under a header whose columns depend on what the export
holds: Action, Time (newer exports: Time (UTC)), ISIN, Ticker, Name, No. of shares,
Price / share, Currency (Price / share), Exchange rate, Result, Currency (Result), Total,
Currency (Total), Withholding tax, Currency (Withholding tax), Notes, ID, and one column per
kind of charge (Currency conversion fee, Stamp duty reserve tax, French transaction tax,
Finra fee, Transaction fee, …), each followed by its "Currency (…)" column.

    Market/Limit/Stop/Stop limit buy, … sell
        buy or sell: No. of shares at Price / share, in Currency (Price / share) — the
        instrument's, which its quotes are in. The charges are its fee; one in the account's
        currency (Currency (Total)) is converted with the row's Exchange rate (units of the
        instrument's currency per unit of the account's: 1.09303 USD for 1 EUR).
    Dividend (Ordinary), Dividend (Dividend), Dividend (Dividends paid by us corporations), …
        dividend of No. of shares × Price / share (the gross dividend per share, in the
        instrument's currency), and the Withholding tax as a separate `tax` activity in
        Currency (Withholding tax). Dividend (Interest), a bond fund's interest, is `interest`.
    Deposit, Withdrawal, Interest on cash, Lending interest
        deposit, withdrawal, interest of the Total (a withdrawal's is written negative) in
        Currency (Total).

Any other action (currency conversions, card payments, stock splits, distributions of
shares) is reported as not supported, with its line. Prices in pence (GBX) become pounds.
Result and the account-currency Total of a trade are Trading 212's own sums and not read.
The date is the day of Time as written (Trading 212 writes UTC). The ID goes in the note.
Pure.
"""
from __future__ import annotations

import re
from datetime import date

from webapp.domain.activity_rows import (
    ParsedActivity,
    RowError,
    csv_lines,
    decode,
    major,
    parse_number,
    parse_symbol,
    rounded,
    validated,
)
from webapp.domain.csv_format import MAX_ROWS
from webapp.domain.ledger import Activity
from webapp.domain.money import EXACT, ZERO

BUYS = frozenset({"market buy", "limit buy", "stop buy", "stop limit buy"})
SELLS = frozenset({"market sell", "limit sell", "stop sell", "stop limit sell"})
DIVIDENDS = frozenset({"dividend (ordinary)", "dividend (dividend)", "dividend (dividends paid by us corporations)",
                       "dividend (dividends paid by foreign corporations)", "dividend (property income distribution)",
                       "dividend (dividend manufactured payment)", "dividend (tax exempted)", "dividend (interest)"})
CASH = {"deposit": "deposit", "withdrawal": "withdrawal", "interest on cash": "interest",
        "lending interest": "interest"}
CHARGES = ("currency conversion fee", "stamp duty", "stamp duty reserve tax", "french transaction tax", "finra fee",
           "transaction fee")
TIME_RE = re.compile(r"(\d{4}-\d{2}-\d{2})([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?\Z",
                     re.ASCII)
NOT_AVAILABLE = "not available"


def looks_like(header: list[str]) -> bool:
    """Whether a CSV header is Trading 212's (what `activity_files.detect_format` asks)."""
    names = {h.strip().lower() for h in header}
    return "action" in names and bool(names & {"time", "time (utc)"})


def parse(data: bytes | str, today: date, default_account: str = "Trading 212") -> tuple[list[ParsedActivity],
                                                                                           list[RowError]]:
    """Every activity of the export that Folio can record, and every problem of the other rows."""
    errors: list[RowError] = []
    text = decode(data, errors)
    if text is None:
        return [], errors
    rows: list[ParsedActivity] = []
    header: list[str] | None = None
    count = 0
    for line, fields in csv_lines(text, errors):
        if header is None:
            header = [f.strip() for f in fields]
            if not looks_like(header):
                errors.append(RowError(line, None, "This is not a Trading 212 History export: the header has "
                                                   "no Action and Time columns."))
                return [], errors
            continue
        count += 1
        if count > MAX_ROWS:
            errors.append(RowError(line, None, f"More than {MAX_ROWS:,} rows; export fewer at a time."))
            break
        rows.extend(_Row(line, header, fields, default_account, today, errors).read())
    if header is None:
        errors.append(RowError(1, None, "The file is empty."))
    elif count == 0 and not errors:
        errors.append(RowError(2, None, "The file has a header but no rows."))
    return rows, errors


class _Row:
    """One row of the export, read into its activities (a dividend can make two)."""

    def __init__(self, line: int, header: list[str], fields: list[str], account: str, today: date,
                 errors: list[RowError]):
        self.line, self.account, self.today, self.errors = line, account, today, errors
        self.names = {h.lower(): h for h in header if h}
        self.values = {h.lower(): f.strip() for h, f in zip(header, fields) if h}
        self.seen: set[str] = set()
        for i, value in enumerate(fields):
            if (i >= len(header) or not header[i]) and value.strip():
                self.fail(f"column {i + 1}", f"A value in a column the header does not name "
                                             f"(“{value.strip()[:40]}”).")

    def get(self, column: str) -> str:
        return self.values.get(column, "")

    def fail(self, column: str, message: str, field: str | None = None) -> None:
        """Report a problem in `column`; `field` (our name for what it holds) is not checked again."""
        self.errors.append(RowError(self.line, self.names.get(column, column), message))
        self.seen.add(field or column)

    def number(self, column: str, field: str):
        """The column's number, or None when blank (the problem reported under `field`)."""
        text = self.get(column)
        if not text or text.lower() == NOT_AVAILABLE:
            return None
        try:
            return parse_number(text)
        except ValueError as exc:
            self.fail(column, str(exc), field)
            return None

    def read(self) -> list[ParsedActivity]:
        action = self.get("action").lower()
        stamp = self.get("time") or self.get("time (utc)")
        m = TIME_RE.match(stamp)
        try:
            self.day = date.fromisoformat(m.group(1)) if m else None
        except ValueError:
            self.day = None
        if self.day is None:
            self.fail("time" if "time" in self.values else "time (utc)",
                      f"“{stamp[:30]}” is not a date and time like 2024-01-31 14:30:05.", "date")
        self.note = f"Trading 212 {self.get('id')}" if self.get("id") else ""
        if action in BUYS or action in SELLS:
            return self.trade("buy" if action in BUYS else "sell")
        if action in DIVIDENDS:
            return self.dividend("interest" if action == "dividend (interest)" else "dividend")
        if action in CASH:
            return self.cash(CASH[action])
        self.fail("action", f"“{self.get('action')[:50]}” is not supported (Folio reads buys, sells, dividends, "
                            "deposits, withdrawals and interest); leave the row out or enter it by hand."
                  if action else "The Action is empty.", "type")
        return []

    def done(self, activity: Activity, names: dict[str, str]) -> list[ParsedActivity]:
        names = {field: self.names.get(column, column) for field, column in names.items()}
        names.update(date=self.names.get("time", self.names.get("time (utc)", "Time")), type=self.names["action"])
        if validated(self.line, activity, self.today, self.errors, self.seen, names):
            return [ParsedActivity(self.line, self.account, activity)]
        return []

    def symbol(self) -> str | None:
        try:
            return parse_symbol(self.get("ticker")) or None
        except ValueError as exc:
            self.fail("ticker", str(exc), "symbol")
            return None

    def trade(self, kind: str) -> list[ParsedActivity]:
        symbol = self.symbol()
        quantity = self.number("no. of shares", "quantity")
        raw = self.get("currency (price / share)")
        currency, price = major(raw, self.number("price / share", "price"))
        fee = self.charges(raw, currency)
        names = {"quantity": "no. of shares", "price": "price / share", "currency": "currency (price / share)",
                 "symbol": "ticker", "fee": "currency conversion fee"}
        return self.done(Activity(self.day or self.today, 0, kind, symbol, quantity, price, fee, None, currency,
                                  self.note), names)

    def charges(self, raw: str, currency: str):
        """The trade's charges in its price's currency: as written, or converted from the
        account's currency with the row's exchange rate."""
        in_raw, in_major = ZERO, ZERO
        rate = self.number("exchange rate", "fee")
        account_currency = self.get("currency (total)")
        for column in CHARGES:
            amount = self.number(column, "fee")
            if not amount:
                continue
            amount = abs(amount)  # a cost whichever sign the export gives it
            ccy = self.get(f"currency ({column})") or account_currency
            if ccy == raw:
                in_raw = EXACT.add(in_raw, amount)
            elif ccy == currency:
                in_major = EXACT.add(in_major, amount)
            elif rate and (ccy == account_currency or not account_currency):
                in_raw = EXACT.add(in_raw, EXACT.multiply(amount, rate))
            else:
                self.fail(column, f"The {self.names.get(column, column)} is in {ccy[:10]}, and the row has no "
                                  f"exchange rate to {raw[:10] or 'the price currency'}.", "fee")
        return rounded(EXACT.add(major(raw, in_raw)[1], in_major))

    def dividend(self, kind: str) -> list[ParsedActivity]:
        symbol = self.symbol()
        shares = self.number("no. of shares", "amount")
        raw = self.get("currency (price / share)")
        per_share = self.number("price / share", "amount")
        gross = rounded(EXACT.multiply(shares, per_share)) if shares is not None and per_share is not None else None
        currency, gross = major(raw, gross)
        names = {"amount": "price / share", "currency": "currency (price / share)", "symbol": "ticker"}
        out = self.done(Activity(self.day or self.today, 0, kind, symbol, None, None, ZERO, gross, currency,
                                 self.note), names)
        tax = self.number("withholding tax", "tax")
        if tax and out:
            raw_tax = self.get("currency (withholding tax)") or raw
            tax_currency, tax = major(raw_tax, abs(tax))
            names = {"amount": "withholding tax", "currency": "currency (withholding tax)", "symbol": "ticker"}
            out += self.done(Activity(self.day or self.today, 0, "tax", symbol, None, None, ZERO, tax, tax_currency,
                                      (self.note + " " if self.note else "") + "withholding tax"), names)
        return [] if "tax" in self.seen else out

    def cash(self, kind: str) -> list[ParsedActivity]:
        total = self.number("total", "amount")
        if total is not None and kind == "withdrawal":
            total = abs(total)
        if self.number("deposit fee", "fee"):
            self.fail("deposit fee", "Folio cannot tell whether the Total already has this fee taken off: remove "
                                     "the value and enter the fee as a fee activity by hand.", "fee")
        currency = major(self.get("currency (total)"), None)[0]
        names = {"amount": "total", "currency": "currency (total)"}
        return self.done(Activity(self.day or self.today, 0, kind, None, None, None, ZERO, total, currency,
                                  self.note), names)


__all__ = ["parse", "looks_like", "BUYS", "SELLS", "DIVIDENDS", "CASH", "CHARGES"]
