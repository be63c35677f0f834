"""The user service: people's accounts (registration, login, password, base currency) and
two-factor login: turning TOTP on and off, checking a code once, single-use recovery codes.

A TOTP code is accepted only for a time step later than the last accepted one (an atomic
conditional UPDATE, so two simultaneous requests cannot both use it); a recovery code is
spent by an UPDATE that only succeeds while it is unused.
"""
from __future__ import annotations

import hashlib
import re
import secrets

import sqlalchemy as sa

from webapp.domain import totp
from webapp.extensions import db
from webapp.models import RecoveryCode, User, new_session_token, utcnow
from webapp.services import ledger

RECOVERY_CODE_COUNT = 10
_RECOVERY_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"  # base32: 16 characters carry 80 bits
_RECOVERY_RE = re.compile(r"[a-z2-7]{16}")


def normalise_code(text: str | None) -> str:
    """What people type: spaces and dashes anywhere, any case."""
    return re.sub(r"[\s\-]", "", text or "").lower()


def looks_like_code(text: str | None) -> bool:
    code = normalise_code(text)
    return bool(totp.CODE_RE.fullmatch(code) or _RECOVERY_RE.fullmatch(code))


def _hash(code: str) -> str:
    return hashlib.sha256(code.encode("ascii")).hexdigest()


def _new_recovery_codes(user: User) -> list[str]:
    db.session.execute(sa.delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = ["".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(16)) for _ in range(RECOVERY_CODE_COUNT)]
    db.session.add_all(RecoveryCode(user_id=user.id, code_hash=_hash(c)) for c in codes)
    return ["-".join(c[i:i + 4] for i in range(0, 16, 4)) for c in codes]


def enable(user: User, secret: str, step: int) -> list[str]:
    """Turn two-factor login on with a secret the user proved to have (its code of `step`).

    Ends the user's other sessions (they were opened with the password alone) and returns the
    new recovery codes, the only time they exist in clear.
    """
    user.totp_secret = secret
    user.totp_last_step = step
    user.totp_enabled_at = utcnow()
    user.session_token = new_session_token()
    codes = _new_recovery_codes(user)
    db.session.commit()
    return codes


def disable(user: User) -> None:
    user.totp_secret = None
    user.totp_last_step = None
    user.totp_enabled_at = None
    user.session_token = new_session_token()
    db.session.execute(sa.delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    db.session.commit()


def regenerate_recovery_codes(user: User) -> list[str]:
    codes = _new_recovery_codes(user)
    db.session.commit()
    return codes


def recovery_codes_left(user: User) -> int:
    return db.session.scalar(
        sa.select(sa.func.count()).select_from(RecoveryCode)
        .where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
    ) or 0


def verify(user: User, text: str | None) -> str | None:
    """Check a login code of a user with two-factor login on, and spend it.

    Returns "totp" or "recovery" for a good code, None for a wrong, expired or already
    used one. Commits.
    """
    if not user.has_two_factor:
        return None
    code = normalise_code(text)
    if totp.CODE_RE.fullmatch(code):
        step = totp.matching_step(user.totp_secret, code)
        if step is None:
            return None
        spent = db.session.execute(
            sa.update(User)
            .where(User.id == user.id, sa.or_(User.totp_last_step.is_(None), User.totp_last_step < step))
            .values(totp_last_step=step)
            .execution_options(synchronize_session=False)
        ).rowcount
        db.session.commit()
        if spent != 1:
            return None  # this code (or a later one) was used already: a replay
        db.session.refresh(user)
        return "totp"
    if _RECOVERY_RE.fullmatch(code):
        spent = db.session.execute(
            sa.update(RecoveryCode)
            .where(RecoveryCode.user_id == user.id, RecoveryCode.code_hash == _hash(code),
                   RecoveryCode.used_at.is_(None))
            .values(used_at=utcnow())
            .execution_options(synchronize_session=False)
        ).rowcount
        db.session.commit()
        return "recovery" if spent == 1 else None
    return None


# ---- people's accounts -------------------------------------------------------------------------
def get(user_id: object) -> User | None:
    return db.session.get(User, user_id)


def by_email(email: str) -> User | None:
    return db.session.scalar(sa.select(User).where(User.email == email))


def email_taken(email: str) -> bool:
    return db.session.scalar(sa.select(User.id).where(User.email == email)) is not None


def register(email: str, password: str, display_name: str, base_currency: str) -> User:
    user = User(email=email, display_name=display_name or "", base_currency=base_currency)
    user.set_password(password)
    db.session.add(user)
    db.session.commit()
    return user


def record_login(user: User) -> None:
    user.last_login_at = utcnow()
    db.session.commit()


def end_sessions(user: User) -> None:
    """A new session token: every copy of the session and remember cookies stops working."""
    user.session_token = new_session_token()
    db.session.commit()


def change_password(user: User, password: str) -> None:
    """Set a new password and end every session (the caller keeps its own by logging in again)."""
    user.set_password(password)
    end_sessions(user)


def reset_password(user: User, password: str) -> None:
    """A new password through a mailed link: every session ends; receiving the mail proved the address."""
    user.set_password(password)
    if user.email_confirmed_at is None:
        user.email_confirmed_at = utcnow()
    end_sessions(user)


def set_base_currency(user: User, currency: str) -> None:
    """Set the base currency; the ledger re-derives the holdings' cost in it (at the
    acquisition days' rates) in the same commit."""
    user.base_currency = currency
    ledger.sync_holdings(user)
    db.session.commit()


def set_language(user: User, language: str | None, number_locale: str | None) -> None:
    """The interface language and the number format locale (None: follow the browser, the language)."""
    user.language = language
    user.number_locale = number_locale
    db.session.commit()
    from redis.exceptions import RedisError

    from webapp.services import cache

    try:  # the polled summary is rendered again, in the new words and formats
        cache.touch_portfolios([user.id])
    except RedisError:
        pass  # Redis down: nothing is cached to go stale either


def set_gains(user: User, cost_method: str, benchmark: str) -> bool:
    """Set how gains are worked out (the cost method) and the benchmark. A new cost method
    re-derives the cost bases of the holdings the ledger governs and revalues the portfolio
    now; returns whether it changed."""
    switched = (user.cost_method or "average") != cost_method
    user.cost_method, user.benchmark = cost_method, benchmark
    if switched:
        from webapp.services.ledger import sync_holdings

        sync_holdings(user)
    db.session.commit()
    if switched:
        from webapp.services.assets import portfolio_changed

        portfolio_changed(user.id)
    return switched


# ---- links mailed to people: password reset and address confirmation ---------------------------
# Signed (itsdangerous, SECRET_KEY, a salt per purpose) and timed. A reset link carries a digest of
# the password hash: any password change, the reset itself included, voids every earlier link. A
# confirmation link carries a digest of the address: it confirms that address only.
RESET, CONFIRM = "reset-password", "confirm-email"


def _serializer(purpose: str):
    from flask import current_app
    from itsdangerous import URLSafeTimedSerializer

    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=f"folio-{purpose}")


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:32]


def _bound_to(user: User, purpose: str) -> str:
    return _digest(user.password_hash if purpose == RESET else user.email)


def make_token(user: User, purpose: str) -> str:
    return _serializer(purpose).dumps({"u": user.id, "b": _bound_to(user, purpose)})


def user_of_token(token: str, purpose: str, max_age: int) -> tuple[User | None, str]:
    """(user, "") for a good link; (None, why) else: "expired", "invalid" (tampered, another
    purpose's, unknown user) or "used" (the password or the address changed since)."""
    from itsdangerous import BadSignature, SignatureExpired

    if not token or len(token) > 1000:
        return None, "invalid"
    try:
        data = _serializer(purpose).loads(token, max_age=max_age)
    except SignatureExpired:
        return None, "expired"
    except BadSignature:
        return None, "invalid"
    if not isinstance(data, dict) or not isinstance(data.get("u"), int):
        return None, "invalid"
    user = get(data["u"])
    if user is None or user.is_disabled:
        return None, "invalid"
    if not secrets.compare_digest(str(data.get("b", "")), _bound_to(user, purpose)):
        return None, "used"
    return user, ""


def email_confirmed(user: User) -> bool:
    """Whether the user proved to own their address (followed the confirmation link)."""
    return user.email_confirmed_at is not None


def confirm_email(user: User) -> bool:
    """Mark the address confirmed; False when it was already."""
    if user.email_confirmed_at is not None:
        return False
    user.email_confirmed_at = utcnow()
    db.session.commit()
    return True
