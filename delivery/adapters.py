"""Channel adapters: each makes one attempt to send a delivery and says how it went.

Adapters never touch the delivery row; ``delivery.services.delivery_attempt`` records the attempt,
decides on a retry and dead-letters. Settings (read with defaults, none required):

- email: Django's SMTP backend (``DELIVERY_EMAIL_BACKEND``) with ``EMAIL_HOST``, ``EMAIL_PORT``,
  ``EMAIL_HOST_USER``, ``EMAIL_HOST_PASSWORD``, ``EMAIL_USE_TLS``; sender ``DEFAULT_FROM_EMAIL``.
- sms and push: a signed JSON POST to the workspace's webhook endpoint keyed "sms" or "push"
  (the provider's inbound webhook, e.g. a small bridge to Twilio or FCM).
- in_app: a push over the channel layer to the person's widget sockets (/ws/inapp/).
- webhook: a signed JSON POST to the delivery's endpoint.
``DELIVERY_HTTP_TIMEOUT_SECONDS`` (10) bounds every network call.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.conf import settings

from delivery.signing import signed_headers

if TYPE_CHECKING:
    from delivery.models import Delivery


@dataclass(frozen=True)
class AttemptResult:
    ok: bool
    duration_ms: float
    status_code: int | None = None
    error: str = ""


def _timeout() -> float:
    return float(getattr(settings, "DELIVERY_HTTP_TIMEOUT_SECONDS", 10))


INAPP_ANONYMOUS_KINDS = ("anonymous_id", "device_id")


def inapp_group(workspace_id: Any, profile_id: Any) -> str:
    """Sockets verified for the person (userId with a valid userHash): every message."""
    return f"inapp.{workspace_id}.{profile_id}"


def inapp_anonymous_group(workspace_id: Any, profile_id: Any) -> str:
    """Sockets that connected by anonymousId alone: only messages for a person known by
    anonymous ids alone (see ``inapp_anonymous_may_receive``)."""
    return f"inapp.{workspace_id}.{profile_id}.anonymous"


def inapp_anonymous_may_receive(profile_id: Any) -> bool:
    """An anonymous subscriber gets a person's messages only while that person is known by
    nothing but anonymous (or device) ids: no userId, email, phone or custom identifier.

    The write key is public, so anyone can call /v1/identify linking an anonymousId of their
    choosing to someone else's userId (or email); once a person is known by such an identifier,
    their messages therefore go only to sockets that proved the userId with its userHash."""
    from profiles.models import Identifier

    return not Identifier.objects.filter(profile_id=profile_id).exclude(kind__in=INAPP_ANONYMOUS_KINDS).exists()


def inapp_envelope(delivery: Delivery) -> dict[str, Any]:
    """What the widget receives: small and free of internal fields."""
    return {
        "type": "inapp.message",
        "id": str(delivery.id),
        "decision_id": str(delivery.decision_id) if delivery.decision_id else "",
        "subject": delivery.subject,
        "body": delivery.body,
        "link_url": str(delivery.payload.get("link_url", "")),
        "link_label": str(delivery.payload.get("link_label", "")),
        "sent_at": (delivery.delivered_at or delivery.created_at).isoformat(),
    }


def webhook_body(delivery: Delivery) -> bytes:
    data: dict[str, Any] = dict(delivery.payload)
    if delivery.channel in ("sms", "push"):
        # What a provider bridge needs to send the message: recipient and text.
        data.update({"to": delivery.target, "title": delivery.subject, "body": delivery.body, "id": str(delivery.id)})
    document = {
        "type": delivery.event_type or f"{delivery.channel}.send",
        "timestamp": delivery.created_at.isoformat(),
        "data": data,
    }
    return json.dumps(document, separators=(",", ":"), sort_keys=True, default=str).encode()


def send_email(delivery: Delivery) -> AttemptResult:
    from django.core.mail import EmailMessage, get_connection

    started = time.perf_counter()
    backend = getattr(settings, "DELIVERY_EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
    try:
        # An explicit backend: the test runner swaps EMAIL_BACKEND for an in-memory outbox, and a
        # delivery must go over SMTP whatever the site's default mail backend is.
        with get_connection(backend=backend, timeout=_timeout(), fail_silently=False) as connection:
            message = EmailMessage(
                subject=delivery.subject,
                body=delivery.body,
                from_email=getattr(settings, "DEFAULT_FROM_EMAIL", None),
                to=[delivery.target],
                connection=connection,
                headers={"Message-ID": f"<{delivery.id}@cep.delivery>", "X-CEP-Delivery": delivery.key[:200]},
            )
            sent = message.send()
    except Exception as exc:  # SMTP errors, refused connections, timeouts: all retried
        return AttemptResult(ok=False, duration_ms=_since(started), error=f"{type(exc).__name__}: {exc}"[:1000])
    if sent != 1:
        return AttemptResult(ok=False, duration_ms=_since(started), error="the SMTP server accepted no message")
    return AttemptResult(ok=True, duration_ms=_since(started))


def send_http(delivery: Delivery, *, url: str, secret: str) -> AttemptResult:
    import requests

    body = webhook_body(delivery)
    headers = signed_headers(secret=secret, msg_id=f"msg_{delivery.id.hex}", body=body)
    headers["user-agent"] = "ProactiveCEP-Webhooks/1"
    started = time.perf_counter()
    try:
        response = requests.post(url, data=body, headers=headers, timeout=_timeout(), allow_redirects=False)
    except requests.RequestException as exc:
        return AttemptResult(ok=False, duration_ms=_since(started), error=f"{type(exc).__name__}: {exc}"[:1000])
    duration = _since(started)
    if 200 <= response.status_code < 300:
        return AttemptResult(ok=True, duration_ms=duration, status_code=response.status_code)
    return AttemptResult(
        ok=False,
        duration_ms=duration,
        status_code=response.status_code,
        error=f"HTTP {response.status_code}: {response.text[:300]}",
    )


def send_inapp(delivery: Delivery) -> AttemptResult:
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    started = time.perf_counter()
    layer = get_channel_layer()
    if layer is None:
        return AttemptResult(ok=False, duration_ms=_since(started), error="no channel layer is configured")
    groups = [inapp_group(delivery.workspace_id, delivery.profile_id)]
    if inapp_anonymous_may_receive(delivery.profile_id):
        groups.append(inapp_anonymous_group(delivery.workspace_id, delivery.profile_id))
    message = {"type": "inapp.message", "envelope": inapp_envelope(delivery)}
    try:
        for group in groups:
            async_to_sync(layer.group_send)(group, message)
    except Exception as exc:  # Redis down: retried like any other channel
        return AttemptResult(ok=False, duration_ms=_since(started), error=f"{type(exc).__name__}: {exc}"[:1000])
    return AttemptResult(ok=True, duration_ms=_since(started))


def send(delivery: Delivery) -> AttemptResult:
    if delivery.channel == "email":
        return send_email(delivery)
    if delivery.channel == "in_app":
        return send_inapp(delivery)
    endpoint = delivery.endpoint
    if endpoint is None or not endpoint.enabled:
        return AttemptResult(ok=False, duration_ms=0.0, error="the webhook endpoint is missing or disabled")
    return send_http(delivery, url=endpoint.url, secret=endpoint.secret)


def _since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)
