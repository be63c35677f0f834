"""Summaries: what a recompute keeps of a valuation (totals per account, counts), from exact sums. Pure.

`summarize(...) == value_portfolio(...).summary()`: both convert each account's per-currency sum once.
"""
from __future__ import annotations

import json
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
    general: bool = False  # an account holds another currency than the base (or more than one)


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
    # currencies in a fixed order, so that a delta tick's summary (delta_summary) is the same text
    summary = summarize(base_currency, {a: AccountSums(dict(sorted(v.items())), n, p)
                                        for a, (v, n, p, _) in accounts.items()}, fx)
    fingerprint = positions_fingerprint({a: (n, q) for a, (_, n, _, q) in accounts.items()}, base_currency)
    doc, total, account_values = summary.encode(fingerprint)
    return Encoded(doc, total, account_values, summary.snapshot_worthy, fingerprint, True)


def positions_fingerprint(accounts: Mapping[int, tuple[int, Decimal]], base_currency: str) -> str:
    """What a positions document must still match: the base currency and, per account, how
    many holdings and Σ quantity.

    Both the worker's aggregate pass and a full read of the holdings can compute it, so
    a cached list of positions that missed an edit is found out and rebuilt.
    """
    return f"{base_currency}|" + ";".join(f"{a}:{n}:{canonical(q)}" for a, (n, q) in sorted(accounts.items()))


# ---- delta ticks: a summary moved by Σ quantity × Δprice, without reading every holding ------
def encode_currency_sums(base_currency: str, accounts: Mapping[int, tuple]) -> str:
    """Each account's exact sums by currency ("id:CCY=amount,…;…"), kept beside the summary
    of a user holding another currency than the base: its account totals are converted, so a
    delta has to be applied before the conversion. '' for a user holding the base currency only."""
    if all(not values or (len(values) == 1 and base_currency in values) for values, *_ in accounts.values()):
        return ""
    return ";".join(f"{a}:" + ",".join(f"{c}={canonical(v)}" for c, v in sorted(accounts[a][0].items()))
                    for a in sorted(accounts))


def _decode_currency_sums(text: str) -> dict[int, dict[str, Decimal]]:
    out = {}
    for part in text.split(";"):
        aid, _, values = part.partition(":")
        out[int(aid)] = {c: Decimal(v) for c, _, v in (x.partition("=") for x in values.split(",") if x)}
    return out


def delta_summary(doc: str, sums: str, deltas: Mapping[int, Mapping[str, Decimal]],
                  fx: Mapping[tuple[str, str], Decimal] | None = None) -> tuple[Encoded, str] | None:
    """A cached summary (`doc`: its JSON text) moved by `deltas` (account id -> currency ->
    Σ quantity × (new price − valued price)): the summary a full recompute would write with
    the new prices, and the new currency sums. None when the deltas do not fit the summary
    (an account or a currency it does not know): the caller recomputes the user in full."""
    add = EXACT.add
    if not sums:  # the base currency only: the account totals are the sums
        return _delta_base_only(doc, deltas)
    doc = json.loads(doc)
    base = doc["currency"]
    fingerprint, pending, holdings = doc["positions"], doc["pending"], doc["holdings"]
    accounts = _decode_currency_sums(sums)
    for aid, by_ccy in deltas.items():
        values = accounts.get(aid)
        if values is None or any(c not in values for c in by_ccy):
            return None
        for c, d in by_ccy.items():
            values[c] = add(values[c], d)
    summary = summarize(base, {a: AccountSums(v) for a, v in accounts.items()}, fx)._replace(
        pending=pending, holdings=holdings)
    text, total, account_values = summary.encode(fingerprint)
    new_sums = encode_currency_sums(base, {a: (v,) for a, v in accounts.items()})
    return Encoded(text, total, account_values, summary.snapshot_worthy, fingerprint), new_sums


def _delta_base_only(doc: str, deltas) -> tuple[Encoded, str] | None:
    """The common case, on the canonical text itself (`Summary.encode` / `encode_sums`): only
    the totals of the accounts that moved, and the grand total, are parsed and written again."""
    head, sep, rest = doc.partition('","currency":"')
    base = rest[: rest.index('"')]
    start = rest.index('"accounts":{') + 12
    end = rest.index("}", start)
    tail = rest[end + 1:]  # ,"unconverted":{},"pending":…,"holdings":…,"positions":"…"}
    if not sep or not head.startswith('{"total":"') or not tail.startswith(',"unconverted":{}'):
        return None
    totals = dict(pair.split('":"') for pair in rest[start + 1:end - 1].split('","')) if end > start else {}
    add = EXACT.add
    grand = Decimal(head[10:])
    for aid, by_ccy in deltas.items():
        old = totals.get(str(aid))
        if old is None or len(by_ccy) != 1 or base not in by_ccy:
            return None
        d = by_ccy[base]
        totals[str(aid)] = canonical(add(Decimal(old), d))
        grand = add(grand, d)
    total = canonical(grand)
    account_values = "{" + ",".join(f'"{a}":"{v}"' for a, v in totals.items()) + "}"
    text = f'{{"total":"{total}","currency":"{base}","accounts":{account_values}{tail}'
    fingerprint = tail[tail.index(',"positions":"') + 14:-2]
    worthy = '"pending":0,' in tail and '"holdings":0,' not in tail
    return Encoded(text, total, account_values, worthy, fingerprint), ""


def fully_priced(summary: str) -> bool:
    """Whether an encoded summary has holdings, every one priced and in the base currency alone
    (what an alert may judge: a half-priced total would be a false crossing)."""
    return '"unconverted":{},"pending":0,"holdings":' in summary and '"holdings":0,' not in summary
