"""Alert rules, evaluated by a scheduled job.

Each rule looks at the current state and says whether its condition holds. An
alert fires once when its condition starts to hold (a structured log line, and a
JSON POST to ALERT_WEBHOOK_URL when set) and resolves once when it stops.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable

import requests
import sqlalchemy as sa
from flask import current_app

from webapp.domain.staleness import is_stale
from webapp.extensions import db
from webapp.models import Holding, Instrument, Quote
from webapp.services import cache
from webapp.services.jobs import queue_stats

log = logging.getLogger("folio.alerts")


@dataclass(frozen=True)
class Finding:
    firing: bool
    detail: str = ""


def stale_quotes() -> Finding:
    """Held instruments whose newest quote is older than ALERT_STALE_CYCLES missed cycles."""
    from datetime import timedelta

    cycles = current_app.config["ALERT_STALE_CYCLES"]
    newest = (
        sa.select(Quote.instrument_id, sa.func.max(Quote.id).label("id"))
        .where(Quote.instrument_id.in_(sa.select(Holding.instrument_id).distinct()))
        .group_by(Quote.instrument_id)
        .subquery()
    )
    rows = db.session.execute(
        sa.select(Instrument.symbol, Instrument.asset_type, Quote.as_of)
        .join(Quote, Quote.instrument_id == Instrument.id)
        .join(newest, newest.c.id == Quote.id)
    ).all()
    now = datetime.now(timezone.utc)
    stale = sorted(s for s, t, as_of in rows if is_stale(s, t, as_of, now, cycle=timedelta(minutes=10) * cycles / 2))
    if not stale:
        return Finding(False)
    shown = ", ".join(stale[:10]) + (f" and {len(stale) - 10} more" if len(stale) > 10 else "")
    return Finding(True, f"{len(stale)} held instrument(s) have stale prices: {shown}")


def provider_circuit_open() -> Finding:
    from pricing_providers import registry

    chain = registry.parse_names(current_app.config["PRICE_PROVIDERS"])
    now = time.time()
    open_ = sorted(n for n, h in cache.provider_health(chain).items() if float(h.get("open_until", 0) or 0) > now)
    return Finding(bool(open_), f"circuit open for {', '.join(open_)}" if open_ else "")


def failed_jobs() -> Finding:
    threshold = current_app.config["ALERT_FAILED_JOBS"]
    failed = sum(f for _, f in queue_stats().values())
    return Finding(failed > threshold, f"{failed} failed jobs (threshold {threshold})")


def no_successful_cycle() -> Finding:
    minutes = current_app.config["ALERT_NO_CYCLE_MINUTES"]
    if not db.session.scalar(sa.select(Holding.id).limit(1)):
        return Finding(False)  # nothing to price
    started = cache.last_cycle().get("started_at")
    if started is None:
        return Finding(True, f"no refresh cycle has completed (expected every {minutes} minutes)")
    age = (datetime.now(timezone.utc) - datetime.fromisoformat(started)).total_seconds() / 60
    return Finding(age > minutes, f"last successful refresh cycle started {age:.0f} minutes ago")


def price_coverage() -> Finding:
    """The last two cycles each refreshed less than PRICE_COVERAGE_ALERT of the due instruments."""
    threshold = float(current_app.config["PRICE_COVERAGE_ALERT"])
    last_two = cache.coverage_history(2)
    if len(last_two) < 2 or any(c["due"] == 0 or c["coverage"] >= threshold for c in last_two):
        return Finding(False)
    newest = last_two[0]
    return Finding(True, (
        f"the last two refresh cycles priced {last_two[1]['coverage']:.0%} and {newest['coverage']:.0%} of the "
        f"due instruments (alert below {threshold:.0%}); last cycle: {newest['due']} due, {newest['refreshed']} "
        f"refreshed, {newest['failed']} failed, {newest['skipped_budget']} skipped for budget"))


RULES: dict[str, Callable[[], Finding]] = {
    "stale_quotes": stale_quotes,
    "provider_circuit_open": provider_circuit_open,
    "failed_jobs": failed_jobs,
    "no_successful_cycle": no_successful_cycle,
    "price_coverage": price_coverage,
}


def notify(name: str, state: str, detail: str) -> None:
    event = {
        "alert": name,
        "state": state,  # "firing" or "resolved"
        "detail": detail,
        "at": datetime.now(timezone.utc).isoformat(),
        "service": "folio",
    }
    log.log(logging.WARNING if state == "firing" else logging.INFO, "alert %s %s: %s", name, state, detail,
            extra={"fields": event})
    url = current_app.config.get("ALERT_WEBHOOK_URL")
    if url:
        try:
            requests.post(url, json=event, timeout=5)
        except requests.RequestException as exc:
            log.error("alert webhook failed: %s", type(exc).__name__)


def evaluate_alerts() -> dict[str, bool]:
    """Evaluate every rule; fire or resolve on changes. Returns rule -> firing."""
    result = {}
    for name in RULES:
        firing = evaluate_rule(name)
        if firing is not None:
            result[name] = firing
    return result


def evaluate_rule(name: str) -> bool | None:
    """Evaluate one rule now (e.g. price coverage, at the end of a cycle); fire or resolve on a
    change. None when the rule itself failed."""
    try:
        finding = RULES[name]()
    except Exception:  # one broken rule must not silence the others
        log.exception("alert rule %s failed", name)
        return None
    if finding.firing and cache.set_alert(name, finding.detail):
        notify(name, "firing", finding.detail)
    elif not finding.firing and cache.clear_alert(name):
        notify(name, "resolved", "back to normal")
    return finding.firing
