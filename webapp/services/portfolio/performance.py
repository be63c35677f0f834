"""Performance of a ledger in the user's base currency: daily values, returns (TWR, MWR),
realized and unrealized gains, income, a report, and chart series. No pages: the pages and
the CLI call these.

Every function takes the user's activities (webapp.domain.ledger.Activity: `account` the
account id, `symbol`, `currency` the instrument's currency) and the base currency; pass
`user_id` to cache the daily series in Redis (webapp/services/portfolio/series.py). A scope is
the whole portfolio, one account (`account=`) or one holding (`account=` and `symbol=`).
Gains are always replayed over the whole ledger and then filtered, so that shares moved
between accounts keep their cost.

  period_range(key, today, first_day, custom_from=None, custom_to=None) -> Period
      (webapp.domain.periods; unpacks as (start, end); `.clipped` when it starts before the ledger)
  invalidate(user_id, from_day)                     figures from that day on are stale
  daily_values(activities, base, start, end, account=None, symbol=None, user_id=None)
      -> [(day, value)]                             one per calendar day, Decimal in base
  returns(activities, base, start, end, account=None, symbol=None, user_id=None) -> dict
      from, to, start, currency, value_start, value_end, net_flows, twr, twr_annualized,
      mwr (Decimal or None), days, clipped, notes {figure: how it is computed}; twr is None
      when nothing was held in the period, or when a day starts from a value (plus that
      day's flows) at or below zero (webapp.domain.returns.twr counts a day's flows at its
      open: selling out of an account that records no cash, above the day before's close)
  realized(activities, base, method="average", by="year_symbol", account=None, symbol=None,
           start=None, end=None, user_id=None) -> [RealizedRow]   (webapp.domain.base_currency)
  unrealized(activities, base, day, method="average", account=None, symbol=None, user_id=None)
      -> [HoldingGain]
  income(activities, base, by="month", account=None, symbol=None, method="average",
         user_id=None) -> [IncomeRow]
  report(activities, base, start, end, method="average", account=None, user_id=None) -> dict
      the JSON-ready summary (REPORT_KEYS); money as cents strings, rates with 6 places
  twr_index(activities, base, start, end, account=None, symbol=None, user_id=None)
      -> [(day, index or None)]                      100 at `start`, linked daily
  benchmark_series(symbol, start, end) -> [(day, index)]   its closes, 100 at `start`

`start` is always the close a period is measured from (the day before its first day), as
`period_range` gives it; activities dated `start` belong to the period before. A missing
exchange rate raises webapp.domain.base_currency.MissingRate (a LookupError; its message
says which rate and how to load it).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Iterable, Sequence

from webapp.domain import base_currency as bc
from webapp.domain import ledger
from webapp.domain import performance as perf
from webapp.domain import returns as ret
from webapp.domain.income import yield_on_cost
from webapp.domain.ledger import Activity
from webapp.domain.money import EXACT, ZERO, canonical, total_or_none
from webapp.domain.periods import Period, period_range  # noqa: F401  (part of this service's API)
from webapp.services import cache
from webapp.services.portfolio.market_data import daily_closes
from webapp.services.portfolio.series import activity_rates, load_series

ONE_DAY = timedelta(days=1)
CENT = Decimal("0.01")
RATE_PLACES = Decimal("0.000001")
REPORT_KEYS = ("currency", "from", "to", "value_start", "value_end", "net_flows", "twr", "twr_annualized", "mwr",
               "realized_gain", "unrealized_gain", "dividends", "interest", "fees", "taxes", "holdings")
HOLDING_KEYS = ("symbol", "quantity", "cost_basis", "value", "unrealized_gain", "realized_gain")

NOTES = {
    "value_start": "The value at the close of the day before the period: each holding's quantity that day × its "
                   "close (or the nearest earlier close; before its first close, the price of its latest "
                   "activity) × that day's exchange rate into {base}, plus the cash of the accounts that record "
                   "cash (those with a deposit).",
    "value_end": "The value at the close of the period's last day, computed as the start value is.",
    "net_flows": "Money put in minus money taken out during the period, each at its own day's exchange rate: "
                 "deposits and withdrawals of accounts that record cash; for accounts that do not, buys in, and "
                 "sales, dividends and interest out; securities transferred or opened at that day's close.",
    "twr": "Time-weighted return: each day's value over the day before's value plus that day's flows, linked "
           "over the period. Deposits and withdrawals do not move it: it measures the investments.",
    "twr_annualized": "(1 + time-weighted return)^(365 / days) − 1; only for periods longer than a year.",
    "mwr": "Money-weighted return (XIRR, Actual/365, a yearly rate): the rate at which the start value and "
           "each flow, on its day, grow to the end value. When you added money counts.",
    "days": "Calendar days from the start close to the end close.",
}


def scope_of(account: int | None = None, symbol: str | None = None) -> str:
    """The cache name of a scope: "all", "account:7" or "holding:7:AAPL"."""
    if account is None:
        return "all"
    return f"account:{account}" if symbol is None else f"holding:{account}:{symbol}"


def select(activities: Iterable[Activity], account: int | None = None, symbol: str | None = None) -> list[Activity]:
    return [a for a in activities if (account is None or a.account == account)
            and (symbol is None or a.symbol == symbol)]


def invalidate(user_id: int, from_day: date) -> None:
    """An activity dated `from_day` was added, edited or deleted (or the closes or rates of
    that day changed): the user's cached figures from that day on are recomputed at the next
    call, those before are kept. Called by the ledger service."""
    cache.invalidate_performance(user_id, from_day.isoformat())


def _series(activities, base, start, end, account, symbol, user_id):
    return load_series(select(activities, account, symbol), base, end, user_id, scope_of(account, symbol))


def daily_values(activities: Sequence[Activity], base: str, start: date, end: date, account: int | None = None,
                 symbol: str | None = None, user_id: int | None = None) -> list[tuple[date, Decimal]]:
    """(day, value in `base`) for every calendar day in [start, end]; see
    webapp.domain.performance for how a day is valued. 0 on days with nothing held."""
    return _series(activities, base, start, end, account, symbol, user_id).between(start, end)


def returns(activities: Sequence[Activity], base: str, start: date, end: date, account: int | None = None,
            symbol: str | None = None, user_id: int | None = None) -> dict:
    """Values, net flows, TWR (and annualized), MWR of the scope over (start, end]."""
    scoped = select(activities, account, symbol)
    series = load_series(scoped, base, end, user_id, scope_of(account, symbol))
    values = series.between(start, end)
    flows = series.flows_between(start, end)
    t = ret.twr(values, flows)
    first = min((a.date for a in scoped), default=None)
    return {
        "currency": base, "start": start, "from": start + ONE_DAY, "to": end,
        "value_start": values[0][1], "value_end": values[-1][1],
        "net_flows": total_or_none(flows.values()),
        "twr": t.twr if t.days_counted else None, "twr_annualized": t.annualized if t.days_counted else None,
        "mwr": ret.mwr(start, values[0][1], flows, end, values[-1][1]),
        "days": (end - start).days,
        "clipped": first is not None and start < first - ONE_DAY,
        "notes": {k: v.format(base=base) for k, v in NOTES.items()},
    }


def twr_index(activities: Sequence[Activity], base: str, start: date, end: date, account: int | None = None,
              symbol: str | None = None, user_id: int | None = None) -> list[tuple[date, Decimal | None]]:
    """The portfolio's time-weighted return as an index, 100 at `start`, linked daily (its
    last point is 100 × (1 + twr)); None from a day the return is not defined."""
    series = _series(activities, base, start, end, account, symbol, user_id)
    return perf.twr_index(series.between(start, end), series.flows_between(start, end))


def benchmark_series(symbol: str, start: date, end: date) -> list[tuple[date, Decimal]]:
    """The instrument's close each calendar day (nearest earlier on days without one), 100
    at `start`; from its first close when it has none on or before `start`."""
    closes = daily_closes([symbol], start, end).get(symbol, [])
    return perf.rebase(perf.each_day(closes, start, end))


# ---- gains and income ---------------------------------------------------------------------------


def _in(day: date, start: date | None, end: date | None) -> bool:
    return (start is None or day > start) and (end is None or day <= end)


def realized(activities: Sequence[Activity], base: str, method: str = "average", by: str = "year_symbol",
             account: int | None = None, symbol: str | None = None, start: date | None = None,
             end: date | None = None, user_id: int | None = None) -> list[bc.RealizedRow]:
    """Realized gains per year and/or symbol in each instrument's currency and in `base`
    (proceeds at the sale day's rate, cost at the acquisition days' rates; see
    webapp.domain.base_currency), of the sales after `start` up to `end`."""
    rates = activity_rates(activities, base, user_id)
    sales = [s for s in bc.realized_in_base(activities, base, rates, method)
             if (account is None or s.sale.account == account) and (symbol is None or s.sale.symbol == symbol)
             and _in(s.date, start, end)]
    return bc.realized_rows(sales, by)


def _prices(activities: Sequence[Activity], day: date) -> dict[str, Decimal]:
    symbols = {a.symbol for a in activities if a.symbol}
    return perf.prices_on(activities, day, daily_closes(symbols, day, day))


def unrealized(activities: Sequence[Activity], base: str, day: date, method: str = "average",
               account: int | None = None, symbol: str | None = None,
               user_id: int | None = None) -> list[bc.HoldingGain]:
    """What is held at the close of `day` per (account, symbol): cost basis at the purchase
    days' rates, value at that day's close and rate, gains in both currencies."""
    rates = activity_rates(activities, base, user_id)
    rows = bc.unrealized_in_base(activities, base, rates, _prices(select(activities, account, symbol), day), day,
                                 method)
    return [r for r in rows if (account is None or r.account == account) and (symbol is None or r.symbol == symbol)]


@dataclass(frozen=True)
class IncomeRow:
    period: str  # "2026-03" or "2026"
    account: int
    symbol: str | None
    dividends: Decimal  # gross, in base, each at its day's rate
    interest: Decimal
    taxes: Decimal  # beside the income, not netted
    fees: Decimal
    net: Decimal
    cost_basis: Decimal | None  # in base, of the holding at the period's end (today at most)
    yield_on_cost: Decimal | None  # dividends / cost_basis


def _period_end(period: str, today: date) -> date:
    if len(period) == 4:
        return min(date(int(period), 12, 31), today)
    y, m = int(period[:4]), int(period[5:])
    return min(date(y + m // 12, m % 12 + 1, 1) - ONE_DAY, today)


def income(activities: Sequence[Activity], base: str, by: str = "month", account: int | None = None,
           symbol: str | None = None, method: str = "average", user_id: int | None = None,
           today: date | None = None) -> list[IncomeRow]:
    """Dividends and interest per period, account and symbol in `base` (each at its day's
    rate), taxes and fees beside, and the yield on the holding's cost basis (in base, by
    `method`) at the period's end."""
    today = today or datetime.now(timezone.utc).date()
    rates = activity_rates(activities, base, user_id)
    rows = [r for r in bc.income_in_base(select(activities, account, symbol), base, rates, by)]
    converted = bc.in_base(activities, base, rates)
    by_symbol: dict[str, list[Activity]] = {}
    for a in converted:  # transfers move lots between accounts of one symbol: a symbol replays alone
        if a.symbol:
            by_symbol.setdefault(a.symbol, []).append(a)
    costs: dict[tuple[str, date], dict] = {}
    out = []
    for r in rows:
        cost = None
        if r.symbol:
            end = _period_end(r.period, today)
            if (r.symbol, end) not in costs:
                costs[(r.symbol, end)] = ledger.lots(by_symbol.get(r.symbol, []), method, on=end)
            lots = costs[(r.symbol, end)].get((r.account, r.symbol), [])
            cost = total_or_none(lot.cost for lot in lots) if lots else None
        out.append(IncomeRow(r.period, r.account, r.symbol, r.dividends, r.interest, r.taxes, r.fees, r.net, cost,
                             yield_on_cost(r.dividends, cost) if r.symbol else None))
    return out


# ---- the report ---------------------------------------------------------------------------------


def money(value: Decimal | None) -> str | None:
    """Cents, half to even, as text; None stays None."""
    if value is None:
        return None
    q = value.quantize(CENT, rounding=ROUND_HALF_EVEN, context=EXACT)
    return format(q if q else ZERO.quantize(CENT), "f")


def fraction(value: Decimal | None) -> str | None:
    """A rate as a fraction with 6 places ("0.123456" is 12.3456 %); None stays None."""
    if value is None:
        return None
    q = value.quantize(RATE_PLACES, rounding=ROUND_HALF_EVEN, context=EXACT)
    return format(q if q else ZERO.quantize(RATE_PLACES), "f")


def report(activities: Sequence[Activity], base: str, start: date, end: date, method: str = "average",
           account: int | None = None, user_id: int | None = None) -> dict:
    """The period's figures (keys REPORT_KEYS; holdings with HOLDING_KEYS), JSON-ready: money
    in `base` as text rounded to the cent, rates as fractions with 6 places, None where not
    defined. "from" is the period's first day, "to" its last; value_start is the close before
    "from". Realized gains, dividends, interest, fees (fee activities and every activity's
    own fee) and taxes are those of the activities dated within [from, to]. Holdings: per
    symbol at the close of "to", with those sold out during the period (quantity 0)."""
    r = returns(activities, base, start, end, account=account, user_id=user_id)
    rates = activity_rates(activities, base, user_id)
    rates.fetch((a.currency, end) for a in activities)  # the holdings' rates of the last day, in one read
    converted = bc.in_base(activities, base, rates)
    scoped = select(activities, account)
    sales, held = bc.gains_in_base(activities, base, rates, _prices(scoped, end), end, method, converted)
    sales = [s for s in sales if (account is None or s.sale.account == account) and _in(s.date, start, end)]
    held = [h for h in held if account is None or h.account == account]
    totals = bc.money_totals([a for a in converted if (account is None or a.account == account)
                              and _in(a.date, start, end)], base, rates, converted=True)
    by_symbol: dict[str, dict] = {}
    for h in held:
        row = by_symbol.setdefault(h.symbol, {"quantity": ZERO, "cost": [], "value": [], "gain": [], "realized": []})
        row["quantity"] = EXACT.add(row["quantity"], h.quantity)
        row["cost"].append(h.cost_basis_base)
        row["value"].append(h.value_base)
        row["gain"].append(h.gain_base)
    for s in sales:
        row = by_symbol.setdefault(s.sale.symbol, {"quantity": ZERO, "cost": [], "value": [], "gain": [],
                                                   "realized": []})
        row["realized"].append(s.base.gain)
    holdings = [{"symbol": symbol, "quantity": canonical(row["quantity"]), "cost_basis": money(total_or_none(row["cost"])),
                 "value": money(total_or_none(row["value"])), "unrealized_gain": money(total_or_none(row["gain"])),
                 "realized_gain": money(total_or_none(row["realized"]))} for symbol, row in sorted(by_symbol.items())]
    return {
        "currency": base, "from": r["from"].isoformat(), "to": end.isoformat(),
        "value_start": money(r["value_start"]), "value_end": money(r["value_end"]), "net_flows": money(r["net_flows"]),
        "twr": fraction(r["twr"]), "twr_annualized": fraction(r["twr_annualized"]), "mwr": fraction(r["mwr"]),
        "realized_gain": money(total_or_none(s.base.gain for s in sales)),
        "unrealized_gain": money(total_or_none(h.gain_base for h in held)),
        "dividends": money(totals["dividends"]), "interest": money(totals["interest"]),
        "fees": money(totals["fees"]), "taxes": money(totals["taxes"]),
        "holdings": holdings,
    }
