"""Signing outbound webhook bodies, and the check integrators run on their side.

The signature is `sha256=` + hex HMAC-SHA256(secret, f"{timestamp}.{body}"), sent in
X-Desk-Signature with the timestamp in X-Desk-Timestamp. Signing the timestamp with the body
lets a receiver refuse replays of an old, validly signed request.
"""

from __future__ import annotations

import hashlib
import hmac
import time

SCHEME = "sha256="
DEFAULT_TOLERANCE_SECONDS = 300


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The X-Desk-Signature header value for this body at this time."""
    message = timestamp.encode() + b"." + body
    return SCHEME + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def verify_signature(
    secret: str,
    body: bytes,
    *,
    timestamp: str,
    signature: str,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> bool:
    """True when `signature` matches and `timestamp` is within `tolerance` seconds of now.

    Pass the raw request body exactly as received (not re-serialised JSON).
    """
    if not signature.startswith(SCHEME) or not timestamp.isdigit():
        return False
    current = time.time() if now is None else now
    if abs(current - int(timestamp)) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature)
