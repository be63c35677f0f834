"""The JSON API, /api/v1 (flask-smorest): bearer tokens only, one error shape, a per-token rate
limit; the OpenAPI 3.1 document is generated from the views and schemas (/api/v1/openapi.json)
and listed on a plain page (/api/v1/docs)."""
from __future__ import annotations

from flask import Flask
from flask_smorest import Api

from webapp.blueprints.api import errors
from webapp.blueprints.api.base import blp
from webapp.blueprints.api.schemas import Amount, Cost, DecimalString, Quantity

URL_PREFIX = "/api/v1"


class FolioApi(Api):
    from webapp.blueprints.api.base import ErrorBody as ERROR_SCHEMA  # noqa: N811

    def _register_error_handlers(self):
        """Not flask-smorest's app-wide handler: the HTML pages keep theirs (see `init_app`)."""


def init_app(app: Flask) -> Api:
    from webapp.blueprints.api import ledger, portfolio, resources  # noqa: F401  (their routes)
    from webapp.extensions import csrf

    app.config.setdefault("API_TITLE", "Folio API")
    app.config.setdefault("API_VERSION", "v1")
    app.config.setdefault("OPENAPI_VERSION", "3.1.0")
    app.config.setdefault("OPENAPI_URL_PREFIX", URL_PREFIX)
    app.config.setdefault("OPENAPI_JSON_PATH", "openapi.json")
    app.config.setdefault("API_RATE_LIMIT", "120 per minute")
    api = FolioApi(app, spec_kwargs={
        "info": {"description": "Your Folio portfolio as JSON. Authenticate with a personal access token "
                                "(Settings → API tokens): `Authorization: Bearer folio_…`."},
        "security": [{"bearerAuth": []}],
    })
    api.spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer"})
    for field in (DecimalString, Quantity, Cost, Amount):
        api.register_field(field, "string", "decimal")
    csrf.exempt(blp)
    api.register_blueprint(blp)
    return api
