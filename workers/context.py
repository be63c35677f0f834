"""Run job functions inside a Flask app context, whoever calls them."""
from __future__ import annotations

import functools
from typing import Callable, TypeVar

from flask import Flask, has_app_context

F = TypeVar("F", bound=Callable)
_app: Flask | None = None


def app() -> Flask:
    global _app
    if _app is None:
        from webapp import create_app

        _app = create_app()
    return _app


def job(fn: F) -> F:
    """Give a job an app context when the worker did not push one (e.g. `rq worker`)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if has_app_context():
            return fn(*args, **kwargs)
        with app().app_context():
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
