"""The words the interface shows for stored codes (asset types, account kinds, activity types),
translated: the models and the API keep the English codes and names."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

ASSET_TYPE_LABELS = {"stock": _l("Stock"), "etf": _l("ETF"), "mutual_fund": _l("Mutual fund"),
                     "crypto": _l("Crypto")}
ACCOUNT_KIND_LABELS = {"brokerage": _l("Brokerage"), "retirement": _l("Retirement"),
                       "fund_folio": _l("Fund folio"), "savings": _l("Savings"), "other": _l("Other")}
ACTIVITY_LABELS = {"buy": _l("Buy"), "sell": _l("Sell"), "dividend": _l("Dividend"), "interest": _l("Interest"),
                   "fee": _l("Fee"), "tax": _l("Tax"), "split": _l("Split"), "transfer_in": _l("Transfer in"),
                   "transfer_out": _l("Transfer out"), "deposit": _l("Deposit"), "withdrawal": _l("Withdrawal"),
                   "opening": _l("Opening position")}
ALERT_KIND_LABELS = {"price_above": _l("Price above"), "price_below": _l("Price below"),
                     "day_change_beyond": _l("Day change beyond ±%"), "portfolio_above": _l("Portfolio value above"),
                     "portfolio_below": _l("Portfolio value below"),
                     "portfolio_day_change_beyond": _l("Portfolio day change beyond ±%"),
                     "price_stale": _l("Price older than N hours")}
# the activity form's number fields, named inside a sentence
FIELD_NOUNS = {"quantity": _l("quantity"), "price": _l("price"), "fee": _l("fee"), "amount": _l("amount"),
               "ratio": _l("ratio")}


def label(labels: dict, code: str | None) -> str:
    """The translated word for a code; the code itself when it has none."""
    return str(labels.get(code, code or ""))


def activity_noun(code: str | None) -> str:
    """An activity type inside a sentence: lower-cased, except in German, whose nouns keep their capital."""
    from flask_babel import get_locale

    text = label(ACTIVITY_LABELS, code)
    return text if str(get_locale()) == "de" else text.lower()


def asset_type_label(code: str | None) -> str:
    return label(ASSET_TYPE_LABELS, code)


def account_kind_label(code: str | None) -> str:
    return label(ACCOUNT_KIND_LABELS, code)
