"""Languages and locales: Flask-Babel picks the interface language (the user's choice, else the
browser's Accept-Language) and the locale numbers, money and dates are written in (the user's
number format, else the interface's). Catalogues live in webapp/translations/ (`make translations`)."""
from __future__ import annotations

from functools import lru_cache

from babel import Locale, UnknownLocaleError
from babel.localedata import locale_identifiers
from flask import Flask, has_request_context, request
from flask_babel import Babel, get_locale
from flask_babel import lazy_gettext as _l
from flask_login import current_user

# the interface languages that have a catalogue; English is the source language
LANGUAGES = {"en": "English", "de": "Deutsch", "es": "Español"}
DEFAULT_LANGUAGE = "en"

babel = Babel()


def _user():
    if not has_request_context():
        return None
    try:
        user = current_user._get_current_object()
    except Exception:  # no login manager on this app (a bare test app)
        return None
    return user if getattr(user, "is_authenticated", False) else None


def select_language() -> str:
    user = _user()
    if user is not None and user.language in LANGUAGES:
        return user.language
    if has_request_context():
        return request.accept_languages.best_match(LANGUAGES) or DEFAULT_LANGUAGE
    return DEFAULT_LANGUAGE


@lru_cache(maxsize=None)
def known_locales() -> frozenset[str]:
    """Every locale babel has data for ("de_DE", "en_IN", "es_419" …)."""
    return frozenset(locale_identifiers())


def normalise_locale(text: str | None) -> str | None:
    """A locale babel knows, as babel spells it ("en-in" → "en_IN"); None when it knows none."""
    raw = (text or "").strip().replace("-", "_")
    if not raw or len(raw) > 20 or not raw.isascii():
        return None
    try:
        identifier = str(Locale.parse(raw))
    except (UnknownLocaleError, ValueError, TypeError):
        return None
    return identifier if identifier in known_locales() else None


def number_locale() -> Locale:
    """The locale numbers, money and dates are written and read in."""
    user = _user()
    if user is not None and user.number_locale:
        try:
            return Locale.parse(user.number_locale)
        except (UnknownLocaleError, ValueError):
            pass
    return get_locale() or Locale.parse(DEFAULT_LANGUAGE)


def number_locale_choices() -> list[tuple[str, str]]:
    """("", "Same as the language"), then each known locale with a territory, by its own name."""
    return [("", _l("Same as the interface language"))] + _locale_names()


@lru_cache(maxsize=1)
def _locale_names() -> list[tuple[str, str]]:
    out = []
    for ident in sorted(known_locales()):
        loc = Locale.parse(ident)
        if loc.territory and not loc.variant:
            out.append((ident, f"{loc.get_display_name(loc)} ({ident})"))
    return out


def init_app(app: Flask) -> None:
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT_LANGUAGE)
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", "translations")
    babel.init_app(app, locale_selector=select_language)

    @app.context_processor
    def languages():
        return {"LANGUAGES": LANGUAGES, "current_language": str(get_locale() or DEFAULT_LANGUAGE)}

    @app.after_request
    def vary_on_language(resp):
        if _user() is None:  # an anonymous page follows Accept-Language
            resp.vary.add("Accept-Language")
        return resp
