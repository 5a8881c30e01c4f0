from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django.db.models import Q, QuerySet
from django.utils import timezone

from accounts.models import Workspace
from accounts.principals import Actor
from accounts.roles import VIEW_AUDIT
from accounts.selectors import workspace_require
from audit.models import AuditEntry


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=timezone.get_current_timezone())


def audit_entry_list(
    *,
    actor: Actor,
    workspace: Workspace,
    search: str = "",
    action: str = "",
    who: str = "",
    target_type: str = "",
    since: date | None = None,
    until: date | None = None,
) -> QuerySet[AuditEntry]:
    """The workspace's audit trail, newest first. ``action`` matches exactly or, ending in ``.``
    or ``*``, as a prefix (``approval.*``); ``who`` matches the actor label partially; ``since``
    and ``until`` are whole days, both included."""
    workspace_require(actor=actor, workspace=workspace, codename=VIEW_AUDIT)
    entries = AuditEntry.objects.filter(workspace=workspace)
    if action:
        prefix = action.rstrip("*")
        entries = (
            entries.filter(action__startswith=prefix) if action.endswith(("*", ".")) else entries.filter(action=action)
        )
    if who:
        entries = entries.filter(actor_label__icontains=who)
    if target_type:
        entries = entries.filter(target_type=target_type)
    if since:
        entries = entries.filter(created_at__gte=_day_start(since))
    if until:
        entries = entries.filter(created_at__lt=_day_start(until + timedelta(days=1)))
    if search:
        entries = entries.filter(
            Q(actor_label__icontains=search)
            | Q(target_id__icontains=search)
            | Q(reason__icontains=search)
            | Q(action__icontains=search)
            | Q(before__icontains=search)
            | Q(after__icontains=search)
        )
    return entries.order_by("-seq")


def audit_facets(*, actor: Actor, workspace: Workspace) -> dict[str, list[str]]:
    """The distinct actions and target types in the workspace's trail, for the filter menus."""
    workspace_require(actor=actor, workspace=workspace, codename=VIEW_AUDIT)
    entries = AuditEntry.objects.filter(workspace=workspace).order_by()
    return {
        "actions": sorted(set(entries.values_list("action", flat=True).distinct())),
        "target_types": sorted(t for t in set(entries.values_list("target_type", flat=True).distinct()) if t),
    }
