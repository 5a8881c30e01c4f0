from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from guardian.shortcuts import get_perms

from accounts.principals import ApiKeyPrincipal
from accounts.roles import APPROVE_ACTIONS, MANAGE_API_KEYS, MANAGE_CATALOG, MANAGE_MEMBERS, VIEW_AUDIT, WORK_TICKETS
from accounts.selectors import membership_for, workspaces_for_user


def workspace(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or isinstance(user, ApiKeyPrincipal):
        return {}  # pages rendered for an API key (the API docs) have no member navigation
    current = getattr(request, "workspace", None)
    current = current if current else None  # unwrap the lazy None
    held = set(get_perms(user, current)) if current else set()  # one query for every flag below
    can = {
        name: codename in held
        for name, codename in {
            "manage_api_keys": MANAGE_API_KEYS,
            "manage_members": MANAGE_MEMBERS,
            "manage_catalog": MANAGE_CATALOG,
            "approve_actions": APPROVE_ACTIONS,
            "work_tickets": WORK_TICKETS,
            "view_audit": VIEW_AUDIT,
        }.items()
    }
    return {
        "current_workspace": current,
        "current_membership": membership_for(user=user, workspace=current) if current else None,
        "user_workspaces": workspaces_for_user(user=user),
        "can": can,
    }
