"""Earned autonomy: how much an action may do without a human, from its track record.

Levels (``Action.autonomy``): always ask -> act and notify -> act alone. The engine reads the
level (decisions.engine.needs_approval): high-risk actions always ask whatever the level,
medium-risk ones ask unless the level is act and notify or act alone, low-risk ones ask only
when set to always ask.

The trust model changes the level of medium-risk actions only:

- promote (always ask -> act and notify) when, within the window, the action has at least
  ``min_reviews`` human reviews, at least ``promote_approval_rate`` of them approved (edited
  and approved counts as approved), and a complaint rate below ``max_complaint_rate``;
- demote (back to always ask) when the complaint rate reaches ``max_complaint_rate``, or when
  at least ``demote_min_reviews`` reviews show an approval rate below ``demote_approval_rate``.

High-risk actions set to anything but always ask are put back to always ask. Low-risk actions
are left as configured. Every change goes through ``action_save`` (a new catalog version and an
audit entry) plus a ``trust.promoted`` / ``trust.demoted`` entry carrying the track record.
Thresholds come from ``settings.DECISIONS_TRUST`` (keys as in ``TrustThresholds``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from accounts.models import Workspace
from accounts.principals import Actor
from audit.services import audit_record
from decisions.models import (
    ACTED_STATUSES,
    Action,
    ApprovalResult,
    ApprovalReview,
    Autonomy,
    Decision,
    OutcomeKind,
    RiskTier,
)


@dataclass(frozen=True)
class TrustThresholds:
    min_reviews: int = 20
    promote_approval_rate: Decimal = Decimal("0.95")
    max_complaint_rate: Decimal = Decimal("0.02")
    demote_approval_rate: Decimal = Decimal("0.90")
    demote_min_reviews: int = 5
    window_days: int = 90


def trust_thresholds() -> TrustThresholds:
    configured: dict[str, Any] = dict(getattr(settings, "DECISIONS_TRUST", {}) or {})
    values: dict[str, Any] = {}
    for f in fields(TrustThresholds):
        if f.name in configured:
            default = getattr(TrustThresholds, f.name)
            values[f.name] = (
                Decimal(str(configured[f.name])) if isinstance(default, Decimal) else int(configured[f.name])
            )
    return TrustThresholds(**values)


@dataclass(frozen=True)
class TrackRecord:
    reviews: int = 0  # approved + edited + rejected (expired proposals were not judged)
    approved: int = 0  # including edited and approved
    edited: int = 0
    rejected: int = 0
    expired: int = 0
    acted: int = 0  # decisions of this action that reached the person
    complaints: int = 0  # of those, how many drew a complaint

    @property
    def approval_rate(self) -> Decimal | None:
        return Decimal(self.approved) / Decimal(self.reviews) if self.reviews else None

    @property
    def complaint_rate(self) -> Decimal:
        return Decimal(self.complaints) / Decimal(self.acted) if self.acted else Decimal(0)


@dataclass(frozen=True)
class TrustVerdict:
    action_key: str
    action_name: str
    risk_tier: str
    level: str  # the current level
    recommended: str
    change: str  # "promote", "demote" or ""
    why: str
    record: TrackRecord

    @property
    def level_label(self) -> str:
        return str(Autonomy(self.level).label)

    @property
    def recommended_label(self) -> str:
        return str(Autonomy(self.recommended).label)


def _percent(value: Decimal | None) -> str:
    return "—" if value is None else f"{(value * 100).quantize(Decimal('0.1'))}%"


def trust_assess(
    *, risk_tier: str, level: str, record: TrackRecord, thresholds: TrustThresholds, key: str = "", name: str = ""
) -> TrustVerdict:
    """The level an action should have given its record. Pure: the thresholds are exact (>=, <)."""
    t = thresholds
    summary = (
        f"{record.reviews} reviews, {_percent(record.approval_rate)} approved, "
        f"{_percent(record.complaint_rate)} complaints over {record.acted} sent (last {t.window_days} days)"
    )

    def verdict(recommended: str, why: str) -> TrustVerdict:
        change = ""
        if recommended != level:
            change = "promote" if _rank(recommended) > _rank(level) else "demote"
        return TrustVerdict(key, name, risk_tier, level, recommended, change, why, record)

    if risk_tier == RiskTier.HIGH:
        return verdict(Autonomy.ALWAYS_ASK, "High risk: a person always decides.")
    if risk_tier == RiskTier.LOW:
        return verdict(level, f"Low risk: acts as configured ({Autonomy(level).label.lower()}). {summary}.")
    if level == Autonomy.ALWAYS_ASK:
        missing = _promotion_missing(record, t)
        if missing:
            return verdict(Autonomy.ALWAYS_ASK, f"Keeps asking: {summary}; {', '.join(missing)}.")
        return verdict(Autonomy.ACT_AND_NOTIFY, f"Earned autonomy: {summary}.")
    problem = _demotion_cause(record, t)
    if problem:
        return verdict(Autonomy.ALWAYS_ASK, f"{problem}: {summary}.")
    return verdict(level, f"Keeps its autonomy: {summary}.")


def _promotion_missing(record: TrackRecord, t: TrustThresholds) -> list[str]:
    missing = []
    rate = record.approval_rate
    if record.reviews < t.min_reviews:
        missing.append(f"needs {t.min_reviews} reviews")
    if rate is None or rate < t.promote_approval_rate:
        missing.append(f"needs at least {_percent(t.promote_approval_rate)} approved")
    if record.complaint_rate >= t.max_complaint_rate:
        missing.append(f"needs complaints below {_percent(t.max_complaint_rate)}")
    return missing


def _demotion_cause(record: TrackRecord, t: TrustThresholds) -> str:
    rate = record.approval_rate
    if record.acted and record.complaint_rate >= t.max_complaint_rate:
        return f"Complaints reached the bound of {_percent(t.max_complaint_rate)}"
    if rate is not None and record.reviews >= t.demote_min_reviews and rate < t.demote_approval_rate:
        return f"Rejections rose: approvals fell below {_percent(t.demote_approval_rate)}"
    return ""


_ORDER = [Autonomy.ALWAYS_ASK, Autonomy.ACT_AND_NOTIFY, Autonomy.ACT_ALONE]


def _rank(level: str) -> int:
    return _ORDER.index(Autonomy(level))


def track_records(
    *, workspace: Workspace, action_keys: Sequence[str], now: datetime | None = None, window_days: int = 90
) -> dict[str, TrackRecord]:
    since = (now or timezone.now()) - timedelta(days=window_days)
    reviews = {
        row["action_key"]: row
        for row in ApprovalReview.objects.filter(workspace=workspace, action_key__in=action_keys, decided_at__gte=since)
        .order_by()
        .values("action_key")
        .annotate(
            approved=Count("id", filter=Q(result=ApprovalResult.APPROVED)),
            edited=Count("id", filter=Q(result=ApprovalResult.EDITED)),
            rejected=Count("id", filter=Q(result=ApprovalResult.REJECTED)),
            expired=Count("id", filter=Q(result=ApprovalResult.EXPIRED)),
        )
    }
    sent = {
        row["chosen_key"]: row
        for row in Decision.objects.filter(
            workspace=workspace, chosen_key__in=action_keys, status__in=ACTED_STATUSES, created_at__gte=since
        )
        .order_by()
        .values("chosen_key")
        .annotate(
            acted=Count("id", distinct=True),
            complaints=Count("id", filter=Q(outcomes__kind=OutcomeKind.COMPLAINED), distinct=True),
        )
    }
    records = {}
    for key in action_keys:
        r: Any = reviews.get(key, {})
        s: Any = sent.get(key, {})
        approved, edited, rejected = r.get("approved", 0), r.get("edited", 0), r.get("rejected", 0)
        records[key] = TrackRecord(
            reviews=approved + edited + rejected,
            approved=approved + edited,
            edited=edited,
            rejected=rejected,
            expired=r.get("expired", 0),
            acted=s.get("acted", 0),
            complaints=s.get("complaints", 0),
        )
    return records


def trust_report(*, workspace: Workspace, now: datetime | None = None) -> list[TrustVerdict]:
    """Every action's record, level, recommended level and why (no changes made)."""
    thresholds = trust_thresholds()
    actions = list(Action.objects.filter(workspace=workspace).order_by("name"))
    records = track_records(
        workspace=workspace, action_keys=[a.key for a in actions], now=now, window_days=thresholds.window_days
    )
    return [
        trust_assess(
            risk_tier=a.risk_tier,
            level=a.autonomy,
            record=records[a.key],
            thresholds=thresholds,
            key=a.key,
            name=a.name,
        )
        for a in actions
    ]


@transaction.atomic
def trust_evaluate(
    *,
    workspace: Workspace,
    actor: Actor = None,
    action_keys: Sequence[str] | None = None,
    now: datetime | None = None,
) -> list[TrustVerdict]:
    """Apply the trust model: change the level of every action whose record calls for it.
    Returns the verdicts that changed something."""
    from decisions.services import action_save

    thresholds = trust_thresholds()
    actions = Action.objects.filter(workspace=workspace)
    if action_keys is not None:
        actions = actions.filter(key__in=list(action_keys))
    actions_list = list(actions.exclude(risk_tier=RiskTier.LOW))
    records = track_records(
        workspace=workspace, action_keys=[a.key for a in actions_list], now=now, window_days=thresholds.window_days
    )
    changed = []
    for action in actions_list:
        verdict = trust_assess(
            risk_tier=action.risk_tier,
            level=action.autonomy,
            record=records[action.key],
            thresholds=thresholds,
            key=action.key,
            name=action.name,
        )
        if not verdict.change:
            continue
        action_save(
            workspace=workspace,
            actor=actor,
            action=action,
            values={"autonomy": verdict.recommended},
            reason=f"trust model: {verdict.why}",
        )
        audit_record(
            workspace=workspace,
            actor=actor,
            action=f"trust.{verdict.change}d",
            target_type="Action",
            target_id=action.key,
            before={"autonomy": verdict.level},
            after={"autonomy": verdict.recommended, "record": _record_json(verdict.record)},
            reason=verdict.why,
        )
        changed.append(verdict)
    return changed


def _record_json(record: TrackRecord) -> dict[str, Any]:
    data: dict[str, Any] = asdict(record)
    rate = record.approval_rate
    data["approval_rate"] = str(rate.quantize(Decimal("0.0001"))) if rate is not None else None
    data["complaint_rate"] = str(record.complaint_rate.quantize(Decimal("0.0001")))
    return data


def trust_evaluate_all(*, now: datetime | None = None) -> int:
    """Beat: re-assess every workspace's actions (complaints arrive after the reviews)."""
    changed = 0
    workspace_ids = Action.objects.exclude(risk_tier=RiskTier.LOW).order_by().values_list("workspace_id", flat=True)
    for workspace in Workspace.objects.filter(id__in=workspace_ids.distinct()):
        changed += len(trust_evaluate(workspace=workspace, now=now))
    return changed
