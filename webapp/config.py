"""Configuration: defaults here, the environment (and `.env` in development) last."""
from __future__ import annotations

import os
from email.utils import parseaddr
from pathlib import Path
from urllib.parse import urlsplit

INSTANCE_DIR = Path(__file__).resolve().parent.parent / "instance"
DEV_SECRET = "dev-insecure-change-me"


def _bool(name: str, default: bool | None) -> bool | None:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _int(name: str, default: int) -> int:
    value = os.environ.get(name)
    try:
        return int(value) if value else default
    except ValueError:
        raise RuntimeError(f"{name} must be a whole number, got {value!r}") from None


def _number(name: str, default: float, in_range, expected: str) -> float:
    """A number setting; anything unreadable or out of range stops the start with `expected`."""
    value = os.environ.get(name)
    try:
        number = float(value) if value else default
    except ValueError:
        number = None
    if number is None or not in_range(number):
        raise RuntimeError(f"{name} must be {expected}, got {value!r}")
    return number


def _float(name: str, default: float) -> float:
    return _number(name, default, lambda n: 0 <= n < 3600, "a number of seconds (0 or more)")


def _fraction(name: str, default: float) -> float:
    return _number(name, default, lambda n: 0 <= n <= 1, "a number from 0 to 1")


def _intervals(name: str, default: list[int]) -> list[int]:
    """Seconds between a job's retries: "10,30,60"."""
    value = os.environ.get(name)
    if not value:
        return default
    try:
        intervals = [int(part) for part in value.split(",")]
    except ValueError:
        intervals = []
    if not intervals or any(i < 0 for i in intervals):
        raise RuntimeError(f"{name} must be seconds separated by commas, like 10,30,60, got {value!r}")
    return intervals


def _port(name: str, default: int) -> int:
    return int(_number(name, default, lambda n: n == int(n) and 1 <= n <= 65535, "a port number (1 to 65535)"))


def _public_url() -> str:
    """The address people reach Folio at: every link in mail starts with it."""
    value = (os.environ.get("PUBLIC_URL") or "http://127.0.0.1:5000").strip()
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment \
            or any(c.isspace() or ord(c) < 0x20 for c in value):
        raise RuntimeError(f"PUBLIC_URL must be an address like https://folio.example.com, got {value!r}")
    return value.rstrip("/")


def _mail_from() -> str:
    value = (os.environ.get("MAIL_FROM") or "Folio <folio@localhost>").strip()
    name, address = parseaddr(value)
    if "@" not in address or any(ord(c) < 0x20 for c in value) or len(value) > 320:
        raise RuntimeError(f"MAIL_FROM must be an address like folio@example.com or "
                           f"'Folio <folio@example.com>', got {value!r}")
    return value


def _mail() -> dict[str, object]:
    """SMTP delivery (flask-mailman). MAIL_SERVER unset: mail is not sent (`make run` starts a
    local catch-all server and sets it)."""
    use_ssl = bool(_bool("MAIL_USE_SSL", False))
    use_tls = bool(_bool("MAIL_USE_TLS", not use_ssl))
    if use_ssl and use_tls:
        raise RuntimeError("MAIL_USE_TLS (STARTTLS) and MAIL_USE_SSL (TLS from the start) exclude each other: "
                           "set one of them")
    return {
        "MAIL_SERVER": (os.environ.get("MAIL_SERVER") or "").strip() or None,
        "MAIL_PORT": _port("MAIL_PORT", 465 if use_ssl else 587),
        "MAIL_USE_TLS": use_tls,
        "MAIL_USE_SSL": use_ssl,
        "MAIL_USERNAME": os.environ.get("MAIL_USERNAME") or None,
        "MAIL_PASSWORD": os.environ.get("MAIL_PASSWORD") or None,
        "MAIL_FROM": _mail_from(),
        "MAIL_TIMEOUT": _float("MAIL_TIMEOUT", 10.0),
        "PUBLIC_URL": _public_url(),
        # password-reset requests (the "Forgot password?" form): per client address and per e-mail address
        "RESET_RATE_LIMIT": os.environ.get("RESET_RATE_LIMIT") or "10 per hour",
        "RESET_ACCOUNT_RATE_LIMIT": os.environ.get("RESET_ACCOUNT_RATE_LIMIT") or "3 per hour",
        "RESET_TOKEN_SECONDS": _int("RESET_TOKEN_SECONDS", 30 * 60),
        "CONFIRM_TOKEN_SECONDS": _int("CONFIRM_TOKEN_SECONDS", 7 * 24 * 3600),
    }


def load_dotenv(path: Path | None = None) -> None:
    """Read KEY=VALUE lines from `.env` into os.environ, never overriding what is set."""
    path = path or INSTANCE_DIR.parent / ".env"
    if not path.is_file():
        return
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        os.environ.setdefault(key.strip(), value.strip().strip("'\""))


def from_environment() -> dict[str, object]:
    """Every setting Folio reads from the environment, with its default."""
    demo = _bool("FOLIO_DEMO", False)
    env = {
        "SECRET_KEY": os.environ.get("SECRET_KEY") or DEV_SECRET,
        "SQLALCHEMY_DATABASE_URI": os.environ.get("DATABASE_URL")
        or f"sqlite:///{INSTANCE_DIR / 'folio.sqlite3'}",
        "REDIS_URL": os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0",
        "REDIS_PREFIX": os.environ.get("REDIS_PREFIX") or "folio:",
        "FOLIO_DEMO": demo,
        "PRICE_PROVIDERS": os.environ.get("PRICE_PROVIDERS") or ("simulated" if demo else "yahoo,stooq,amfi,mfapi,coingecko"),
        "PRICE_REFRESH_CRON": os.environ.get("PRICE_REFRESH_CRON") or "*/10 * * * *",
        # the full revaluation that re-bases the delta ticks (webapp/services/portfolio/delta.py)
        "FULL_REVALUATION_CRON": os.environ.get("FULL_REVALUATION_CRON") or "35 * * * *",
        "FX_PROVIDERS": os.environ.get("FX_PROVIDERS") or "ecb,frankfurter",
        "FX_REFRESH_CRON": os.environ.get("FX_REFRESH_CRON") or "20 * * * *",
        # a currency without a rate asks for rates at once, at most this often
        "FX_ON_DEMAND_DEDUPE_SECONDS": _int("FX_ON_DEMAND_DEDUPE_SECONDS", 300),
        "POLL_SECONDS": _int("POLL_SECONDS", 10),
        # how long a deleted account or holding can be brought back ("Undo")
        "UNDO_SECONDS": _int("UNDO_SECONDS", 10),
        "UNDO_GRACE_SECONDS": _int("UNDO_GRACE_SECONDS", 5),  # a click in its last second still counts
        # after a recompute, the worker renders the summary of the users active this recently
        # (0: never), at most this many bytes of fragments per recompute (0: never), for at most
        # this many seconds (the recompute job's timeout is 600)
        "PRERENDER_ACTIVE_MINUTES": _int("PRERENDER_ACTIVE_MINUTES", 15),
        "PRERENDER_MAX_BYTES": _int("PRERENDER_MAX_BYTES", 128 * 1024 * 1024),
        "PRERENDER_MAX_SECONDS": _int("PRERENDER_MAX_SECONDS", 120),
        # instant refreshes (new holdings) are collected this long and fetched as one batch
        "INSTANT_REFRESH_WINDOW": _float("INSTANT_REFRESH_WINDOW", 1.0),
        "INSTANT_REFRESH_DEDUPE_SECONDS": _int("INSTANT_REFRESH_DEDUPE_SECONDS", 60),
        "BASE_CURRENCY": (os.environ.get("BASE_CURRENCY") or "USD").upper(),
        "LOG_LEVEL": (os.environ.get("LOG_LEVEL") or "INFO").upper(),
        # None (unset): on when PUBLIC_URL is https:// or FOLIO_ENV=production (see create_app), else
        # off; the "remember me" cookie follows the session cookie unless set itself
        "SESSION_COOKIE_SECURE": _bool("SESSION_COOKIE_SECURE", None),
        "REMEMBER_COOKIE_SECURE": _bool("REMEMBER_COOKIE_SECURE", None),
        # Strict-Transport-Security max-age when PUBLIC_URL is https:// (0: no header)
        "HSTS_SECONDS": _int("HSTS_SECONDS", 365 * 24 * 3600),
        # reverse proxies in front that set X-Forwarded-For/-Proto/-Host (werkzeug's ProxyFix); 0: trust none
        "FORWARDED_PROXIES": _int("FORWARDED_PROXIES", 0),
        "LOGIN_RATE_LIMIT": os.environ.get("LOGIN_RATE_LIMIT") or "20 per minute",
        "LOGIN_ACCOUNT_RATE_LIMIT": os.environ.get("LOGIN_ACCOUNT_RATE_LIMIT") or "5 per minute",
        "LOGIN_CODE_RATE_LIMIT": os.environ.get("LOGIN_CODE_RATE_LIMIT") or "5 per minute; 20 per hour",
        "ADMIN_REQUIRE_2FA": _bool("ADMIN_REQUIRE_2FA", False),
        "PROVIDER_TIMEOUT": os.environ.get("PROVIDER_TIMEOUT") or "10",
        "PROVIDER_RETRIES": _int("PROVIDER_RETRIES", 2),
        "PROVIDER_BACKOFF": os.environ.get("PROVIDER_BACKOFF") or "0.5",
        "PROVIDER_FAILURE_THRESHOLD": _int("PROVIDER_FAILURE_THRESHOLD", 3),
        "PROVIDER_COOLDOWN_SECONDS": _int("PROVIDER_COOLDOWN_SECONDS", 300),
        "SANITY_BAND": os.environ.get("SANITY_BAND") or "10",
        # a cycle asks for no instrument whose market has not traded since its last quote
        "PRICE_SKIP_CLOSED_MARKETS": _bool("PRICE_SKIP_CLOSED_MARKETS", True),
        # share of each provider's rate limit a cycle leaves for instant refreshes
        "PRICE_BUDGET_RESERVE": _fraction("PRICE_BUDGET_RESERVE", 0.1),
        # alert when two cycles in a row refresh less than this share of the due instruments
        "PRICE_COVERAGE_ALERT": _fraction("PRICE_COVERAGE_ALERT", 0.95),
        # the add-holding form's suggestions: at most three providers, each asked once, briefly
        "SYMBOL_SEARCH_PROVIDERS": os.environ.get("SYMBOL_SEARCH_PROVIDERS", "yahoo,amfi,coingecko"),
        "SYMBOL_SEARCH_TIMEOUT": _float("SYMBOL_SEARCH_TIMEOUT", 2.0),
        "SYMBOL_SEARCH_CACHE_SECONDS": _int("SYMBOL_SEARCH_CACHE_SECONDS", 3600),
        "SYMBOL_SEARCH_RATE_LIMIT": os.environ.get("SYMBOL_SEARCH_RATE_LIMIT") or "60 per minute",
        # JSON API requests per token (webapp/blueprints/api/auth.py)
        "API_RATE_LIMIT": os.environ.get("API_RATE_LIMIT") or "120 per minute",
        "SIMULATED_STEP_SECONDS": _int("SIMULATED_STEP_SECONDS", 60),
        "METRICS_TOKEN": os.environ.get("METRICS_TOKEN") or None,
        "ALERT_WEBHOOK_URL": os.environ.get("ALERT_WEBHOOK_URL") or None,
        "ALERT_CRON": os.environ.get("ALERT_CRON") or "* * * * *",
        # users' alerts (webapp/services/alerts.py): webhooks to private addresses (tests, a LAN), their
        # timeout, and how often the stale-price rules are swept
        "ALLOW_PRIVATE_WEBHOOKS": _bool("ALLOW_PRIVATE_WEBHOOKS", False),
        "WEBHOOK_TIMEOUT": _float("WEBHOOK_TIMEOUT", 10.0),
        "USER_ALERTS_STALE_CRON": os.environ.get("USER_ALERTS_STALE_CRON") or "*/15 * * * *",
        "ALERT_DIGEST_CRON": os.environ.get("ALERT_DIGEST_CRON") or "5 * * * *",  # hourly: each user's hour
        # how often the top bar's bell asks for the unread count
        "BELL_SECONDS": _int("BELL_SECONDS", 60),
        # seconds between the retries of a failed job (webapp/services/jobs.py): e-mail, everything else
        "MAIL_RETRY_INTERVALS": _intervals("MAIL_RETRY_INTERVALS", [30, 120, 600, 1800, 3600]),
        "TRANSIENT_RETRY_INTERVALS": _intervals("TRANSIENT_RETRY_INTERVALS", [10, 30, 60]),
        # a worker killed mid-job: RQ sees its job abandoned once the heartbeat (every
        # JOB_HEARTBEAT_SECONDS, valid for that + 60 s) lapses, at the next registry cleanup
        # (every WORKER_MAINTENANCE_SECONDS, by one worker), and retries it (RQ's defaults: 30, 600)
        "JOB_HEARTBEAT_SECONDS": _int("JOB_HEARTBEAT_SECONDS", 10),
        "WORKER_MAINTENANCE_SECONDS": _int("WORKER_MAINTENANCE_SECONDS", 60),
        "ALERT_STALE_CYCLES": _int("ALERT_STALE_CYCLES", 3),
        "ALERT_FAILED_JOBS": _int("ALERT_FAILED_JOBS", 5),
        "ALERT_NO_CYCLE_MINUTES": _int("ALERT_NO_CYCLE_MINUTES", 30),
    }
    env.update(_mail())
    for key, value in os.environ.items():
        if key.startswith("PROVIDER_") and key.endswith(("_URL", "_API_KEY", "_BATCH_SIZE", "_RATE_LIMIT")):
            env[key] = value
    return env


class Config:
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the session
    WTF_CSRF_HEADERS = ["X-CSRFToken", "X-CSRF-Token"]
    # every form of Folio is a few hundred bytes: a bigger body is refused (413) before it is parsed
    MAX_CONTENT_LENGTH = 256 * 1024
    CACHE_TYPE = "RedisCache"
    CACHE_DEFAULT_TIMEOUT = 300
    RATELIMIT_HEADERS_ENABLED = True
    RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True
    RATELIMIT_SWALLOW_ERRORS = True
    TESTING = False
