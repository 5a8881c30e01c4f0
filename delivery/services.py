"""Writes of the delivery app: webhook endpoints, content blocks, and sending deliveries once,
with retries, backoff and a dead-letter state.

A delivery is one row per (workspace, key). The key is the idempotency key chosen by the caller
(``decision:<id>``, ``playbook:<run>:<step>``): whoever asks twice gets the same row, and
attempts run only while it is pending or retrying, one at a time (the row is locked during an
attempt). Webhook receivers also get a stable ``webhook-id`` per delivery to drop duplicates
after a worker crash.

Receipts: a delivered (or dead) delivery of a decision is recorded as that decision's outcome
(``decisions.services.outcome_record``, kind ``delivered``); the in-app widget reports "shown"
and "clicked" through the tracking API as events (``In-App Message Shown`` / ``Clicked``), which
mark the delivery opened / clicked and become ``opened`` / ``clicked`` outcomes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlparse

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Workspace
from accounts.principals import Actor
from audit.services import audit_record
from decisions.models import ACTED_STATUSES, Decision, OutcomeKind, Trigger
from delivery import adapters
from delivery.content import brand_safety_problems, content_render
from delivery.models import (
    ContentBlock,
    Delivery,
    DeliveryAttempt,
    DeliveryChannel,
    DeliveryStatus,
    InAppIdentity,
    WebhookEndpoint,
)
from delivery.signing import inapp_secret_generate, secret_generate
from profiles.models import Profile

CONTENT_CHANNELS = (DeliveryChannel.EMAIL, DeliveryChannel.SMS, DeliveryChannel.PUSH, DeliveryChannel.IN_APP)
DECISION_WEBHOOK_EVENT = "decision.acted"
RECEIPT_EVENTS = {"In-App Message Shown": OutcomeKind.OPENED, "In-App Message Clicked": OutcomeKind.CLICKED}
KEY_PATTERN = re.compile(r"^[-a-zA-Z0-9_]+$")


class DeliveryError(ValueError):
    """A delivery that must not or cannot be made; ``errors`` maps fields to messages."""

    def __init__(self, message: str, errors: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.errors = dict(errors or {"__all__": message})


def max_attempts_default() -> int:
    return int(getattr(settings, "DELIVERY_MAX_ATTEMPTS", 5))


def retry_delay(attempt: int) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1-based): exponential, capped."""
    base = float(getattr(settings, "DELIVERY_RETRY_BASE_SECONDS", 30))
    cap = float(getattr(settings, "DELIVERY_RETRY_MAX_SECONDS", 3600))
    return float(min(cap, base * (2 ** max(0, attempt - 1))))


# --- webhook endpoints and content blocks -------------------------------------------------------------------------

ENDPOINT_FIELDS = ("key", "url", "event_types", "enabled", "description")


def _endpoint_snapshot(endpoint: WebhookEndpoint) -> dict[str, Any]:
    # The secret never goes into the audit trail: only that it changed.
    return {name: getattr(endpoint, name) for name in ENDPOINT_FIELDS}


def _validate_endpoint(values: Mapping[str, Any]) -> dict[str, str]:
    errors: dict[str, str] = {}
    if "key" in values and not KEY_PATTERN.match(str(values["key"] or "")):
        errors["key"] = "use letters, digits, hyphens and underscores, e.g. erp"
    if "url" in values:
        parsed = urlparse(str(values["url"] or ""))
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            errors["url"] = "give an http(s) URL, e.g. https://erp.example.com/hooks/cep"
    if "event_types" in values:
        types = values["event_types"]
        if not isinstance(types, list | tuple) or not all(isinstance(t, str) and t.strip() for t in types):
            errors["event_types"] = "must be a list of event type names (empty: all types)"
    return errors


@transaction.atomic
def endpoint_save(
    *,
    workspace: Workspace,
    actor: Actor,
    values: Mapping[str, Any],
    endpoint: WebhookEndpoint | None = None,
    rotate_secret: bool = False,
) -> tuple[WebhookEndpoint, str | None]:
    """Create or change a webhook endpoint. Returns it and, when a secret was made (on creation or
    rotation), the secret in clear: show it once, it is not shown again."""
    errors = _validate_endpoint(values)
    if errors:
        raise DeliveryError("the endpoint has invalid fields", errors)
    before = _endpoint_snapshot(endpoint) if endpoint else None
    if endpoint is None:
        endpoint = WebhookEndpoint(workspace=workspace)
        rotate_secret = True
    else:
        endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    for name in ENDPOINT_FIELDS:
        if name in values:
            value = values[name]
            setattr(endpoint, name, [str(t).strip() for t in value] if name == "event_types" else value)
    secret = None
    if rotate_secret:
        secret = secret_generate()
        endpoint.secret = secret
    try:
        with transaction.atomic():
            endpoint.save()
    except IntegrityError:
        raise DeliveryError("duplicate key", {"key": "another endpoint already uses this key"}) from None
    after = {**_endpoint_snapshot(endpoint), "secret_rotated": bool(secret)}
    audit_record(
        workspace=workspace,
        actor=actor,
        action="webhook_endpoint.created" if before is None else "webhook_endpoint.changed",
        target_type="WebhookEndpoint",
        target_id=endpoint.key,
        before=before,
        after=after,
    )
    return endpoint, secret


@transaction.atomic
def endpoint_delete(*, workspace: Workspace, actor: Actor, endpoint: WebhookEndpoint) -> None:
    before = _endpoint_snapshot(endpoint)
    endpoint.delete()
    audit_record(
        workspace=workspace,
        actor=actor,
        action="webhook_endpoint.deleted",
        target_type="WebhookEndpoint",
        target_id=before["key"],
        before=before,
    )


@transaction.atomic
def content_block_save(
    *, workspace: Workspace, actor: Actor, values: Mapping[str, Any], block: ContentBlock | None = None
) -> ContentBlock:
    fields = ("key", "name", "channel", "subject", "body", "link_url", "link_label")
    errors: dict[str, str] = {}
    if "key" in values and not KEY_PATTERN.match(str(values["key"] or "")):
        errors["key"] = "use letters, digits, hyphens and underscores"
    if "channel" in values and values["channel"] not in DeliveryChannel.values:
        errors["channel"] = f"use one of {', '.join(DeliveryChannel.values)}"
    if "body" in values and not str(values["body"] or "").strip():
        errors["body"] = "write the message"
    if errors:
        raise DeliveryError("the content block has invalid fields", errors)
    before = {name: getattr(block, name) for name in fields} if block else None
    block = block or ContentBlock(workspace=workspace)
    for name in fields:
        if name in values:
            setattr(block, name, values[name])
    problems = brand_safety_problems(workspace=workspace, channel=block.channel, subject=block.subject, body=block.body)
    if problems:
        raise DeliveryError("brand safety", {"body": "; ".join(problems)})
    try:
        with transaction.atomic():
            block.save()
    except IntegrityError:
        raise DeliveryError("duplicate key", {"key": "another content block already uses this key"}) from None
    audit_record(
        workspace=workspace,
        actor=actor,
        action="content_block.created" if before is None else "content_block.changed",
        target_type="ContentBlock",
        target_id=block.key,
        before=before,
        after={name: getattr(block, name) for name in fields},
    )
    return block


# --- in-app identity verification ---------------------------------------------------------------------------------


@transaction.atomic
def inapp_identity_rotate(*, workspace: Workspace, actor: Actor) -> tuple[InAppIdentity, str]:
    """Create or replace the workspace's in-app identity secret and return it in clear (show it
    once). Every userHash made with the old secret stops working at once: storefront servers
    must switch to the new one. Audited; the secret itself never goes into the audit trail."""
    identity = InAppIdentity.objects.select_for_update().filter(workspace=workspace).first()
    created = identity is None
    secret = inapp_secret_generate()
    if identity is None:
        identity = InAppIdentity(workspace=workspace)
    identity.secret = secret
    identity.rotated_at = timezone.now()
    identity.save()
    audit_record(
        workspace=workspace,
        actor=actor,
        action="inapp_identity.created" if created else "inapp_identity.rotated",
        target_type="InAppIdentity",
        target_id=str(workspace.id),
        after={"rotated_at": identity.rotated_at.isoformat()},
    )
    return identity, secret


# --- creating deliveries ------------------------------------------------------------------------------------------


def _enqueue_attempt(delivery_id: Any, countdown: float = 0.0) -> None:
    from delivery.tasks import delivery_attempt_task

    delivery_attempt_task.apply_async(args=(str(delivery_id),), countdown=countdown)


def _target_for(channel: str, profile: Profile | None) -> str:
    if profile is None:
        return ""
    traits = profile.traits or {}
    if channel == DeliveryChannel.EMAIL:
        return str(traits.get("email") or "")
    if channel == DeliveryChannel.SMS:
        return str(traits.get("phone") or "")
    if channel == DeliveryChannel.PUSH:
        return str(traits.get("push_token") or traits.get("device_id") or profile.id)
    return str(profile.id)


def _problems(delivery: Delivery) -> list[str]:
    """Why this delivery must not be attempted at all (blocked), or an empty list."""
    channel, workspace = delivery.channel, delivery.workspace
    problems: list[str] = []
    if channel in CONTENT_CHANNELS:
        problems = brand_safety_problems(
            workspace=workspace, channel=channel, subject=delivery.subject, body=delivery.body
        )
    if channel == DeliveryChannel.EMAIL and not delivery.target:
        problems.append("the person has no email address")
    if channel == DeliveryChannel.SMS and not delivery.target:
        problems.append("the person has no phone number")
    if channel in (DeliveryChannel.SMS, DeliveryChannel.PUSH, DeliveryChannel.WEBHOOK) and delivery.endpoint is None:
        problems.append(f"no enabled '{channel}' endpoint is configured")
    if channel == DeliveryChannel.IN_APP and delivery.profile is None:
        problems.append("in-app messages need a person")
    return problems


@transaction.atomic
def delivery_enqueue(
    *,
    workspace: Workspace,
    key: str,
    channel: str,
    profile: Profile | None = None,
    decision: Decision | None = None,
    endpoint: WebhookEndpoint | None = None,
    event_type: str = "",
    subject: str = "",
    body: str = "",
    payload: Mapping[str, Any] | None = None,
    target: str = "",
) -> Delivery:
    """The delivery for ``key``, created and queued the first time; later calls return the same
    row untouched. Content for people is checked by brand safety first: content that fails is
    recorded as blocked and never sent."""
    existing = Delivery.objects.filter(workspace=workspace, key=key).first()
    if existing is not None:
        return existing
    if channel not in DeliveryChannel.values:
        raise DeliveryError(
            f"unknown channel {channel!r}", {"channel": f"use one of {', '.join(DeliveryChannel.values)}"}
        )
    if channel in (DeliveryChannel.SMS, DeliveryChannel.PUSH) and endpoint is None:
        endpoint = WebhookEndpoint.objects.filter(workspace=workspace, key=channel, enabled=True).first()
    delivery = Delivery(
        workspace=workspace,
        key=key,
        channel=channel,
        profile=profile,
        decision=decision,
        endpoint=endpoint,
        event_type=event_type,
        target=target or (endpoint.url if endpoint is not None and channel == "webhook" else ""),
        subject=subject,
        body=body,
        payload=dict(payload or {}),
        max_attempts=max_attempts_default(),
    )
    if not delivery.target:
        delivery.target = _target_for(channel, profile)
    problems = _problems(delivery)
    if problems:
        delivery.status = DeliveryStatus.BLOCKED
        delivery.last_error = "; ".join(problems)
    try:
        with transaction.atomic():
            delivery.save(force_insert=True)
    except IntegrityError:  # the same key created concurrently
        return Delivery.objects.get(workspace=workspace, key=key)
    if delivery.status == DeliveryStatus.PENDING:
        transaction.on_commit(lambda: _enqueue_attempt(delivery.id))
    return delivery


def delivery_for_decision(*, decision: Decision) -> list[Delivery]:
    """Send what a decision chose, on its channel. Only decisions that were acted on (or approved)
    are ever sent; held-out, shadow, pending, rejected, expired, do-nothing and dry-run decisions
    raise DeliveryError. Playbook steps are sent by journeys, not here."""
    if decision.status not in ACTED_STATUSES:
        raise DeliveryError(f"decision {decision.id} is {decision.status}: only acted or approved decisions are sent")
    if decision.trigger == Trigger.PLAYBOOK or not decision.chosen_key:
        return []
    channel = decision.channel
    rendered = decision.rendered or {}
    workspace = decision.workspace
    key = f"decision:{decision.id}"
    if channel == DeliveryChannel.WEBHOOK:
        endpoints = [
            e
            for e in WebhookEndpoint.objects.filter(workspace=workspace, enabled=True)
            if e.receives(DECISION_WEBHOOK_EVENT)
        ]
        data = {
            "decision_id": str(decision.id),
            "profile_id": str(decision.profile_id),
            "action": decision.chosen_key,
            "subject": rendered.get("subject", ""),
            "body": rendered.get("body", ""),
        }
        return [
            delivery_enqueue(
                workspace=workspace,
                key=f"{key}:{endpoint.key}",
                channel=channel,
                profile=decision.profile,
                decision=decision,
                endpoint=endpoint,
                event_type=DECISION_WEBHOOK_EVENT,
                payload=data,
            )
            for endpoint in endpoints
        ]
    if channel not in CONTENT_CHANNELS:
        return []  # tickets and sales tasks belong to support and sales, not to a channel adapter
    subject, body = str(rendered.get("subject", "")), str(rendered.get("body", ""))
    payload: dict[str, Any] = {"action": decision.chosen_key}
    block = _content_block_for(decision)
    if block is not None and decision.status != "approved":  # an approver's edit wins over the template
        content = content_render(
            subject=block.subject,
            body=block.body,
            profile=decision.profile,
            link_url=block.link_url,
            link_label=block.link_label,
        )
        subject, body = content.subject, content.body
        payload.update({"content_block": block.key, "link_url": content.link_url, "link_label": content.link_label})
    return [
        delivery_enqueue(
            workspace=workspace,
            key=key,
            channel=channel,
            profile=decision.profile,
            decision=decision,
            subject=subject,
            body=body,
            payload=payload,
        )
    ]


def _content_block_for(decision: Decision) -> ContentBlock | None:
    """The action's content block (``Action.content_ref`` naming a block's key), if any."""
    action = decision.chosen_action
    if action is None or not action.content_ref:
        return None
    return ContentBlock.objects.filter(workspace_id=decision.workspace_id, key=action.content_ref).first()


def webhook_send(
    *,
    workspace: Workspace,
    endpoint_key: str,
    event_type: str,
    data: Mapping[str, Any],
    key: str,
    profile: Profile | None = None,
) -> Delivery:
    """A signed webhook to one endpoint (e.g. "erp"), once per ``key``."""
    endpoint = WebhookEndpoint.objects.filter(workspace=workspace, key=endpoint_key).first()
    if endpoint is None or not endpoint.enabled:
        raise DeliveryError(f"no enabled webhook endpoint '{endpoint_key}'", {"endpoint": "configure it first"})
    return delivery_enqueue(
        workspace=workspace,
        key=key,
        channel=DeliveryChannel.WEBHOOK,
        profile=profile,
        endpoint=endpoint,
        event_type=event_type,
        payload=data,
    )


def webhook_emit(
    *, workspace: Workspace, event_type: str, data: Mapping[str, Any], key: str, profile: Profile | None = None
) -> list[Delivery]:
    """A signed webhook to every enabled endpoint that receives ``event_type``."""
    return [
        delivery_enqueue(
            workspace=workspace,
            key=f"{key}:{endpoint.key}",
            channel=DeliveryChannel.WEBHOOK,
            profile=profile,
            endpoint=endpoint,
            event_type=event_type,
            payload=data,
        )
        for endpoint in WebhookEndpoint.objects.filter(workspace=workspace, enabled=True)
        if endpoint.receives(event_type)
    ]


# --- attempts, retries, dead letters ------------------------------------------------------------------------------


def _record_receipt(delivery: Delivery, kind: str, at: datetime, ref: str) -> None:
    if delivery.decision_id is None:
        return
    from decisions.services import outcome_record

    decision = Decision.objects.filter(pk=delivery.decision_id).first()
    if decision is not None:
        outcome_record(decision=decision, kind=kind, source="delivery", ref=ref, occurred_at=at)


def delivery_attempt(*, delivery_id: Any) -> Delivery | None:
    """One attempt to send: recorded with its time, status code or error and duration. A failure
    is retried after an exponential backoff until ``max_attempts``, then dead-lettered. The row is
    locked for the attempt, so two workers never send the same delivery at once."""
    retry_in: float | None = None
    with transaction.atomic():
        delivery = (
            Delivery.objects.select_for_update(of=("self",))
            .select_related("endpoint", "workspace")
            .filter(pk=delivery_id)
            .first()
        )
        if delivery is None or delivery.status not in (DeliveryStatus.PENDING, DeliveryStatus.RETRYING):
            return delivery
        now = timezone.now()
        if delivery.next_attempt_at is not None and delivery.next_attempt_at > now + timedelta(seconds=1):
            return delivery  # an early duplicate of a scheduled retry: the scheduled one will run
        result = adapters.send(delivery)
        delivery.attempt_count += 1
        DeliveryAttempt.objects.create(
            delivery=delivery,
            number=delivery.attempt_count,
            started_at=now,
            duration_ms=result.duration_ms,
            ok=result.ok,
            status_code=result.status_code,
            error=result.error,
        )
        if result.ok:
            delivery.status = DeliveryStatus.DELIVERED
            delivery.delivered_at = timezone.now()
            delivery.next_attempt_at = None
            delivery.last_error = ""
        elif delivery.attempt_count >= delivery.max_attempts:
            delivery.status = DeliveryStatus.DEAD
            delivery.next_attempt_at = None
            delivery.last_error = result.error
        else:
            retry_in = retry_delay(delivery.attempt_count)
            delivery.status = DeliveryStatus.RETRYING
            delivery.next_attempt_at = now + timedelta(seconds=retry_in)
            delivery.last_error = result.error
        delivery.save()
        if delivery.status == DeliveryStatus.DELIVERED:
            _record_receipt(delivery, OutcomeKind.DELIVERED, delivery.delivered_at or now, f"delivery:{delivery.id}")
        if retry_in is not None:
            delay = retry_in
            transaction.on_commit(lambda: _enqueue_attempt(delivery.id, countdown=delay))
    return delivery


@transaction.atomic
def delivery_retry(*, workspace: Workspace, actor: Actor, delivery: Delivery) -> Delivery:
    """Give a dead-lettered (or blocked) delivery another full round of attempts; audited."""
    delivery = Delivery.objects.select_for_update().get(pk=delivery.pk, workspace=workspace)
    if delivery.status not in (DeliveryStatus.DEAD, DeliveryStatus.BLOCKED):
        raise DeliveryError(f"only dead-lettered or blocked deliveries can be retried (this one is {delivery.status})")
    before = {"status": delivery.status, "attempts": delivery.attempt_count, "last_error": delivery.last_error}
    if delivery.status == DeliveryStatus.BLOCKED and delivery.channel in CONTENT_CHANNELS:
        problems = brand_safety_problems(
            workspace=workspace, channel=delivery.channel, subject=delivery.subject, body=delivery.body
        )
        if problems:
            raise DeliveryError("still blocked by brand safety: " + "; ".join(problems))
    delivery.status = DeliveryStatus.PENDING
    delivery.max_attempts = delivery.attempt_count + max_attempts_default()
    delivery.next_attempt_at = None
    delivery.save()
    audit_record(
        workspace=workspace,
        actor=actor,
        action="delivery.retried",
        target_type="Delivery",
        target_id=str(delivery.id),
        before=before,
        after={"status": delivery.status, "max_attempts": delivery.max_attempts},
    )
    transaction.on_commit(lambda: _enqueue_attempt(delivery.id))
    return delivery


def deliveries_sweep(*, older_than_seconds: float = 300, limit: int = 500) -> int:
    """Beat: re-queue deliveries whose scheduled attempt never ran (a lost broker message)."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    stale = list(
        Delivery.objects.filter(status__in=[DeliveryStatus.PENDING, DeliveryStatus.RETRYING])
        .filter(updated_at__lt=cutoff)
        .values_list("id", flat=True)[:limit]
    )
    for delivery_id in stale:
        _enqueue_attempt(delivery_id)
    return len(stale)


# --- receipts from the widget -------------------------------------------------------------------------------------


def receipts_from_events(*, workspace: Workspace, events: Sequence[Mapping[str, Any]]) -> int:
    """``In-App Message Shown`` / ``Clicked`` events (with ``properties.delivery_id``) mark the
    delivery opened / clicked and become outcomes of its decision. Idempotent per event."""
    recorded = 0
    for event in events:
        kind = RECEIPT_EVENTS.get(str(event.get("name", "")))
        properties = event.get("properties") or {}
        delivery_id = properties.get("delivery_id") if isinstance(properties, Mapping) else None
        if kind is None or not delivery_id:
            continue
        try:
            delivery = Delivery.objects.filter(workspace=workspace, pk=str(delivery_id)).first()
        except (ValueError, ValidationError):  # a malformed id from a browser is ignored
            continue
        if delivery is None:
            continue
        at: datetime = event["timestamp"]
        column = "opened_at" if kind == OutcomeKind.OPENED else "clicked_at"
        Delivery.objects.filter(pk=delivery.pk, **{f"{column}__isnull": True}).update(**{column: at})
        _record_receipt(delivery, kind, at, str(event["id"]))
        recorded += 1
    return recorded


# --- subject rights -----------------------------------------------------------------------------------------------


def deliveries_export_for_subject(*, workspace: Workspace, profile_ids: Sequence[Any]) -> list[dict[str, Any]]:
    rows = Delivery.objects.filter(workspace=workspace, profile_id__in=list(profile_ids)).order_by("created_at")
    return [
        {
            "id": str(d.id),
            "channel": d.channel,
            "status": d.status,
            "target": d.target,
            "subject": d.subject,
            "body": d.body,
            "payload": d.payload,
            "created_at": d.created_at.isoformat(),
            "delivered_at": d.delivered_at.isoformat() if d.delivered_at else None,
            "opened_at": d.opened_at.isoformat() if d.opened_at else None,
            "clicked_at": d.clicked_at.isoformat() if d.clicked_at else None,
            "attempts": d.attempt_count,
        }
        for d in rows
    ]


def deliveries_erase_for_subject(
    *, workspace: Workspace, profile_ids: Sequence[Any], identifiers: Sequence[tuple[str, str]]
) -> int:
    """Delete the person's deliveries (attempts go with them), and any delivery without a person
    whose target or body carries one of their identifiers (e.g. a webhook about them)."""
    deleted, _ = Delivery.objects.filter(workspace=workspace, profile_id__in=list(profile_ids)).delete()
    values = [value for _, value in identifiers if value]
    if values:
        from django.db.models import Q

        match = Q()
        for value in values:
            match |= Q(target=value) | Q(body__contains=value)
        extra, _ = Delivery.objects.filter(match, workspace=workspace, profile__isnull=True).delete()
        deleted += extra
    return deleted
