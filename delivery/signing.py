"""Standard Webhooks signatures (https://www.standardwebhooks.com/).

A webhook carries three headers: ``webhook-id`` (stable across retries of one message, so a
receiver can drop duplicates), ``webhook-timestamp`` (Unix seconds) and ``webhook-signature``
(``v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">``, keyed with the base64-decoded part of
the ``whsec_`` secret; several space-separated signatures are allowed while a secret rotates).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping

SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix, not a secret
DEFAULT_TOLERANCE_SECONDS = 300


class WebhookVerificationError(ValueError):
    pass


def secret_generate() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def _key(secret: str) -> bytes:
    raw = secret[len(SECRET_PREFIX) :] if secret.startswith(SECRET_PREFIX) else secret
    try:
        return base64.b64decode(raw, validate=True)
    except ValueError as exc:
        raise WebhookVerificationError("the secret is not whsec_ followed by base64") from exc


def sign(*, secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signed_headers(*, secret: str, msg_id: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    at = int(time.time()) if timestamp is None else timestamp
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(at),
        "webhook-signature": sign(secret=secret, msg_id=msg_id, timestamp=at, body=body),
        "content-type": "application/json",
    }


def verify(
    *,
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> None:
    """Raise WebhookVerificationError unless the body was signed with ``secret`` recently.
    Header names are matched case-insensitively."""
    lowered = {k.lower(): v for k, v in headers.items()}
    msg_id = lowered.get("webhook-id", "")
    stamp = lowered.get("webhook-timestamp", "")
    signatures = lowered.get("webhook-signature", "")
    if not msg_id or not stamp or not signatures:
        raise WebhookVerificationError("missing webhook-id, webhook-timestamp or webhook-signature")
    try:
        at = int(stamp)
    except ValueError:
        raise WebhookVerificationError("webhook-timestamp is not a whole number of seconds") from None
    current = time.time() if now is None else now
    if abs(current - at) > tolerance:
        raise WebhookVerificationError("webhook-timestamp is outside the tolerance (replay?)")
    expected = sign(secret=secret, msg_id=msg_id, timestamp=at, body=body).encode()
    for candidate in signatures.split():
        if hmac.compare_digest(candidate.encode(), expected):
            return
    raise WebhookVerificationError("no signature matches")


# --- in-app identity verification -----------------------------------------------------------------------------------

INAPP_SECRET_PREFIX = "iasec_"  # noqa: S105 - the format's prefix, not a secret


def inapp_secret_generate() -> str:
    return INAPP_SECRET_PREFIX + secrets.token_urlsafe(32)


def inapp_user_hash(secret: str, user_id: str) -> str:
    """What the storefront's server computes and hands to the widget: hex HMAC-SHA256 of the
    user id, keyed with the whole secret string (UTF-8)."""
    return hmac.new(secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()


def inapp_user_hash_valid(secret: str, user_id: str, user_hash: str) -> bool:
    if not secret or not user_id or not user_hash:
        return False
    # Bytes, so a non-ASCII hash from the query string is simply unequal (compare_digest on str
    # raises for non-ASCII); constant time, so the comparison leaks nothing about the secret.
    return hmac.compare_digest(inapp_user_hash(secret, user_id).encode(), user_hash.strip().lower().encode())
