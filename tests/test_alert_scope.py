"""The SQL narrowing of alert evaluation (webapp/services/alert_scope.py) loses nothing.

Random rules of every kind the narrowing handles sit at and around the prices and totals (equal
to the cent or to the 10th decimal included); random ticks move random instruments through the
real refresh path (store the quotes, recompute the holders, evaluate their alerts). After each
tick, what fired and what re-armed must be exactly what the domain (webapp/domain/alerts.py)
says when it judges EVERY enabled rule of the holders, one by one, on the same observations.
"""
from __future__ import annotations

import random
from datetime import datetime, timezone
from decimal import Decimal

import pytest
import sqlalchemy as sa
from conftest import set_prices
from quick_users import quick_user
from test_alerts import holding

from webapp.domain import alerts as rules_domain
from webapp.domain.alerts import Observed
from webapp.extensions import db
from webapp.models import AlertRule

SYMBOLS = ("AAA", "BBB", "CCC", "DDD", "EEE")
KINDS = ("price_above", "price_below", "day_change_beyond", "portfolio_above", "portfolio_below")


def _states(app) -> dict[int, tuple[bool, datetime | None]]:
    with app.app_context():
        return {r.id: (r.armed, r.last_fired_at) for r in db.session.scalars(sa.select(AlertRule))}


def _expected(app, holders: set[int], before: dict) -> tuple[set[int], set[int]]:
    """(fired, re-armed) when every enabled rule of the holders is judged on today's figures."""
    from webapp.services.portfolio.read_model import value_users
    from webapp.services.pricing.quotes import current_quotes

    now = datetime.now(timezone.utc)
    with app.app_context():
        rules = list(db.session.scalars(sa.select(AlertRule).where(AlertRule.enabled.is_(True),
                                                                   AlertRule.user_id.in_(holders))))
        quotes = current_quotes({r.instrument.symbol: r.instrument_id for r in rules if r.instrument_id})
        values = value_users(sorted(holders))
        fired, rearmed = set(), set()
        for r in rules:
            if r.instrument_id:
                q = quotes[r.instrument.symbol]
                seen = Observed(price=q.price, previous_close=q.previous_close, as_of=q.as_of, currency=q.currency)
            else:
                v = values[r.user_id]
                seen = Observed(total=v.total, currency=v.currency) if v.complete and v.holding_count else Observed()
            armed, last = before[r.id]
            nxt = rules_domain.step(rules_domain.holds(r.kind, r.threshold, r.hours, seen, now), armed, last,
                                    r.cooldown_minutes, now)
            if nxt.fire:
                fired.add(r.id)
            elif nxt.armed and not armed:
                rearmed.add(r.id)
        return fired, rearmed


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_narrowed_evaluation_equals_judging_every_rule(app, seed):
    rng = random.Random(seed)
    prices = {s: Decimal(rng.randrange(5000, 20000)) / 100 for s in SYMBOLS}
    users = [quick_user(app, f"u{i}@example.com") for i in range(6)]
    held: dict[int, dict[str, tuple[int, Decimal]]] = {}
    for uid in users:
        held[uid] = {}
        for symbol in rng.sample(SYMBOLS, 2):
            quantity = Decimal(rng.randrange(1, 40))
            held[uid][symbol] = (holding(app, uid, symbol, str(quantity)), quantity)
    set_prices(app, prices)  # every instrument priced: the first tick

    def near(x: Decimal) -> Decimal:
        return rng.choice([x, x + Decimal("0.01"), x - Decimal("0.01"), x * Decimal("1.03"), x * Decimal("0.97"),
                           x + Decimal("0.0000000001")]).quantize(Decimal("0.0000000001"))

    with app.app_context():
        for uid in users:
            total = sum(prices[s] * q for s, (_, q) in held[uid].items())
            for _ in range(4):
                kind = rng.choice(KINDS)
                symbol = rng.choice(sorted(held[uid]))
                iid = held[uid][symbol][0] if kind in rules_domain.PRICE_KINDS else None
                threshold = (near(prices[symbol]) if kind in ("price_above", "price_below") else
                             Decimal(rng.choice(["0.5", "1", "2", "5"])) if kind == "day_change_beyond" else
                             near(total))
                db.session.add(AlertRule(user_id=uid, kind=kind, instrument_id=iid, threshold=threshold,
                                         cooldown_minutes=0, armed=rng.random() < 0.8))
        db.session.commit()
        from webapp.services import alerts

        alerts.evaluate(None)  # every rule settled on the first prices, as a running installation's are
    judged_any = 0
    for _ in range(8):
        moved = {s: near(prices[s]) if rng.random() < 0.5 else prices[s] * Decimal(rng.choice(["1.02", "0.98"]))
                 for s in rng.sample(SYMBOLS, rng.randrange(1, 4))}
        before = _states(app)
        holders = {uid for uid in users if set(held[uid]) & set(moved)}
        prices.update(moved)
        set_prices(app, moved)
        after = _states(app)
        fired = {rid for rid in after if after[rid][1] != before[rid][1]}
        rearmed = {rid for rid in after if after[rid][0] and not before[rid][0]}
        assert (fired, rearmed) == _expected(app, holders, before)
        judged_any += len(fired) + len(rearmed)
    assert judged_any > 0  # the ticks crossed thresholds: the comparison was not of empty sets
