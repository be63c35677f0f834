"""The dashboard's summary fragment: one render function for the view and for the worker that
pre-renders it after a recompute, so both produce the same bytes for the same version."""
from __future__ import annotations

import logging
import time
from typing import Iterable

import sqlalchemy as sa
from flask import current_app, g, render_template

from webapp.domain.staleness import judge
from webapp.services import cache
from webapp.services.portfolio.read_model import portfolio_for
from webapp.services.pricing import quotes
from webapp.web.fastpoll import PATH

log = logging.getLogger(__name__)
TEMPLATE = "portfolio/_summary.html"
BATCH = 200  # users per round trip of reads, and of writes, when pre-rendering


def summary_context(valuation, token: str, live_ok: bool) -> dict:
    return {
        "valuation": valuation,
        "token": token,
        "live_ok": live_ok,
        "poll_seconds": current_app.config["POLL_SECONDS"],
        "stale": judge(valuation),
        "unknown": quotes.unknown_symbols(
            {h.symbol for a in valuation.accounts for h in a.holdings if h.price is None}),
        "simulated": "simulated" in current_app.config["PRICE_PROVIDERS"],
    }


def render_summary(user_id: int, live: tuple | None = None) -> tuple[str, str, bool]:
    """(the fragment, the version token it shows, whether live updates work) for a user, in the
    current request context (its user and, later, its locale are the ones rendered for).
    `live`: the user's cached positions, quotes and token, when read already (in bulk)."""
    valuation, token, live_ok = portfolio_for(user_id, live)
    return render_template(TEMPLATE, **summary_context(valuation, token, live_ok)), token, live_ok


# ---- pre-rendering, after a recompute (in the worker) -------------------------------------------
def prerender_fragments(changed: Iterable[int]) -> dict:
    """After a recompute: render into Redis, with its token, the summary of every user whose
    session was active in the last PRERENDER_ACTIVE_MINUTES and whose cached fragment is not the
    one of their current token -- those whose version the recompute moved (`changed`), and, after
    a refresh cycle, everybody else too, since the cycle's id is part of every token (the ages
    and stale marks follow the cycle). Most recently active first, until PRERENDER_MAX_BYTES
    of fragments are rendered or PRERENDER_MAX_SECONDS have passed (the recompute job has a
    timeout); users inactive longer are forgotten and their fragments dropped.
    Their next poll is then a Redis read in the fast path.

    A fragment is stored only if its token is still current when it is written, so a render
    that races with a newer version is dropped. Never raises: a failure only means the
    poll renders on the request path, as without pre-rendering."""
    del changed  # among the outdated anyway: every active user's fragment is checked
    cfg = current_app.config
    started = time.perf_counter()
    stats = {"prerender_active": 0, "prerendered": 0, "prerender_bytes": 0, "prerender_skipped": 0}
    window = float(cfg.get("PRERENDER_ACTIVE_MINUTES", 15)) * 60
    budget = int(cfg.get("PRERENDER_MAX_BYTES", 0))
    limit = float(cfg.get("PRERENDER_MAX_SECONDS", 120))
    if window <= 0 or budget <= 0:
        return stats
    try:
        since = time.time() - window
        stats["prerender_evicted"] = cache.evict_inactive(since)
        active = cache.active_since(since)
        stats["prerender_active"] = len(active)
        order = sorted(cache.outdated_fragments(list(active)), key=lambda u: -active[u])
        stats["prerender_outdated"] = len(order)
        users = _users(order)
        spent = 0
        for start in range(0, len(order), BATCH):
            part = [uid for uid in order[start : start + BATCH] if uid in users]
            live = cache.read_live_many(part)  # one round trip for the batch's positions and quotes
            done: list[tuple[int, str, str]] = []
            for n, uid in enumerate(part):
                html, token, live_ok = _render_as(users[uid], live[uid])
                if not live_ok:
                    raise cache.RedisError("the cache went away while pre-rendering")
                spent += len(html.encode())
                if spent > budget:
                    stats["prerender_skipped"] = len(order) - start - n
                    break
                done.append((uid, token, html))
            for (uid, _, html), stored in zip(done, cache.store_fragments_if_current(done)):
                if stored:  # else a newer version arrived meanwhile: its poll renders it
                    stats["prerendered"] += 1
                    stats["prerender_bytes"] += len(html.encode())
            if not stats["prerender_skipped"] and time.perf_counter() - started > limit and start + BATCH < len(order):
                stats["prerender_skipped"] = len(order) - start - BATCH  # the job must end well within its timeout
            if stats["prerender_skipped"]:
                break
    except cache.RedisError:
        log.warning("Redis unavailable; fragments not pre-rendered")
    except Exception:  # the recompute it follows has succeeded: never fail it
        log.exception("pre-rendering fragments failed")
    stats["prerender_seconds"] = round(time.perf_counter() - started, 3)
    return stats


def _users(user_ids: list[int]) -> dict:
    """The users to render for, enabled ones only, one query per 2,000."""
    from webapp.extensions import db
    from webapp.models import User

    out = {}
    for start in range(0, len(user_ids), 2000):
        part = user_ids[start : start + 2000]
        for user in db.session.scalars(sa.select(User).where(User.id.in_(part), User.is_disabled.is_(False))):
            out[user.id] = user
    return out


def _render_as(user, live: tuple) -> tuple[str, str, bool]:
    """The view's render, in a request context of the application's own address, as this user.
    A context of its own per user: whatever a request caches (a locale) is never another's."""
    app = current_app._get_current_object()
    with app.test_request_context(PATH):  # links as the poll's own request has them (APPLICATION_ROOT)
        g._login_user = user  # current_user, as Flask-Login would set it for their own poll
        try:
            return render_summary(user.id, live)
        finally:  # `g` belongs to the job's app context, which the request context shares
            g.pop("_login_user", None)
