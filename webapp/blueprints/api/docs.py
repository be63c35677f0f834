"""/api/v1/docs: the endpoints of the generated OpenAPI document on a plain page (no scripts, no
CDN: the app's CSP allows neither inline nor external scripts)."""
from __future__ import annotations

from flask import Blueprint, current_app, render_template

page = Blueprint("api_docs_page", __name__)
METHODS = ("get", "post", "put", "patch", "delete")


def endpoints(spec: dict) -> list[dict]:
    out = []
    for path, item in spec.get("paths", {}).items():
        for method in METHODS:
            op = item.get(method)
            if op is None:
                continue
            params = [p for p in item.get("parameters", []) + op.get("parameters", [])]
            out.append({"method": method.upper(), "path": "/api/v1" + path if not path.startswith("/api/v1") else path,
                        "summary": op.get("summary", ""), "description": op.get("description", ""),
                        "responses": sorted(op.get("responses", {})),
                        "parameters": [(p.get("name"), p.get("in")) for p in params],
                        "body": "requestBody" in op})
    return out


@page.get("/api/v1/docs")
def docs():
    spec = current_app.extensions["folio_api"].spec.to_dict()
    return render_template("api/docs.html", spec=spec, endpoints=endpoints(spec))
