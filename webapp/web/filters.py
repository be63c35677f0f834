"""Template filters: money, quantities, percentages, dates and ages, written by babel in the user's
number locale (webapp/web/i18n.py). Rounding happens here, at display only, on exact Decimals.

The plain "en" locale (the default) is Folio's international English: US digits with the currency's
ISO code after the amount ("1,234.56 USD"), ISO dates. A locale with a territory writes money its own
way ("1.234,56 €" in de_DE, "₹1,23,456.78" in en_IN)."""
from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

from babel import Locale
from babel.dates import format_date, format_datetime
from babel.numbers import get_currency_precision, parse_pattern
from flask import Flask
from flask_babel import ngettext
from flask_babel import gettext as _

from webapp.domain.money import quantize_money
from webapp.web.i18n import number_locale
from webapp.web.labels import account_kind_label, activity_noun, asset_type_label

MINUS = "−"  # a true minus sign, as wide as the plus
_NEUTRAL = {"currency": "#,##0.00 ¤¤", "percent": "#,##0.00 %"}


def _neutral(locale: Locale) -> bool:
    return str(locale) == "en"


def _pattern(locale: Locale, kind: str, min_places: int, max_places: int):
    if _neutral(locale):
        text = _NEUTRAL[kind]
    else:
        found = locale.currency_formats["standard"] if kind == "currency" else locale.percent_formats[None]
        text = found.pattern.split(";")[0]
    pattern = parse_pattern(text)
    pattern.frac_prec = (min_places, max_places)
    if kind == "percent":
        pattern.scale = 0  # our percentages are already shares of 100
    return pattern


def _places(currency: str | None) -> int:
    try:
        return get_currency_precision(currency) if currency else 2
    except Exception:
        return 2


def _number(value: Decimal, min_places: int, max_places: int, locale: Locale) -> str:
    pattern = parse_pattern("#,##0.0")
    pattern.frac_prec = (min_places, max_places)
    return pattern.apply(value, locale)


def _signed(q: Decimal, text_of_abs: str) -> str:
    return f"{MINUS}{text_of_abs}" if q < 0 else text_of_abs


def money(amount: Decimal | None, currency: str | None = None) -> str:
    """An amount in the currency's own decimals (JPY none, USD two), grouped for the locale."""
    if amount is None:
        return "—"
    locale = number_locale()
    places = _places(currency)
    q = quantize_money(amount, places)
    if not currency:
        return _signed(q, _number(abs(q), places, places, locale))
    return _signed(q, _pattern(locale, "currency", places, places).apply(abs(q), locale, currency=currency,
                                                                          currency_digits=False))


def price(amount: Decimal | None, currency: str | None = None) -> str:
    """Prices keep up to 4 places (fund NAVs, pence-converted listings) but at least 2."""
    if amount is None:
        return "—"
    locale = number_locale()
    q = amount.quantize(Decimal("0.0001"))
    if not currency:
        return _signed(q, _number(abs(q), 2, 4, locale))
    return _signed(q, _pattern(locale, "currency", 2, 4).apply(abs(q), locale, currency=currency,
                                                               currency_digits=False))


def quantity(amount: Decimal | None) -> str:
    """Every decimal a quantity has, none added."""
    if amount is None:
        return "—"
    d = amount.normalize()
    places = max(0, -d.as_tuple().exponent)
    return _signed(d, _number(abs(d), places, places, number_locale()))


def decimal_input(amount: Decimal | None) -> str:
    """A number as it is typed back into a form: the locale's decimal sign, no grouping."""
    if amount is None:
        return ""
    d = amount.normalize()
    places = max(0, -d.as_tuple().exponent)
    pattern = parse_pattern("0.0")
    pattern.frac_prec = (places, places)
    return pattern.apply(d, number_locale()).replace("\u2212", "-")


def age(when: datetime | None, now: datetime | None = None) -> str:
    if when is None:
        return _("never")
    now = now or datetime.now(timezone.utc)
    seconds = int((now - when).total_seconds())
    if seconds >= 86400:
        return ngettext("%(num)d day ago", "%(num)d days ago", seconds // 86400)
    if seconds >= 3600:
        return ngettext("%(num)d hour ago", "%(num)d hours ago", seconds // 3600)
    if seconds >= 60:
        return ngettext("%(num)d minute ago", "%(num)d minutes ago", seconds // 60)
    return _("just now")


def timestamp_age(epoch: float) -> str:
    return age(datetime.fromtimestamp(epoch, timezone.utc))


def day(value: date | datetime | None) -> str:
    """A calendar day: ISO (2025-03-14) in "en", else the locale's short form (14.03.25 in de_DE)."""
    if value is None:
        return "—"
    locale = number_locale()
    if _neutral(locale):
        return value.strftime("%Y-%m-%d")
    return format_date(value, "medium", locale=locale)


def moment(value: datetime | None) -> str:
    """A day and time (UTC): "2025-03-14 09:30" in "en", else the locale's short form."""
    if value is None:
        return "—"
    locale = number_locale()
    if _neutral(locale):
        return value.strftime("%Y-%m-%d %H:%M")
    return format_datetime(value, "short", tzinfo=timezone.utc, locale=locale)


def percent(amount: Decimal | None, places: int = 2) -> str:
    """A share of 100, rounded here (display) to `places` decimals: 12.35 %."""
    if amount is None:
        return "—"
    q = quantize_money(amount, places)
    locale = number_locale()
    return _signed(q, _pattern(locale, "percent", places, places).apply(abs(q), locale))


def signed_money(amount: Decimal | None, currency: str | None = None) -> str:
    """A change: "+12.34 USD", "−12.34 USD" (a true minus sign), "0.00 USD"."""
    if amount is None:
        return "—"
    q = quantize_money(amount, _places(currency))
    text = money(amount, currency)
    return f"+{text}" if q > 0 else text


def signed_percent(amount: Decimal | None) -> str:
    if amount is None:
        return ""
    q = amount.quantize(Decimal("0.01"))
    text = percent(q)
    return f"+{text}" if q > 0 else text


def change_class(amount: Decimal | None) -> str:
    """CSS class of a change as it is displayed (a loss rounding to 0.00 is not red)."""
    if amount is None:
        return ""
    q = quantize_money(amount)
    return "pos" if q > 0 else ("neg" if q < 0 else "")


def init_app(app: Flask) -> None:
    for f in (signed_money, signed_percent, change_class, timestamp_age, money, price, quantity, age, percent,
              day, moment, decimal_input, activity_noun, asset_type_label, account_kind_label):
        app.add_template_filter(f)
