"""The forms of the activities ledger: an activity (add, edit) and the activity list's filters.

Numbers are parsed exactly (webapp/domain/inputs.py); whether they may be zero or negative,
a date in the future, a currency unknown: the ledger service says so (`Refused.problems`),
and `ActivityForm.show_problems` puts each sentence by its field.
"""
from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField, SelectMultipleField, StringField
from wtforms.validators import Length, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from webapp.domain.inputs import normalise_symbol, parse_day, parse_number
from webapp.domain.splits import SplitError, parse_ratio
from webapp.web.labels import ACTIVITY_LABELS, ASSET_TYPE_LABELS, FIELD_NOUNS, activity_noun
from webapp.web.forms import QuantityField, check_symbol, no_control_chars


_TRADE, _CASH = {"quantity", "price", "fee"}, {"amount", "fee"}
# what each type takes besides date, symbol, currency and note; anything else must stay empty
ACTIVITY_FIELDS = {"buy": _TRADE, "sell": _TRADE, "transfer_out": _TRADE, "opening": _TRADE | {"amount"},
                   "transfer_in": _TRADE | {"amount"}, "dividend": _CASH | {"quantity"}, "interest": _CASH,
                   "fee": _CASH, "tax": _CASH, "deposit": _CASH, "withdrawal": _CASH, "split": {"ratio"}}
# a sentence of the ledger's checks -> the field it is about (the rest shows above the form)
_PROBLEM_FIELDS = (("The date", "date"), ("The quantity", "quantity"), ("You held", "quantity"),
                   ("The price", "price"), ("The amount", "amount"), ("The fee", "fee"),
                   ("Enter a symbol", "symbol"), ("A split needs", "ratio"), ("ISO 4217", "currency"))


class NumberField(QuantityField):
    """An optional exact number of either sign (blank: None); the ledger says what it may be."""

    noun = "number"

    def parse(self, text):
        return parse_number(text, self.noun)


class AmountField(NumberField):
    noun = "amount"


class DayField(QuantityField):
    """A YYYY-MM-DD date as a `date`; optional when `required` is False."""

    localised = False

    def __init__(self, *args, required: bool = True, **kwargs):
        kwargs.setdefault("render_kw", {"type": "date"})
        super().__init__(*args, **kwargs)
        self.required = required

    def parse(self, text):
        return parse_day(text) if self.required or (text or "").strip() else None

    def _value(self):
        if getattr(self, "raw", None) is not None:
            return self.raw
        return self.data.isoformat() if self.data is not None else ""


def check_optional_symbol(form, field):
    if field.data:
        check_symbol(form, field)


def check_activity_type(form, field):
    if field.data not in ACTIVITY_LABELS:
        raise ValidationError(_("Choose what kind of activity this is (buy, sell, dividend …)."))


def _ascii_int(value) -> int | None:
    text = str(value or "").strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) < 12 else None


class ActivityForm(FlaskForm):
    date = DayField(_l("Date"))
    type = SelectField(_l("Type"), choices=list(ACTIVITY_LABELS.items()), default="buy", validate_choice=False,
                       validators=[check_activity_type])
    symbol = StringField(_l("Symbol"), validators=[check_optional_symbol], filters=[normalise_symbol])
    asset_type = SelectField(_l("Asset type (of a new symbol)"), choices=list(ASSET_TYPE_LABELS.items()), default="stock",
                             validate_choice=True)
    quantity = NumberField(_l("Quantity"))
    price = NumberField(_l("Price"))
    fee = AmountField(_l("Fee"))
    amount = AmountField(_l("Amount"))
    currency = StringField(_l("Currency"), filters=[lambda v: (v or "").strip().upper() or None],
                           render_kw={"placeholder": _l("the symbol's"), "size": 4, "autocomplete": "off"})
    ratio = StringField(_l("Ratio (a split: new for old)"), validators=[Length(max=40)],
                        render_kw={"placeholder": "2:1", "autocomplete": "off"})
    note = StringField(_l("Note"), validators=[Length(max=500, message=_l("Keep the note under 500 characters.")),
                                           no_control_chars], filters=[lambda v: (v or "").strip()])

    def validate(self, extra_validators=None) -> bool:
        """The fields, then what the chosen type does not take (left empty), and a split's ratio."""
        ok = super().validate(extra_validators)
        self.parsed_ratio = None
        used = ACTIVITY_FIELDS.get(self.type.data)
        if used is None:
            return False
        label = activity_noun(self.type.data)
        for name in ("quantity", "price", "fee", "amount", "ratio"):
            field = getattr(self, name)
            given = (field.data or "").strip() if name == "ratio" else field.data
            if name not in used and given and not field.errors:
                noun = FIELD_NOUNS[name]
                text = (_("An %(type)s has no %(field)s: leave it empty.", type=label, field=noun)
                        if label[0] in "aeiou" else
                        _("A %(type)s has no %(field)s: leave it empty.", type=label, field=noun))
                if self.type.data == "split":
                    text += " " + _("A split takes only its ratio, like 2:1.")
                field.errors.append(text)
                ok = False
        if self.type.data == "split" and (self.ratio.data or "").strip() and not self.ratio.errors:
            try:
                self.parsed_ratio = parse_ratio(self.ratio.data)
            except SplitError as exc:
                self.ratio.errors.append(str(exc))
                ok = False
        return ok

    def show_problems(self, problems: list[str]) -> None:
        """The ledger's sentences, each by the field it is about; `self.problems` the others."""
        self.problems = []
        for problem in problems:
            name = next((f for start, f in _PROBLEM_FIELDS if start in problem), None)
            (getattr(self, name).errors if name else self.problems).append(problem)

    @classmethod
    def of(cls, row) -> "ActivityForm":
        """The form showing a stored activity, to edit it."""
        ratio = f"{row.ratio_numerator}:{row.ratio_denominator}" if row.ratio_numerator else ""
        return cls(formdata=None, date=row.date, type=row.type, quantity=row.quantity, price=row.price,
                   fee=row.fee or None, amount=row.amount, currency=row.currency or "", ratio=ratio, note=row.note,
                   symbol=row.instrument.symbol if row.instrument else "", account=row.account_id,
                   asset_type=row.instrument.asset_type if row.instrument else "stock")


class EditActivityForm(ActivityForm):
    """Editing may move the activity to another of the user's accounts (`account.choices`, set by the view)."""

    account = SelectField(_l("Account"), coerce=_ascii_int, validate_choice=False)

    def validate_account(self, field):
        if field.data not in {value for value, _ in field.choices or ()}:
            raise ValidationError(_("Choose one of your accounts."))


class ActivityFilterForm(FlaskForm):
    """The activity list's filters, read from the query string (a GET form: no CSRF token)."""

    class Meta:
        csrf = False

    # ids of their own: the add form on the same page has fields named alike
    type = SelectMultipleField(_l("Type"), choices=list(ACTIVITY_LABELS.items()), validate_choice=False,
                               widget=ListWidget(prefix_label=False), option_widget=CheckboxInput(),
                               id="filter-type")
    symbol = StringField(_l("Symbol"), validators=[check_optional_symbol], filters=[normalise_symbol],
                         id="filter-symbol")
    since = DayField(_l("From"), name="from", required=False, id="filter-from")
    until = DayField(_l("To"), name="to", required=False, id="filter-to")

    def types(self) -> list[str]:
        return [t for t in self.type.data or () if t in ACTIVITY_LABELS]
