"""The Undo offer a delete leaves in the session: shown by every page (base.html, `_undo.html`)
until its window is over, so the dashboard offers it too when the delete happened elsewhere."""
from __future__ import annotations

import time

from flask import flash, session

KEY = "undo"


def offer_undo(offer, message: str) -> None:
    """After a delete: `message` with an Undo button for the offer's window, or, when the cache
    could not keep a copy (offer None), the message and a warning that it cannot be undone."""
    if offer is None:
        session.pop(KEY, None)
        flash(f"{message} It cannot be undone: the cache is unavailable, so no copy was kept.", "warning")
        return
    session[KEY] = {"token": offer.token, "message": message, "until": offer.expires_at}


def pending_offer() -> dict | None:
    """The session's offer while its window lasts (with `ms`: its end in epoch milliseconds)."""
    offer = session.get(KEY)
    if not isinstance(offer, dict):
        return None
    if float(offer.get("until", 0)) <= time.time():
        session.pop(KEY, None)
        return None
    return {**offer, "ms": int(float(offer["until"]) * 1000)}


def withdraw_offer(token: str) -> None:
    offer = session.get(KEY)
    if isinstance(offer, dict) and offer.get("token") == token:
        session.pop(KEY, None)
