"""Roles and the workspace permissions each one grants (assigned as guardian object permissions)."""

from __future__ import annotations

from django.db import models


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    MARKETER = "marketer", "Marketer"
    APPROVER = "approver", "Approver"
    SUPPORT_AGENT = "support_agent", "Support agent"
    VIEWER = "viewer", "Viewer"


# Permission codenames on accounts.Workspace (declared in Workspace.Meta.permissions).
VIEW = "view_workspace_data"
MANAGE_MEMBERS = "manage_members"
MANAGE_API_KEYS = "manage_api_keys"
MANAGE_CATALOG = "manage_catalog"
APPROVE_ACTIONS = "approve_actions"
WORK_TICKETS = "work_tickets"
VIEW_AUDIT = "view_audit"

WORKSPACE_PERMISSIONS: tuple[tuple[str, str], ...] = (
    (VIEW, "See the workspace's customers, decisions and dashboards"),
    (MANAGE_MEMBERS, "Invite members and change their roles"),
    (MANAGE_API_KEYS, "Create and revoke API keys"),
    (MANAGE_CATALOG, "Edit actions, guardrails and policies"),
    (APPROVE_ACTIONS, "Approve or reject risky actions"),
    (WORK_TICKETS, "Claim, assign and resolve support tickets"),
    (VIEW_AUDIT, "Read the audit trail"),
)

_ALL = [codename for codename, _ in WORKSPACE_PERMISSIONS]

ROLE_PERMISSIONS: dict[str, list[str]] = {
    Role.OWNER: _ALL,
    Role.ADMIN: _ALL,
    Role.MARKETER: [VIEW, MANAGE_CATALOG],
    Role.APPROVER: [VIEW, APPROVE_ACTIONS],
    Role.SUPPORT_AGENT: [VIEW, WORK_TICKETS],
    Role.VIEWER: [VIEW],
}


def perm(codename: str) -> str:
    return f"accounts.{codename}"
