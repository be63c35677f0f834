"""Parsing and checking what people type: e-mail addresses, symbols, quantities and amounts.

Pure: no Flask, no forms. Forms (webapp/web/forms.py), the CSV import and the CLI share these.
"""
from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

# no spaces, controls or the characters that delimit addresses in mail headers and HTML
_EMAIL_ATOM = r"[^@\s<>()\[\]\\,;:\"\x00-\x1f\x7f-\x9f]"
EMAIL_RE = re.compile(rf"{_EMAIL_ATOM}{{1,64}}@{_EMAIL_ATOM}+\.{_EMAIL_ATOM}{{2,}}\Z")
SYMBOL_RE = re.compile(r"[A-Z0-9.\-^=]{1,20}\Z")  # \Z, not $: "$" also matches before a final newline
MAX_QUANTITY = Decimal("1e15")
QUANTITY_PLACES = 10
# C0 and C1 controls and DEL, but not tab/newline/carriage return (PostgreSQL refuses NUL in
# text), and the bidirectional overrides and isolates that make text display in another order
# than it is stored ("Trojan Source"), e.g. a display name that reads as someone else's.
CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def N_(message: str) -> str:
    """Marks a message for the translation catalogue (extracted by `make translations`); the web
    layer translates it when it shows it (webapp/web/forms.py)."""
    return message


class InputError(ValueError):
    """A typed value refused, with a sentence for people: `message` % `params` (str() is English)."""

    def __init__(self, message: str, **params):
        self.message, self.params = message, params
        super().__init__(message % params if params else message)


def normalise_email(value: str | None) -> str:
    return (value or "").strip().lower()


def valid_email(value: str) -> bool:
    return len(value) <= 254 and EMAIL_RE.match(value) is not None


def normalise_symbol(value: str | None) -> str:
    """Upper-cased, but only ASCII: "ſpy".upper() is "SPY" and "ß".upper() is "SS"."""
    value = (value or "").strip()
    return value.upper() if value.isascii() else value


def parse_decimal(text: str) -> Decimal:
    """A number typed in ASCII: Decimal() also reads other scripts' digits ("١٠" is 10), and
    people would not see that they typed something other than what they meant."""
    raw = text.strip().replace(",", "").replace("_", "")
    if not raw.isascii():
        raise InvalidOperation
    return Decimal(raw)


def _finite_decimal(text: str, noun: str) -> Decimal:
    """Typed text as an exact, finite Decimal; `noun` ("number", "amount") names it in the messages."""
    try:
        d = parse_decimal(text)
    except InvalidOperation:
        raise (InputError(N_("“%(text)s” is not an amount."), text=text[:40]) if noun == "amount" else
               InputError(N_("“%(text)s” is not a number."), text=text[:40])) from None
    if not d.is_finite():
        raise InputError(N_("Enter a finite amount.") if noun == "amount" else N_("Enter a finite number."))
    return d


def _storable(d: Decimal, subject: str) -> Decimal:
    """Below 10^15 with at most QUANTITY_PLACES decimal places: what the columns hold exactly."""
    if d >= MAX_QUANTITY:
        raise InputError({"quantity": N_("That quantity is too large (the limit is 1,000,000,000,000,000)."),
                          "amount": N_("That amount is too large (the limit is 1,000,000,000,000,000).")}.get(
            subject, N_("That number is too large (the limit is 1,000,000,000,000,000).")))
    if d.as_tuple().exponent < -QUANTITY_PLACES and d != d.quantize(Decimal(1).scaleb(-QUANTITY_PLACES)):
        raise InputError(N_("Use at most %(places)d decimal places."), places=QUANTITY_PLACES)
    return d


def parse_quantity(text: str | None) -> Decimal:
    """A positive, finite quantity with at most 10 decimal places, below 10^15."""
    if not (text or "").strip():
        raise InputError(N_("Enter a quantity."))
    d = _finite_decimal(text, "number")
    if d <= 0:
        raise InputError(N_("The quantity must be greater than zero."))
    return _storable(d, "quantity")


def parse_cost(text: str | None) -> Decimal | None:
    """An optional amount of money: blank is "unknown"; else finite, not negative, below 10^15,
    at most 10 decimal places."""
    if not (text or "").strip():
        return None
    d = _finite_decimal(text, "amount")
    if d < 0 or d.is_signed():
        raise InputError(N_("A cost cannot be negative."))
    return _storable(d, "amount")


def parse_number(text: str | None, noun: str = "number") -> Decimal | None:
    """An optional exact number of either sign (blank: None): finite, below 10^15 in size, at
    most 10 decimal places. Whether it may be zero or negative is for the caller to say (the
    ledger's checks do, with their own messages)."""
    if not (text or "").strip():
        return None
    d = _finite_decimal(text, noun)
    _storable(d.copy_abs(), noun)
    return d.copy_abs() if d == 0 else d  # -0 is 0


EARLIEST_DAY = date(1900, 1, 1)


def parse_day(text: str | None) -> date:
    """A calendar day written YYYY-MM-DD (what a date input sends), from 1900 on."""
    raw = (text or "").strip()
    if not raw:
        raise InputError(N_("Enter the date (YYYY-MM-DD)."))
    try:
        if len(raw) > 10 or not raw.isascii():
            raise ValueError
        day = datetime.strptime(raw, "%Y-%m-%d").date()
    except ValueError:
        raise InputError(N_("“%(text)s” is not a date: write it as YYYY-MM-DD, like 2025-03-14."),
                         text=raw[:40]) from None
    if day < EARLIEST_DAY:
        raise InputError(N_("Enter a date from 1900 on."))
    return day
