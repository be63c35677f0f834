"""How the portfolio is doing: returns (TWR, MWR) over a period with a benchmark, realized and
unrealized gains by the user's cost method, and income. Figures come from the ledger
(webapp/services/portfolio/performance.py); every query is the logged-in user's own."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal

from flask import Blueprint, abort, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required

from webapp.domain.base_currency import MissingRate
from webapp.domain.inputs import SYMBOL_RE, InputError, normalise_symbol, parse_day
from webapp.domain.ledger import METHODS
from webapp.domain.money import EXACT, ZERO
from webapp.services import assets, ledger
from webapp.services.portfolio import performance
from webapp.web.charts import index_chart, interactive_series, merged_by_day

bp = Blueprint("performance", __name__, url_prefix="/portfolio")
PERIOD_LABELS = {"1M": "1M", "3M": "3M", "YTD": "YTD", "1Y": "1Y", "3Y": "3Y", "5Y": "5Y", "ALL": _l("All"),
                 "CUSTOM": _l("Custom")}


@bp.before_request
@login_required
def _login() -> None:
    pass


def _today() -> date:
    return datetime.now(timezone.utc).date()


def _day(name: str, problems: list[str]) -> date | None:
    text = request.args.get(name, "").strip()
    if not text:
        return None
    try:
        return parse_day(text)
    except InputError as exc:
        problems.append(_(exc.message, **exc.params))
        return None


def _scope(problems: list[str]) -> tuple[int | None, str | None, str]:
    """The account (the user's own, else 404) and symbol asked for, and a label."""
    account, symbol, label = None, None, _("Whole portfolio")
    raw = request.args.get("account", "")
    if raw:
        if not raw.isdigit():
            abort(404)
        acc = assets.account_of(current_user.id, int(raw)) or abort(404)
        account, label = acc.id, acc.name
    raw_symbol = normalise_symbol(request.args.get("symbol", ""))
    if raw_symbol:
        if not SYMBOL_RE.match(raw_symbol):
            problems.append(_("“%(symbol)s” is not a symbol.", symbol=raw_symbol[:20]))
        else:
            symbol, label = raw_symbol, _("%(symbol)s in %(account)s", symbol=raw_symbol, account=label) if account else raw_symbol
    return account, symbol, label


@bp.get("/returns")
def returns():
    problems: list[str] = []
    key = request.args.get("period", "1Y").upper()
    custom_from, custom_to = _day("from", problems), _day("to", problems)
    account, symbol, label = _scope(problems)
    if symbol and account is None:
        problems.append(_("Choose the account of the holding too."))
    activities = ledger.activities_of(current_user.id)
    context = dict(periods=PERIOD_LABELS, key=key, label=label, account=account, symbol=symbol,
                   accounts=assets.accounts_of(current_user), custom_from=custom_from, custom_to=custom_to,
                   base=current_user.base_currency, benchmark=current_user.benchmark, result=None,
                   problems=problems, empty=not activities)
    if problems or not activities:
        return render_template("performance/returns.html", **context), 400 if problems else 200
    first = min(a.date for a in activities)
    try:
        period = performance.period_range(key, _today(), first, custom_from, custom_to)
    except ValueError as exc:
        context["problems"] = [str(exc)]
        return render_template("performance/returns.html", **context), 400
    start, end = period
    base, uid = current_user.base_currency, current_user.id
    try:
        result = performance.returns(activities, base, start, end, account=account, symbol=symbol, user_id=uid)
        index = performance.twr_index(activities, base, start, end, account=account, symbol=symbol, user_id=uid)
        rows = [(a, performance.returns(activities, base, start, end, account=a.id, user_id=uid))
                for a in context["accounts"] if account is None and any(x.account == a.id for x in activities)]
    except MissingRate as exc:
        context["problems"] = [str(exc)]
        return render_template("performance/returns.html", **context), 200
    bench = []
    if assets.want_history(current_user.benchmark):
        bench = performance.benchmark_series(current_user.benchmark, start, end)
    held = sorted({(a.account, a.symbol) for a in activities if a.symbol and (account is None or a.account == account)})
    context.update(result=result, period=period, chart=index_chart(index, bench), bench=bench,
                   chart_data=_index_data(index, bench, current_user.benchmark),
                   bench_last=bench[-1][1] if bench else None, index_last=index[-1][1] if index else None,
                   account_rows=rows, held=held, names={a.id: a.name for a in context["accounts"]})
    return render_template("performance/returns.html", **context)


def _index_data(index, bench, benchmark: str) -> dict:
    """The returns chart's two index lines for the interactive chart, on the union of their days."""
    days, (portfolio, other) = merged_by_day(index, bench)
    return interactive_series(days, ("Portfolio", portfolio, _index_text), (benchmark, other, _index_text))


def _index_text(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.01')):,}"


def _method() -> str:
    method = request.args.get("method", "") or current_user.cost_method or "average"
    return method if method in METHODS else "average"


@dataclass
class YearTotal:
    """A year's realized gains in the base currency, over every currency sold in."""
    year: int
    proceeds_base: Decimal = ZERO
    cost_base: Decimal | None = ZERO
    fees_base: Decimal = ZERO
    gain_base: Decimal | None = ZERO


def _years(rows) -> list[YearTotal]:
    years: dict[int, YearTotal] = {}
    for r in rows:
        t = years.setdefault(r.year, YearTotal(r.year))
        t.proceeds_base = EXACT.add(t.proceeds_base, r.proceeds_base)
        t.fees_base = EXACT.add(t.fees_base, r.fees_base)
        t.cost_base = None if t.cost_base is None or r.cost_base is None else EXACT.add(t.cost_base, r.cost_base)
        t.gain_base = None if t.gain_base is None or r.gain_base is None else EXACT.add(t.gain_base, r.gain_base)
    return [years[y] for y in sorted(years)]


@bp.get("/gains")
def gains():
    method, base = _method(), current_user.base_currency
    activities = ledger.activities_of(current_user.id)
    context = dict(method=method, base=base, names={a.id: a.name for a in assets.accounts_of(current_user)},
                   by_year=[], by_symbol=[], held=[], problems=[], empty=not activities)
    if activities:
        try:
            context.update(
                by_year=_years(performance.realized(activities, base, method, by="year", user_id=current_user.id)),
                by_symbol=performance.realized(activities, base, method, by="year_symbol", user_id=current_user.id),
                held=performance.unrealized(activities, base, _today(), method, user_id=current_user.id))
        except MissingRate as exc:
            context["problems"] = [str(exc)]
    return render_template("performance/gains.html", **context)


@bp.get("/income")
def income():
    by = request.args.get("by", "month")
    by = by if by in ("month", "year") else "month"
    base = current_user.base_currency
    activities = ledger.activities_of(current_user.id)
    context = dict(by=by, base=base, names={a.id: a.name for a in assets.accounts_of(current_user)}, rows=[],
                   problems=[], empty=not any(a.type in ("dividend", "interest", "tax") for a in activities))
    if not context["empty"]:
        try:
            context["rows"] = performance.income(activities, base, by, method=_method(), user_id=current_user.id)
        except MissingRate as exc:
            context["problems"] = [str(exc)]
    return render_template("performance/income.html", **context)
