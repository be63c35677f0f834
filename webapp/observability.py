"""Logging (one JSON line per request and per job) and Prometheus metrics.

Hand-written JSON log lines (a dozen lines) rather than python-json-logger: they add the request id
and mask secrets, which a formatter library would need the same code for.

Under several gunicorn workers, set PROMETHEUS_MULTIPROC_DIR (an empty directory
per deployment): every process writes its samples there and /metrics aggregates
them. Without it, metrics are per process (fine for tests and one-process runs).
"""
from __future__ import annotations

import json
import logging
import os
import re
import time
import uuid
from datetime import datetime, timezone

from flask import Flask, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    SummaryMetricFamily,
)

REQUESTS = Counter("folio_http_requests_total", "HTTP requests", ["endpoint", "method", "status"])
LATENCY = Histogram(
    "folio_http_request_duration_seconds", "HTTP request latency", ["endpoint"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
# Job and provider figures are counted in Redis, not in prometheus-client: workers fork a
# process per job and run on several machines, and /metrics must add them all up.


# ---- logging ---------------------------------------------------------------------------
# Libraries log URLs (urllib3 at DEBUG: "GET /query?symbol=IBM&apikey=..."), and exceptions
# quote them: credentials in query strings are masked, and so is every configured secret value.
_SECRET_PARAM_RE = re.compile(
    r"(?i)\b((?:api_?key|apikey|access_?token|token|secret|password|passwd|signature|sig)=)[^&\s\"'#]+")
_secret_values: set[str] = set()


def register_secrets(*values: object) -> None:
    """Values never to be written to a log (keys, tokens), e.g. from the app's configuration."""
    _secret_values.update(v for v in values if isinstance(v, str) and len(v) >= 6)


def redact(text: str) -> str:
    text = _SECRET_PARAM_RE.sub(r"\1[redacted]", text)
    for value in _secret_values:
        if value in text:
            text = text.replace(value, "[redacted]")
    return text


class JsonFormatter(logging.Formatter):
    """One JSON object per line; extra fields given with `extra={"fields": {...}}`; secrets masked."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(self._format(record))

    def _format(self, record: logging.LogRecord) -> str:
        doc = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        doc.update(getattr(record, "fields", {}) or {})
        job_id = os.environ.get("RQ_JOB_ID")
        if job_id and "job_id" not in doc:
            doc["job_id"] = job_id
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return json.dumps(doc, default=str)


def configure_logging(level: str) -> None:
    root = logging.getLogger()
    if not any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(JsonFormatter())
        for h in list(root.handlers):
            if not type(h).__module__.startswith("_pytest"):
                root.removeHandler(h)
        root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("werkzeug").setLevel("WARNING")


request_log = logging.getLogger("folio.request")
job_log = logging.getLogger("folio.job")


def init_app(app: Flask) -> None:
    configure_logging(app.config["LOG_LEVEL"])
    register_secrets(*(value for key, value in app.config.items()
                       if key in ("SECRET_KEY", "METRICS_TOKEN", "ALERT_WEBHOOK_URL") or key.endswith("_API_KEY")))

    @app.before_request
    def start_timer():
        g.request_started = time.perf_counter()
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if 0 < len(incoming) <= 64 and incoming.isprintable() else uuid.uuid4().hex

    @app.after_request
    def record(resp):
        started = g.pop("request_started", None)
        if started is None:
            return resp
        elapsed = time.perf_counter() - started
        endpoint = request.endpoint or "unknown"
        REQUESTS.labels(endpoint, request.method, str(resp.status_code)).inc()
        LATENCY.labels(endpoint).observe(elapsed)
        resp.headers["X-Request-ID"] = g.request_id
        request_log.info(
            "%s %s %s", request.method, request.path, resp.status_code,
            extra={"fields": {
                "request_id": g.request_id,
                "method": request.method,
                "path": request.path,  # never the query string: it may carry tokens
                "endpoint": endpoint,
                "status": resp.status_code,
                "ms": round(elapsed * 1000, 2),
                "user_id": _user_id(),
            }},
        )
        return resp


def _user_id():
    from flask_login import current_user

    try:
        return current_user.id if current_user.is_authenticated else None
    except Exception:  # the user loader may fail when the database is down
        return None


# ---- job instrumentation (called by the worker) ----------------------------------------
def job_finished(func_name: str, job_id: str, seconds: float, ok: bool) -> None:
    from webapp.services import cache

    try:
        cache.record_job(func_name, seconds, ok)
    except cache.RedisError:
        pass
    job_log.log(
        logging.INFO if ok else logging.ERROR,
        "job %s %s", func_name, "ok" if ok else "failed",
        extra={"fields": {"job_id": job_id, "job": func_name, "ok": ok, "ms": round(seconds * 1000, 1)}},
    )


# ---- exposition ------------------------------------------------------------------------
class StateCollector:
    """Figures read at scrape time from Redis and the database, shared by every process."""

    def collect(self):
        from pricing_providers import registry
        from webapp.services import cache
        from webapp.services.jobs import queue_stats

        depth = GaugeMetricFamily("folio_queue_depth", "Jobs waiting per queue", labels=["queue"])
        failed = GaugeMetricFamily("folio_failed_jobs", "Failed jobs kept per queue", labels=["queue"])
        jobs = SummaryMetricFamily("folio_job_duration_seconds", "RQ job duration", labels=["job"])
        job_failures = CounterMetricFamily("folio_job_failures", "RQ jobs that failed", labels=["job"])
        calls = CounterMetricFamily("folio_provider_calls", "Provider requests by outcome",
                                    labels=["provider", "outcome"])
        try:
            for name, (queued, failed_count) in queue_stats().items():
                depth.add_metric([name], queued)
                failed.add_metric([name], failed_count)
            for name, (count, total, failures) in cache.job_stats().items():
                jobs.add_metric([name], count, total)
                job_failures.add_metric([name], failures)
            for name, h in cache.provider_health(registry.available()).items():
                calls.add_metric([name, "ok"], float(h.get("calls_ok", 0)))
                calls.add_metric([name, "error"], float(h.get("calls_failed", 0)))
            yield from _coverage_metrics(cache.coverage_history(1))
        except cache.RedisError:
            pass
        yield from (depth, failed, jobs, job_failures, calls)
        age = oldest_quote_age()
        if age is not None:
            oldest = GaugeMetricFamily("folio_oldest_quote_age_seconds",
                                       "Age of the oldest latest-quote of a held instrument")
            oldest.add_metric([], age)
            yield oldest


def _coverage_metrics(history: list[dict]):
    """The last refresh cycle's coverage and what each provider spent of its budget."""
    if not history:
        return
    last = history[0]
    ratio = GaugeMetricFamily("folio_price_coverage_ratio",
                              "Share of the due held instruments the last refresh cycle priced")
    ratio.add_metric([], float(last["coverage"]))
    counts = GaugeMetricFamily("folio_price_cycle_instruments", "Instruments of the last refresh cycle",
                               labels=["state"])
    for state in ("held", "still_fresh", "due", "refreshed", "failed", "skipped_budget"):
        counts.add_metric([state], float(last[state]))
    spent = GaugeMetricFamily("folio_provider_cycle_requests", "HTTP requests the last refresh cycle sent",
                              labels=["provider"])
    budget = GaugeMetricFamily("folio_provider_cycle_budget",
                               "Requests the last refresh cycle was allowed (providers with a rate limit)",
                               labels=["provider"])
    for name, p in last["providers"].items():
        spent.add_metric([name], float(p["requests"]))
        if p["budget"] is not None:
            budget.add_metric([name], float(p["budget"]))
    yield from (ratio, counts, spent, budget)


def oldest_quote_age() -> float | None:
    import sqlalchemy as sa

    from webapp.extensions import db
    from webapp.models import Holding, Quote

    newest = (
        sa.select(Quote.instrument_id, sa.func.max(Quote.as_of).label("as_of"))
        .where(Quote.instrument_id.in_(sa.select(Holding.instrument_id).distinct()))
        .group_by(Quote.instrument_id)
        .subquery()
    )
    # max() over a UTCDateTime loses the type decorator on SQLite: coerce back
    value = db.session.execute(sa.select(sa.func.min(newest.c.as_of))).scalar()
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return max(0.0, (datetime.now(timezone.utc) - value).total_seconds())


def render_metrics() -> tuple[bytes, str]:
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)
    else:
        for collector in (REQUESTS, LATENCY):
            registry.register(collector)
    registry.register(StateCollector())
    return generate_latest(registry), CONTENT_TYPE_LATEST
