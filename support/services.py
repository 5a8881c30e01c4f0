"""Writes of the support desk: tickets (create, prioritize, route, claim, assign, resolve),
agents, teams and SLA policies. Sales leads live in support/leads.py."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.utils import timezone

from accounts.models import Membership, Workspace
from accounts.principals import Actor, ApiKeyPrincipal, actor_label
from accounts.roles import Role
from audit.services import audit_record
from core.broadcast import broadcast_after_commit, workspace_group
from profiles.models import Profile
from profiles.selectors import profile_find
from support import sentiment
from support.models import (
    OPEN_STATUSES,
    Agent,
    SlaPolicy,
    Team,
    TeamKind,
    Ticket,
    TicketStatus,
)
from support.priority import (
    ERROR_EVENTS,
    PAYMENT_EVENTS,
    Priority,
    Signals,
    base_priority,
    event_counts,
    priority_compute,
    sla_reason,
)

TICKET_CHANGED = "ticket.changed"
AGENT_ROLES = (Role.SUPPORT_AGENT, Role.OWNER, Role.ADMIN)
VIP_PERCENTILE = 0.9  # CLV top 10%: routed to agents with the "vip" skill
# Built-in SLA targets for workspaces without their own policies (the shipped defaults match).
DEFAULT_SLAS: tuple[tuple[str, int, int], ...] = (("Urgent", 60, 30), ("High", 35, 120), ("Standard", 0, 480))
DEFAULT_TEAMS: tuple[dict[str, Any], ...] = (
    {
        "key": "payments",
        "name": "Payments",
        "kind": TeamKind.SUPPORT,
        "keywords": ["payment", "billing", "card", "refund", "invoice", "charge"],
        "is_default": False,
    },
    {"key": "general", "name": "General", "kind": TeamKind.SUPPORT, "keywords": [], "is_default": True},
    {"key": "sales", "name": "Sales", "kind": TeamKind.SALES, "keywords": [], "is_default": False},
)


class TicketError(ValueError):
    def __init__(self, errors: Mapping[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = dict(errors)


# --- defaults, teams and agents -------------------------------------------------------------------------------------


@transaction.atomic
def support_defaults_install(*, workspace: Workspace, actor: Any = None) -> None:
    """Shipped defaults: Payments, General and Sales teams and three SLA policies. Idempotent:
    existing rows (possibly edited by the workspace) are left alone."""
    created: list[str] = []
    for values in DEFAULT_TEAMS:
        _, made = Team.objects.get_or_create(
            workspace=workspace, key=values["key"], defaults={k: v for k, v in values.items() if k != "key"}
        )
        if made:
            created.append(f"team:{values['key']}")
    for name, floor, minutes in DEFAULT_SLAS:
        _, made = SlaPolicy.objects.get_or_create(
            workspace=workspace, min_priority=floor, defaults={"name": name, "resolve_minutes": minutes}
        )
        if made:
            created.append(f"sla:{name}")
    if created:
        audit_record(
            workspace=workspace,
            actor=actor,
            action="support.defaults_installed",
            target_type="Workspace",
            target_id=str(workspace.id),
            after={"created": created},
        )


@transaction.atomic
def agent_save(
    *,
    workspace: Workspace,
    actor: Actor,
    user: User,
    team: Team,
    skills: Sequence[str] = (),
    capacity: int = 10,
    available: bool = True,
) -> Agent:
    """Make a member an agent of a team (or change their skills, capacity, availability). Only
    support agents, owners and admins can work tickets or leads."""
    if team.workspace_id != workspace.id:
        raise TicketError({"team": "no such team in this workspace"})
    membership = Membership.objects.filter(workspace=workspace, user=user).first()
    if membership is None or membership.role not in AGENT_ROLES:
        raise TicketError({"user": "only support agents, owners and admins can be agents"})
    if capacity < 0:
        raise TicketError({"capacity": "must be 0 or more"})
    agent, made = Agent.objects.get_or_create(workspace=workspace, user=user, team=team)
    before = None if made else {"skills": agent.skills, "capacity": agent.capacity, "available": agent.available}
    agent.skills = sorted({s.strip().lower() for s in skills if s.strip()})
    agent.capacity = capacity
    agent.available = available
    agent.save()
    audit_record(
        workspace=workspace,
        actor=actor,
        action="support.agent_saved",
        target_type="Agent",
        target_id=str(agent.id),
        before=before,
        after={
            "user": user.get_username(),
            "team": team.key,
            "skills": agent.skills,
            "capacity": capacity,
            "available": available,
        },
    )
    return agent


# --- signals and priority -------------------------------------------------------------------------------------------


def _scores(profile: Profile) -> dict[str, tuple[float, Any]]:
    from scoring.models import ProfileScore

    rows = (
        ProfileScore.objects.filter(workspace_id=profile.workspace_id, profile=profile, action="")
        .order_by("updated_at")
        .values_list("kind", "value", "model_version_id")
    )
    return {kind: (float(value), version) for kind, value, version in rows}  # newest wins


def _clv_percentile(*, workspace_id: Any, value: float, model_version_id: Any) -> float | None:
    from scoring.models import ProfileScore

    peers = ProfileScore.objects.filter(
        workspace_id=workspace_id, kind="clv", action="", model_version_id=model_version_id
    )
    counts = peers.aggregate(total=Count("id"), below=Count("id", filter=Q(value__lt=value)))
    if counts["total"] < 2:
        return None
    return float(counts["below"]) / float(counts["total"] - 1)


def _recent_events(profile: Profile, now: datetime) -> list[tuple[str, datetime]]:
    from events.models import Event

    return list(
        Event.objects.filter(
            workspace_id=profile.workspace_id,
            profile_id=profile.id,
            timestamp__gte=now - timedelta(hours=24),
            timestamp__lte=now + timedelta(minutes=5),
            name__in=[*PAYMENT_EVENTS, *ERROR_EVENTS],
        ).values_list("name", "timestamp")
    )


def tone_label(text: str) -> str:
    """negative, neutral or positive; a doubtful negative counts as neutral."""
    tone = sentiment.tone(text)
    return "neutral" if tone.label == "negative" and not tone.is_negative else tone.label


def signals_gather(*, profile: Profile, now: datetime, tone: str) -> Signals:
    """``tone`` comes from tone_label(ticket text), computed once per ticket: the text does not
    change when the person's events do."""
    scores = _scores(profile)
    clv, clv_version = scores.get("clv", (None, None))
    churn = scores.get("churn", (None, None))[0]
    recent, day, errors = event_counts(_recent_events(profile, now), now=now)
    return Signals(
        clv=clv,
        clv_percentile=(
            _clv_percentile(workspace_id=profile.workspace_id, value=clv, model_version_id=clv_version)
            if clv is not None
            else None
        ),
        churn=churn,
        payment_failures_recent=recent,
        payment_failures_day=day,
        errors_hour=errors,
        negative_tone=tone == "negative",
    )


def _sla_for(workspace: Workspace, base: int) -> tuple[SlaPolicy | None, int]:
    policy = SlaPolicy.objects.filter(workspace=workspace, min_priority__lte=base).order_by("-min_priority").first()
    if policy is not None:
        return policy, policy.resolve_minutes
    if SlaPolicy.objects.filter(workspace=workspace).exists():
        return None, DEFAULT_SLAS[-1][2]
    minutes = next(m for _, floor, m in DEFAULT_SLAS if base >= floor)
    return None, minutes


def _sla_window(ticket: Ticket) -> timedelta | None:
    if ticket.sla_due_at is None:
        return None
    return ticket.sla_due_at - ticket.created_at


def _announce(ticket: Ticket, change: str) -> None:
    broadcast_after_commit(
        group=workspace_group(ticket.workspace_id),
        message_type=TICKET_CHANGED,
        payload={
            "id": str(ticket.id),
            "change": change,
            "status": ticket.status,
            "priority": ticket.priority,
            "assignee": ticket.assignee.get_username() if ticket.assignee else None,
            "subject": ticket.subject[:120],
        },
    )


def _apply_priority(ticket: Ticket, *, signals: Signals, now: datetime) -> bool:
    result = priority_compute(signals=signals, sla_due=ticket.sla_due_at, sla_window=_sla_window(ticket), now=now)
    changed = ticket.priority != result.total or ticket.priority_explanation != result.explanation
    ticket.priority = result.total
    ticket.priority_reasons = result.reasons
    ticket.priority_explanation = result.explanation
    ticket.prioritized_at = now
    return changed


@transaction.atomic
def ticket_prioritize(*, ticket: Ticket, now: datetime | None = None) -> bool:
    """Recompute a ticket's priority from the person's current scores, events and the clock.
    Returns whether the priority or its explanation changed (then the queue is told)."""
    now = now or timezone.now()
    ticket = Ticket.objects.select_for_update(of=("self",)).select_related("profile", "assignee").get(pk=ticket.pk)
    if not ticket.is_open:
        return False
    if not ticket.sentiment:
        ticket.sentiment = tone_label(f"{ticket.subject}\n{ticket.body}")
    signals = signals_gather(profile=ticket.profile, now=now, tone=ticket.sentiment)
    changed = _apply_priority(ticket, signals=signals, now=now)
    ticket.save(update_fields=["priority", "priority_reasons", "priority_explanation", "sentiment", "prioritized_at"])
    if changed:
        _announce(ticket, "prioritized")
    return changed


def tickets_reprioritize_for_profiles(*, workspace_id: Any, profile_ids: Iterable[Any]) -> int:
    """New events for these people: re-score their open tickets. Cheap when they have none."""
    ids = [str(p) for p in profile_ids]
    if not ids:
        return 0
    tickets = list(Ticket.objects.filter(workspace_id=workspace_id, profile_id__in=ids, status__in=OPEN_STATUSES))
    return sum(1 for ticket in tickets if ticket_prioritize(ticket=ticket))


def tickets_sla_refresh(*, now: datetime | None = None, horizon_minutes: int = 24 * 60) -> int:
    """Periodic: move the waiting-time part of open tickets whose SLA is due within the horizon
    (or breached) without re-reading scores and events. A ticket is rewritten (and the queue told)
    only when its points change or its SLA breaches. Returns how many changed."""
    now = now or timezone.now()
    changed = 0
    due = Ticket.objects.filter(
        status__in=OPEN_STATUSES, sla_due_at__isnull=False, sla_due_at__lte=now + timedelta(minutes=horizon_minutes)
    ).values_list("id", flat=True)
    for ticket_id in list(due[:5000]):
        with transaction.atomic():
            ticket = (
                Ticket.objects.select_for_update(of=("self",)).select_related("assignee").filter(pk=ticket_id).first()
            )
            if ticket is None or not ticket.is_open:
                continue
            kept = [r for r in ticket.priority_reasons if r.get("signal") != "sla"]
            base = min(100, sum(int(r.get("points", 0)) for r in kept))
            sla = sla_reason(due=ticket.sla_due_at, window=_sla_window(ticket), now=now)
            reasons = sorted([*kept, *([sla] if sla else [])], key=lambda r: (-r["points"], r["signal"]))
            result = Priority(base=base, total=min(100, sum(int(r["points"]) for r in reasons)), reasons=reasons)
            was_breached = any(r.get("breached") for r in ticket.priority_reasons)
            # Only when the points move or the SLA breaches: the minutes left change every run,
            # and the queue shows the live due time anyway.
            if result.total == ticket.priority and bool(sla and sla["breached"]) == was_breached:
                continue
            ticket.priority, ticket.priority_reasons = result.total, result.reasons
            ticket.priority_explanation, ticket.prioritized_at = result.explanation, now
            ticket.save(update_fields=["priority", "priority_reasons", "priority_explanation", "prioritized_at"])
            _announce(ticket, "prioritized")
            changed += 1
    return changed


# --- routing --------------------------------------------------------------------------------------------------------


def team_match(*, workspace: Workspace, tags: Sequence[str], subject: str) -> Team | None:
    """The first support team (by name) one of whose keywords appears in the tags or the
    subject; else the default support team; else none."""
    haystack = " ".join([*(t.lower() for t in tags), subject.lower()])
    teams = list(Team.objects.filter(workspace=workspace, kind=TeamKind.SUPPORT).order_by("name"))
    for team in teams:
        if any(word and word.lower() in haystack for word in team.keywords or []):
            return team
    return next((t for t in teams if t.is_default), None)


def skills_needed(*, profile: Profile, signals: Signals) -> list[str]:
    skills: list[str] = []
    if signals.clv_percentile is not None and signals.clv_percentile >= VIP_PERCENTILE:
        skills.append("vip")
    traits = profile.traits or {}
    language = str(traits.get("language") or traits.get("locale") or "").lower()[:2]
    if language.isalpha() and len(language) == 2 and language != "en":
        skills.append(f"lang:{language}")
    return skills


def agent_loads(*, workspace_id: Any, user_ids: Sequence[Any]) -> dict[Any, int]:
    rows = (
        Ticket.objects.filter(workspace_id=workspace_id, assignee_id__in=user_ids, status__in=OPEN_STATUSES)
        .values("assignee_id")
        .annotate(n=Count("id"))
    )
    return {row["assignee_id"]: row["n"] for row in rows}


def agent_pick(*, team: Team, skills: Sequence[str]) -> User | None:
    """Least-loaded available agent of the team who has every needed skill and room under their
    capacity; if nobody has the skills, the least-loaded agent with room; ties by username."""
    agents = list(Agent.objects.filter(team=team, available=True).select_related("user"))
    if not agents:
        return None
    loads = agent_loads(workspace_id=team.workspace_id, user_ids=[a.user_id for a in agents])
    with_room = [a for a in agents if loads.get(a.user_id, 0) < a.capacity]
    skilled = [a for a in with_room if set(skills) <= set(a.skills or [])]
    pool = skilled or with_room
    if not pool:
        return None
    best = min(pool, key=lambda a: (loads.get(a.user_id, 0), a.user.get_username()))
    return best.user


# --- tickets --------------------------------------------------------------------------------------------------------


def _actor_user(actor: Actor) -> User | None:
    if isinstance(actor, User) and actor.is_authenticated:
        return actor
    return None


def ticket_create(
    *,
    workspace: Workspace,
    profile: Profile,
    subject: str,
    body: str,
    channel: str = "playbook",
    tags: Sequence[str] = (),
    correlation_id: str = "",
    context: Mapping[str, Any] | None = None,
    actor: Actor = None,
) -> Ticket:
    """Open a ticket for a person: prioritized, given an SLA, routed to a team and an agent.
    Idempotent per (workspace, correlation_id): the same id returns the existing ticket."""
    correlation_id = (correlation_id or "").strip()[:200]
    if correlation_id:
        existing = Ticket.objects.filter(workspace=workspace, correlation_id=correlation_id).first()
        if existing is not None:
            return existing
    subject = (subject or "").strip()
    if not subject:
        raise TicketError({"subject": "a ticket needs a subject"})
    live = profile_find(workspace=workspace, profile_id=profile.id) if profile.merged_into_id else profile
    if live is None or live.workspace_id != workspace.id:
        raise TicketError({"profile": "no such person in this workspace"})
    clean_tags = list(dict.fromkeys(str(t).strip()[:80] for t in tags if str(t).strip()))[:20]
    try:
        with transaction.atomic():
            ticket = _ticket_insert(
                workspace=workspace,
                profile=live,
                subject=subject[:200],
                body=body or "",
                channel=channel,
                tags=clean_tags,
                correlation_id=correlation_id,
                context=dict(context or {}),
                actor=actor,
            )
    except IntegrityError:  # the same correlation id created concurrently
        if not correlation_id:
            raise
        return Ticket.objects.get(workspace=workspace, correlation_id=correlation_id)
    return ticket


def _ticket_insert(
    *,
    workspace: Workspace,
    profile: Profile,
    subject: str,
    body: str,
    channel: str,
    tags: list[str],
    correlation_id: str,
    context: dict[str, Any],
    actor: Actor,
) -> Ticket:
    now = timezone.now()
    tone = tone_label(f"{subject}\n{body}")
    signals = signals_gather(profile=profile, now=now, tone=tone)
    base = base_priority(signals)
    policy, minutes = _sla_for(workspace, base)
    team = team_match(workspace=workspace, tags=tags, subject=subject)
    skills = skills_needed(profile=profile, signals=signals)
    ticket = Ticket(
        workspace=workspace,
        profile=profile,
        subject=subject,
        body=body,
        channel=channel[:20],
        tags=tags,
        correlation_id=correlation_id,
        context=context,
        team=team,
        skills=skills,
        sla_policy=policy,
        created_at=now,
        sla_due_at=now + timedelta(minutes=minutes),
        created_by=actor_label(actor),
        sentiment=tone,
    )
    _apply_priority(ticket, signals=signals, now=now)
    assignee = agent_pick(team=team, skills=skills) if team is not None else None
    if assignee is not None:
        ticket.assignee = assignee
        ticket.status = TicketStatus.OPEN
    ticket.save(force_insert=True)
    audit_record(
        workspace=workspace,
        actor=actor,
        action="ticket.created",
        target_type="Ticket",
        target_id=str(ticket.id),
        after={
            "subject": subject,
            "channel": ticket.channel,
            "tags": tags,
            "priority": ticket.priority,
            "team": team.key if team else None,
            "assignee": assignee.get_username() if assignee else None,
            "correlation_id": correlation_id,
        },
    )
    _announce(ticket, "created")
    return ticket


def _ticket_for_change(ticket: Ticket) -> Ticket:
    return Ticket.objects.select_for_update(of=("self",)).select_related("assignee", "team").get(pk=ticket.pk)


@transaction.atomic
def ticket_assign(*, ticket: Ticket, actor: Actor, assignee: User | None) -> Ticket:
    """Give a ticket to a member who can work tickets (None: back to the team queue)."""
    ticket = _ticket_for_change(ticket)
    if not ticket.is_open:
        raise TicketError({"status": f"the ticket is {ticket.get_status_display().lower()}"})
    if assignee is not None:
        membership = Membership.objects.filter(workspace_id=ticket.workspace_id, user=assignee).first()
        if membership is None or membership.role not in AGENT_ROLES:
            raise TicketError({"assignee": "only support agents, owners and admins can take tickets"})
    before = ticket.assignee.get_username() if ticket.assignee else None
    ticket.assignee = assignee
    ticket.status = TicketStatus.OPEN if assignee is not None else TicketStatus.NEW
    ticket.save(update_fields=["assignee", "status", "updated_at"])
    audit_record(
        workspace=ticket.workspace,
        actor=actor,
        action="ticket.assigned",
        target_type="Ticket",
        target_id=str(ticket.id),
        before={"assignee": before},
        after={"assignee": assignee.get_username() if assignee else None},
    )
    _announce(ticket, "assigned")
    return ticket


def ticket_claim(*, ticket: Ticket, actor: Actor) -> Ticket:
    user = _actor_user(actor)
    if user is None:
        reason = "an API key cannot claim" if isinstance(actor, ApiKeyPrincipal) else "sign in to claim"
        raise TicketError({"assignee": f"{reason}; assign the ticket to a named member instead"})
    return ticket_assign(ticket=ticket, actor=actor, assignee=user)


@transaction.atomic
def ticket_resolve(*, ticket: Ticket, actor: Actor, note: str = "") -> Ticket:
    ticket = _ticket_for_change(ticket)
    if not ticket.is_open:
        raise TicketError({"status": f"the ticket is already {ticket.get_status_display().lower()}"})
    before = ticket.status
    ticket.status = TicketStatus.RESOLVED
    ticket.resolved_at = timezone.now()
    if ticket.assignee is None and _actor_user(actor) is not None:
        ticket.assignee = _actor_user(actor)
    ticket.save(update_fields=["status", "resolved_at", "assignee", "updated_at"])
    audit_record(
        workspace=ticket.workspace,
        actor=actor,
        action="ticket.resolved",
        target_type="Ticket",
        target_id=str(ticket.id),
        before={"status": before},
        after={"status": ticket.status},
        reason=note[:500],
    )
    _announce(ticket, "resolved")
    return ticket


# --- subject rights -------------------------------------------------------------------------------------------------


def tickets_export_for_subject(*, workspace: Workspace, profile_ids: Sequence[UUID]) -> list[dict[str, Any]]:
    return [
        {
            "id": str(t.id),
            "subject": t.subject,
            "body": t.body,
            "channel": t.channel,
            "status": t.status,
            "tags": t.tags,
            "context": t.context,
            "priority": t.priority,
            "priority_explanation": t.priority_explanation,
            "created_at": t.created_at.isoformat(),
            "resolved_at": t.resolved_at.isoformat() if t.resolved_at else None,
        }
        for t in Ticket.objects.filter(workspace=workspace, profile_id__in=list(profile_ids)).order_by("created_at")
    ]


def tickets_erase_for_subject(
    *, workspace: Workspace, profile_ids: Sequence[UUID], identifiers: Sequence[tuple[str, str]]
) -> int:
    """Tickets are the person's own words and details: they are deleted, not anonymised."""
    deleted, _ = Ticket.objects.filter(workspace=workspace, profile_id__in=list(profile_ids)).delete()
    return deleted
