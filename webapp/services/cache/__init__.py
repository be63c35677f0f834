"""The cache service: the live state in Redis. The only package that knows Redis key names.

Redis is a cache: every value here can be rebuilt from the database.
Keys (under the configurable prefix):
  quote:{SYMBOL}                hash  price, currency, as_of, source, fetched_at
  portfolio:{user_id}           JSON  the Summary of the last valuation (totals and counts)
  portfolio:{user_id}:positions text  fingerprint, newline, JSON: the accounts and holdings a page values
  portfolio:{user_id}:v         text  version, changes only when the valuation changes
  portfolio:{user_id}:html      text  token, newline, HTML: the summary fragment rendered for that token
  session:{user_id}             text  the user's current session token (the poll's login check)
  snapshots:pending             hash  snapshot rows decided but not yet known to be in the database
  cycle                         text  id of the last finished refresh cycle
  cycle:last                    hash  stats of the last refresh cycle
  lock:cycle                    text  held while a refresh cycle runs
  lock:{name}                   text  short locks (first-cycle, ...)
  provider:{name}               hash  health: failures, open_until, last_success, last_error
  throttle:{provider}:{window}  int   requests spent in a rate-limit window, shared by every worker
  provider-state:{name}         text  what a provider keeps between cycles (RedisStore): e.g.
                                      yahoo:{host}:cookie|crumb|unusable:{rung}, coingecko:id:{ticker}
  jobs:count|seconds|failures   hash  per job name: runs, total seconds, failures
  alerts                        hash  active operator alerts: name -> detail
  instant:pending               set   instrument ids waiting for the next coalesced instant refresh
  instant:seen:{instrument_id}  text  asked for or fetched within INSTANT_REFRESH_DEDUPE_SECONDS
  instant:job:{window}          text  the job of that window is enqueued (RQ does not dedupe job ids)
  fx:EUR                        hash  latest rates per 1 EUR, _as_of, _source
  fx:requested                  text  an on-demand FX fetch was enqueued (FX_ON_DEMAND_DEDUPE_SECONDS)
  search:{currency}:{query}     JSON  symbol-search suggestions and note for a normalized query
                                      (SYMBOL_SEARCH_CACHE_SECONDS; a minute when a source failed)
  cache:*                       Flask-Caching entries (CACHE_KEY_PREFIX)
RQ's own keys (rq:*) are not prefixed: each deployment, and each test run, uses a Redis DB of its own.
The table is repeated in docs/architecture.md.

Bulk reads and writes go through Lua scripts: one round trip, and no per-key reply
for redis-py to parse (a pipeline of 10,000 HGETALLs costs about a second in Python).
"""
from __future__ import annotations

from webapp.services.cache.core import (  # noqa: F401
    CHANGED,
    SNAPSHOT,
    SNAPSHOT_IF_NEW,
    UNCHANGED,
    RedisError,
    SESSION_TTL,
    FRAGMENT_TTL,
    SCRIPT_CHUNK,
    connect,
    get_redis,
    key,
    new_version,
    write_quotes,
    read_quotes,
    read_prices,
    read_token,
    Positions,
    encode_positions,
    decode_positions,
    read_positions,
    read_live,
    read_portfolio,
    PortfolioWrite,
    POSITIONS_STALE,
    write_portfolios,
    pending_snapshots,
    clear_pending_snapshots,
    forget_portfolio,
    read_fragment,
    store_fragment,
    remember_session,
    set_session_tokens,
    PollKeys,
    poll_keys,
    poll_token,
)
from webapp.services.cache.ops import (  # noqa: F401
    finish_cycle,
    last_cycle,
    acquire_lock,
    release_lock,
    RedisHealth,
    provider_health,
    RedisThrottle,
    RedisStore,
    instant_add,
    instant_claim_window,
    instant_drain,
    instant_pending,
    instant_fetched,
    record_job,
    job_stats,
    active_alerts,
    set_alert,
    clear_alert,
    write_fx,
    claim_fx_request,
    read_fx,
)
from webapp.services.cache.suggestions import (  # noqa: F401
    read_suggestions,
    write_suggestions,
)
