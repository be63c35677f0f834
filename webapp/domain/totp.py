"""RFC 6238 time-based one-time passwords (30 s steps, 6 digits, HMAC-SHA1) through `pyotp`.

Pure functions: no Flask, no database. `webapp/services/users.py` keeps the per-user state.
What pyotp does not give is kept here: the matched time step (a code may not be used twice,
so the step is remembered) and an ASCII-only code check.
"""
from __future__ import annotations

import hmac
import re
import time

import pyotp

STEP_SECONDS = 30
DIGITS = 6
# the previous and the next step are accepted too: phone clocks drift, and people type slowly
WINDOW = 1
CODE_RE = re.compile(r"[0-9]{6}")  # ASCII digits only ("١٢٣٤٥٦".isdigit() is true)


def new_secret() -> str:
    """160 random bits (RFC 4226's recommended key length) as unpadded base32."""
    return pyotp.random_base32(32)


def _totp(secret: str) -> pyotp.TOTP:
    return pyotp.TOTP(secret.upper(), digits=DIGITS, interval=STEP_SECONDS)


def step_at(when: float | None = None) -> int:
    return int((time.time() if when is None else when) // STEP_SECONDS)


def code_at(secret: str, step: int) -> str:
    """The code of one time step (RFC 4226 HOTP with the step as counter)."""
    return _totp(secret).generate_otp(step)


def matching_step(secret: str, code: str, when: float | None = None) -> int | None:
    """The time step within the window whose code is `code`, or None.

    Every step of the window is compared (in constant time), so the answer takes as long
    for a wrong code as for a right one.
    """
    if not CODE_RE.fullmatch(code or ""):
        return None
    otp = _totp(secret)
    now = step_at(when)
    found = None
    for step in range(max(0, now - WINDOW), now + WINDOW + 1):
        if hmac.compare_digest(otp.generate_otp(step), code):
            found = step
    return found


def provisioning_uri(secret: str, account: str, issuer: str = "Folio") -> str:
    """The otpauth:// URI an authenticator app reads from the QR code."""
    return _totp(secret).provisioning_uri(name=account, issuer_name=issuer)


def grouped(secret: str) -> str:
    """The secret in groups of four, for typing it into an app by hand."""
    return " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))
