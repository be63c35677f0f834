"""The cache service: the live state in Redis. The only package that knows Redis key names.

Redis is a cache: every value here can be rebuilt from the database.
Keys (under the configurable prefix):
  quote:{SYMBOL}                hash  price, currency, as_of, source, fetched_at
  portfolio:{user_id}           JSON  the Summary of the last valuation (totals and counts)
  portfolio:{user_id}:positions text  fingerprint, newline, JSON: the accounts and holdings a page values
  portfolio:{user_id}:v         text  version, changes only when the valuation changes
  portfolio:{user_id}:html      text  token, newline, HTML: the summary fragment rendered for that token
  session:{user_id}             text  the user's current session token (the poll's login check)
  active                        zset  user id -> last time a session of theirs was seen (epoch s, written at
                                      most once a minute per user and process): who gets pre-rendered fragments
  snapshots:pending             hash  snapshot rows decided but not yet known to be in the database
  valuation:*                         the delta ticks' state: epoch, valued, dirty, draining, busy, users,
                                      sums (cache/valuation.py says what each holds)
  cycle                         text  id of the last finished refresh cycle
  cycle:last                    hash  stats of the last refresh cycle
  cycle:coverage                list  JSON per cycle, newest first, the last 10: held, still fresh, due,
                                      refreshed, failed, skipped for budget, per provider requests/budget
  lock:cycle                    text  held while a refresh cycle runs
  lock:{name}                   text  short locks (first-cycle, history:{SYMBOL}: a benchmark's history asked, an hour)
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
  unknown-symbols               hash  symbol -> when every provider answered "unknown" (cleared by a quote)
  fx:requested                  text  an on-demand FX fetch was enqueued (FX_ON_DEMAND_DEDUPE_SECONDS)
  search:{currency}:{query}     JSON  symbol-search suggestions and note for a normalized query
                                      (SYMBOL_SEARCH_CACHE_SECONDS; a minute when a source failed)
  perf:{user_id}                hash  performance documents (webapp/services/portfolio/series.py), 30-day TTL:
                                      series:{base}:{scope} JSON daily values and flows of a scope
                                      (all, account:{id}, holding:{id}:{symbol}) with the ledger version
                                      and the last invalidation seen; rates:{base} JSON the rate of each
                                      (currency, day) of the activities; #seq the invalidations so far
  perf:{user_id}:changes        list  "seq|YYYY-MM-DD" of the latest 100 invalidations, newest first:
                                      figures from that day on are recomputed by the next call
  mail:caught                   list  JSON per message the local catch-all SMTP server of `make run` received
                                      (from, to, subject, text, html, received_at), newest first, the last 50
  undo:{user_id}:{nonce}        JSON  the rows a delete took (account, holdings, activities), for its Undo
                                      (UNDO_SECONDS plus a few seconds; webapp/services/undo.py)
  cache:*                       Flask-Caching entries (CACHE_KEY_PREFIX)
  limit*                        Flask-Limiter's counters (RATELIMIT_KEY_PREFIX)
RQ's own keys (rq:*) are not prefixed: each deployment, and each test run, uses a Redis DB of its own.
The table is repeated in docs/architecture.md.

Bulk reads and writes go through Lua scripts: one round trip, and no per-key reply
for redis-py to parse (a pipeline of 10,000 HGETALLs costs about a second in Python).
"""
from __future__ import annotations

from webapp.services.cache.core import (  # noqa: F401
    CHANGED,
    FRAGMENT_TTL,
    POSITIONS_STALE,
    SCRIPT_CHUNK,
    SESSION_TTL,
    SNAPSHOT,
    SNAPSHOT_IF_NEW,
    UNCHANGED,
    PollKeys,
    PortfolioWrite,
    Positions,
    RedisError,
    clear_pending_snapshots,
    connect,
    decode_positions,
    encode_positions,
    forget_portfolio,
    get_redis,
    key,
    new_version,
    pending_snapshots,
    poll_keys,
    poll_token,
    read_fragment,
    read_live,
    read_live_many,
    read_portfolio,
    read_positions,
    read_prices,
    read_quotes,
    read_summaries,
    read_token,
    remember_session,
    set_session_tokens,
    store_fragment,
    touch_portfolios,
    write_portfolios,
    write_quotes,
)
from webapp.services.cache.ops import (  # noqa: F401
    COVERAGE_KEPT,
    RedisHealth,
    RedisStore,
    RedisThrottle,
    acquire_lock,
    active_alerts,
    claim_fx_request,
    clear_alert,
    clear_unknown,
    coverage_history,
    finish_cycle,
    instant_add,
    instant_claim_window,
    instant_drain,
    instant_fetched,
    instant_pending,
    job_stats,
    last_cycle,
    mark_unknown,
    provider_health,
    read_fx,
    record_coverage,
    record_job,
    release_lock,
    set_alert,
    unknown_among,
    write_fx,
)
from webapp.services.cache.activity import (  # noqa: F401
    TOUCH_EVERY,
    active_since,
    active_key,
    evict_inactive,
    mark_active,
    outdated_fragments,
    store_fragment_if_current,
    store_fragments_if_current,
    touch,
    touch_due,
    touched,
)
from webapp.services.cache.mailbox import (  # noqa: F401
    MAILBOX_KEPT,
    catch_mail,
    caught_mail,
)
from webapp.services.cache.performance import (  # noqa: F401
    Cached,
    forget_performance,
    invalidate_performance,
    read_performance,
    write_performance,
)
from webapp.services.cache.undo import (  # noqa: F401
    drop_undo,
    store_undo,
    take_undo,
)
from webapp.services.cache.suggestions import (  # noqa: F401
    read_suggestions,
    write_suggestions,
)
