"""Writes of accounts data. Every change of roles and keys is sent to the audit trail."""

from __future__ import annotations

from typing import Any, cast

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify
from guardian.shortcuts import assign_perm, remove_perm

from accounts.models import Membership, SecretKey, Workspace, WriteKey
from accounts.principals import Actor
from accounts.roles import ROLE_PERMISSIONS, Role, perm
from core.signals import change_recorded


def _record(
    *,
    workspace: Workspace,
    actor: Actor,
    action: str,
    target: Any,
    before: Any = None,
    after: Any = None,
    reason: str = "",
    target_id: str | None = None,
) -> None:
    change_recorded.send(
        sender=type(target),
        workspace=workspace,
        actor=actor,
        action=action,
        target_type=type(target).__name__,
        target_id=target_id if target_id is not None else str(target.pk),
        before=before,
        after=after,
        reason=reason,
    )


def _grant(*, user: User, workspace: Workspace, role: str) -> None:
    for codename in ROLE_PERMISSIONS[role]:
        assign_perm(perm(codename), user, workspace)


def _revoke(*, user: User, workspace: Workspace, role: str) -> None:
    for codename in ROLE_PERMISSIONS[role]:
        remove_perm(perm(codename), user, workspace)


def _unique_slug(name: str) -> str:
    base = slugify(name)[:50] or "workspace"
    slug, n = base, 1
    while Workspace.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


@transaction.atomic
def workspace_create(*, name: str, owner: User, timezone_name: str = "UTC") -> Workspace:
    workspace = Workspace.objects.create(name=name, slug=_unique_slug(name), timezone=timezone_name)
    WriteKey.objects.create(workspace=workspace)
    _record(workspace=workspace, actor=owner, action="workspace.created", target=workspace, after={"name": name})
    membership_add(workspace=workspace, user=owner, role=Role.OWNER, actor=owner)
    return workspace


@transaction.atomic
def membership_add(*, workspace: Workspace, user: User, role: str, actor: Actor) -> Membership:
    membership = Membership.objects.create(workspace=workspace, user=user, role=role)
    _grant(user=user, workspace=workspace, role=role)
    _record(
        workspace=workspace,
        actor=actor,
        action="membership.added",
        target=membership,
        after={"user": user.get_username(), "role": role},
    )
    return membership


@transaction.atomic
def membership_change_role(*, membership: Membership, role: str, actor: Actor) -> Membership:
    before = membership.role
    if before == role:
        return membership
    _revoke(user=membership.user, workspace=membership.workspace, role=before)
    membership.role = role
    membership.save(update_fields=["role", "updated_at"])
    _grant(user=membership.user, workspace=membership.workspace, role=role)
    _record(
        workspace=membership.workspace,
        actor=actor,
        action="membership.role_changed",
        target=membership,
        before={"role": before},
        after={"role": role},
    )
    return membership


@transaction.atomic
def membership_remove(*, membership: Membership, actor: Actor) -> None:
    _revoke(user=membership.user, workspace=membership.workspace, role=membership.role)
    _record(
        workspace=membership.workspace,
        actor=actor,
        action="membership.removed",
        target=membership,
        before={"user": membership.user.get_username(), "role": membership.role},
    )
    membership.delete()


@transaction.atomic
def user_create(*, username: str, password: str, email: str = "") -> User:
    user: User = get_user_model().objects.create_user(username=username, email=email, password=password)
    return user


@transaction.atomic
def write_key_rotate(*, workspace: Workspace, actor: Actor) -> WriteKey:
    now = timezone.now()
    old = list(WriteKey.objects.select_for_update().filter(workspace=workspace, revoked_at__isnull=True))
    WriteKey.objects.filter(pk__in=[k.pk for k in old]).update(revoked_at=now)
    new = WriteKey.objects.create(workspace=workspace)
    _record(
        workspace=workspace,
        actor=actor,
        action="write_key.rotated",
        target=new,
        before={"revoked": [k.key[:8] for k in old]},
        after={"prefix": new.key[:8]},
    )
    return new


@transaction.atomic
def secret_key_create(*, workspace: Workspace, name: str, actor: Actor) -> tuple[SecretKey, str]:
    """Create a key; the plaintext is returned here once and never stored."""
    created_by = actor if isinstance(actor, User) else None
    created, plaintext = SecretKey.objects.create_key(name=name, workspace=workspace, created_by=created_by)
    key = cast(SecretKey, created)
    _record(
        workspace=workspace,
        actor=actor,
        action="secret_key.created",
        target=key,
        target_id=key.prefix,
        after={"name": name, "prefix": key.prefix},
    )
    return key, plaintext


@transaction.atomic
def secret_key_revoke(*, key: SecretKey, actor: Actor, reason: str = "") -> SecretKey:
    if key.revoked:
        return key
    key.revoked = True
    key.revoked_at = timezone.now()
    key.revoked_by = actor if isinstance(actor, User) else None
    key.save(update_fields=["revoked", "revoked_at", "revoked_by"])
    _record(
        workspace=key.workspace,
        actor=actor,
        action="secret_key.revoked",
        target=key,
        target_id=key.prefix,
        before={"revoked": False},
        after={"revoked": True, "prefix": key.prefix},
        reason=reason,
    )
    return key
