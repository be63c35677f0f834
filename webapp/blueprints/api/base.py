"""The API blueprint itself: token authentication before every view, the per-token rate
limit, the JSON error handlers, and helpers the view modules share."""
from __future__ import annotations

from flask_smorest import Blueprint
from werkzeug.exceptions import HTTPException, InternalServerError

from webapp.blueprints.api import auth, errors
from webapp.extensions import db, limiter

blp = Blueprint("api", __name__, url_prefix="/api/v1",
                description="Folio's JSON API. Every request needs `Authorization: Bearer <token>`.")
ID = "int(max=2147483647)"  # a larger id is no object (404), not a database error


@blp.before_request
def _authenticate():
    auth.authenticate()


limiter.limit(auth.rate_limit, key_func=auth.rate_key)(blp)


@blp.errorhandler(HTTPException)
def _http_error(e):
    return errors.handle(e)


@blp.errorhandler(InternalServerError)
def _server_error(e):
    db.session.rollback()
    return errors.handle(InternalServerError())


def found(obj):
    """The object, or 404 (another user's id looks like no object at all)."""
    if obj is None:
        errors.abort(404)
    return obj


ERRORS = {401: "No token, or a bad, expired or revoked one.", 404: "Not found (or not yours).",
          429: "Over the token's rate limit; see Retry-After."}


def documented(*statuses: int):
    """Document the error responses of a view in the OpenAPI document."""
    def wrap(view):
        for status in statuses:
            view = blp.alt_response(status, schema=ErrorBody, description=ERRORS.get(status, errors.CODES[status]))(view)
        return view
    return wrap


import marshmallow as ma  # noqa: E402


class _ErrorDetail(ma.Schema):
    code = ma.fields.String()
    message = ma.fields.String()
    fields = ma.fields.Dict(keys=ma.fields.String())


class ErrorBody(ma.Schema):
    error = ma.fields.Nested(_ErrorDetail)
