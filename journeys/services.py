"""Writes of the journeys app: signals and playbooks (versioned, audited), signal evaluation,
and playbook runs whose steps act once each.

A fired signal starts every enabled playbook attached to it for that person, unless the same
playbook already ran for them within its episode window (``reentry_hours``, 24 h by default)
or this very trigger (event ids) already started it: replays change nothing. Each step has a
correlation id (``playbook:<run>:<step>``) that makes its effect idempotent (the suppression
window's source, the delivery's key, the ticket's correlation id), is recorded in the decision
log (``decisions.recording.decision_record``) and the audit trail, and waits for approval when
its risk tier says so; approval (``decision.approved``) resumes it. Transient failures are
retried by the task with exponential backoff, up to ``JOURNEYS_STEP_MAX_ATTEMPTS`` (5).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Max
from django.forms.models import model_to_dict
from django.utils import timezone

from accounts.models import Workspace
from accounts.principals import Actor, actor_label
from audit.services import audit_record
from decisions.conditions import ConditionError, compile_condition
from decisions.engine import render
from decisions.models import Decision, DecisionStatus
from journeys.definitions import needs_approval, score_rule_matches, signal_errors, step_errors
from journeys.models import (
    PLAYBOOK_EDITABLE_FIELDS,
    SIGNAL_EDITABLE_FIELDS,
    Playbook,
    PlaybookRun,
    PlaybookStep,
    RunStatus,
    Signal,
    SignalKind,
    StepStatus,
)
from profiles.models import Profile

logger = logging.getLogger(__name__)


class JourneyError(ValueError):
    def __init__(self, errors: Mapping[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = dict(errors)


class StepRetry(Exception):
    """A step failed in a way that may pass later; the task retries after ``delay`` seconds."""

    def __init__(self, message: str, delay: float) -> None:
        super().__init__(message)
        self.delay = delay


class StepFailed(Exception):
    """A step that cannot succeed as configured (no such endpoint, ...): not retried."""


# --- versioned, audited saves -------------------------------------------------------------------------------------


def _snapshot(instance: Signal | Playbook, fields: Sequence[str]) -> dict[str, Any]:
    values = model_to_dict(instance, fields=fields)
    if isinstance(instance, Playbook):
        values["signal"] = instance.signal.key if instance.signal_id else None
    return {k: (str(v) if isinstance(v, Decimal | datetime) else v) for k, v in values.items()}


def _versioned_save(
    *,
    instance: Signal | Playbook,
    creating: bool,
    workspace: Workspace,
    actor: Actor,
    values: Mapping[str, Any],
    fields: Sequence[str],
    reason: str,
) -> None:
    noun = type(instance).__name__.lower()
    before = None if creating else _snapshot(instance, fields)
    if not creating:
        instance.version += 1
    for name in fields:
        if name in values:
            setattr(instance, name, values[name])
    try:
        with transaction.atomic():
            instance.save()
    except IntegrityError:
        raise JourneyError({"key": f"another {noun} already uses this key"}) from None
    after = _snapshot(instance, fields)
    instance.versions.create(version=instance.version, snapshot=after, changed_by=actor_label(actor))
    audit_record(
        workspace=workspace,
        actor=actor,
        action=f"{noun}.created" if creating else f"{noun}.changed",
        target_type=type(instance).__name__,
        target_id=instance.key,
        before=before,
        after=after,
        reason=reason,
    )


@transaction.atomic
def signal_save(
    *, workspace: Workspace, actor: Actor, values: Mapping[str, Any], signal: Signal | None = None, reason: str = ""
) -> Signal:
    kind = values.get("kind", signal.kind if signal else "")
    definition = values.get("definition", signal.definition if signal else {})
    condition = str(values.get("condition", signal.condition if signal else "") or "")
    errors = signal_errors(str(kind), definition, condition)
    if "key" in values and not str(values["key"] or "").strip():
        errors["key"] = "give the signal a key"
    if errors:
        raise JourneyError(errors)
    creating = signal is None
    instance = (
        Signal.objects.select_for_update().get(pk=signal.pk) if signal is not None else Signal(workspace=workspace)
    )
    _versioned_save(
        instance=instance,
        creating=creating,
        workspace=workspace,
        actor=actor,
        values=values,
        fields=SIGNAL_EDITABLE_FIELDS,
        reason=reason,
    )
    return instance


@transaction.atomic
def playbook_save(
    *,
    workspace: Workspace,
    actor: Actor,
    values: Mapping[str, Any],
    playbook: Playbook | None = None,
    reason: str = "",
) -> Playbook:
    from delivery.models import WebhookEndpoint

    steps = values.get("steps", playbook.steps if playbook else [])
    endpoint_keys = list(WebhookEndpoint.objects.filter(workspace=workspace).values_list("key", flat=True))
    errors = step_errors(steps, endpoint_keys=endpoint_keys)
    signal = values.get("signal", playbook.signal if playbook else None)
    if not isinstance(signal, Signal) or signal.workspace_id != workspace.id:
        errors["signal"] = "choose the signal that starts this playbook"
    hours = values.get("reentry_hours", playbook.reentry_hours if playbook else 24)
    if isinstance(hours, bool) or not isinstance(hours, int | float) or not 0 <= float(hours) <= 24 * 365:
        errors["reentry_hours"] = "must be hours from 0 to 8760"
    if errors:
        raise JourneyError(errors)
    creating = playbook is None
    instance = (
        Playbook.objects.select_for_update().get(pk=playbook.pk)
        if playbook is not None
        else Playbook(workspace=workspace)
    )
    _versioned_save(
        instance=instance,
        creating=creating,
        workspace=workspace,
        actor=actor,
        values=values,
        fields=PLAYBOOK_EDITABLE_FIELDS,
        reason=reason,
    )
    return instance


# --- the person as a condition sees them ----------------------------------------------------------------------------


def person_data(profile: Profile, context: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Traits, scores (each with ``<kind>_percentile``: the share of the workspace's people
    scoring below this person, so "top 20 % by CLV" is ``scores.clv_percentile >= 0.8``)."""
    from scoring.models import ProfileScore

    scores: dict[str, Any] = {}
    rows = ProfileScore.objects.filter(workspace_id=profile.workspace_id, profile=profile, action="").values_list(
        "kind", "value"
    )
    for kind, value in rows:
        scores[kind] = float(value)
        everyone = ProfileScore.objects.filter(workspace_id=profile.workspace_id, kind=kind, action="")
        total = everyone.count()
        scores[f"{kind}_percentile"] = everyone.filter(value__lt=value).count() / total if total else 0.0
    return {
        "traits": profile.traits or {},
        "scores": scores,
        "profile": {"id": str(profile.id)},
        "context": dict(context or {}),
    }


def _condition_holds(signal: Signal, data: Mapping[str, Any]) -> bool:
    if not signal.condition.strip():
        return True
    try:
        return bool(compile_condition(signal.condition)(data))
    except ConditionError:  # validated on save; a stale one simply does not match
        return False


def _display_name(profile: Profile) -> str:
    traits = profile.traits or {}
    for key in ("first_name", "firstName", "name", "email"):
        if traits.get(key):
            return str(traits[key])
    return f"person {str(profile.id)[:8]}"


# --- firing signals -----------------------------------------------------------------------------------------------


def _payment_summary(events: Sequence[Mapping[str, Any]]) -> str:
    lines = []
    for event in events:
        props = event.get("properties") or {}
        amount = props.get("amount", props.get("total", props.get("value")))
        parts = [str(event.get("timestamp", ""))[:19].replace("T", " ")]
        if amount is not None:
            parts.append(f"{amount} {props.get('currency', '')}".strip())
        for key in ("reason", "error", "decline_code", "method", "card_brand", "order_id", "cart_id"):
            if props.get(key):
                parts.append(f"{key.replace('_', ' ')}: {props[key]}")
        lines.append("- " + ", ".join(parts))
    return "\n".join(lines)


def signal_fire(
    *, signal: Signal, profile: Profile, trigger_ref: str, facts: Mapping[str, Any], because: str
) -> list[PlaybookRun]:
    """The signal holds for this person: start its playbooks (each subject to re-entry rules)."""
    data = person_data(profile, facts)
    if not _condition_holds(signal, data):
        return []
    runs = []
    for playbook in Playbook.objects.filter(workspace_id=signal.workspace_id, signal=signal, enabled=True):
        run = playbook_run_start(
            playbook=playbook, profile=profile, trigger_ref=trigger_ref, context=dict(facts), because=because
        )
        if run is not None:
            runs.append(run)
    return runs


def signals_evaluate_events(*, workspace: Workspace, event_ids: Sequence[Any]) -> list[PlaybookRun]:
    """Event-count and trait-change signals over newly ingested events."""
    from events.models import Event

    signals = list(
        Signal.objects.filter(
            workspace=workspace, enabled=True, kind__in=[SignalKind.EVENT_COUNT, SignalKind.TRAIT_CHANGE]
        )
    )
    if not signals or not event_ids:
        return []
    rows = list(
        Event.objects.filter(workspace=workspace, id__in=list(event_ids), profile_id__isnull=False).values(
            "id", "profile_id", "type", "name", "timestamp", "traits"
        )
    )
    runs: list[PlaybookRun] = []
    for signal in signals:
        for row in rows:
            if signal.kind == SignalKind.EVENT_COUNT and row["name"] == signal.definition.get("event"):
                runs.extend(_evaluate_count(signal, row))
            elif signal.kind == SignalKind.TRAIT_CHANGE and row["type"] == "identify":
                runs.extend(_evaluate_trait(signal, row))
    return runs


def _profile(workspace_id: Any, profile_id: Any) -> Profile | None:
    from profiles.selectors import profile_find

    workspace = Workspace.objects.filter(id=workspace_id).first()
    return profile_find(workspace=workspace, profile_id=profile_id) if workspace else None


def _evaluate_count(signal: Signal, row: Mapping[str, Any]) -> list[PlaybookRun]:
    from events.models import Event

    definition = signal.definition
    window = timedelta(minutes=float(definition["window_minutes"]))
    needed = int(definition["count"])
    at: datetime = row["timestamp"]
    matching = list(
        Event.objects.filter(
            workspace_id=signal.workspace_id,
            profile_id=row["profile_id"],
            name=row["name"],
            timestamp__gt=at - window,
            timestamp__lte=at,
        )
        .order_by("timestamp")
        .values("id", "timestamp", "properties")
    )
    if len(matching) < needed:
        return []
    profile = _profile(signal.workspace_id, row["profile_id"])
    if profile is None:
        return []
    events: list[dict[str, Any]] = [
        {"id": str(e["id"]), "timestamp": e["timestamp"].isoformat(), "properties": e["properties"] or {}}
        for e in matching
    ]
    minutes = float(definition["window_minutes"])
    facts: dict[str, Any] = {
        "signal": signal.key,
        "event": row["name"],
        "count": len(matching),
        "window_minutes": int(minutes) if minutes.is_integer() else minutes,
        "events": events,
        "payment_summary": _payment_summary(events),
    }
    because = f"{len(matching)} x {row['name']} within {minutes:g} min"
    # The trigger is the set of events in the window: the same events replayed start nothing new.
    ref = "count:" + hashlib.sha256(",".join(sorted(str(e["id"]) for e in events)).encode()).hexdigest()[:32]
    return signal_fire(signal=signal, profile=profile, trigger_ref=ref, facts=facts, because=because)


def _evaluate_trait(signal: Signal, row: Mapping[str, Any]) -> list[PlaybookRun]:
    from events.models import Event

    trait = str(signal.definition["trait"])
    traits = row.get("traits") or {}
    if trait not in traits:
        return []
    new = traits[trait]
    previous = (
        Event.objects.filter(
            workspace_id=signal.workspace_id,
            profile_id=row["profile_id"],
            type="identify",
            timestamp__lt=row["timestamp"],
            traits__has_key=trait,
        )
        .order_by("-timestamp")
        .values_list("traits", flat=True)
        .first()
    )
    old = previous.get(trait) if isinstance(previous, dict) else None
    if old == new:
        return []
    definition = signal.definition
    if "to" in definition and definition["to"] != new:
        return []
    if "from" in definition and definition["from"] != old:
        return []
    profile = _profile(signal.workspace_id, row["profile_id"])
    if profile is None:
        return []
    facts = {"signal": signal.key, "trait": trait, "old": old, "new": new}
    return signal_fire(
        signal=signal,
        profile=profile,
        trigger_ref=f"trait:{row['id']}",
        facts=facts,
        because=f"{trait} changed from {old!r} to {new!r}",
    )


def signals_evaluate_score(*, workspace: Workspace, payload: Mapping[str, Any]) -> list[PlaybookRun]:
    """Score-change signals over scoring's "score changed" fact (whole-person scores only)."""
    if payload.get("action"):
        return []
    kind = payload.get("kind")
    old, new = payload.get("old"), payload.get("new")
    if not isinstance(new, int | float):
        return []
    signals = Signal.objects.filter(workspace=workspace, enabled=True, kind=SignalKind.SCORE_CHANGE)
    runs: list[PlaybookRun] = []
    for signal in signals:
        if signal.definition.get("score") != kind:
            continue
        if not score_rule_matches(signal.definition, float(old) if isinstance(old, int | float) else None, float(new)):
            continue
        profile = _profile(workspace.id, payload.get("profile_id"))
        if profile is None:
            continue
        facts = {"signal": signal.key, "score": kind, "old": old, "new": new}
        ref = f"score:{kind}:{payload.get('model_version_id', '')}:{old}:{new}"
        old_text = f"{old:.3g}" if isinstance(old, int | float) else "none"
        runs.extend(
            signal_fire(
                signal=signal,
                profile=profile,
                trigger_ref=ref[:200],
                facts=facts,
                because=f"{kind} score went from {old_text} to {float(new):.3g}",
            )
        )
    return runs


def signals_evaluate_absence(*, workspace: Workspace, now: datetime | None = None, limit: int = 1000) -> int:
    """Absence signals (beat): people whose last ``event`` is older than ``days``. Fires once per
    absence episode (the trigger is the last event's time), so a returning person can fire again."""
    from events.models import Event

    now = now or timezone.now()
    started = 0
    for signal in Signal.objects.filter(workspace=workspace, enabled=True, kind=SignalKind.ABSENCE):
        event = str(signal.definition["event"])
        days = float(signal.definition["days"])
        cutoff = now - timedelta(days=days)
        lapsed = (
            Event.objects.filter(workspace=workspace, name=event, profile_id__isnull=False)
            .values("profile_id")
            .annotate(last=Max("timestamp"))
            .filter(last__lt=cutoff)
            .order_by("last")[:limit]
        )
        for row in lapsed:
            profile = _profile(workspace.id, row["profile_id"])
            if profile is None:
                continue
            facts = {"signal": signal.key, "event": event, "days": days, "last_seen": row["last"].isoformat()}
            started += len(
                signal_fire(
                    signal=signal,
                    profile=profile,
                    trigger_ref=f"absence:{row['last'].isoformat()}",
                    facts=facts,
                    because=f"no {event} for {days:g} days (last {row['last']:%Y-%m-%d})",
                )
            )
    return started


# --- runs and steps -----------------------------------------------------------------------------------------------


def _lock(name: str) -> None:
    key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])


def _enqueue_advance(run_id: Any, countdown: float = 0.0) -> None:
    from journeys.tasks import playbook_run_advance_task

    playbook_run_advance_task.apply_async(args=(str(run_id),), countdown=countdown)


@transaction.atomic
def playbook_run_start(
    *, playbook: Playbook, profile: Profile, trigger_ref: str, context: Mapping[str, Any], because: str
) -> PlaybookRun | None:
    """Start a run unless this trigger already started one or the person is inside the
    playbook's episode window (re-entry rule). Returns the new run, or None."""
    _lock(f"playbook:{playbook.id}:{profile.id}")
    if PlaybookRun.objects.filter(playbook=playbook, profile=profile, trigger_ref=trigger_ref[:200]).exists():
        return None
    since = timezone.now() - timedelta(hours=float(playbook.reentry_hours))
    if PlaybookRun.objects.filter(playbook=playbook, profile=profile, created_at__gte=since).exists():
        return None
    workspace = playbook.workspace
    explanation = f"{playbook.signal.name} for {_display_name(profile)}: {because}"
    run = PlaybookRun.objects.create(
        workspace=workspace,
        playbook=playbook,
        playbook_version=playbook.version,
        profile=profile,
        signal_key=playbook.signal.key,
        trigger_ref=trigger_ref[:200],
        context=dict(context),
        explanation=explanation,
    )
    PlaybookStep.objects.bulk_create(
        PlaybookStep(
            run=run,
            index=index,
            type=step["type"],
            params=dict(step),
            risk_tier=str(step.get("risk_tier", "low")),
        )
        for index, step in enumerate(playbook.steps)
    )
    audit_record(
        workspace=workspace,
        actor=None,
        action="playbook.run_started",
        target_type="PlaybookRun",
        target_id=str(run.id),
        after={"playbook": playbook.key, "version": playbook.version, "profile": str(profile.id)},
        reason=explanation,
    )
    transaction.on_commit(lambda: _enqueue_advance(run.id))
    return run


def max_step_attempts() -> int:
    return int(getattr(settings, "JOURNEYS_STEP_MAX_ATTEMPTS", 5))


def step_retry_delay(attempt: int) -> float:
    base = float(getattr(settings, "JOURNEYS_RETRY_BASE_SECONDS", 10))
    return float(min(base * (2 ** max(0, attempt - 1)), float(getattr(settings, "JOURNEYS_RETRY_MAX_SECONDS", 600))))


def playbook_run_advance(*, run_id: Any) -> PlaybookRun | None:
    """Run the pending steps in order, each in its own transaction, until one waits for approval,
    fails for good, or all are done. Raises StepRetry (after recording the attempt) when a step
    failed in a way worth retrying."""
    while True:
        retry: StepRetry | None = None
        with transaction.atomic():
            run = (
                PlaybookRun.objects.select_for_update().select_related("playbook", "profile").filter(pk=run_id).first()
            )
            if run is None or run.status != RunStatus.RUNNING:
                return run
            step = run.steps.exclude(status__in=[StepStatus.DONE, StepStatus.SKIPPED]).order_by("index").first()
            if step is None:
                run.status = RunStatus.COMPLETED
                run.finished_at = timezone.now()
                run.save(update_fields=["status", "finished_at", "updated_at"])
                return run
            if step.status == StepStatus.WAITING:
                run.status = RunStatus.WAITING
                run.save(update_fields=["status", "updated_at"])
                return run
            if step.status == StepStatus.FAILED:
                _run_failed(run, step)
                return run
            step.attempts += 1
            decision_before = step.decision_id
            try:
                with transaction.atomic():
                    _step_execute(run, step)
            except StepFailed as exc:
                step.decision_id = decision_before  # a decision logged in the rolled-back savepoint is gone
                step.status = StepStatus.FAILED
                step.last_error = str(exc)[:2000]
                step.save()
                _run_failed(run, step)
                return run
            except Exception as exc:  # anything else may be passing trouble (network, locks): retry
                step.decision_id = decision_before
                step.status = StepStatus.PENDING
                step.last_error = f"{type(exc).__name__}: {exc}"[:2000]
                if step.attempts >= max_step_attempts():
                    step.status = StepStatus.FAILED
                    step.save()
                    _run_failed(run, step)
                    return run
                step.save()
                retry = StepRetry(step.last_error, step_retry_delay(step.attempts))
            else:
                step.save()
        if retry is not None:
            raise retry


def _run_failed(run: PlaybookRun, step: PlaybookStep) -> None:
    run.status = RunStatus.FAILED
    run.finished_at = timezone.now()
    run.save(update_fields=["status", "finished_at", "updated_at"])
    audit_record(
        workspace=run.workspace,
        actor=None,
        action="playbook.step_failed",
        target_type="PlaybookRun",
        target_id=str(run.id),
        after={"step": step.index + 1, "type": step.type, "attempts": step.attempts},
        reason=step.last_error,
    )


STEP_CHANNELS = {"suppress": "none", "in_app": "in_app", "ticket": "ticket", "webhook": "webhook"}


def _describe(step: PlaybookStep, data: Mapping[str, Any]) -> str:
    params = step.params
    if step.type == "suppress":
        return f"pause promotions (the guardrails' rule for {params.get('event')})"
    if step.type == "in_app":
        return f"show the in-app message “{render(str(params.get('subject') or params.get('body', '')), data)[:80]}”"
    if step.type == "ticket":
        return f"open a ticket “{render(str(params.get('subject', '')), data)[:80]}”"
    return f"call the {params.get('endpoint')} webhook ({params.get('event_type')})"


def _step_execute(run: PlaybookRun, step: PlaybookStep) -> None:
    from decisions.recording import decision_record

    profile = run.profile
    data = {"traits": profile.traits or {}, "profile": {"id": str(profile.id)}, "context": run.context}
    description = _describe(step, data)
    explanation = f"Playbook “{run.playbook.name}” step {step.index + 1}: {description}, because {run.explanation}."
    action_key = str(step.params.get("key") or f"{run.playbook.key}.{step.type}")[:60]
    skip = _skip_reason(run, step)
    if skip:  # nothing is done, so nothing goes in the decision log (it would count as a contact)
        step.status = StepStatus.SKIPPED
        step.result = {"skipped": True, "reason": skip}
        audit_record(
            workspace=run.workspace,
            actor=None,
            action="playbook.step_skipped",
            target_type="PlaybookRun",
            target_id=str(run.id),
            after={"step": step.index + 1, "type": step.type},
            reason=skip,
        )
        return
    approved: Decision | None = None
    if needs_approval(step.params):
        decision = Decision.objects.filter(pk=step.decision_id).first() if step.decision_id else None
        if decision is None or decision.status == DecisionStatus.PENDING_APPROVAL:
            if decision is None:
                step.decision = decision_record(
                    workspace=run.workspace,
                    profile=profile,
                    chosen_key=action_key,
                    channel=STEP_CHANNELS[step.type],
                    explanation=explanation,
                    trigger_ref=step.correlation_id,
                    status=DecisionStatus.PENDING_APPROVAL,
                    rendered=_rendered(step, data),
                    context={"playbook": run.playbook.key, "run": str(run.id), "step": step.index + 1},
                )
            step.status = StepStatus.WAITING
            audit_record(
                workspace=run.workspace,
                actor=None,
                action="playbook.step_waiting",
                target_type="PlaybookRun",
                target_id=str(run.id),
                after={"step": step.index + 1, "type": step.type, "decision": str(step.decision_id)},
                reason=f"{step.risk_tier} risk: waiting for approval",
            )
            return
        if decision.status != DecisionStatus.APPROVED:
            raise StepFailed(f"the approver answered {decision.status}")
        approved = decision
    if approved is None:
        # Logged first, in the step's savepoint: if the action fails, the decision goes with it.
        step.decision = decision_record(
            workspace=run.workspace,
            profile=profile,
            chosen_key=action_key,
            channel=STEP_CHANNELS[step.type],
            explanation=explanation,
            trigger_ref=step.correlation_id,
            status=DecisionStatus.ACTED,
            rendered=_rendered(step, data),
            context={"playbook": run.playbook.key, "run": str(run.id), "step": step.index + 1},
        )
    decision = approved or step.decision
    assert decision is not None
    result = _act(run, step, data, decision, edited=approved is not None)
    step.status = StepStatus.DONE
    step.result = result
    step.last_error = ""
    audit_record(
        workspace=run.workspace,
        actor=None,
        action="playbook.step_done",
        target_type="PlaybookRun",
        target_id=str(run.id),
        after={"step": step.index + 1, "type": step.type, "result": result, "decision": str(step.decision_id)},
        reason=explanation,
    )


def _skip_reason(run: PlaybookRun, step: PlaybookStep) -> str:
    """Why this step must not act for this person now (empty: it may)."""
    if step.type == "in_app":
        consent = (run.profile.consent or {}).get("in_app")
        if not (isinstance(consent, dict) and consent.get("granted")):
            return "no in-app consent"
    return ""


def _rendered(step: PlaybookStep, data: Mapping[str, Any]) -> dict[str, Any]:
    params = step.params
    if step.type == "in_app" and params.get("content_block"):
        from delivery.models import ContentBlock

        block = ContentBlock.objects.filter(workspace_id=step.run.workspace_id, key=params["content_block"]).first()
        if block is not None:
            return {"channel": "in_app", "subject": render(block.subject, data), "body": render(block.body, data)}
    if step.type in ("in_app", "ticket"):
        return {
            "channel": STEP_CHANNELS[step.type],
            "subject": render(str(params.get("subject", "")), data),
            "body": render(str(params.get("body", "")), data),
        }
    if step.type == "webhook":
        return {"channel": "webhook", "endpoint": params.get("endpoint"), "event_type": params.get("event_type")}
    return {}


def _act(
    run: PlaybookRun, step: PlaybookStep, data: Mapping[str, Any], decision: Decision, *, edited: bool
) -> dict[str, Any]:
    """Do the step once: every effect is keyed by the step (its correlation id, or for tickets its
    decision's id, which is what support's own "decision made" subscriber keys tickets by, so
    the two can never open two tickets for one step)."""
    from decisions.services import suppressions_open
    from delivery.services import DeliveryError, delivery_enqueue, webhook_send

    params = step.params
    profile = run.profile
    workspace = run.workspace
    rendered = _rendered(step, data)
    if edited and decision.rendered:  # the approver may have edited the content
        rendered = {**rendered, **{k: v for k, v in decision.rendered.items() if k in ("subject", "body")}}
    if step.type == "suppress":
        opened = suppressions_open(
            workspace=workspace,
            signals=[(profile.id, str(params["event"]), timezone.now(), step.correlation_id)],
        )
        if not opened:
            raise StepFailed(f"no suppression rule for '{params['event']}': add one on the guardrails page")
        return {"suppression_rule": params["event"]}
    if step.type == "in_app":
        block_key = str(params.get("content_block") or "")
        if block_key:
            from delivery.models import ContentBlock

            block = ContentBlock.objects.filter(workspace=workspace, key=block_key).first()
            if block is None:
                raise StepFailed(f"no content block '{block_key}'")
            params = {**params, "link_url": params.get("link_url") or block.link_url}
            params["link_label"] = params.get("link_label") or block.link_label
        delivery = delivery_enqueue(
            workspace=workspace,
            key=step.correlation_id,
            channel="in_app",
            profile=profile,
            decision=decision,
            subject=str(rendered.get("subject", "")),
            body=str(rendered.get("body", "")),
            payload={
                "link_url": render(str(params.get("link_url", "")), data),
                "link_label": render(str(params.get("link_label", "")), data),
                "playbook": run.playbook.key,
            },
        )
        if delivery.status == "blocked":
            raise StepFailed(f"the message was blocked: {delivery.last_error}")
        return {"delivery": str(delivery.id)}
    if step.type == "ticket":
        from support.services import TicketError, ticket_create

        try:
            ticket = ticket_create(
                workspace=workspace,
                profile=profile,
                subject=str(rendered.get("subject", "")),
                body=str(rendered.get("body", "")),
                channel="playbook",
                tags=[str(t) for t in params.get("tags", [])],
                correlation_id=str(decision.id),
                context={
                    "playbook": run.playbook.key,
                    "step": step.correlation_id,
                    "run": str(run.id),
                    "signal": run.signal_key,
                    "why": run.explanation,
                    **{k: v for k, v in run.context.items() if k != "signal"},
                },
            )
        except TicketError as exc:
            raise StepFailed(str(exc)) from None
        return {"ticket": str(ticket.id)}
    # webhook
    data_out = {
        **dict(params.get("data") or {}),
        "profile_id": str(profile.id),
        "playbook": run.playbook.key,
        "run_id": str(run.id),
        "context": {k: v for k, v in run.context.items() if k in ("events", "count", "event", "signal")},
    }
    try:
        delivery = webhook_send(
            workspace=workspace,
            endpoint_key=str(params["endpoint"]),
            event_type=str(params["event_type"]),
            data=data_out,
            key=step.correlation_id,
            profile=profile,
        )
    except DeliveryError as exc:
        raise StepFailed(str(exc)) from None
    return {"delivery": str(delivery.id)}


def playbook_step_resume(*, decision_id: Any) -> PlaybookRun | None:
    """An approver approved a waiting step's decision: run it and carry on."""
    with transaction.atomic():
        step = (
            PlaybookStep.objects.select_for_update()
            .select_related("run")
            .filter(decision_id=decision_id, status=StepStatus.WAITING)
            .first()
        )
        if step is None:
            return None
        run = PlaybookRun.objects.select_for_update().get(pk=step.run_id)
        step.status = StepStatus.PENDING
        step.save(update_fields=["status", "updated_at"])
        run.status = RunStatus.RUNNING
        run.save(update_fields=["status", "updated_at"])
        transaction.on_commit(lambda: _enqueue_advance(run.id))
    return run


def playbook_step_decline(*, decision_id: Any, status: str, reason: str = "") -> PlaybookRun | None:
    """An approver rejected a waiting step's decision, or nobody decided in time: the step is
    skipped (recorded, with why) and the run carries on with its other steps."""
    with transaction.atomic():
        step = (
            PlaybookStep.objects.select_for_update()
            .select_related("run", "run__workspace")
            .filter(decision_id=decision_id, status=StepStatus.WAITING)
            .first()
        )
        if step is None:
            return None
        run = PlaybookRun.objects.select_for_update().select_related("workspace").get(pk=step.run_id)
        why = "the approver rejected it" if status == "rejected" else "nobody approved it in time"
        step.status = StepStatus.SKIPPED
        step.last_error = f"{why}{': ' + reason if reason else ''}"
        step.save(update_fields=["status", "last_error", "updated_at"])
        run.status = RunStatus.RUNNING
        run.save(update_fields=["status", "updated_at"])
        audit_record(
            workspace=run.workspace,
            actor=None,
            action="playbook.step_skipped",
            target_type="PlaybookRun",
            target_id=str(run.id),
            after={"step": step.index + 1, "type": step.type, "decision": str(decision_id), "status": status},
            reason=step.last_error,
        )
        run_id = run.id
        transaction.on_commit(lambda: _enqueue_advance(run_id))
    return run


# --- shipped defaults ---------------------------------------------------------------------------------------------

DEFAULT_SIGNAL_KEY = "payment-failures-high-clv"
DEFAULT_PLAYBOOK_KEY = "high-clv-payment-failure"


def journeys_defaults_install(*, workspace: Workspace, actor: Actor = None) -> None:
    """The proactive-service scenario: three payment failures in ten minutes for a customer in
    the top fifth by predicted CLV. Idempotent: existing objects (even edited ones) are kept."""
    with transaction.atomic():
        signal = Signal.objects.filter(workspace=workspace, key=DEFAULT_SIGNAL_KEY).first()
        if signal is None:
            signal = signal_save(
                workspace=workspace,
                actor=actor,
                values={
                    "key": DEFAULT_SIGNAL_KEY,
                    "name": "Payment failures, high CLV",
                    "kind": SignalKind.EVENT_COUNT,
                    "definition": {"event": "payment_failed", "count": 3, "window_minutes": 10},
                    "condition": "scores.clv_percentile >= 0.8",
                    "description": "payment_failed >= 3 in 10 min and CLV in the top 20 % of customers",
                },
                reason="shipped default",
            )
        if Playbook.objects.filter(workspace=workspace, key=DEFAULT_PLAYBOOK_KEY).exists():
            return
        Playbook.objects.create(
            workspace=workspace,
            key=DEFAULT_PLAYBOOK_KEY,
            name="High CLV payment failure",
            goal="Keep a valuable customer whose payments keep failing: stop selling, offer help, "
            "give an agent the facts, and keep the cart.",
            signal=signal,
            steps=DEFAULT_STEPS,
            reentry_hours=24,
        )
        playbook = Playbook.objects.get(workspace=workspace, key=DEFAULT_PLAYBOOK_KEY)
        playbook.versions.create(
            version=1, snapshot=_snapshot(playbook, PLAYBOOK_EDITABLE_FIELDS), changed_by=actor_label(actor)
        )
        audit_record(
            workspace=workspace,
            actor=actor,
            action="playbook.created",
            target_type="Playbook",
            target_id=playbook.key,
            after=_snapshot(playbook, PLAYBOOK_EDITABLE_FIELDS),
            reason="shipped default",
        )


DEFAULT_STEPS: list[dict[str, Any]] = [
    {"type": "suppress", "key": "pause-promotions-48h", "event": "payment_failed"},
    {
        "type": "in_app",
        "key": "payment-help-in-app",
        "subject": "Trouble with your payment?",
        "body": "Hi {traits.first_name|there}, your last payments did not go through. "
        "We are here to help: chat with us and we will sort it out together.",
        "link_url": "/support/chat/",
        "link_label": "Chat with us",
    },
    {
        "type": "ticket",
        "key": "priority-payment-ticket",
        "subject": "High CLV customer: {context.count} failed payments in {context.window_minutes} min",
        "body": "{traits.first_name|The customer} had {context.count} payment failures. "
        "Payment details (no need to ask):\n{context.payment_summary}",
        "tags": ["High CLV risk / payment failure"],
    },
    {
        "type": "webhook",
        "key": "erp-hold-cart-30m",
        "endpoint": "erp",
        "event_type": "cart.hold",
        "data": {"action": "hold_cart", "minutes": 30, "note": "hold cart items for 30 minutes"},
    },
]


# --- subject rights -----------------------------------------------------------------------------------------------


def runs_export_for_subject(*, workspace: Workspace, profile_ids: Sequence[Any]) -> list[dict[str, Any]]:
    runs = PlaybookRun.objects.filter(workspace=workspace, profile_id__in=list(profile_ids)).select_related("playbook")
    return [
        {
            "playbook": run.playbook.key,
            "status": run.status,
            "explanation": run.explanation,
            "context": run.context,
            "created_at": run.created_at.isoformat(),
            "steps": [{"type": s.type, "status": s.status, "result": s.result} for s in run.steps.all()],
        }
        for run in runs
    ]


def runs_erase_for_subject(
    *, workspace: Workspace, profile_ids: Sequence[Any], identifiers: Sequence[tuple[str, str]]
) -> int:
    deleted, _ = PlaybookRun.objects.filter(workspace=workspace, profile_id__in=list(profile_ids)).delete()
    return deleted
