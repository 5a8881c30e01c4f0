"""Sales leads: scored by conversion propensity, routed to reps by availability and recent close
rate, and an account recommendation card that says what to do next and why (docs/support.md)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from accounts.models import Workspace
from accounts.principals import Actor
from audit.services import audit_record
from core.broadcast import broadcast_after_commit, workspace_group
from profiles.models import Profile
from profiles.selectors import profile_find
from support import sentiment
from support.models import OPEN_LEAD_STATUSES, Agent, Lead, LeadStatus, TeamKind, Ticket

CLOSE_RATE_DAYS = 90
REPLY_EVENTS = ("Email Replied", "Reply Received", "Message Received", "email_replied")
REPLY_TEXT_KEYS = ("text", "body", "message", "reply")
RENEWAL_KEYS = ("renewal_date", "renewal_at", "contract_end", "renews_at")
LEAD_CHANGED = "lead.changed"


class LeadError(ValueError):
    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def lead_score(*, profile: Profile) -> tuple[float, list[str]]:
    """Conversion propensity from scoring, with its explanation; 0 when the person is unscored."""
    from scoring.models import ProfileScore

    row = (
        ProfileScore.objects.filter(workspace_id=profile.workspace_id, profile=profile, kind="conversion", action="")
        .order_by("-updated_at")
        .values_list("value", "explanation")
        .first()
    )
    if row is None:
        return 0.0, ["no conversion score yet"]
    value, explanation = row
    texts = [str(item["text"]) for item in (explanation or []) if isinstance(item, dict) and item.get("text")]
    return float(value), texts[:3]


@dataclass(frozen=True)
class RepStanding:
    user: User
    won: int
    lost: int
    open_leads: int
    capacity: int

    @property
    def close_rate(self) -> float:
        # Smoothed (one win and one loss assumed) so a rep with one lucky close does not outrank
        # a rep with a long record.
        return (self.won + 1) / (self.won + self.lost + 2)


def rep_standings(*, workspace: Workspace, now: datetime | None = None) -> list[RepStanding]:
    now = now or timezone.now()
    agents = list(
        Agent.objects.filter(workspace=workspace, team__kind=TeamKind.SALES, available=True).select_related("user")
    )
    if not agents:
        return []
    since = now - timedelta(days=CLOSE_RATE_DAYS)
    rows = {
        row["owner_id"]: row
        for row in Lead.objects.filter(workspace=workspace, owner_id__in=[a.user_id for a in agents])
        .values("owner_id")
        .annotate(
            won=Count("id", filter=Q(status=LeadStatus.WON, closed_at__gte=since)),
            lost=Count("id", filter=Q(status=LeadStatus.LOST, closed_at__gte=since)),
            open_leads=Count("id", filter=Q(status__in=OPEN_LEAD_STATUSES)),
        )
    }
    standings: dict[Any, RepStanding] = {}
    for agent in agents:
        row: dict[str, Any] = dict(rows.get(agent.user_id) or {})
        previous = standings.get(agent.user_id)
        capacity = agent.capacity + (previous.capacity if previous else 0)
        standings[agent.user_id] = RepStanding(
            user=agent.user,
            won=row.get("won", 0),
            lost=row.get("lost", 0),
            open_leads=row.get("open_leads", 0),
            capacity=capacity,
        )
    return list(standings.values())


def rep_pick(*, workspace: Workspace, now: datetime | None = None) -> User | None:
    """Available sales rep with room under capacity and the best recent close rate; ties go to
    the rep with fewer open leads, then by username."""
    candidates = [s for s in rep_standings(workspace=workspace, now=now) if s.open_leads < s.capacity]
    if not candidates:
        return None
    best = min(candidates, key=lambda s: (-s.close_rate, s.open_leads, s.user.get_username()))
    return best.user


def _account_of(profile: Profile) -> str:
    traits = profile.traits or {}
    for key in ("company", "account", "company_name"):
        if traits.get(key):
            return str(traits[key])[:200]
    for group_id, group in (profile.groups or {}).items():
        name = (group or {}).get("traits", {}).get("name") if isinstance(group, dict) else None
        return str(name or group_id)[:200]
    return ""


def _announce(lead: Lead, change: str) -> None:
    broadcast_after_commit(
        group=workspace_group(lead.workspace_id),
        message_type=LEAD_CHANGED,
        payload={"id": str(lead.id), "change": change, "status": lead.status, "score": round(lead.score, 4)},
    )


def lead_create(
    *,
    workspace: Workspace,
    profile: Profile,
    account: str = "",
    task: str = "",
    source: str = "ui",
    correlation_id: str = "",
    actor: Actor = None,
) -> Lead:
    """Open a lead for a person, scored and routed to a rep. Idempotent per correlation id."""
    correlation_id = (correlation_id or "").strip()[:200]
    if correlation_id:
        existing = Lead.objects.filter(workspace=workspace, correlation_id=correlation_id).first()
        if existing is not None:
            return existing
    live = profile_find(workspace=workspace, profile_id=profile.id)
    if live is None:
        raise LeadError({"profile": "no such person in this workspace"})
    score, reasons = lead_score(profile=live)
    try:
        with transaction.atomic():
            lead = Lead.objects.create(
                workspace=workspace,
                profile=live,
                account=(account or _account_of(live))[:200],
                score=score,
                score_reasons=reasons,
                owner=rep_pick(workspace=workspace),
                task=task[:300],
                source=source[:20],
                correlation_id=correlation_id,
            )
            audit_record(
                workspace=workspace,
                actor=actor,
                action="lead.created",
                target_type="Lead",
                target_id=str(lead.id),
                after={
                    "account": lead.account,
                    "score": round(score, 4),
                    "owner": lead.owner.get_username() if lead.owner else None,
                    "source": lead.source,
                },
            )
            _announce(lead, "created")
    except IntegrityError:
        if not correlation_id:
            raise
        return Lead.objects.get(workspace=workspace, correlation_id=correlation_id)
    return lead


@transaction.atomic
def lead_close(*, lead: Lead, actor: Actor, won: bool) -> Lead:
    lead = Lead.objects.select_for_update().get(pk=lead.pk)
    if lead.status not in OPEN_LEAD_STATUSES:
        raise LeadError({"status": f"the lead is already {lead.get_status_display().lower()}"})
    before = lead.status
    lead.status = LeadStatus.WON if won else LeadStatus.LOST
    lead.closed_at = timezone.now()
    lead.save(update_fields=["status", "closed_at", "updated_at"])
    audit_record(
        workspace=lead.workspace,
        actor=actor,
        action="lead.closed",
        target_type="Lead",
        target_id=str(lead.id),
        before={"status": before},
        after={"status": lead.status},
    )
    _announce(lead, "closed")
    return lead


# --- the account recommendation card --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Recommendation:
    facts: list[str]
    outreach: str
    why: str
    pricing_visits: int
    last_reply_tone: str | None
    renewal_in_days: int | None
    score: float
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def headline(self) -> str:
        return ", ".join(self.facts) if self.facts else "no recent signals"


def _pricing_visits(profile: Profile, since: datetime) -> int:
    from events.models import Event

    return (
        Event.objects.filter(
            workspace_id=profile.workspace_id, profile_id=profile.id, timestamp__gte=since, type__in=["page", "track"]
        )
        .filter(
            Q(name__icontains="pricing")
            | Q(properties__path__icontains="pricing")
            | Q(properties__url__icontains="pricing")
        )
        .count()
    )


def _last_reply(profile: Profile) -> tuple[str | None, datetime | None]:
    """Text of the person's latest reply (a reply event, else their newest ticket) and when."""
    from events.models import Event

    event = (
        Event.objects.filter(workspace_id=profile.workspace_id, profile_id=profile.id, name__in=REPLY_EVENTS)
        .order_by("-timestamp")
        .values_list("properties", "timestamp")
        .first()
    )
    ticket = (
        Ticket.objects.filter(workspace_id=profile.workspace_id, profile=profile)
        .order_by("-created_at")
        .values_list("subject", "body", "created_at")
        .first()
    )
    if event is not None and isinstance(event[0], dict):
        properties, replied_at = event
        text = next((str(properties[k]) for k in REPLY_TEXT_KEYS if properties.get(k)), None)
        if text and (ticket is None or replied_at >= ticket[2]):
            return text, replied_at
    if ticket is not None:
        return f"{ticket[0]}. {ticket[1]}", ticket[2]
    return None, None


def _renewal(profile: Profile) -> date | None:
    sources: list[dict[str, Any]] = [profile.traits or {}]
    sources += [g.get("traits", {}) for g in (profile.groups or {}).values() if isinstance(g, dict)]
    for traits in sources:
        for key in RENEWAL_KEYS:
            raw = traits.get(key)
            if not raw:
                continue
            text = str(raw)
            moment = parse_datetime(text)
            found = moment.date() if moment else parse_date(text[:10])
            if found:
                return found
    return None


def _plural(n: int, word: str) -> str:
    names = {1: "once", 2: "twice"}
    return names.get(n, f"{n} times") if word == "times" else f"{n} {word}{'s' if n != 1 else ''}"


def lead_recommendation(*, lead: Lead, now: datetime | None = None) -> Recommendation:
    """What the rep should do next for this account, from behaviour, tone and the contract date."""
    now = now or timezone.now()
    profile = lead.profile
    visits = _pricing_visits(profile, now - timedelta(days=7))
    reply_text, reply_at = _last_reply(profile)
    tone = sentiment.tone(reply_text).label if reply_text else None
    renewal = _renewal(profile)
    renewal_days = (renewal - now.date()).days if renewal else None
    facts: list[str] = []
    if visits:
        facts.append(f"visited pricing {_plural(visits, 'times')} this week")
    if tone:
        facts.append(f"last reply {tone}")
    if renewal_days is not None:
        facts.append(
            f"renewal in {renewal_days} days" if renewal_days >= 0 else f"renewal lapsed {-renewal_days} days ago"
        )
    renewal_soon = renewal_days is not None and 0 <= renewal_days <= 90
    if tone == "negative":
        outreach = "Call to resolve their concerns before any offer"
        why = "their last message was negative; a pitch now would land badly"
    elif renewal_soon and visits >= 2:
        outreach = "Propose an upgrade with the renewal"
        why = "they are comparing plans while the renewal decision is close"
    elif renewal_soon:
        outreach = "Book a renewal check-in"
        why = "the renewal is within 90 days and nobody has talked to them yet"
    elif visits >= 2:
        outreach = "Send a tailored quote and offer a demo"
        why = "repeated pricing visits show buying intent"
    elif lead.score >= 0.5:
        outreach = "Reach out with a personal introduction"
        why = f"conversion propensity is {round(lead.score * 100)}%"
    else:
        outreach = "Add to a nurture sequence"
        why = "no strong buying signal yet"
    if tone == "positive" and tone != "negative":
        why += "; their last reply was positive, so they are receptive"
    return Recommendation(
        facts=facts,
        outreach=outreach,
        why=why,
        pricing_visits=visits,
        last_reply_tone=tone,
        renewal_in_days=renewal_days,
        score=lead.score,
        details={"last_reply_at": reply_at.isoformat() if reply_at else None},
    )


# --- subject rights -------------------------------------------------------------------------------------------------


def leads_export_for_subject(*, workspace: Workspace, profile_ids: Sequence[UUID]) -> list[dict[str, Any]]:
    return [
        {
            "id": str(lead.id),
            "account": lead.account,
            "status": lead.status,
            "score": lead.score,
            "task": lead.task,
            "source": lead.source,
            "created_at": lead.created_at.isoformat(),
            "closed_at": lead.closed_at.isoformat() if lead.closed_at else None,
        }
        for lead in Lead.objects.filter(workspace=workspace, profile_id__in=list(profile_ids)).order_by("created_at")
    ]


def leads_erase_for_subject(
    *, workspace: Workspace, profile_ids: Sequence[UUID], identifiers: Sequence[tuple[str, str]]
) -> int:
    deleted, _ = Lead.objects.filter(workspace=workspace, profile_id__in=list(profile_ids)).delete()
    return deleted
