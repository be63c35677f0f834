"""Test users that are cheap to log in.

Logging in checks the password with scrypt, whose cost is read from the stored hash.
The app hashes with Werkzeug's default (N=2^15, ~0.15 s a check); these users get a real
scrypt hash with N=2^10, so each login still goes through the same code, in milliseconds.
Tests about hashing itself register through the form, which uses the app's own setting.
"""
from __future__ import annotations

from functools import lru_cache

from werkzeug.security import generate_password_hash

from webapp.extensions import db
from webapp.models import User

PASSWORD = "correct horse battery"  # the same as conftest's make_user/login default


@lru_cache(maxsize=None)
def password_hash(password: str) -> str:
    return generate_password_hash(password, method="scrypt:1024:8:1")


def quick_user(app, email: str, password: str = PASSWORD, **fields) -> int:
    """Create a user, like conftest.make_user; returns its id."""
    with app.app_context():
        user = User(email=email, display_name=fields.pop("display_name", email.split("@")[0]),
                    password_hash=password_hash(password), **fields)
        db.session.add(user)
        db.session.commit()
        return user.id
