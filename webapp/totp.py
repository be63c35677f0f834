"""RFC 6238 time-based one-time passwords (30 s steps, 6 digits, HMAC-SHA1), with the stdlib only.

Pure functions: no Flask, no database. `webapp/two_factor.py` keeps the per-user state.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import struct
import time
from urllib.parse import quote, urlencode

STEP_SECONDS = 30
DIGITS = 6
# the previous and the next step are accepted too: phone clocks drift, and people type slowly
WINDOW = 1
CODE_RE = re.compile(r"[0-9]{6}")  # ASCII digits only ("١٢٣٤٥٦".isdigit() is true)


def new_secret() -> str:
    """160 random bits (RFC 4226's recommended key length) as unpadded base32."""
    return base64.b32encode(secrets.token_bytes(20)).decode("ascii").rstrip("=")


def _key(secret: str) -> bytes:
    s = secret.upper()
    return base64.b32decode(s + "=" * (-len(s) % 8))


def step_at(when: float | None = None) -> int:
    return int((time.time() if when is None else when) // STEP_SECONDS)


def code_at(secret: str, step: int) -> str:
    """The code of one time step (RFC 4226 HOTP with the step as counter)."""
    mac = hmac.new(_key(secret), struct.pack(">Q", step), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    number = struct.unpack(">I", mac[offset:offset + 4])[0] & 0x7FFFFFFF
    return str(number % 10**DIGITS).zfill(DIGITS)


def matching_step(secret: str, code: str, when: float | None = None) -> int | None:
    """The time step within the window whose code is `code`, or None.

    Every step of the window is compared (in constant time), so the answer takes as long
    for a wrong code as for a right one.
    """
    if not CODE_RE.fullmatch(code or ""):
        return None
    now = step_at(when)
    found = None
    for step in range(max(0, now - WINDOW), now + WINDOW + 1):
        if hmac.compare_digest(code_at(secret, step), code):
            found = step
    return found


def provisioning_uri(secret: str, account: str, issuer: str = "Folio") -> str:
    """The otpauth:// URI an authenticator app reads from the QR code."""
    label = quote(f"{issuer}:{account}", safe="@:")
    query = urlencode({"secret": secret, "issuer": issuer, "algorithm": "SHA1", "digits": DIGITS,
                       "period": STEP_SECONDS})
    return f"otpauth://totp/{label}?{query}"


def grouped(secret: str) -> str:
    """The secret in groups of four, for typing it into an app by hand."""
    return " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))
