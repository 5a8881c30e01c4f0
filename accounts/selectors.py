"""Reads of accounts data. Every workspace object is fetched through here, permission-checked."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404

from accounts.models import Membership, SecretKey, Workspace, WriteKey
from accounts.principals import Actor
from accounts.roles import MANAGE_API_KEYS, MANAGE_MEMBERS, VIEW, perm

SESSION_WORKSPACE_KEY = "workspace_id"


def workspace_require(*, actor: Actor, workspace: Workspace, codename: str = VIEW) -> None:
    """Raise PermissionDenied unless the actor holds the permission on this workspace."""
    if actor is None or not actor.is_authenticated or not actor.has_perm(perm(codename), workspace):
        raise PermissionDenied(f"Your role does not allow this ({codename.replace('_', ' ')}).")


def workspace_can(*, actor: Actor, workspace: Workspace | None, codename: str) -> bool:
    if workspace is None or actor is None or not actor.is_authenticated:
        return False
    return bool(actor.has_perm(perm(codename), workspace))


def workspaces_for_user(*, user: User | AnonymousUser) -> QuerySet[Workspace]:
    if not user.is_authenticated:
        return Workspace.objects.none()
    return Workspace.objects.filter(memberships__user=user).order_by("name")


def membership_for(*, user: User | AnonymousUser, workspace: Workspace) -> Membership | None:
    if not user.is_authenticated:
        return None
    return Membership.objects.filter(user=user, workspace=workspace).first()


def workspace_for_session(*, user: User | AnonymousUser, session: Any) -> Workspace | None:
    """The workspace the user is working in: the one chosen in this session if they still
    belong to it, else their first membership."""
    if not user.is_authenticated:
        return None
    memberships = Membership.objects.filter(user=user).select_related("workspace")
    chosen = session.get(SESSION_WORKSPACE_KEY) if session is not None else None
    if chosen:
        membership = memberships.filter(workspace_id=chosen).first()
        if membership is not None:
            return membership.workspace
    first = memberships.order_by("created_at").first()
    return first.workspace if first else None


def workspace_from_write_key(*, key: str) -> Workspace | None:
    found = WriteKey.objects.select_related("workspace").filter(key=key, revoked_at__isnull=True).first()
    return found.workspace if found else None


def write_key_active(*, workspace: Workspace) -> WriteKey | None:
    return WriteKey.objects.filter(workspace=workspace, revoked_at__isnull=True).order_by("-created_at").first()


def secret_key_list(*, actor: Actor, workspace: Workspace) -> QuerySet[SecretKey]:
    workspace_require(actor=actor, workspace=workspace, codename=MANAGE_API_KEYS)
    return SecretKey.objects.filter(workspace=workspace).order_by("-created")


def secret_key_get(*, actor: Actor, workspace: Workspace, prefix: str) -> SecretKey:
    """Keys are addressed by their public prefix; the primary key embeds the hash and stays internal."""
    workspace_require(actor=actor, workspace=workspace, codename=MANAGE_API_KEYS)
    found = SecretKey.objects.filter(workspace=workspace, prefix=prefix).first()
    if found is None:
        raise Http404("No such key in this workspace.")
    return found


def member_list(*, actor: Actor, workspace: Workspace) -> QuerySet[Membership]:
    workspace_require(actor=actor, workspace=workspace, codename=MANAGE_MEMBERS)
    return Membership.objects.filter(workspace=workspace).select_related("user").order_by("user__username")


def membership_get(*, actor: Actor, workspace: Workspace, membership_id: UUID | str) -> Membership:
    workspace_require(actor=actor, workspace=workspace, codename=MANAGE_MEMBERS)
    found = Membership.objects.filter(workspace=workspace, id=membership_id).select_related("user").first()
    if found is None:
        raise Http404("No such member in this workspace.")
    return found
