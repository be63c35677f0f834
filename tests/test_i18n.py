"""Languages and local formats: Accept-Language for anonymous pages, the per-user language and number
format in settings, money/numbers/dates written by babel in the user's locale, and decimal inputs read
in it without ambiguity."""
from __future__ import annotations

import html
from decimal import Decimal

import pytest
import sqlalchemy as sa
from conftest import login, post, set_price
from mailhelpers import mail_app, run_mail_jobs, smtp_server  # noqa: F401  (fixtures)
from quick_users import quick_user

from webapp.extensions import db
from webapp.models import Account, Holding, User
from webapp.services import assets
from webapp.web import filters


def text(resp) -> str:
    """The page as read: entities decoded, babel's (narrow) no-break spaces as plain spaces."""
    return html.unescape(resp.get_data(as_text=True)).replace("\xa0", " ").replace("\u202f", " ")


def settings_of(app, uid) -> tuple:
    with app.app_context():
        user = db.session.get(User, uid)
        return user.language, user.number_locale


# ---- the interface language -------------------------------------------------------------------------
@pytest.mark.parametrize("header, lang, heading, button", [
    ("de-DE,de;q=0.9,en;q=0.5", "de", "Anmelden", "Angemeldet bleiben"),
    ("es-ES,es;q=0.8", "es", "Iniciar sesión", "Recordarme"),
    ("fr-FR,fr;q=0.9", "en", "Log in", "Remember me"),  # no French catalogue: English
])
def test_accept_language_picks_the_language_of_an_anonymous_page(client, header, lang, heading, button):
    resp = client.get("/auth/login", headers={"Accept-Language": header})
    body = text(resp)
    assert resp.status_code == 200
    assert f'<html lang="{lang}">' in body and f"<h1>{heading}</h1>" in body and button in body
    assert "Accept-Language" in resp.headers.get("Vary", "")


def test_form_errors_come_in_the_browser_language(client):
    resp = post(client, "/auth/login", {"email": "", "password": ""}, headers={"Accept-Language": "de"})
    assert resp.status_code == 400
    assert "Geben Sie Ihre E-Mail-Adresse ein." in text(resp)


def test_the_language_and_number_format_are_saved_and_win_over_the_browser(app, client):
    uid = quick_user(app, "alice@example.com")
    login(client)
    assert settings_of(app, uid) == (None, None)
    resp = post(client, "/settings/language", {"language": "de", "number_locale": "en-in"})
    assert resp.status_code == 302 and resp.headers["Location"] == "/settings/#language"
    assert settings_of(app, uid) == ("de", "en_IN")  # spelled the way babel does

    page = text(client.get("/settings/", headers={"Accept-Language": "es"}))
    assert '<html lang="de">' in page and "<h1>Einstellungen</h1>" in page
    assert "Sprache und Zahlenformat gespeichert." in page
    assert '<option selected value="en_IN">' in page
    # German words, Indian digits: the example money is written in en_IN
    assert "€12,34,567.89" in page

    # back to the browser's language and the interface's format
    resp = post(client, "/settings/language", {"language": "", "number_locale": ""},
                headers={"Accept-Language": "es"})
    assert resp.status_code == 302
    assert settings_of(app, uid) == (None, None)
    page = text(client.get("/settings/", headers={"Accept-Language": "es"}))
    assert "<h1>Ajustes</h1>" in page and "1.234.567,89 €" in page


@pytest.mark.parametrize("data, field, message", [
    ({"language": "en", "number_locale": "xx_YY"}, "number_locale",
     "“xx_YY” is not a locale Folio knows; choose one from the list, like de_DE or en_IN."),
    ({"language": "en", "number_locale": "<script>"}, "number_locale", "is not a locale Folio knows"),
    ({"language": "fr", "number_locale": ""}, "language", "Choose English, Deutsch or Español."),
])
def test_an_unknown_language_or_locale_is_refused_with_the_form(app, client, data, field, message):
    uid = quick_user(app, "alice@example.com", language="es", number_locale="es_MX")
    login(client)
    resp = post(client, "/settings/language", data)
    assert resp.status_code == 400
    body = resp.get_data(as_text=True)
    assert 'id="language"' in body and 'id="number_locale"' in body  # the settings page, re-rendered
    # the refusal is in the user's (unchanged) Spanish unless the test names the English text
    translated = {"number_locale": "no es una configuración regional", "language": "Elija English, Deutsch o Español."}
    assert translated[field] in html.unescape(body)
    assert "<script>" not in body.split('id="number_locale"')[1].split("</div>")[0]
    assert settings_of(app, uid) == ("es", "es_MX")
    with app.test_request_context(headers={"Accept-Language": "en"}):
        assert message in str(_english_message(data))


def _english_message(data) -> str:
    """The same form validated in English, to check the English text of the refusal."""
    from webapp.web.forms import LanguageForm

    form = LanguageForm(formdata=None, meta={"csrf": False}, **data)
    form.validate()
    return " ".join(str(e) for errors in form.errors.values() for e in errors)


# ---- formatting -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("header, expected", [
    ("en", {"money": "1,234.56 USD", "eur": "−1,234.50 EUR", "jpy": "1,235 JPY", "price": "12.3456 USD",
            "percent": "12.35 %", "quantity": "1,234.5", "day": "2025-03-14"}),
    ("de", {"money": "1.234,56 $", "eur": "−1.234,50 €", "jpy": "1.235 ¥", "price": "12,3456 $",
            "percent": "12,35 %", "quantity": "1.234,5", "day": "14.03.2025"}),
    ("es", {"money": "1.234,56 US$", "eur": "−1.234,50 €", "jpy": "1.235 JPY", "price": "12,3456 US$",
            "percent": "12,35 %", "quantity": "1.234,5", "day": "14 mar 2025"}),
])
def test_money_numbers_and_dates_follow_the_locale_exactly(app, header, expected):
    from datetime import date

    with app.test_request_context(headers={"Accept-Language": header}):
        shown = {
            "money": filters.money(Decimal("1234.555"), "USD"),  # half-even: .555 -> .56
            "eur": filters.money(Decimal("-1234.5"), "EUR"),
            "jpy": filters.money(Decimal("1234.6"), "JPY"),  # the yen has no decimals
            "price": filters.price(Decimal("12.34560"), "USD"),
            "percent": filters.percent(Decimal("12.3456")),
            "quantity": filters.quantity(Decimal("1234.5000")),
            "day": filters.day(date(2025, 3, 14)),
        }
    assert {k: v.replace("\xa0", " ") for k, v in shown.items()} == expected


def test_a_big_amount_keeps_every_digit(app):
    """Decimal all the way: no float rounding at 17 significant digits."""
    with app.test_request_context(headers={"Accept-Language": "de"}):
        assert filters.money(Decimal("123456789012345.67"), "EUR").replace("\xa0", " ") == "123.456.789.012.345,67 €"


def test_an_english_interface_with_indian_grouping_on_the_dashboard(app, client):
    uid = quick_user(app, "asha@example.com", language="en", number_locale="en_IN", base_currency="INR")
    with app.app_context():
        account = assets.create_account(db.session.get(User, uid), "Zerodha", "", "brokerage")
        assets.add_holding(account, "RELIANCE.NS", "stock", Decimal("1"))
    set_price(app, "RELIANCE.NS", "123456.78", currency="INR")
    login(client, "asha@example.com")
    page = text(client.get("/"))
    assert "<h1>Portfolio</h1>" in page  # English words
    assert 'id="portfolio-total">₹1,23,456.78</div>' in page


# ---- reading decimals ----------------------------------------------------------------------------------
def add_holding(client, account_id: int, quantity: str, symbol: str = "AAPL"):
    return post(client, f"/accounts/{account_id}/holdings",
                {"symbol": symbol, "asset_type": "stock", "quantity": quantity})


def quantity_of(app, account_id: int) -> Decimal | None:
    with app.app_context():
        return db.session.scalar(sa.select(Holding.quantity).where(Holding.account_id == account_id))


def user_with_account(app, client, email: str, **settings) -> int:
    uid = quick_user(app, email, **settings)
    with app.app_context():
        account_id = assets.create_account(db.session.get(User, uid), "Broker", "", "brokerage").id
    login(client, email)
    return account_id


@pytest.mark.parametrize("settings, typed, stored", [
    ({"language": "de"}, "1.234,5", Decimal("1234.5")),
    ({"language": "de"}, "0,25", Decimal("0.25")),
    ({"language": "en"}, "1234.5", Decimal("1234.5")),
    ({"language": "en"}, "1,234.5", Decimal("1234.5")),
    ({"language": "en", "number_locale": "en_IN"}, "1,23,456.5", Decimal("123456.5")),
    ({"language": "es", "number_locale": "fr_FR"}, "1 234,5", Decimal("1234.5")),  # a plain space
])
def test_a_quantity_is_read_in_the_users_number_format(app, client, settings, typed, stored):
    account_id = user_with_account(app, client, "alice@example.com", **settings)
    resp = add_holding(client, account_id, typed)
    assert resp.status_code == 302, text(resp)[:2000]
    assert quantity_of(app, account_id) == stored


@pytest.mark.parametrize("settings, typed, message", [
    ({"language": "en"}, "1.234,5", "“1.234,5” is not a number. Write numbers like 1,234.5."),
    ({"language": "en"}, "1,2", "“1,2” is not a number."),
    ({"language": "de"}, "1234.5", "„1234.5“ ist keine Zahl. Schreiben Sie Zahlen wie 1.234,5."),
    ({"language": "de"}, "1,2,3", "„1,2,3“ ist keine Zahl."),
    ({"language": "de"}, "0", "Die Anzahl muss größer als null sein."),
    ({"language": "es"}, "abc", "«abc» no es un número."),
])
def test_an_ambiguous_or_foreign_quantity_is_refused_not_guessed(app, client, settings, typed, message):
    account_id = user_with_account(app, client, "alice@example.com", **settings)
    resp = add_holding(client, account_id, typed)
    assert resp.status_code == 400
    body = text(resp)
    assert message in body
    assert f'value="{typed}"' in body  # the form keeps what was typed
    assert quantity_of(app, account_id) is None


def test_a_stored_quantity_is_offered_back_in_the_users_format(app, client):
    account_id = user_with_account(app, client, "alice@example.com", language="de")
    assert add_holding(client, account_id, "1.234,5").status_code == 302
    page = text(client.get(f"/accounts/{account_id}"))
    assert 'value="1234,5"' in page  # the quantity field: German decimal sign, no grouping
    with app.app_context():
        hid = db.session.scalar(sa.select(Holding.id).where(Holding.account_id == account_id))
    # typed back unchanged, it is the same number
    resp = post(client, f"/accounts/holdings/{hid}/quantity", {"quantity": "1234,5"})
    assert resp.status_code == 302
    assert quantity_of(app, account_id) == Decimal("1234.5")


def test_an_alert_threshold_is_read_in_the_users_number_format(app, client):
    user_with_account(app, client, "alice@example.com", language="de")
    resp = post(client, "/alerts/", {"kind": "portfolio_above", "threshold": "1.500,25", "in_app": "y",
                                     "cooldown_minutes": "60"})
    assert resp.status_code == 302, text(resp)[:2000]
    from webapp.models import AlertRule

    with app.app_context():
        assert db.session.scalar(sa.select(AlertRule.threshold)) == Decimal("1500.25")
    resp = post(client, "/alerts/", {"kind": "portfolio_above", "threshold": "1500.25", "in_app": "y",
                                     "cooldown_minutes": "60"})
    assert resp.status_code == 400 and "„1500.25“ ist keine Zahl." in text(resp)


def test_mail_comes_in_the_readers_language(mail_app, smtp_server):
    client = mail_app.test_client()
    quick_user(mail_app, "alice@example.com", language="es")
    resp = post(client, "/auth/forgot", {"email": "alice@example.com"}, headers={"Accept-Language": "de"})
    assert resp.status_code == 200
    assert "Sehen Sie in Ihr Postfach" in text(resp)  # the page follows the browser
    run_mail_jobs(mail_app)
    [message] = smtp_server.to("alice@example.com")
    assert message["subject"] == "Restablezca su contraseña de Folio"  # the mail follows its reader
    assert "Hola, alice:" in message["text"], message["text"]
    assert "30 minutos:" in message["text"].replace("\r\n", " "), message["text"]


def test_accounts_are_not_shared_between_locales(app):
    """The per-user locale never leaks into another user's request (no global state)."""
    quick_user(app, "de@example.com", language="de")
    quick_user(app, "en@example.com", language="en")
    c1, c2 = app.test_client(), app.test_client()
    login(c1, "de@example.com")
    login(c2, "en@example.com")
    assert "<h1>Depots</h1>" in text(c1.get("/accounts/"))
    assert "<h1>Accounts</h1>" in text(c2.get("/accounts/"))
    assert "<h1>Depots</h1>" in text(c1.get("/accounts/"))
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Account)) == 0


@pytest.mark.parametrize("language, titles", [
    ("de", ["Übersicht", "Depots", "Aufteilung", "Wertverlauf", "Rendite", "Gewinne", "Erträge", "Warnungen",
            "Benachrichtigungen", "Einstellungen", "Buchungen importieren", "Positionen importieren", "Buchungen",
            "Split SAP.DE", "Zwei-Faktor-Anmeldung einrichten", "JSON-API"]),
    ("es", ["Panel", "Cuentas", "Distribución", "Historial de valor", "Rentabilidad", "Ganancias", "Rendimientos",
            "Alertas", "Notificaciones", "Ajustes", "Importar movimientos", "Importar posiciones", "Movimientos",
            "Split de SAP.DE", "Configurar el inicio de sesión en dos pasos", "API JSON"]),
])
def test_every_page_of_a_user_renders_in_their_language(app, client, language, titles):
    uid = quick_user(app, f"{language}@example.com", language=language, base_currency="EUR")
    with app.app_context():
        account = assets.create_account(db.session.get(User, uid), "Depot", "", "brokerage")
        holding = assets.add_holding(account, "SAP.DE", "stock", Decimal("10"))
        account_id, holding_id = account.id, holding.id
    set_price(app, "SAP.DE", "123.45", currency="EUR")
    login(client, f"{language}@example.com")
    pages = ["/", "/accounts/", "/portfolio/allocation", "/portfolio/history", "/portfolio/returns",
             "/portfolio/gains", "/portfolio/income", "/alerts/", "/notifications/", "/settings/",
             "/activities/import", "/accounts/import", f"/accounts/{account_id}/activities",
             f"/accounts/holdings/{holding_id}/split", "/settings/two-factor", "/api/v1/docs"]
    for url, title in zip(pages, titles):
        resp = client.get(url)
        assert resp.status_code == 200, url
        assert f"<title>{title} ·" in text(resp), (url, title)
    detail = text(client.get(f"/accounts/{account_id}"))
    assert {"de": "Position hinzufügen", "es": "Añadir una posición"}[language] in detail
    assert {"de": "1.234,50 €", "es": "1.234,50 €"}[language] in text(client.get("/"))
