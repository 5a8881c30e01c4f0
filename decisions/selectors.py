from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from django.db.models import Count, Q, QuerySet
from django.http import Http404

from accounts.authentication import secret_key_problem
from accounts.models import SecretKey, Workspace
from accounts.principals import Actor
from accounts.roles import MANAGE_CATALOG
from accounts.selectors import workspace_can, workspace_require
from core.rows import from_row, select_list, width
from decisions.models import (
    ACTED_STATUSES,
    Action,
    Decision,
    DecisionStatus,
    GuardrailConfig,
    OutcomeKind,
    Policy,
)
from profiles.identity import normalise
from profiles.models import Identifier, Profile
from profiles.selectors import profile_by_identifier, profile_find
from profiles.sql import bulk_fetchall

PERSON_KEYS = {
    "userId": "user_id",
    "anonymousId": "anonymous_id",
    "email": "email",
    "phone": "phone",
    "deviceId": "device_id",
}


def person_resolve(*, workspace: Workspace, person: dict[str, Any]) -> Profile | None:
    if person.get("profileId"):
        return profile_find(workspace=workspace, profile_id=str(person["profileId"]))
    for key, kind in PERSON_KEYS.items():
        value = person.get(key)
        if isinstance(value, str | int) and str(value):
            found = profile_by_identifier(workspace=workspace, kind=kind, value=str(value))
            if found is not None:
                return found
    return None


def decide_caller(*, key: str, person: Mapping[str, Any]) -> tuple[SecretKey, Profile] | None:
    """The secret key a /v1/decide call presents (with its workspace) and the live profile of the
    person it names, read in one statement; None whenever that quick answer is not the whole
    answer (unknown, revoked or expired key, no such person by the first identifier given, a
    merged profile): the caller then goes the long way (authentication, ``person_resolve``),
    which also words the errors. Reads only: the caller records the key's use."""
    if person.get("profileId"):
        match, params = 'p."id" = %s', [str(person["profileId"])]
    else:
        kind, value = next(((kind, person[k]) for k, kind in PERSON_KEYS.items() if person.get(k)), ("", None))
        normalised = normalise(kind, str(value)) if value is not None else None
        if normalised is None:
            return None
        identifier = Identifier._meta.db_table
        match = (
            f'p."id" = (SELECT i."profile_id" FROM "{identifier}" i WHERE i."workspace_id" = k."workspace_id" '  # noqa: S608
            'AND i."kind" = %s AND i."value" = %s)'
        )
        params = [kind, normalised]
    sql = (
        f"SELECT {select_list(SecretKey, 'k')}, {select_list(Workspace, 'w')}, {select_list(Profile, 'p')} "  # noqa: S608
        f"FROM {SecretKey._meta.db_table} k "
        f'JOIN {Workspace._meta.db_table} w ON w."id" = k."workspace_id" '
        f'JOIN {Profile._meta.db_table} p ON p."workspace_id" = k."workspace_id" AND {match} '
        'WHERE k."prefix" = %s'
    )
    rows = bulk_fetchall(sql, [*params, key.partition(".")[0]])  # server-side binding: prepared after a few runs
    if not rows:
        return None
    row = rows[0]
    keys, workspaces = width(SecretKey), width(Workspace)
    secret = from_row(SecretKey, row[:keys])
    if secret_key_problem(secret, key) is not None:
        return None
    secret.workspace = from_row(Workspace, row[keys : keys + workspaces])
    profile = from_row(Profile, row[keys + workspaces :])
    if profile.merged_into_id is not None:
        return None
    profile.workspace = secret.workspace
    return secret, profile


def action_list(*, actor: Actor, workspace: Workspace, search: str = "") -> QuerySet[Action]:
    workspace_require(actor=actor, workspace=workspace)
    actions = Action.objects.filter(workspace=workspace).order_by("name")
    if search:
        actions = actions.filter(Q(name__icontains=search) | Q(key__icontains=search))
    return actions


def action_get(*, actor: Actor, workspace: Workspace, key: str, for_change: bool = False) -> Action:
    workspace_require(
        actor=actor, workspace=workspace, codename=MANAGE_CATALOG if for_change else "view_workspace_data"
    )
    action = Action.objects.filter(workspace=workspace, key=key).first()
    if action is None:
        raise Http404("No such action in this workspace.")
    return action


def policy_list(*, actor: Actor, workspace: Workspace) -> QuerySet[Policy]:
    workspace_require(actor=actor, workspace=workspace)
    return Policy.objects.filter(workspace=workspace).order_by("name")


def policy_get(*, actor: Actor, workspace: Workspace, key: str, for_change: bool = False) -> Policy:
    workspace_require(
        actor=actor, workspace=workspace, codename=MANAGE_CATALOG if for_change else "view_workspace_data"
    )
    policy = Policy.objects.filter(workspace=workspace, key=key).first()
    if policy is None:
        raise Http404("No such policy in this workspace.")
    return policy


def decision_list(
    *, actor: Actor, workspace: Workspace, action: str = "", channel: str = "", status: str = "", profile_id: str = ""
) -> QuerySet[Decision]:
    workspace_require(actor=actor, workspace=workspace)
    decisions = Decision.objects.filter(workspace=workspace).order_by("-created_at")
    if action:
        decisions = decisions.filter(chosen_key=action if action != "nothing" else "")
    if channel:
        decisions = decisions.filter(channel=channel)
    if status:
        decisions = decisions.filter(status=status)
    if profile_id:
        decisions = decisions.filter(profile_id=profile_id)
    return decisions


def decision_get(*, actor: Actor, workspace: Workspace, decision_id: UUID | str) -> Decision:
    workspace_require(actor=actor, workspace=workspace)
    try:
        found = Decision.objects.filter(workspace=workspace, id=decision_id).first()
    except (ValueError, TypeError):
        found = None
    if found is None:
        raise Http404("No such decision in this workspace.")
    return found


@dataclass(frozen=True)
class Lift:
    action: str
    treated: int
    treated_conversions: int
    control: int
    control_conversions: int
    treated_rate: float
    control_rate: float
    lift: float
    low: float
    high: float


def _lifts(workspace: Workspace, action: str | None = None) -> list[Lift]:
    """Conversion of people shown each action against its holdout (decided, not shown), with a
    95% interval on the difference of proportions (normal approximation). One pass over the
    decision log grouped by action; conversions as an uncorrelated ``IN``, so a decision with
    several outcomes still counts once."""
    from django.db.models import Subquery

    from decisions.models import Outcome

    converted = Outcome.objects.filter(workspace=workspace, kind=OutcomeKind.CONVERTED).values("decision_id")
    acted, held = Q(status__in=ACTED_STATUSES), Q(status=DecisionStatus.HELD_OUT)
    decisions = Decision.objects.filter(workspace=workspace).exclude(chosen_key="")
    if action is not None:
        decisions = decisions.filter(chosen_key=action)
    rows = (
        decisions.order_by()
        .values("chosen_key")
        .annotate(
            treated=Count("id", filter=acted),
            control=Count("id", filter=held),
            treated_conv=Count("id", filter=acted & Q(id__in=Subquery(converted))),
            control_conv=Count("id", filter=held & Q(id__in=Subquery(converted))),
        )
    )
    lifts = [
        lift_from_counts(r["chosen_key"], r["treated"], r["treated_conv"], r["control"], r["control_conv"])
        for r in rows
    ]
    return sorted(lifts, key=lambda lift: (-lift.treated, lift.action))


def action_lift(*, workspace: Workspace, action: str) -> Lift:
    found = _lifts(workspace, action)
    return found[0] if found else lift_from_counts(action, 0, 0, 0, 0)


ACTION_SORTS = {"name": "name", "-name": "-name", "updated": "updated_at", "-updated": "-updated_at"}


def action_list_sorted(*, actor: Actor, workspace: Workspace, search: str = "", sort: str = "name") -> QuerySet[Action]:
    return action_list(actor=actor, workspace=workspace, search=search).order_by(ACTION_SORTS.get(sort, "name"), "key")


def can_manage_catalog(*, actor: Actor, workspace: Workspace) -> bool:
    return workspace_can(actor=actor, workspace=workspace, codename=MANAGE_CATALOG)


@dataclass(frozen=True)
class Change:
    field: str
    before: Any
    after: Any


@dataclass(frozen=True)
class VersionEntry:
    version: int
    changed_by: str
    created_at: datetime
    changes: list[Change]
    first: bool


def snapshot_changes(before: dict[str, Any] | None, after: dict[str, Any]) -> list[Change]:
    """Fields that differ between two stored snapshots (all set fields for the first version)."""
    if before is None:
        return [Change(name, None, value) for name, value in after.items() if value not in (None, "", [], {})]
    names = list(after) + [name for name in before if name not in after]
    return [Change(name, before.get(name), after.get(name)) for name in names if before.get(name) != after.get(name)]


def _history(rows: list[tuple[int, dict[str, Any], str, datetime]]) -> list[VersionEntry]:
    ordered = sorted(rows, key=lambda row: row[0])
    entries = []
    previous: dict[str, Any] | None = None
    for version, snapshot, changed_by, created_at in ordered:
        entries.append(
            VersionEntry(version, changed_by, created_at, snapshot_changes(previous, snapshot), previous is None)
        )
        previous = snapshot
    return entries[::-1]


def action_version_list(*, actor: Actor, workspace: Workspace, key: str) -> tuple[Action, list[VersionEntry]]:
    action = action_get(actor=actor, workspace=workspace, key=key)
    rows = list(action.versions.values_list("version", "snapshot", "changed_by", "created_at"))
    return action, _history(rows)


def policy_version_list(*, actor: Actor, workspace: Workspace, key: str) -> tuple[Policy, list[VersionEntry]]:
    policy = policy_get(actor=actor, workspace=workspace, key=key)
    rows = list(policy.versions.values_list("version", "snapshot", "changed_by", "created_at"))
    return policy, _history(rows)


def guardrails_get(*, actor: Actor, workspace: Workspace) -> GuardrailConfig:
    from decisions.services import guardrail_config

    workspace_require(actor=actor, workspace=workspace)
    return guardrail_config(workspace)


def action_lifts(*, actor: Actor, workspace: Workspace) -> list[Lift]:
    """Per action that was chosen at least once: shown vs held-out conversion, with the interval."""
    workspace_require(actor=actor, workspace=workspace)
    return _lifts(workspace)


# --- console: live stream, dashboard, customer 360 ------------------------------------------------------------------

LIVE_ROWS_MAX = 50


def decision_rows(*, actor: Actor, workspace: Workspace, ids: list[str]) -> list[Decision]:
    """The decisions of the live stream's pushes, newest first (unknown or foreign ids are left out)."""
    workspace_require(actor=actor, workspace=workspace)
    valid = []
    for value in ids[:LIVE_ROWS_MAX]:
        try:
            valid.append(UUID(value))
        except ValueError:
            continue
    if not valid:
        return []
    return list(
        Decision.objects.filter(workspace=workspace, id__in=valid)
        .select_related("profile")
        .defer("inputs", "candidates", "rendered", "reasons", "profile__trait_meta", "profile__groups")
        .order_by("-created_at")
    )


def decision_counts_since(*, actor: Actor, workspace: Workspace, since: datetime) -> dict[str, int]:
    """How many decisions since ``since`` by what happened, and how many of them converted."""
    workspace_require(actor=actor, workspace=workspace)
    counts = Decision.objects.filter(workspace=workspace, created_at__gte=since).aggregate(
        total=Count("id"),
        acted=Count("id", filter=Q(status__in=ACTED_STATUSES)),
        nothing=Count("id", filter=Q(status=DecisionStatus.NOTHING)),
        held_out=Count("id", filter=Q(status=DecisionStatus.HELD_OUT)),
        waiting=Count("id", filter=Q(status=DecisionStatus.PENDING_APPROVAL)),
    )
    from decisions.models import Outcome

    counts["converted"] = Outcome.objects.filter(
        workspace=workspace, kind=OutcomeKind.CONVERTED, occurred_at__gte=since
    ).count()
    return {name: int(value or 0) for name, value in counts.items()}


def decision_history_for(*, actor: Actor, workspace: Workspace, profile: Profile, limit: int = 20) -> list[Decision]:
    """A person's latest decisions with their outcomes (the customer page's timeline)."""
    workspace_require(actor=actor, workspace=workspace)
    return list(
        Decision.objects.filter(workspace=workspace, profile=profile)
        .defer("inputs", "candidates", "rendered", "reasons")
        .prefetch_related("outcomes")
        .order_by("-created_at")[:limit]
    )


def lift_from_counts(action: str, n1: int, c1: int, n0: int, c0: int) -> Lift:
    """Difference of proportions with its 95% interval (normal approximation)."""
    p1 = c1 / n1 if n1 else 0.0
    p0 = c0 / n0 if n0 else 0.0
    diff = p1 - p0
    se = math.sqrt(p1 * (1 - p1) / n1 + p0 * (1 - p0) / n0) if n1 and n0 else math.inf
    low = round(diff - 1.96 * se, 4) if se != math.inf else -1.0
    high = round(diff + 1.96 * se, 4) if se != math.inf else 1.0
    return Lift(action, n1, c1, n0, c0, round(p1, 4), round(p0, 4), round(diff, 4), low, high)
