"""The request budget of a refresh cycle: how many requests each provider may spend now, and
which instruments go to which provider.

A provider's budget is its declared limit (`PROVIDER_<NAME>_RATE_LIMIT` or the adapter's)
minus what its window has already spent (instant refreshes, backfills, an earlier cycle: the
shared throttle counters), minus a reserve kept for instant refreshes. Instruments go to the
cheapest provider (the largest batch) that covers their asset type, ties in chain order;
what does not fit goes to the next; when the budgets cannot cover every due instrument, the
stalest are planned first (never priced before all) and the rest are skipped for budget.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable, Mapping, Sequence

from pricing_providers.base import InstrumentRef, Provider, RateLimit
from pricing_providers.chain import Throttle

NEVER = datetime.min.replace(tzinfo=timezone.utc)
UNLIMITED = 10**9


@dataclass
class ProviderPlan:
    name: str
    budget: int  # requests this cycle may spend (UNLIMITED when the provider declares no limit)
    batch_size: int
    per_batch: int  # requests a full batch is expected to cost (setup included: an upper bound)
    cost_per_instrument: float  # 1 / batch size
    instruments: list[InstrumentRef] = field(default_factory=list)

    def cost(self, n: int) -> int:
        """Requests for n instruments in batches of batch_size (a partial batch costs what a full one does)."""
        return math.ceil(n / self.batch_size) * self.per_batch if n else 0

    def fits(self, n: int) -> bool:
        return self.cost(n) <= self.budget


@dataclass
class Plan:
    providers: list[ProviderPlan]  # in the order their groups are fetched: cheapest first
    skipped: list[InstrumentRef]  # due, but over every budget that covers them

    @property
    def budgets(self) -> dict[str, int]:
        return {p.name: p.budget for p in self.providers}


def budget_for(limit: RateLimit | None, used: int, reserve_share: float) -> int:
    """Requests a cycle may spend now: the limit, less what the window spent, less the reserve."""
    if limit is None:
        return UNLIMITED
    reserve = math.ceil(limit.calls * reserve_share) if reserve_share > 0 else 0
    return max(0, limit.calls - used - reserve)


def make_plan(providers: Sequence[Provider], due: Sequence[InstrumentRef], last_as_of: Mapping[str, datetime],
              used: Callable[[Provider], int], reserve_share: float) -> Plan:
    """Assign every due instrument to a provider within its budget, stalest first."""
    plans: list[ProviderPlan] = []
    for p in providers:
        if not p.configured:
            continue
        size = max(1, p.batch_size)
        try:
            per_batch = max(1, int(p.requests_for(size)))
        except Exception:  # an adapter bug: as the chain counts it
            per_batch = 1
        # cheapness by declared batch size: one request per batch. requests_for may add a
        # one-time setup (Yahoo's cookie and crumb) that must not rank a provider for good,
        # but it is counted when checking what fits the budget.
        plans.append(ProviderPlan(p.name, budget_for(p.rate_limit, used(p), reserve_share), size, per_batch,
                                  1 / size))
    order = {id(pp): n for n, pp in enumerate(plans)}
    by_cost = sorted(plans, key=lambda pp: (pp.cost_per_instrument, order[id(pp)]))
    covers = {pp.name: next(p for p in providers if p.name == pp.name).covers for pp in plans}
    skipped: list[InstrumentRef] = []
    for inst in sorted(due, key=lambda i: (last_as_of.get(i.symbol, NEVER), i.symbol)):
        for pp in by_cost:
            if covers[pp.name](inst) and pp.fits(len(pp.instruments) + 1):
                pp.instruments.append(inst)
                break
        else:
            skipped.append(inst)
    return Plan(by_cost, skipped)


class BudgetThrottle:
    """The shared throttle, refusing as well once this cycle has spent a provider's budget:
    fallbacks inside the cycle cannot eat the reserve kept for instant refreshes."""

    def __init__(self, inner: Throttle, budgets: Mapping[str, int]):
        self.inner, self.budgets = inner, dict(budgets)
        self.spent: dict[str, int] = {}

    def acquire(self, provider: str, limit: RateLimit) -> bool:
        spent = self.spent.get(provider, 0)
        if spent >= self.budgets.get(provider, UNLIMITED):
            return False
        self.spent[provider] = spent + 1
        return self.inner.acquire(provider, limit)
