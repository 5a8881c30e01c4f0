from __future__ import annotations

from django.db.models import Q, QuerySet

from accounts.models import Workspace
from accounts.principals import Actor
from accounts.roles import VIEW_AUDIT
from accounts.selectors import workspace_require
from audit.models import AuditEntry


def audit_entry_list(*, actor: Actor, workspace: Workspace, search: str = "", action: str = "") -> QuerySet[AuditEntry]:
    workspace_require(actor=actor, workspace=workspace, codename=VIEW_AUDIT)
    entries = AuditEntry.objects.filter(workspace=workspace)
    if action:
        entries = entries.filter(action=action)
    if search:
        entries = entries.filter(
            Q(actor_label__icontains=search) | Q(target_id__icontains=search) | Q(reason__icontains=search)
        )
    return entries
