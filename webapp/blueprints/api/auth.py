"""Bearer-token authentication of the API, its scopes and its per-token rate limit.

Only `Authorization: Bearer <token>` authorizes: a session cookie never does (the API never
reads `current_user`). The token is looked up once per request (the rate limiter's key needs
it before the views run) and kept in `g`.
"""
from __future__ import annotations

from flask import current_app, g, request
from flask_limiter.util import get_remote_address

from webapp.blueprints.api.errors import abort
from webapp.models import ApiToken, User
from webapp.services import api_tokens

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _lookup() -> tuple[ApiToken, User] | None:
    if "api_auth" not in g:
        header = request.headers.get("Authorization", "")
        scheme, _, secret = header.partition(" ")
        g.api_auth = api_tokens.authenticate(secret.strip()) if scheme.lower() == "bearer" and secret else None
    return g.api_auth


def rate_limit() -> str:
    return current_app.config.get("API_RATE_LIMIT") or "120 per minute"


def rate_key() -> str:
    """Per token; requests without a valid token count by address."""
    found = _lookup()
    return f"api-token:{found[0].id}" if found else f"api-ip:{get_remote_address()}"


def authenticate() -> None:
    """before_request of the API: 401 without a valid token, 403 for a write with a read token."""
    if request.method == "OPTIONS":
        return
    found = _lookup()
    if found is None:
        abort(401)
    token, user = found
    if request.method in WRITE_METHODS and "write" not in token.scope_set:
        abort(403, "This token may only read: create one with the “read write” scopes to change data.")
    api_tokens.touch(token)
    g.api_token, g.api_user = token, user


def user() -> User:
    return g.api_user


def token() -> ApiToken:
    return g.api_token
