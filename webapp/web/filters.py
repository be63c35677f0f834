"""Template filters: money, quantities, ages. Rounding happens here, at display only."""
from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

from flask import Flask

from webapp.domain.money import quantize_money


def money(amount: Decimal | None, currency: str | None = None) -> str:
    if amount is None:
        return "—"
    q = quantize_money(amount)
    text = f"{abs(q):,.2f}"
    sign = "−" if q < 0 else ""
    return f"{sign}{text} {currency}" if currency else f"{sign}{text}"


def price(amount: Decimal | None, currency: str | None = None) -> str:
    """Prices keep up to 4 places (fund NAVs, pence-converted listings) but at least 2."""
    if amount is None:
        return "—"
    q = amount.quantize(Decimal("0.0001")).normalize()
    places = max(2, -q.as_tuple().exponent) if q.as_tuple().exponent < 0 else 2
    text = f"{amount:,.{places}f}"
    return f"{text} {currency}" if currency else text


def quantity(amount: Decimal | None) -> str:
    if amount is None:
        return "—"
    text = format(amount.normalize(), "f")
    whole, _, frac = text.partition(".")
    whole = f"{int(whole):,}" if whole.lstrip("-").isdigit() else whole
    return f"{whole}.{frac}" if frac else whole


def age(when: datetime | None, now: datetime | None = None) -> str:
    if when is None:
        return "never"
    now = now or datetime.now(timezone.utc)
    seconds = int((now - when).total_seconds())
    if seconds < 60:
        return "just now"
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            n = seconds // size
            return f"{n} {unit}{'s' if n != 1 else ''} ago"
    return "just now"


def timestamp_age(epoch: float) -> str:
    return age(datetime.fromtimestamp(epoch, timezone.utc))


def percent(amount: Decimal | None, places: int = 2) -> str:
    """A share of 100, rounded here (display) to `places` decimals: 12.35 %."""
    if amount is None:
        return "—"
    return f"{quantize_money(amount, places):,.{places}f} %"


def signed_money(amount: Decimal | None, currency: str | None = None) -> str:
    """A change: "+12.34 USD", "−12.34 USD" (a true minus sign), "0.00 USD"."""
    if amount is None:
        return "—"
    q = quantize_money(amount)
    text = money(amount, currency)
    return f"+{text}" if q > 0 else text


def signed_percent(amount: Decimal | None) -> str:
    if amount is None:
        return ""
    q = amount.quantize(Decimal("0.01"))
    text = f"{abs(q):,.2f} %"
    return f"+{text}" if q > 0 else (f"−{text}" if q < 0 else text)


def change_class(amount: Decimal | None) -> str:
    """CSS class of a change as it is displayed (a loss rounding to 0.00 is not red)."""
    if amount is None:
        return ""
    q = quantize_money(amount)
    return "pos" if q > 0 else ("neg" if q < 0 else "")


def init_app(app: Flask) -> None:
    app.add_template_filter(signed_money)
    app.add_template_filter(signed_percent)
    app.add_template_filter(change_class)
    app.add_template_filter(timestamp_age)
    app.add_template_filter(money)
    app.add_template_filter(price)
    app.add_template_filter(quantity)
    app.add_template_filter(age)
    app.add_template_filter(percent)
