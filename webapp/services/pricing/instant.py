"""Instant refreshes, coalesced: instruments that need a first price (a new holding, a CSV
import) are collected for a short window and fetched as one batch through the chain, on `high`.

Adding 500 holdings costs a few batched requests, not 500. An instrument asked for (or
fetched) within INSTANT_REFRESH_DEDUPE_SECONDS is not asked for again.

One job per window (`instant-refresh-<window>`), enqueued by whoever first adds to that
window (a Redis SET NX: RQ itself would enqueue a second job with the same id). The job waits
for its window to end, then takes everything pending: whatever was added during the window
is in the batch, and whatever comes later has a window and a job of its own.
"""
from __future__ import annotations

import logging
import math
import time
from typing import Iterable

from flask import current_app

from webapp.services import cache, jobs

log = logging.getLogger(__name__)
JOB = "workers.prices.refresh_instant"


def _window_seconds() -> float:
    return float(current_app.config["INSTANT_REFRESH_WINDOW"])


def window_of(at: float, width: float) -> int:
    return math.floor(at / width) if width > 0 else math.floor(at * 1000)


def request(instrument_ids: Iterable[int]) -> int | None:
    """Ask for first prices of these instruments soon. Returns the window whose job will fetch
    them, or None when every one was asked for or fetched within the dedupe period."""
    ids = sorted(set(int(i) for i in instrument_ids))
    if not ids:
        return None
    fresh = cache.instant_add(ids, int(current_app.config["INSTANT_REFRESH_DEDUPE_SECONDS"]))
    if not fresh:
        return None
    width = _window_seconds()
    window = window_of(time.time(), width)  # read after the add: this window's job drains later
    if cache.instant_claim_window(window, ttl=int(width) + 300):
        jobs.enqueue("high", JOB, window, job_id=f"instant-refresh-{window}", timeout=300)
    return window


def run(window: int) -> dict:
    """The job: wait for the window to close, then fetch every pending instrument as one batch."""
    from webapp.services.portfolio.recompute import recompute_portfolios
    from webapp.services.pricing.refresh import fetch_and_store, held_instruments_by_id

    width = _window_seconds()
    wait = (window + 1) * width - time.time() if width > 0 else 0
    if wait > 0:
        time.sleep(min(wait, width))  # bounded: a clock far off must not park a worker
    ids = cache.instant_drain()
    if not ids:
        return {"symbols": 0}
    instruments = held_instruments_by_id(ids)
    stats = fetch_and_store(instruments)
    cache.instant_fetched([i.id for i in instruments], int(current_app.config["INSTANT_REFRESH_DEDUPE_SECONDS"]))
    changed = stats.pop("changed_ids")
    if changed:
        recompute_portfolios(instrument_ids=changed)
    log.info("instant refresh of window %s: %s", window, stats)
    return stats
