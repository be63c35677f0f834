"""WTForms for every user input. Validation messages are written for people."""
from __future__ import annotations

from decimal import Decimal

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
from webapp.models import ACCOUNT_KINDS, ASSET_TYPES


def no_control_chars(form, field):
    if field.data and CONTROL_RE.search(field.data):
        raise ValidationError("Remove the invisible control characters from this field.")


def check_email(form, field):
    if not valid_email(field.data or ""):
        raise ValidationError("Enter an email address like name@example.com.")


class QuantityField(StringField):
    """A text field whose data is an exact Decimal (never float)."""

    parse = staticmethod(parse_quantity)

    def process_formdata(self, valuelist):
        self.raw = valuelist[0] if valuelist else ""
        self.data = None
        try:
            self.data = self.parse(self.raw)
        except ValueError as exc:
            self.parse_error = str(exc)
        else:
            self.parse_error = None

    def pre_validate(self, form):
        if getattr(self, "parse_error", None):
            raise ValidationError(self.parse_error)

    def _value(self):
        if getattr(self, "raw", None) is not None:
            return self.raw
        return format(self.data.normalize(), "f") if self.data is not None else ""


class CostField(QuantityField):
    """An optional exact amount (blank: unknown)."""

    parse = staticmethod(parse_cost)


COST_KINDS = {"total": "in total", "per_unit": "per unit"}


class RegisterForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired("Enter your email address."), Length(max=254),
                                            no_control_chars, check_email],
                       filters=[normalise_email])
    display_name = StringField("Display name (optional)", validators=[Optional(), Length(max=80), no_control_chars],
                               filters=[lambda v: (v or "").strip()])
    password = PasswordField("Password", validators=[
        DataRequired("Choose a password."),
        Length(min=10, max=200, message="Use between 10 and 200 characters."),
    ])
    confirm = PasswordField("Confirm password", validators=[
        DataRequired("Type the password again."),
        EqualTo("password", message="The two passwords do not match."),
    ])


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired("Enter your email address."), Length(max=254),
                                            no_control_chars],
                       filters=[normalise_email])
    password = PasswordField("Password", validators=[DataRequired("Enter your password."), Length(max=200)])
    remember = BooleanField("Remember me")
    next = HiddenField()


def check_account_name(form, field):
    if not field.data:
        raise ValidationError("Give the account a name.")


class AccountForm(FlaskForm):
    name = StringField("Name", validators=[Length(max=80, message="Keep the name under 80 characters."),
                                           check_account_name, no_control_chars],
                       filters=[lambda v: " ".join((v or "").split())])
    institution = StringField("Institution (optional)", validators=[Optional(), Length(max=120), no_control_chars],
                              filters=[lambda v: (v or "").strip()])
    kind = SelectField("Kind", choices=list(ACCOUNT_KINDS.items()), default="brokerage",
                       validate_choice=True)


class RenameAccountForm(FlaskForm):
    name = StringField("New name", validators=[Length(max=80, message="Keep the name under 80 characters."),
                                               check_account_name, no_control_chars],
                       filters=[lambda v: " ".join((v or "").split())])


def check_symbol(form, field):
    if not field.data:
        raise ValidationError("Enter a symbol, e.g. AAPL, VOD.L or VTSAX.")
    if not SYMBOL_RE.match(field.data):
        raise ValidationError("A symbol is 1–20 letters, digits or . - ^ = (e.g. BRK-B, VOD.L, ^GSPC).")


def check_currency_code(form, field):
    if field.data and not (len(field.data) == 3 and field.data.isascii() and field.data.isalpha()):
        raise ValidationError("Enter a three-letter currency code like USD, or leave it empty.")


class HoldingForm(FlaskForm):
    symbol = StringField("Symbol", validators=[check_symbol], filters=[normalise_symbol])
    asset_type = SelectField("Type", choices=list(ASSET_TYPES.items()), default="stock", validate_choice=True)
    quantity = QuantityField("Quantity")
    cost = CostField("Cost (optional, in the price's currency)")
    cost_kind = SelectField("Cost is", choices=list(COST_KINDS.items()), default="total", validate_choice=True)
    # filled by a picked suggestion; a provider's own currency still wins when it names one
    currency = StringField("Currency (optional)", validators=[Optional(), check_currency_code],
                           filters=[lambda v: (v or "").strip().upper() or None])
    merge = HiddenField(default="")

    def total_cost(self) -> Decimal | None:
        return total_cost(self.cost.data, self.cost_kind.data, self.quantity.data)


class QuantityForm(FlaskForm):
    quantity = QuantityField("Quantity")


class CostForm(FlaskForm):
    cost = CostField("Cost")
    cost_kind = SelectField("Cost is", choices=list(COST_KINDS.items()), default="total", validate_choice=True)


def cost_within_limit(field, cost: Decimal | None) -> bool:
    """A total cost (per unit x quantity may exceed what each was allowed to be) the column holds;
    else the field says so."""
    if cost is not None and cost >= MAX_QUANTITY:
        field.errors.append("That makes a total cost over the limit of 1,000,000,000,000,000.")
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
        raise ValidationError("Enter the 6-digit code from your authenticator app, or a recovery code.")


def code_field(label: str = "Code") -> StringField:
    return StringField(label, validators=[DataRequired("Enter the 6-digit code from your authenticator app."),
                                          Length(max=64, message="That is too long for a code."), check_code],
                       filters=[lambda v: (v or "").strip()])


class LoginCodeForm(FlaskForm):
    code = code_field("Code from your authenticator app, or a recovery code")


class EnableTwoFactorForm(FlaskForm):
    code = code_field("Code shown by the app")


class TwoFactorPasswordForm(FlaskForm):
    """Turning two-factor login off, or new recovery codes: the password and a code."""

    password = PasswordField("Password", validators=[DataRequired("Enter your password."), Length(max=200)])
    code = code_field("Code from your authenticator app, or a recovery code")


# the currencies of the ECB's daily reference rates (the default FX provider), and the euro
CURRENCIES = ("AUD", "BGN", "BRL", "CAD", "CHF", "CNY", "CZK", "DKK", "EUR", "GBP", "HKD", "HUF", "IDR", "ILS",
              "INR", "ISK", "JPY", "KRW", "MXN", "MYR", "NOK", "NZD", "PHP", "PLN", "RON", "SEK", "SGD", "THB",
              "TRY", "USD", "ZAR")


class BaseCurrencyForm(FlaskForm):
    currency = SelectField("Base currency", choices=[(c, c) for c in CURRENCIES], validate_choice=False)

    def validate_currency(self, field):
        field.data = (field.data or "").strip().upper()
        if field.data not in CURRENCIES:
            raise ValidationError(f"Choose one of: {', '.join(CURRENCIES)}.")


class NewPasswordForm(FlaskForm):
    """A new password, twice: a reset link's form, and the password change's."""

    password = PasswordField("New password", validators=[
        DataRequired("Choose a new password."),
        Length(min=10, max=200, message="Use between 10 and 200 characters."),
    ])
    confirm = PasswordField("Confirm new password", validators=[
        DataRequired("Type the new password again."),
        EqualTo("password", message="The two passwords do not match."),
    ])


class ChangePasswordForm(NewPasswordForm):
    current_password = PasswordField("Current password", validators=[
        DataRequired("Enter your current password."), Length(max=200)])


class ForgotPasswordForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired("Enter your email address."), Length(max=254),
                                            no_control_chars, check_email],
                       filters=[normalise_email])


class ResetPasswordForm(NewPasswordForm):
    """The same rules as registration and the password change."""


class ButtonForm(FlaskForm):
    """A form that is only a button (and its CSRF token)."""


# ---- gains: the cost method and the benchmark -------------------------------------------------
COST_METHODS = {"average": "Average cost (default)", "fifo": "FIFO (first in, first out)"}


def check_cost_method(form, field):
    if field.data not in COST_METHODS:
        raise ValidationError("Choose average cost or FIFO.")


class GainsForm(FlaskForm):
    cost_method = SelectField("Cost method", choices=list(COST_METHODS.items()), validate_choice=False,
                              validators=[check_cost_method])
    benchmark = StringField("Benchmark symbol", validators=[check_symbol], filters=[normalise_symbol],
                            render_kw={"placeholder": "^GSPC", "autocomplete": "off"})


class ApiTokenForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(message="Give the token a name."),
                                           Length(max=80, message="Keep the name under 80 characters."),
                                           no_control_chars],
                       filters=[lambda v: " ".join((v or "").split())],
                       render_kw={"placeholder": "e.g. home-assistant", "autocomplete": "off"})
    scopes = SelectField("Scopes", choices=[("read", "Read"), ("read write", "Read and write")], default="read",
                         validate_choice=True)
    days = IntegerField("Expires after (days; empty: never)", validators=[Optional(), NumberRange(1, 3650)])
