"""Personal access tokens: made on the settings page (CSRF, shown once, stored hashed), revoked
there or with `flask api tokens`, and refused by the API once revoked or expired."""
from __future__ import annotations

import hashlib
import re
from datetime import timedelta

import sqlalchemy as sa

from tests.conftest import login, post
from webapp.extensions import db
from webapp.models import ApiToken, utcnow
from webapp.services import api_tokens

TOKEN_RE = re.compile(r'id="new-api-token">(folio_[A-Za-z0-9_\-]+)<')


def _create(client, name="script", scopes="read", days=""):
    return post(client, "/settings/api-tokens", {"name": name, "scopes": scopes, "days": days})


def _bearer(secret):
    return {"Authorization": f"Bearer {secret}"}


def test_token_is_shown_once_and_stored_hashed(app, client, alice):
    login(client)
    resp = _create(client, "home", "read write", "30")
    assert resp.status_code == 201
    assert resp.headers["Cache-Control"] == "no-store"
    secret = TOKEN_RE.search(resp.get_data(as_text=True)).group(1)
    assert secret.startswith("folio_") and len(secret) > 40
    with app.app_context():
        row = db.session.scalar(sa.select(ApiToken))
        assert row.token_hash == hashlib.sha256(secret.encode()).hexdigest()
        assert secret not in (row.token_hash, row.name, row.scopes)
        assert row.scopes == "read write" and row.expires_at is not None
        assert timedelta(days=29) < row.expires_at - row.created_at <= timedelta(days=30)
    page = client.get("/settings/").get_data(as_text=True)
    assert secret not in page and "home" in page and "active" in page
    assert client.get("/api/v1/me", headers=_bearer(secret)).status_code == 200


def test_creating_needs_csrf_and_a_name(app, client, alice):
    login(client)
    assert client.post("/settings/api-tokens", data={"name": "x", "scopes": "read"}).status_code == 400
    assert _create(client, "").status_code == 400
    assert _create(client, "x", "admin").status_code == 400
    assert _create(client, "x", "read", "0").status_code == 400
    assert _create(client, "dup").status_code == 201
    assert _create(client, "dup").status_code == 409
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(ApiToken)) == 1


def test_revoked_token_is_refused(app, client, alice):
    login(client)
    secret = TOKEN_RE.search(_create(client).get_data(as_text=True)).group(1)
    api = app.test_client()
    assert api.get("/api/v1/me", headers=_bearer(secret)).status_code == 200
    with app.app_context():
        token_id = db.session.scalar(sa.select(ApiToken.id))
    resp = post(client, f"/settings/api-tokens/{token_id}/revoke")
    assert resp.status_code == 302
    resp = api.get("/api/v1/me", headers=_bearer(secret))
    assert resp.status_code == 401 and resp.headers["WWW-Authenticate"].startswith("Bearer")
    assert "revoked" in client.get("/settings/").get_data(as_text=True)


def test_another_users_token_cannot_be_revoked(app, client, alice, bob):
    with app.app_context():
        from webapp.models import User

        bob_token = api_tokens.create(db.session.get(User, bob), "b").token.id
    login(client)
    assert post(client, f"/settings/api-tokens/{bob_token}/revoke").status_code == 404
    with app.app_context():
        assert db.session.get(ApiToken, bob_token).revoked_at is None


def test_expired_token_is_refused(app, alice):
    from webapp.models import User

    with app.app_context():
        created = api_tokens.create(db.session.get(User, alice), "old", days=1)
        created.token.expires_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
        secret = created.secret
    resp = app.test_client().get("/api/v1/me", headers=_bearer(secret))
    assert resp.status_code == 401
    assert resp.get_json()["error"]["code"] == "unauthorized"


def test_last_used_is_written_at_most_once_a_minute(app, alice):
    from webapp.models import User

    with app.app_context():
        secret = api_tokens.create(db.session.get(User, alice), "t").secret
    c = app.test_client()
    c.get("/api/v1/me", headers=_bearer(secret))
    with app.app_context():
        first = db.session.scalar(sa.select(ApiToken.last_used_at))
    assert first is not None
    c.get("/api/v1/me", headers=_bearer(secret))
    with app.app_context():
        assert db.session.scalar(sa.select(ApiToken.last_used_at)) == first
        db.session.execute(sa.update(ApiToken).values(last_used_at=first - timedelta(minutes=2)))
        db.session.commit()
    c.get("/api/v1/me", headers=_bearer(secret))
    with app.app_context():
        assert db.session.scalar(sa.select(ApiToken.last_used_at)) > first - timedelta(minutes=1)


def test_disabled_user_token_is_refused(app, alice):
    from webapp.models import User

    with app.app_context():
        user = db.session.get(User, alice)
        secret = api_tokens.create(user, "t").secret
        user.is_disabled = True
        db.session.commit()
    assert app.test_client().get("/api/v1/me", headers=_bearer(secret)).status_code == 401


def test_cli_lists_and_revokes(app, runner, alice):
    from webapp.models import User

    with app.app_context():
        user = db.session.get(User, alice)
        api_tokens.create(user, "laptop", "read write", 10)
        token_id = api_tokens.create(user, "phone").token.id
    result = runner.invoke(args=["api", "tokens", "alice@example.com"])
    assert result.exit_code == 0, result.output
    assert "laptop" in result.output and "read write" in result.output and "phone" in result.output
    assert "folio_" not in result.output
    result = runner.invoke(args=["api", "tokens", "alice@example.com", "--revoke", "laptop"])
    assert result.exit_code == 0 and "revoked" in result.output
    result = runner.invoke(args=["api", "tokens", "alice@example.com", "--revoke", str(token_id)])
    assert result.exit_code == 0 and "phone" in result.output
    result = runner.invoke(args=["api", "tokens", "alice@example.com", "--revoke", "laptop"])
    assert result.exit_code == 2 and "already" in result.output
    result = runner.invoke(args=["api", "tokens", "alice@example.com", "--revoke", "nope"])
    assert result.exit_code == 2 and "no token" in result.output
    result = runner.invoke(args=["api", "tokens", "nobody@example.com"])
    assert result.exit_code == 2 and "no user" in result.output
    with app.app_context():
        assert all(t.revoked_at for t in db.session.scalars(sa.select(ApiToken)))


def test_cli_user_without_tokens(runner, alice):
    result = runner.invoke(args=["api", "tokens", "alice@example.com"])
    assert result.exit_code == 0 and "no API tokens" in result.output


def test_token_service_refuses_bad_input(app, alice):
    import pytest

    from webapp.models import User

    with app.app_context():
        user = db.session.get(User, alice)
        for kw in ({"name": ""}, {"name": "x" * 81}, {"name": "a", "scopes": "write"}, {"name": "a", "days": 0}):
            with pytest.raises(api_tokens.TokenError):
                api_tokens.create(user, **{"scopes": "read", **kw})
        assert api_tokens.authenticate("not-a-token") is None
        assert api_tokens.authenticate("folio_" + "x" * 43) is None
