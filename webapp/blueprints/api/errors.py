"""The API's one error shape: {"error": {"code": "...", "message": "...", "fields": {...}}}.

`abort(status, message, fields=…)` raises it from a view; the handlers turn every HTTP error
of an API request (webargs' 422, Flask-Limiter's 429, a routing 404 or 405, a 500) into it.
"""
from __future__ import annotations

from flask import jsonify, request
from werkzeug.exceptions import HTTPException, InternalServerError

PREFIX = "/api/"
CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
         409: "conflict", 413: "too_large", 415: "unsupported_media_type", 422: "invalid",
         429: "rate_limited", 500: "server_error", 503: "unavailable"}
MESSAGES = {401: "A valid API token is required (Authorization: Bearer <token>).",
            403: "The token lacks the scope this needs.", 404: "There is nothing here, or it is not yours.",
            405: "This endpoint cannot be used with that method.", 422: "The input is not valid.",
            429: "Too many requests with this token: slow down.", 500: "Something went wrong; it was logged."}


class ApiError(HTTPException):
    def __init__(self, status: int, message: str | None = None, fields: dict | None = None,
                 headers: dict | None = None):
        super().__init__(message)
        self.code = status
        self.data = {"message": message, "fields": fields, "headers": headers}


def abort(status: int, message: str | None = None, fields: dict | None = None, headers: dict | None = None):
    raise ApiError(status, message, fields, headers)


def is_api_request() -> bool:
    return request.path.startswith(PREFIX)


def _fields(messages) -> dict:
    """webargs' {"json": {"name": ["…"]}, "query": {…}} as {"name": ["…"]}."""
    out: dict = {}
    if isinstance(messages, dict):
        for location, errors in messages.items():
            if isinstance(errors, dict) and location in ("json", "query", "path", "form", "headers", "files"):
                out.update(errors)
            else:
                out[location] = errors
    return out


def response(status: int, message: str | None = None, fields: dict | None = None, headers: dict | None = None):
    body = {"error": {"code": CODES.get(status, "error"), "message": message or MESSAGES.get(status, "Error."),
                      "fields": fields or {}}}
    resp = jsonify(body)
    resp.status_code = status
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    if status == 401:
        resp.headers["WWW-Authenticate"] = 'Bearer realm="folio"'
    resp.headers["Cache-Control"] = "no-store"
    return resp


def handle(e: HTTPException):
    status = e.code or 500
    data = getattr(e, "data", None) or {}
    headers = dict(data.get("headers") or {})
    message = data.get("message")
    fields = data.get("fields") or _fields(data.get("messages") or data.get("errors"))
    if status == 422 and not message and fields:
        message = "The input is not valid: see the fields."
    if status == 429:
        headers.setdefault("Retry-After", _retry_after())
        message = None
    if not message and status not in (500,) and not isinstance(e, InternalServerError):
        described = getattr(e, "description", None)
        message = described if status in (400, 413, 415) and described else None
    return response(status, message, fields, headers)


def _retry_after() -> str:
    import math
    import time

    from webapp.extensions import limiter

    try:
        limit = limiter.current_limit
        if limit is not None:
            return str(max(1, math.ceil(limit.reset_at - time.time())))
    except Exception:  # noqa: BLE001  (the storage is down: a minute is a fair guess)
        pass
    return "60"
