"""Reads of the journeys app; every fetch checks the workspace and the actor's permission."""

from __future__ import annotations

import uuid
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Count, QuerySet
from django.http import Http404

from accounts.models import Workspace
from accounts.principals import Actor
from accounts.roles import MANAGE_CATALOG, VIEW
from accounts.selectors import workspace_can, workspace_require
from journeys.models import Playbook, PlaybookRun, Signal


def can_manage(*, actor: Actor, workspace: Workspace) -> bool:
    return workspace_can(actor=actor, workspace=workspace, codename=MANAGE_CATALOG)


def signal_list(*, actor: Actor, workspace: Workspace) -> QuerySet[Signal]:
    workspace_require(actor=actor, workspace=workspace, codename=VIEW)
    return Signal.objects.filter(workspace=workspace).annotate(playbook_count=Count("playbooks")).order_by("name")


def signal_get(*, actor: Actor, workspace: Workspace, key: str, for_change: bool = False) -> Signal:
    workspace_require(actor=actor, workspace=workspace, codename=MANAGE_CATALOG if for_change else VIEW)
    found = Signal.objects.filter(workspace=workspace, key=key).first()
    if found is None:
        raise Http404("No such signal in this workspace.")
    return found


def playbook_list(*, actor: Actor, workspace: Workspace) -> QuerySet[Playbook]:
    workspace_require(actor=actor, workspace=workspace, codename=VIEW)
    return (
        Playbook.objects.filter(workspace=workspace)
        .select_related("signal")
        .annotate(run_count=Count("runs"))
        .order_by("name")
    )


def playbook_get(*, actor: Actor, workspace: Workspace, key: str, for_change: bool = False) -> Playbook:
    workspace_require(actor=actor, workspace=workspace, codename=MANAGE_CATALOG if for_change else VIEW)
    found = Playbook.objects.filter(workspace=workspace, key=key).select_related("signal").first()
    if found is None:
        raise Http404("No such playbook in this workspace.")
    return found


def run_list(*, actor: Actor, workspace: Workspace, playbook: Playbook) -> QuerySet[PlaybookRun]:
    workspace_require(actor=actor, workspace=workspace, codename=VIEW)
    return (
        PlaybookRun.objects.filter(workspace=workspace, playbook=playbook)
        .select_related("profile")
        .prefetch_related("steps")
        .order_by("-created_at")
    )


def run_get(*, actor: Actor, workspace: Workspace, run_id: Any) -> PlaybookRun:
    workspace_require(actor=actor, workspace=workspace, codename=VIEW)
    try:
        found = PlaybookRun.objects.filter(workspace=workspace, pk=run_id).select_related("playbook", "profile").first()
    except (ValueError, ValidationError):
        found = None
    if found is None:
        raise Http404("No such playbook run in this workspace.")
    return found


def run_search(
    *, actor: Actor, workspace: Workspace, playbook_key: str = "", status: str = "", profile_id: str = ""
) -> QuerySet[PlaybookRun]:
    """Runs of the workspace, newest first, optionally of one playbook, status or person."""
    workspace_require(actor=actor, workspace=workspace, codename=VIEW)
    rows = (
        PlaybookRun.objects.filter(workspace=workspace)
        .select_related("playbook")
        .prefetch_related("steps")
        .order_by("-created_at")
    )
    if playbook_key:
        rows = rows.filter(playbook__key=playbook_key)
    if status:
        rows = rows.filter(status=status)
    if profile_id:
        try:
            uuid.UUID(profile_id)
        except ValueError:
            return rows.none()
        rows = rows.filter(profile_id=profile_id)
    return rows
