"""Reads of the delivery app; every fetch checks the workspace and the actor's permission."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import Http404

from accounts.models import Workspace
from accounts.principals import Actor
from accounts.roles import MANAGE_API_KEYS, MANAGE_CATALOG, VIEW
from accounts.selectors import workspace_can, workspace_require
from delivery.models import ContentBlock, Delivery, DeliveryStatus, InAppIdentity, WebhookEndpoint


def endpoint_list(*, actor: Actor, workspace: Workspace) -> QuerySet[WebhookEndpoint]:
    workspace_require(actor=actor, workspace=workspace, codename=MANAGE_API_KEYS)
    return WebhookEndpoint.objects.filter(workspace=workspace).order_by("key")


def endpoint_get(*, actor: Actor, workspace: Workspace, key: str) -> WebhookEndpoint:
    workspace_require(actor=actor, workspace=workspace, codename=MANAGE_API_KEYS)
    found = WebhookEndpoint.objects.filter(workspace=workspace, key=key).first()
    if found is None:
        raise Http404("No such webhook endpoint in this workspace.")
    return found


def can_manage_endpoints(*, actor: Actor, workspace: Workspace) -> bool:
    return workspace_can(actor=actor, workspace=workspace, codename=MANAGE_API_KEYS)


def can_retry(*, actor: Actor, workspace: Workspace) -> bool:
    return workspace_can(actor=actor, workspace=workspace, codename=MANAGE_CATALOG)


def delivery_list(
    *, actor: Actor, workspace: Workspace, status: str = "", channel: str = "", profile_id: str = "", search: str = ""
) -> QuerySet[Delivery]:
    workspace_require(actor=actor, workspace=workspace, codename=VIEW)
    rows = Delivery.objects.filter(workspace=workspace).select_related("endpoint").order_by("-created_at")
    if status:
        rows = rows.filter(status=status)
    if channel:
        rows = rows.filter(channel=channel)
    if profile_id:
        try:
            rows = rows.filter(profile_id=profile_id)
        except (ValueError, ValidationError):
            return rows.none()
    if search:
        rows = rows.filter(key__icontains=search)
    return rows


def dead_letter_list(*, actor: Actor, workspace: Workspace) -> QuerySet[Delivery]:
    return delivery_list(actor=actor, workspace=workspace, status=DeliveryStatus.DEAD)


def delivery_get(*, actor: Actor, workspace: Workspace, delivery_id: Any, for_retry: bool = False) -> Delivery:
    workspace_require(actor=actor, workspace=workspace, codename=MANAGE_CATALOG if for_retry else VIEW)
    try:
        found = Delivery.objects.filter(workspace=workspace, pk=delivery_id).select_related("endpoint").first()
    except (ValueError, ValidationError):
        found = None
    if found is None:
        raise Http404("No such delivery in this workspace.")
    return found


def content_block_list(*, actor: Actor, workspace: Workspace) -> QuerySet[ContentBlock]:
    workspace_require(actor=actor, workspace=workspace, codename=VIEW)
    return ContentBlock.objects.filter(workspace=workspace).order_by("name")


def content_block_get(*, actor: Actor, workspace: Workspace, key: str, for_change: bool = False) -> ContentBlock:
    workspace_require(actor=actor, workspace=workspace, codename=MANAGE_CATALOG if for_change else VIEW)
    found = ContentBlock.objects.filter(workspace=workspace, key=key).first()
    if found is None:
        raise Http404("No such content block in this workspace.")
    return found


def inapp_identity_get(*, actor: Actor, workspace: Workspace) -> InAppIdentity | None:
    """The workspace's in-app identity secret, if one was made; for those who manage API keys."""
    workspace_require(actor=actor, workspace=workspace, codename=MANAGE_API_KEYS)
    return InAppIdentity.objects.filter(workspace=workspace).first()


def inapp_identity_secret(*, workspace_id: Any) -> str:
    """For the in-app socket (no actor: the storefront proves itself with the user hash)."""
    found = InAppIdentity.objects.filter(workspace_id=workspace_id).values_list("secret", flat=True).first()
    return found or ""
