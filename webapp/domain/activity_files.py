"""Which activity file this is (Folio's CSV, Ghostfolio's JSON export or Trading 212's History
CSV), and reading it with the right parser, so that one upload form takes all three. Pure."""
from __future__ import annotations

import csv
import io
from datetime import date

from webapp.domain import activity_csv, broker_csv, ghostfolio
from webapp.domain.activity_rows import ParsedActivity, RowError

FORMATS = ("folio", "ghostfolio", "trading212")


def detect_format(filename: str, data: bytes) -> str:
    """"ghostfolio" for JSON, "trading212" for a CSV whose header has Action and Time, else
    "folio" (whose parser then says what its header lacks)."""
    head = data[:64 * 1024].decode("utf-8", "replace").lstrip("\ufeff \t\r\n")
    if head.startswith("{") or (filename or "").lower().endswith(".json"):
        return "ghostfolio"
    first = next((line for line in head.splitlines() if line.strip()), "")
    try:
        header = next(csv.reader(io.StringIO(first)), [])
    except csv.Error:
        header = []
    return "trading212" if broker_csv.looks_like(header) else "folio"


def parse_any(data: bytes, filename: str, today: date, default_account: str | None = None,
              ) -> tuple[list[ParsedActivity], list[RowError], str]:
    """The rows and errors of whichever format the file is in, and that format's name.

    `default_account` names the account of a Trading 212 export (default "Trading 212") and of
    Ghostfolio activities without one (default "Ghostfolio"); Folio's CSV names its own.
    """
    kind = detect_format(filename, data)
    if kind == "ghostfolio":
        rows, errors = ghostfolio.parse(data, today, default_account or "Ghostfolio")
    elif kind == "trading212":
        rows, errors = broker_csv.parse(data, today, default_account or "Trading 212")
    else:
        rows, errors = activity_csv.parse(data, today)
    return rows, errors, kind


__all__ = ["FORMATS", "detect_format", "parse_any"]
