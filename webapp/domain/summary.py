"""Summaries: what a recompute keeps of a valuation (totals per account, counts), from exact sums. Pure.

`summarize(...) == value_portfolio(...).summary()`: both convert each account's per-currency sum once.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Mapping, NamedTuple

from webapp.domain.money import EXACT, ZERO, _account_total, canonical


class AccountSums(NamedTuple):
    """One account's holdings reduced to exact sums: what an aggregate query can return."""

    values: Mapping[str, Decimal]  # currency -> Σ quantity × price of the priced holdings
    holdings: int = 0  # every holding, priced or not
    pending: int = 0  # holdings without any price yet


class Summary(NamedTuple):
    """Totals and counts of a portfolio, without per-holding detail.

    A recompute compares summaries to decide whether a portfolio changed (its
    version moves) and whether to write a snapshot. `to_json` is canonical: equal
    summaries give equal text, and the text starts with the total.
    """

    currency: str
    total: Decimal
    accounts: tuple[tuple[int, Decimal], ...]  # (account id, total in the base currency), by id
    unconverted: tuple[tuple[str, Decimal], ...] = ()
    pending: int = 0
    holdings: int = 0

    @property
    def snapshot_worthy(self) -> bool:
        """A snapshot only of a fully priced portfolio: a half-priced total is a false drop."""
        return self.holdings > 0 and self.pending == 0

    def account_values(self) -> dict[str, str]:
        return {str(a): canonical(t) for a, t in self.accounts}

    def to_json(self, fingerprint: str = "") -> str:
        return self.encode(fingerprint)[0]

    def encode(self, fingerprint: str = "") -> tuple[str, str, str]:
        """(canonical JSON, canonical total, account values as JSON), each amount formatted once.

        The JSON ends with the fingerprint of the positions the summary was computed from.
        """
        total = canonical(self.total)
        accounts = "{" + ",".join(f'"{a}":"{canonical(t)}"' for a, t in self.accounts) + "}"
        unconverted = ",".join(f'"{c}":"{canonical(v)}"' for c, v in self.unconverted)
        doc = (f'{{"total":"{total}","currency":"{self.currency}","accounts":{accounts},'
               f'"unconverted":{{{unconverted}}},"pending":{self.pending},"holdings":{self.holdings},'
               f'"positions":"{fingerprint}"}}')
        return doc, total, accounts


def summarize(
    base_currency: str,
    accounts: Mapping[int, AccountSums],
    fx: Mapping[tuple[str, str], Decimal] | None = None,
) -> Summary:
    """The summary of a portfolio from its accounts' exact sums (the same arithmetic as
    `value_portfolio`, so `summarize(...) == value_portfolio(...).summary()`)."""
    fx = fx or {}
    totals, unconverted = [], {}
    pending = holdings = 0
    grand = ZERO
    add = EXACT.add
    for account_id in sorted(accounts):
        values, n, p = accounts[account_id]
        if len(values) == 1 and base_currency in values:  # the common case: one currency, the base
            total = values[base_currency]
        else:
            total, other = _account_total(values, base_currency, fx)
            for ccy, amount in other.items():
                unconverted[ccy] = add(unconverted.get(ccy, ZERO), amount)
            if not values:
                total = ZERO
        totals.append((account_id, total))
        grand = add(grand, total)
        pending += p
        holdings += n
    return Summary(base_currency, grand, tuple(totals), tuple(sorted(unconverted.items())), pending, holdings)


class Encoded(NamedTuple):
    """A summary as a recompute stores it (see `Summary.encode`), and the positions fingerprint."""

    summary: str
    total: str
    account_values: str
    snapshot_worthy: bool
    fingerprint: str


def encode_sums(
    base_currency: str,
    accounts: Mapping[int, tuple[Mapping[str, Decimal], int, int, Decimal]],
    fx: Mapping[tuple[str, str], Decimal] | None = None,
) -> Encoded:
    """`summarize(...).encode()` and `positions_fingerprint(...)` in one pass, for a recompute
    of many users; accounts: id -> (values by currency, holdings, pending, Σ quantity).

    Accounts holding only the base currency (nearly all) take a short path with the same
    result; anything else goes through `summarize`.
    """
    parts, prints = [], []
    grand = ZERO
    holdings = pending = 0
    for account_id in sorted(accounts):
        values, n, p, quantity = accounts[account_id]
        if values:
            if len(values) != 1 or base_currency not in values:
                return _encode_general(base_currency, accounts, fx)
            total = values[base_currency]
            grand = EXACT.add(grand, total)
            parts.append(f'"{account_id}":"{canonical(total)}"')
        else:
            parts.append(f'"{account_id}":"0"')
        prints.append(f"{account_id}:{n}:{canonical(quantity)}")
        holdings += n
        pending += p
    total = canonical(grand)
    account_values = "{" + ",".join(parts) + "}"
    fingerprint = f"{base_currency}|" + ";".join(prints)
    doc = (f'{{"total":"{total}","currency":"{base_currency}","accounts":{account_values},'
           f'"unconverted":{{}},"pending":{pending},"holdings":{holdings},"positions":"{fingerprint}"}}')
    return Encoded(doc, total, account_values, holdings > 0 and pending == 0, fingerprint)


def _encode_general(base_currency, accounts, fx) -> Encoded:
    summary = summarize(base_currency, {a: AccountSums(v, n, p) for a, (v, n, p, _) in accounts.items()}, fx)
    fingerprint = positions_fingerprint({a: (n, q) for a, (_, n, _, q) in accounts.items()}, base_currency)
    doc, total, account_values = summary.encode(fingerprint)
    return Encoded(doc, total, account_values, summary.snapshot_worthy, fingerprint)


def positions_fingerprint(accounts: Mapping[int, tuple[int, Decimal]], base_currency: str) -> str:
    """What a positions document must still match: the base currency and, per account, how
    many holdings and Σ quantity.

    Both the worker's aggregate pass and a full read of the holdings can compute it, so
    a cached list of positions that missed an edit is found out and rebuilt.
    """
    return f"{base_currency}|" + ";".join(f"{a}:{n}:{canonical(q)}" for a, (n, q) in sorted(accounts.items()))


def fully_priced(summary: str) -> bool:
    """Whether an encoded summary has holdings, every one priced and in the base currency alone
    (what an alert may judge: a half-priced total would be a false crossing)."""
    return '"unconverted":{},"pending":0,"holdings":' in summary and '"holdings":0,' not in summary
