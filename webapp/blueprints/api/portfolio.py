"""The portfolio's value now (with how fresh its prices are), its value history, its returns,
and the latest quote of a symbol."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

from webapp.blueprints.api import auth, schemas
from webapp.blueprints.api.base import blp, documented, found
from webapp.blueprints.api.errors import abort
from webapp.domain.base_currency import MissingRate
from webapp.domain.inputs import SYMBOL_RE, normalise_symbol
from webapp.domain.staleness import is_stale, judge
from webapp.services import assets, ledger
from webapp.services.portfolio import history, performance
from webapp.services.portfolio.read_model import portfolio_for
from webapp.services.pricing.quotes import latest_for_symbol


def _now() -> datetime:
    return datetime.now(timezone.utc)


@blp.route("/portfolio", methods=["GET"])
@blp.response(200, schemas.Portfolio)
@documented(401, 429)
def portfolio():
    """The value of the portfolio now in the base currency, the day's change, and the freshness of
    its prices (the oldest price's age, how many are stale, how many holdings have none yet)."""
    valuation, _, _ = portfolio_for(auth.user().id)
    now = _now()
    stale = judge(valuation, now)
    priced = [h.as_of for a in valuation.accounts for h in a.holdings if h.as_of is not None]
    oldest = min(priced, default=None)
    return {
        "base_currency": valuation.currency, "total": valuation.total, "day_change": valuation.day_change,
        "cost": valuation.cost, "gain": valuation.gain, "unconverted": valuation.unconverted,
        "freshness": {"oldest_price_as_of": oldest,
                      "oldest_price_age_seconds": int((now - oldest).total_seconds()) if oldest else None,
                      "stale_count": sum(stale.values()), "pending_count": valuation.pending},
        "accounts": valuation.accounts,
    }


def _midnight(day: date | None) -> datetime | None:
    return datetime.combine(day, time.min, tzinfo=timezone.utc) if day else None


@blp.route("/portfolio/history", methods=["GET"])
@blp.arguments(schemas.HistoryArgs, location="query")
@blp.response(200, schemas.History)
@documented(401, 422, 429)
def value_history(args):
    """The portfolio's recorded values (snapshots) from `from` through `to` (ISO dates, UTC, both
    optional), oldest first, at most 5000 (the newest; `truncated` says so)."""
    since, until = args["from_"], args["to"]
    if since and until and since > until:
        abort(422, fields={"from": ["“from” is after “to”."]})
    rows, truncated = history.snapshots_between(auth.user().id, _midnight(since),
                                                _midnight(until + timedelta(days=1)) if until else None)
    return {"points": [{"as_of": r.as_of, "currency": r.currency, "total_value": r.total_value,
                        "reconstructed": r.reconstructed} for r in rows], "truncated": truncated}


@blp.route("/portfolio/returns", methods=["GET"])
@blp.arguments(schemas.ReturnsArgs, location="query")
@blp.response(200, schemas.Returns)
@documented(401, 404, 422, 429)
def returns(args):
    """Time- and money-weighted returns over a period (1M, 3M, YTD, 1Y, 3Y, 5Y, ALL, or CUSTOM with
    `from` and `to`), of the whole portfolio or of one `account`."""
    user = auth.user()
    account = args["account"]
    if account is not None:
        found(assets.account_of(user.id, account))
    activities = ledger.activities_of(user.id)
    if not activities:
        abort(422, "There are no activities yet: nothing to measure.")
    first = min(a.date for a in activities)
    today = _now().date()
    try:
        start, end = performance.period_range(args["period"], today, first, args["from_"], args["to"])
        return performance.returns(activities, user.base_currency, start, end, account=account, user_id=user.id)
    except MissingRate as exc:
        abort(422, str(exc))
    except ValueError as exc:
        abort(422, str(exc), {"period": [str(exc)]})


@blp.route("/prices/<string(maxlength=40):symbol>", methods=["GET"])
@blp.response(200, schemas.Quote)
@documented(401, 404, 429)
def price(symbol):
    """The latest quote of a symbol Folio prices (404 when it knows none)."""
    symbol = normalise_symbol(symbol)
    if not SYMBOL_RE.match(symbol):
        abort(404)
    inst, quote = found(latest_for_symbol(symbol))
    return {"symbol": inst.symbol, "price": quote.price, "currency": quote.currency, "as_of": quote.as_of,
            "source": quote.source, "previous_close": quote.previous_close,
            "stale": is_stale(inst.symbol, inst.asset_type, quote.as_of)}
