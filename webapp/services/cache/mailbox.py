"""The local catch-all mailbox (`mail:caught`): what the development SMTP server of `make run`
received, newest first, the last MAILBOX_KEPT messages, for /admin/mail."""
from __future__ import annotations

import json

from webapp.services.cache.core import get_redis, key

MAILBOX_KEPT = 50


def catch_mail(message: dict) -> None:
    """Keep one received message (a JSON-able dict) and drop the oldest beyond MAILBOX_KEPT."""
    k = key("mail", "caught")
    pipe = get_redis().pipeline(transaction=True)
    pipe.lpush(k, json.dumps(message, separators=(",", ":")))
    pipe.ltrim(k, 0, MAILBOX_KEPT - 1)
    pipe.execute()


def caught_mail() -> list[dict]:
    """The kept messages, newest first (anything unreadable is skipped)."""
    out = []
    for raw in get_redis().lrange(key("mail", "caught"), 0, MAILBOX_KEPT - 1):
        try:
            value = json.loads(raw)
        except ValueError:
            continue
        if isinstance(value, dict):
            out.append(value)
    return out
