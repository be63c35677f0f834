"""WTForms for every user input. Validation messages are written for people."""
from __future__ import annotations

from decimal import Decimal

from babel.numbers import NumberFormatError, format_decimal, get_group_symbol
from babel.numbers import parse_decimal as babel_parse_decimal

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    EmailField,
    HiddenField,
    IntegerField,
    PasswordField,
    SelectField,
    StringField,
)
from wtforms.validators import DataRequired, EqualTo, Length, NumberRange, Optional, ValidationError

from webapp.domain.inputs import (  # noqa: F401  (re-exported: forms are where views look for them)
    CONTROL_RE,
    EMAIL_RE,
    N_,
    InputError,
    MAX_QUANTITY,
    QUANTITY_PLACES,
    SYMBOL_RE,
    normalise_email,
    normalise_symbol,
    parse_cost,
    parse_decimal,
    parse_quantity,
    valid_email,
)
from webapp.web.filters import decimal_input
from webapp.web.i18n import number_locale
from webapp.web.labels import ACCOUNT_KIND_LABELS, ASSET_TYPE_LABELS


def no_control_chars(form, field):
    if field.data and CONTROL_RE.search(field.data):
        raise ValidationError(_("Remove the invisible control characters from this field."))


def check_email(form, field):
    if not valid_email(field.data or ""):
        raise ValidationError(_("Enter an email address like name@example.com."))


def localised_number(text: str) -> str:
    """What a person typed in their number locale ("1.234,5" in German), as plain digits for the
    exact parsers ("1234.5"). Strict: a grouping that does not fit the locale is an error, so
    "1.234,5" in English is refused rather than read as 1.2345."""
    raw = (text or "").strip()
    if not raw:
        return raw
    if any(c.isdigit() and not c.isascii() for c in raw):  # "١٠" would read as 10 unseen
        raise InputError(N_("“%(text)s” is not a number."), text=raw[:40])
    locale = number_locale()
    group = get_group_symbol(locale)
    if group.isspace() or group == "\u202f":  # people type a plain space where French groups with a narrow one
        raw = raw.replace(" ", group)
    try:
        value = babel_parse_decimal(raw.replace("−", "-"), locale=locale, strict=True)
    except NumberFormatError:
        raise InputError(N_("“%(text)s” is not a number. Write numbers like %(example)s."), text=raw[:40],
                         example=format_decimal(Decimal("1234.5"), locale=locale)) from None
    return str(value)  # "1E+999999999999" stays short; the exact parsers read it


class QuantityField(StringField):
    """A text field whose data is an exact Decimal (never float), typed in the user's number locale."""

    parse = staticmethod(parse_quantity)
    localised = True  # a number in the user's locale (a DayField is not)

    def process_formdata(self, valuelist):
        self.raw = valuelist[0] if valuelist else ""
        self.data = None
        try:
            self.data = self.parse(self._plain(self.raw))
        except InputError as exc:
            self.parse_error = _(exc.message, **exc.params)
        except ValueError as exc:
            self.parse_error = str(exc)
        else:
            self.parse_error = None

    def _plain(self, raw: str) -> str:
        if not self.localised:
            return raw
        try:
            return localised_number(raw)
        except InputError as not_in_locale:
            if any(c.isalpha() for c in raw):  # "5 dollars": the field's own words ("… is not an amount")
                try:
                    self.parse(raw)
                except InputError as exc:
                    raise exc from None
            raise not_in_locale from None

    def pre_validate(self, form):
        if getattr(self, "parse_error", None):
            raise ValidationError(self.parse_error)

    def _value(self):
        if getattr(self, "raw", None) is not None:
            return self.raw
        return decimal_input(self.data) if self.data is not None else ""


class CostField(QuantityField):
    """An optional exact amount (blank: unknown)."""

    parse = staticmethod(parse_cost)


COST_KINDS = {"total": _l("in total"), "per_unit": _l("per unit")}


class RegisterForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[DataRequired(_l("Enter your email address.")), Length(max=254),
                                            no_control_chars, check_email],
                       filters=[normalise_email])
    display_name = StringField(_l("Display name (optional)"), validators=[Optional(), Length(max=80), no_control_chars],
                               filters=[lambda v: (v or "").strip()])
    password = PasswordField(_l("Password"), validators=[
        DataRequired(_l("Choose a password.")),
        Length(min=10, max=200, message=_l("Use between 10 and 200 characters.")),
    ])
    confirm = PasswordField(_l("Confirm password"), validators=[
        DataRequired(_l("Type the password again.")),
        EqualTo("password", message=_l("The two passwords do not match.")),
    ])


class LoginForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[DataRequired(_l("Enter your email address.")), Length(max=254),
                                            no_control_chars],
                       filters=[normalise_email])
    password = PasswordField(_l("Password"), validators=[DataRequired(_l("Enter your password.")), Length(max=200)])
    remember = BooleanField(_l("Remember me"))
    next = HiddenField()


def check_account_name(form, field):
    if not field.data:
        raise ValidationError(_("Give the account a name."))


class AccountForm(FlaskForm):
    name = StringField(_l("Name"), validators=[Length(max=80, message=_l("Keep the name under 80 characters.")),
                                           check_account_name, no_control_chars],
                       filters=[lambda v: " ".join((v or "").split())])
    institution = StringField(_l("Institution (optional)"), validators=[Optional(), Length(max=120), no_control_chars],
                              filters=[lambda v: (v or "").strip()])
    kind = SelectField(_l("Kind"), choices=list(ACCOUNT_KIND_LABELS.items()), default="brokerage",
                       validate_choice=True)


class RenameAccountForm(FlaskForm):
    name = StringField(_l("New name"), validators=[Length(max=80, message=_l("Keep the name under 80 characters.")),
                                               check_account_name, no_control_chars],
                       filters=[lambda v: " ".join((v or "").split())])


def check_symbol(form, field):
    if not field.data:
        raise ValidationError(_("Enter a symbol, e.g. AAPL, VOD.L or VTSAX."))
    if not SYMBOL_RE.match(field.data):
        raise ValidationError(_("A symbol is 1–20 letters, digits or . - ^ = (e.g. BRK-B, VOD.L, ^GSPC)."))


def check_currency_code(form, field):
    if field.data and not (len(field.data) == 3 and field.data.isascii() and field.data.isalpha()):
        raise ValidationError(_("Enter a three-letter currency code like USD, or leave it empty."))


class HoldingForm(FlaskForm):
    symbol = StringField(_l("Symbol"), validators=[check_symbol], filters=[normalise_symbol])
    asset_type = SelectField(_l("Type"), choices=list(ASSET_TYPE_LABELS.items()), default="stock", validate_choice=True)
    quantity = QuantityField(_l("Quantity"))
    cost = CostField(_l("Cost (optional, in the price's currency)"))
    cost_kind = SelectField(_l("Cost is"), choices=list(COST_KINDS.items()), default="total", validate_choice=True)
    # filled by a picked suggestion; a provider's own currency still wins when it names one
    currency = StringField(_l("Currency (optional)"), validators=[Optional(), check_currency_code],
                           filters=[lambda v: (v or "").strip().upper() or None])
    merge = HiddenField(default="")

    def total_cost(self) -> Decimal | None:
        return total_cost(self.cost.data, self.cost_kind.data, self.quantity.data)


class QuantityForm(FlaskForm):
    quantity = QuantityField(_l("Quantity"))


class CostForm(FlaskForm):
    cost = CostField(_l("Cost"))
    cost_kind = SelectField(_l("Cost is"), choices=list(COST_KINDS.items()), default="total", validate_choice=True)


def cost_within_limit(field, cost: Decimal | None) -> bool:
    """A total cost (per unit x quantity may exceed what each was allowed to be) the column holds;
    else the field says so."""
    if cost is not None and cost >= MAX_QUANTITY:
        field.errors.append(_("That makes a total cost over the limit of 1,000,000,000,000,000."))
        return False
    return True


def total_cost(cost: Decimal | None, kind: str, quantity: Decimal | None) -> Decimal | None:
    """What the whole holding cost: as given, or per unit x quantity (exact)."""
    if cost is None or quantity is None:
        return None
    return cost * quantity if kind == "per_unit" else cost



# ---- settings and two-factor login --------------------------------------------------------
def check_code(form, field):
    from webapp.services.users import looks_like_code

    if not looks_like_code(field.data):
        raise ValidationError(_("Enter the 6-digit code from your authenticator app, or a recovery code."))


def code_field(label: str = "Code") -> StringField:
    return StringField(label, validators=[DataRequired(_l("Enter the 6-digit code from your authenticator app.")),
                                          Length(max=64, message=_l("That is too long for a code.")), check_code],
                       filters=[lambda v: (v or "").strip()])


class LoginCodeForm(FlaskForm):
    code = code_field(_l("Code from your authenticator app, or a recovery code"))


class EnableTwoFactorForm(FlaskForm):
    code = code_field(_l("Code shown by the app"))


class TwoFactorPasswordForm(FlaskForm):
    """Turning two-factor login off, or new recovery codes: the password and a code."""

    password = PasswordField(_l("Password"), validators=[DataRequired(_l("Enter your password.")), Length(max=200)])
    code = code_field(_l("Code from your authenticator app, or a recovery code"))


# the currencies of the ECB's daily reference rates (the default FX provider), and the euro
CURRENCIES = ("AUD", "BGN", "BRL", "CAD", "CHF", "CNY", "CZK", "DKK", "EUR", "GBP", "HKD", "HUF", "IDR", "ILS",
              "INR", "ISK", "JPY", "KRW", "MXN", "MYR", "NOK", "NZD", "PHP", "PLN", "RON", "SEK", "SGD", "THB",
              "TRY", "USD", "ZAR")


class BaseCurrencyForm(FlaskForm):
    currency = SelectField(_l("Base currency"), choices=[(c, c) for c in CURRENCIES], validate_choice=False)

    def validate_currency(self, field):
        field.data = (field.data or "").strip().upper()
        if field.data not in CURRENCIES:
            raise ValidationError(_("Choose one of: %(currencies)s.", currencies=", ".join(CURRENCIES)))


class NewPasswordForm(FlaskForm):
    """A new password, twice: a reset link's form, and the password change's."""

    password = PasswordField(_l("New password"), validators=[
        DataRequired(_l("Choose a new password.")),
        Length(min=10, max=200, message=_l("Use between 10 and 200 characters.")),
    ])
    confirm = PasswordField(_l("Confirm new password"), validators=[
        DataRequired(_l("Type the new password again.")),
        EqualTo("password", message=_l("The two passwords do not match.")),
    ])


class ChangePasswordForm(NewPasswordForm):
    current_password = PasswordField(_l("Current password"), validators=[
        DataRequired(_l("Enter your current password.")), Length(max=200)])


class ForgotPasswordForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[DataRequired(_l("Enter your email address.")), Length(max=254),
                                            no_control_chars, check_email],
                       filters=[normalise_email])


class ResetPasswordForm(NewPasswordForm):
    """The same rules as registration and the password change."""


class ButtonForm(FlaskForm):
    """A form that is only a button (and its CSRF token)."""


# ---- gains: the cost method and the benchmark -------------------------------------------------
COST_METHODS = {"average": _l("Average cost (default)"), "fifo": _l("FIFO (first in, first out)")}


def check_cost_method(form, field):
    if field.data not in COST_METHODS:
        raise ValidationError(_("Choose average cost or FIFO."))


class GainsForm(FlaskForm):
    cost_method = SelectField(_l("Cost method"), choices=list(COST_METHODS.items()), validate_choice=False,
                              validators=[check_cost_method])
    benchmark = StringField(_l("Benchmark symbol"), validators=[check_symbol], filters=[normalise_symbol],
                            render_kw={"placeholder": "^GSPC", "autocomplete": "off"})


class ApiTokenForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(message=_l("Give the token a name.")),
                                           Length(max=80, message=_l("Keep the name under 80 characters.")),
                                           no_control_chars],
                       filters=[lambda v: " ".join((v or "").split())],
                       render_kw={"placeholder": _l("e.g. home-assistant"), "autocomplete": "off"})
    scopes = SelectField(_l("Scopes"), choices=[("read", _l("Read")), ("read write", _l("Read and write"))], default="read",
                         validate_choice=True)
    days = IntegerField(_l("Expires after (days; empty: never)"), validators=[Optional(), NumberRange(1, 3650)])


# ---- language and number format -------------------------------------------------------------
class LanguageForm(FlaskForm):
    language = SelectField(_l("Interface language"), validate_choice=False)
    number_locale = SelectField(_l("Number, money and date format"), validate_choice=False)

    def __init__(self, *args, **kwargs):
        from webapp.web.i18n import LANGUAGES, number_locale_choices

        super().__init__(*args, **kwargs)
        self.language.choices = [("", _l("The browser's language"))] + list(LANGUAGES.items())
        self.number_locale.choices = number_locale_choices()

    def validate_language(self, field):
        from webapp.web.i18n import LANGUAGES

        field.data = (field.data or "").strip() or None
        if field.data is not None and field.data not in LANGUAGES:
            raise ValidationError(_l("Choose English, Deutsch or Español."))

    def validate_number_locale(self, field):
        from webapp.web.i18n import normalise_locale

        raw = (field.data or "").strip()
        field.data = normalise_locale(raw) if raw else None
        if raw and field.data is None:
            raise ValidationError(_("“%(locale)s” is not a locale Folio knows; choose one from the list, "
                                    "like de_DE or en_IN.", locale=raw[:20]))
