"""Writes of the decision engine: catalog and policy changes (versioned, audited), decisions,
outcomes and rewards, suppression windows."""

from __future__ import annotations

import functools
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, IntegrityError, connection, connections, models, transaction
from django.forms.models import model_to_dict
from django.utils import timezone
from psycopg.types.json import Jsonb

from accounts.models import Workspace
from accounts.principals import Actor, actor_label
from audit.services import audit_record
from core import domain_events, fastjson
from decisions.bandit import ActionPosterior
from decisions.conditions import ConditionError, compile_condition
from decisions.engine import Snapshot, decide
from decisions.guardrails import CONTACT_CHANNELS, PROMOTIONAL_KINDS
from decisions.models import (
    ACTED_STATUSES,
    ACTION_EDITABLE_FIELDS,
    POLICY_EDITABLE_FIELDS,
    Action,
    BanditArm,
    Decision,
    DecisionStatus,
    GuardrailConfig,
    Outcome,
    OutcomeKind,
    Policy,
    PolicyStatus,
    SuppressionWindow,
    Trigger,
)
from decisions.snapshots import (
    CandidateSpecs,
    catalog_cached,
    catalog_current,
    catalog_snapshot_store,
    person_state_load,
    snapshot_restore,
)
from profiles.features import feature_config, features_compute
from profiles.models import Profile
from profiles.sql import bulk_execute

DECISION_MADE = "decision.made"
"""payload: {"decision_id", "status", "broadcast": {...}}. Channel work (delivery, tickets) acts on
it only when status is "acted"; held-out, shadow, pending and do-nothing decisions are never sent."""
DECISION_DECLINED = "decision.declined"
"""payload: {"decision_id", "status": "rejected" | "expired", "reason"}: a decision that waited for
approval will never be acted on (playbooks skip the step and carry on)."""
DECISION_APPROVED = "decision.approved"
"""payload: {"decision_id", "approved_by"}: a decision that waited for approval may now be acted
on (its status is "approved"; rendered content may have been edited by the approver)."""


class CatalogError(ValueError):
    def __init__(self, errors: Mapping[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = dict(errors)


def _snapshot_of(instance: Any, fields: Sequence[str]) -> dict[str, Any]:
    values = model_to_dict(instance, fields=fields)
    return {k: (str(v) if isinstance(v, Decimal | datetime) else v) for k, v in values.items()}


def _validate_action(values: Mapping[str, Any]) -> None:
    errors: dict[str, str] = {}
    for name in ("eligibility", "value_expression"):
        try:
            compile_condition(str(values.get(name) or ""))
        except ConditionError as exc:
            errors[name] = str(exc)
    if values.get("value_model") == "expression" and not values.get("value_expression"):
        errors["value_expression"] = "an expression is needed when the value model is 'expression'"
    start, end = values.get("active_from"), values.get("active_until")
    if start and end and end <= start:
        errors["active_until"] = "must be after the start of the active window"
    if errors:
        raise CatalogError(errors)


CatalogModel = TypeVar("CatalogModel", Action, Policy)


def _versioned_save(
    *,
    model: type[CatalogModel],
    instance: CatalogModel | None,
    workspace: Workspace,
    actor: Actor,
    values: Mapping[str, Any],
    fields: Sequence[str],
    reason: str,
    before_save: Callable[[CatalogModel], None] | None = None,
) -> CatalogModel:
    """Create or change a catalog object: a new version in its history and an audit entry, in
    the caller's transaction. The row is locked while its version number moves on."""
    noun = model.__name__.lower()
    before = _snapshot_of(instance, fields) if instance else None
    if instance is None:
        instance = model(workspace=workspace)
    else:
        instance = model.objects.select_for_update().get(pk=instance.pk)
        instance.version += 1
    for name in fields:
        if name in values:
            setattr(instance, name, values[name])
    if before_save is not None:
        before_save(instance)
    try:
        with transaction.atomic():
            instance.save()
    except IntegrityError:
        raise CatalogError({"key": f"another {noun} already uses this key"}) from None
    after = _snapshot_of(instance, fields)
    instance.versions.create(version=instance.version, snapshot=after, changed_by=actor_label(actor))
    audit_record(
        workspace=workspace,
        actor=actor,
        action=f"{noun}.created" if before is None else f"{noun}.changed",
        target_type=model.__name__,
        target_id=instance.key,
        before=before,
        after=after,
        reason=reason,
    )
    return instance


@transaction.atomic
def action_save(
    *, workspace: Workspace, actor: Actor, values: Mapping[str, Any], action: Action | None = None, reason: str = ""
) -> Action:
    """Create or change an action; every change is a new version in the history and the audit trail."""
    _validate_action(values)
    return _versioned_save(
        model=Action,
        instance=action,
        workspace=workspace,
        actor=actor,
        values=values,
        fields=ACTION_EDITABLE_FIELDS,
        reason=reason,
    )


def _retire_other_live_policies(policy: Policy) -> None:
    # One live policy per workspace: going live retires the previous live one.
    if policy.status != PolicyStatus.LIVE:
        return
    others = Policy.objects.select_for_update().filter(workspace_id=policy.workspace_id, status=PolicyStatus.LIVE)
    for other in others.exclude(pk=policy.pk):
        other.status = PolicyStatus.RETIRED
        other.save(update_fields=["status", "updated_at"])


@transaction.atomic
def policy_save(
    *, workspace: Workspace, actor: Actor, values: Mapping[str, Any], policy: Policy | None = None, reason: str = ""
) -> Policy:
    share = float(values.get("holdout_share", policy.holdout_share if policy else 0.1))
    if not 0 <= share < 1:
        raise CatalogError({"holdout_share": "must be at least 0 and below 1"})
    for name in values.get("context_features", []) or []:
        try:
            compile_condition(str(name))
        except ConditionError as exc:
            raise CatalogError({"context_features": f"{name}: {exc}"}) from None
    return _versioned_save(
        model=Policy,
        instance=policy,
        workspace=workspace,
        actor=actor,
        values=values,
        fields=POLICY_EDITABLE_FIELDS,
        reason=reason,
        before_save=_retire_other_live_policies,
    )


def _non_negative_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _contact_policy_errors(contact_policy: Mapping[str, Any]) -> dict[str, str]:
    from datetime import time as clock

    errors: dict[str, str] = {}
    for cap in ("per_channel_day", "per_channel_week"):
        caps = contact_policy.get(cap, {})
        if not isinstance(caps, Mapping):
            errors[f"contact_policy.{cap}"] = "must map channel names to whole numbers"
            continue
        for channel, value in caps.items():
            if channel not in CONTACT_CHANNELS:
                errors[f"contact_policy.{cap}.{channel}"] = f"unknown channel; use one of {', '.join(CONTACT_CHANNELS)}"
            elif not _non_negative_int(value):
                errors[f"contact_policy.{cap}.{channel}"] = "must be a whole number, 0 or more"
    for cap in ("overall_day", "overall_week"):
        if cap in contact_policy and not _non_negative_int(contact_policy[cap]):
            errors[f"contact_policy.{cap}"] = "must be a whole number, 0 or more"
    for name in ("quiet_start", "quiet_end"):
        value = contact_policy.get(name)
        if value not in (None, ""):
            try:
                clock.fromisoformat(str(value))
            except ValueError:
                errors[f"contact_policy.{name}"] = "must be a time such as 21:00, or empty for no quiet hours"
    if ("quiet_start" in contact_policy or "quiet_end" in contact_policy) and bool(
        contact_policy.get("quiet_start")
    ) != bool(contact_policy.get("quiet_end")):
        errors.setdefault("contact_policy.quiet_end", "give both the start and the end of quiet hours, or neither")
    return errors


def _brand_safety_errors(brand_safety: Mapping[str, Any]) -> dict[str, str]:
    errors: dict[str, str] = {}
    phrases = brand_safety.get("banned_phrases", [])
    if not isinstance(phrases, list) or not all(isinstance(p, str) for p in phrases):
        errors["brand_safety.banned_phrases"] = "must be a list of phrases"
    ceiling = brand_safety.get("max_discount_percent")
    if ceiling is not None and (
        isinstance(ceiling, bool) or not isinstance(ceiling, int | float) or not 0 <= float(ceiling) <= 100
    ):
        errors["brand_safety.max_discount_percent"] = "must be a percentage from 0 to 100, or empty for none"
    required = brand_safety.get("required_text", {})
    if not isinstance(required, Mapping) or not all(isinstance(v, str) for v in required.values()):
        errors["brand_safety.required_text"] = "must map channel names to text"
    return errors


def _validate_guardrails(
    contact_policy: Mapping[str, Any] | None,
    brand_safety: Mapping[str, Any] | None,
    suppression_rules: Sequence[Mapping[str, Any]] | None,
) -> None:
    """Field -> message for every value the engine could not use; keys are dotted paths."""
    errors: dict[str, str] = {}
    if contact_policy is not None:
        errors.update(_contact_policy_errors(contact_policy))
    if brand_safety is not None:
        errors.update(_brand_safety_errors(brand_safety))
    for index, rule in enumerate(suppression_rules or []):
        if not str(rule.get("event") or "").strip():
            errors[f"suppression_rules.{index}.event"] = "name the event that opens the window"
        hours = rule.get("hours")
        if isinstance(hours, bool) or not isinstance(hours, int | float) or not 0 < float(hours) <= 24 * 365:
            errors[f"suppression_rules.{index}.hours"] = "must be a number of hours above 0 and at most 8760"
    if errors:
        raise CatalogError(errors)


@transaction.atomic
def guardrails_save(
    *,
    workspace: Workspace,
    actor: Actor,
    contact_policy: Mapping[str, Any] | None = None,
    brand_safety: Mapping[str, Any] | None = None,
    suppression_rules: Sequence[Mapping[str, Any]] | None = None,
) -> GuardrailConfig:
    _validate_guardrails(contact_policy, brand_safety, suppression_rules)
    config, _ = GuardrailConfig.objects.select_for_update().get_or_create(
        workspace=workspace, defaults={"suppression_rules": default_suppression_rules()}
    )
    before = {
        "contact_policy": config.contact_policy,
        "brand_safety": config.brand_safety,
        "suppression_rules": config.suppression_rules,
    }
    if contact_policy is not None:
        config.contact_policy = dict(contact_policy)
    if brand_safety is not None:
        config.brand_safety = dict(brand_safety)
    if suppression_rules is not None:
        config.suppression_rules = [dict(rule) for rule in suppression_rules]
    config.version += 1
    config.save()
    audit_record(
        workspace=workspace,
        actor=actor,
        action="guardrails.changed",
        target_type="GuardrailConfig",
        target_id=str(workspace.id),
        before=before,
        after={
            "contact_policy": config.contact_policy,
            "brand_safety": config.brand_safety,
            "suppression_rules": config.suppression_rules,
        },
    )
    return config


def default_suppression_rules() -> list[dict[str, Any]]:
    hours = int(getattr(settings, "DECISIONS_SUPPRESSION_HOURS", 48))
    return [
        {"event": name, "hours": hours, "kinds": list(PROMOTIONAL_KINDS), "reason": reason}
        for name, reason in (
            ("payment_failed", "a payment failure"),
            ("Payment Failed", "a payment failure"),
            ("Complaint Filed", "a complaint"),
            ("complaint", "a complaint"),
            ("Subscription Cancelled", "a cancellation"),
        )
    ]


def guardrail_config(workspace: Workspace) -> GuardrailConfig:
    config = GuardrailConfig.objects.filter(workspace=workspace).first()
    if config is None:
        config = GuardrailConfig(workspace=workspace, suppression_rules=default_suppression_rules())
    return config


@transaction.atomic
def suppressions_open(*, workspace: Workspace, signals: Sequence[tuple[Any, str, datetime, str]]) -> int:
    """Open suppression windows for (profile_id, event name, time, event id) signals that match a
    rule. Idempotent per (person, event id)."""
    rules = {rule["event"]: rule for rule in guardrail_config(workspace).suppression_rules}
    rows = []
    for profile_id, name, at, ref in signals:
        rule = rules.get(name)
        if rule is None:
            continue
        rows.append(
            SuppressionWindow(
                workspace=workspace,
                profile_id=profile_id,
                reason=rule.get("reason", name),
                kinds=rule.get("kinds", list(PROMOTIONAL_KINDS)),
                channels=rule.get("channels", []),
                until=at + timedelta(hours=float(rule.get("hours", 48))),
                source_ref=ref,
            )
        )
    if rows:
        SuppressionWindow.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


# --- deciding -----------------------------------------------------------------------------------------------------


def live_policy(workspace: Workspace) -> Policy:
    """The workspace's live policy (an unsaved default when none is live). From the process's
    catalog cache: decision_make checks it against the database's stamp before deciding."""
    return catalog_cached(workspace).live_policy


def _scores(
    rows: Sequence[tuple[str, float, Any, str]],
) -> tuple[dict[str, float], list[dict[str, Any]], dict[str, str]]:
    values: dict[str, float] = {}
    signals: list[dict[str, Any]] = []
    versions: dict[str, str] = {}
    for kind, value, explanation, version in rows:
        values[kind] = float(value)
        versions[kind] = str(version)
        for item in (explanation or [])[:1]:
            if isinstance(item, dict) and item.get("text"):
                signals.append({"text": item["text"], "weight": abs(float(item.get("delta", 0.1)))})
    return values, signals, versions


def _person_name(profile: Profile) -> str:
    traits = profile.traits or {}
    for key in ("first_name", "firstName", "name", "email"):
        if traits.get(key):
            return str(traits[key])
    return f"person {str(profile.id)[:8]}"


def snapshot_load(
    *,
    workspace: Workspace,
    profile: Profile,
    policy: Policy | None,
    context: Mapping[str, Any],
    now: datetime,
    only: Sequence[str] | None = None,
    extra_signals: Sequence[Mapping[str, Any]] = (),
) -> tuple[Snapshot, dict[str, str], CandidateSpecs, Policy]:
    """Everything the decision will read, the model versions behind the scores, the candidate
    actions (specs, ids by key, stored name), and the policy it runs under (``policy``, or the live
    one when None). One statement when the cached catalog is current (decisions/snapshots.py),
    which also takes the person's decision lock until the caller's transaction ends."""
    catalog = catalog_cached(workspace)
    policy_key = policy.key if policy is not None else catalog.live_policy.key
    state = person_state_load(workspace=workspace, profile_id=profile.id, policy_key=policy_key, now=now)
    if state.stamp != catalog.stamp:
        catalog = catalog_current(workspace, state.stamp)
        if policy is None and catalog.live_policy.key != policy_key:  # the live policy itself changed
            state = person_state_load(
                workspace=workspace, profile_id=profile.id, policy_key=catalog.live_policy.key, now=now
            )
    policy = policy if policy is not None else catalog.live_policy
    features = features_compute(state.features_state, now=now.timestamp(), config=feature_config())
    scores, signals, versions = _scores(state.scores)
    candidates = catalog.candidate_specs(policy, now, only)
    keys = candidates.ids
    consent = {ch: bool((v or {}).get("granted")) for ch, v in (profile.consent or {}).items() if isinstance(v, dict)}
    traits = profile.traits or {}
    tz = str(traits.get("timezone") or context.get("timezone") or workspace.timezone or "UTC")
    return (
        Snapshot(
            person=_person_name(profile),
            data={
                "traits": traits,
                "features": features,
                "scores": scores,
                "context": dict(context),
                "profile": {"id": str(profile.id)},
            },
            actions=candidates.specs,
            arms={key: arm for key, arm in state.arms.items() if key in keys},
            consent=consent,
            timezone=tz,
            contacts=state.contacts,
            suppressions=state.suppressions,
            contact_policy=catalog.contact_policy,
            brand_safety=catalog.brand_safety,
            policy_key=policy.key,
            policy_version=policy.version,
            explore=policy.explore,
            holdout_share=policy.holdout_share,
            holdout_key=str(profile.id),
            context_features=list(policy.context_features or []),
            signals=[*extra_signals, *signals],
            now=now.isoformat(),
        ),
        versions,
        candidates,
        policy,
    )


@functools.cache
def _decision_fields() -> tuple[tuple[Any, bool], ...]:
    return tuple((field, isinstance(field, models.JSONField)) for field in Decision._meta.concrete_fields)


def _decision_values(decision: Decision, db: Any) -> list[Any]:
    """The insert's parameters, as ``get_db_prep_save`` makes them, except that the JSON columns
    (kilobytes per decision, values the engine computed) are written by orjson: a tenth of
    ``json.dumps``'s time, and PostgreSQL stores the same jsonb."""
    return [
        Jsonb(field.pre_save(decision, True), dumps=fastjson.dumps)
        if is_json
        else field.get_db_prep_save(field.pre_save(decision, True), db)
        for field, is_json in _decision_fields()
    ]


def _decisions_insert(decisions: Sequence[Decision]) -> None:
    """``decision.save(force_insert=True)`` for each, in one statement, with server-side parameter
    binding: the stored snapshot is kilobytes of JSON, which Django's client-side binding would
    escape character by character in Python (the costliest part of a decision). Same columns,
    same values, same transaction (profiles/sql.py)."""
    db = connections[DEFAULT_DB_ALIAS]  # the wrapper itself: the ``connection`` proxy costs a lookup per use
    values = [value for decision in decisions for value in _decision_values(decision, db)]
    bulk_execute(_decision_insert_sql(len(decisions)), values)
    for decision in decisions:
        decision._state.adding = False
        decision._state.db = db.alias


def _decision_insert(decision: Decision) -> None:
    _decisions_insert([decision])


@functools.lru_cache(maxsize=128)
def _decision_insert_sql(rows: int) -> str:
    fields = Decision._meta.concrete_fields
    columns = ", ".join(connection.ops.quote_name(field.column or field.attname) for field in fields)
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    return f"INSERT INTO {Decision._meta.db_table} ({columns}) VALUES {', '.join([row] * rows)}"  # noqa: S608


@dataclass(frozen=True)
class _Built:
    decision: Decision
    offered: CandidateSpecs
    existing: bool = False  # an event-triggered decision already made under this policy version


def _decision_build(
    *,
    workspace: Workspace,
    profile: Profile,
    context: Mapping[str, Any] | None,
    policy: Policy | None,
    trigger: str,
    trigger_ref: str,
    only: Sequence[str] | None,
    dry_run: bool,
    signals: Sequence[Mapping[str, Any]],
    started: float,
) -> _Built:
    """Load the person's snapshot (taking their decision lock for the caller's transaction),
    decide, and build the unsaved Decision."""
    now = timezone.now()
    snapshot, versions, offered, policy = snapshot_load(
        workspace=workspace,
        profile=profile,
        policy=policy,
        context=context or {},
        now=now,
        only=only,
        extra_signals=signals,
    )
    if trigger_ref:
        existing = Decision.objects.filter(
            workspace=workspace, policy_key=policy.key, policy_version=policy.version, trigger_ref=trigger_ref
        ).first()
        if existing is not None:
            return _Built(existing, offered, existing=True)
    seed = secrets.randbits(62)
    outcome = decide(snapshot, seed=seed, now=now)
    shadow = policy.status == PolicyStatus.SHADOW
    if dry_run:
        status = DecisionStatus.DRY_RUN
    elif shadow:
        status = DecisionStatus.SHADOW
    elif outcome.chosen is None:
        status = DecisionStatus.NOTHING
    elif outcome.holdout:
        status = DecisionStatus.HELD_OUT
    elif outcome.needs_approval:
        status = DecisionStatus.PENDING_APPROVAL
    else:
        status = DecisionStatus.ACTED
    chosen = outcome.chosen
    decision = Decision(
        workspace=workspace,
        profile=profile,
        policy=None if policy._state.adding else policy,
        policy_key=policy.key,
        policy_version=policy.version,
        trigger=trigger,
        trigger_ref=trigger_ref,
        status=status,
        chosen_action_id=offered.ids.get(chosen.key) if chosen else None,
        chosen_key=chosen.key if chosen else "",
        channel=chosen.channel if chosen else "",
        explored=outcome.explored,
        propensity=outcome.propensity,
        holdout=outcome.holdout,
        shadow=shadow,
        needs_approval=outcome.needs_approval,
        seed=seed,
        context=dict(context or {}),
        inputs={"snapshot": snapshot.to_json(actions_ref=offered.ref), "x": outcome.context_vector},
        candidates=outcome.candidates,
        guardrails=[dict(vars(r)) for r in outcome.removals],
        model_versions=versions,
        rendered={**outcome.rendered, "name": chosen.name} if chosen else {},
        reasons=outcome.reasons,
        explanation=outcome.explanation,
        created_at=now,
        latency_ms=round((time.perf_counter() - started) * 1000, 3),
    )
    return _Built(decision, offered)


def decision_make(
    *,
    workspace: Workspace,
    profile: Profile,
    context: Mapping[str, Any] | None = None,
    policy: Policy | None = None,
    trigger: str = Trigger.API,
    trigger_ref: str = "",
    only: Sequence[str] | None = None,
    dry_run: bool = False,
    signals: Sequence[Mapping[str, Any]] = (),
) -> Decision:
    """Decide for one person now. Event-triggered decisions are idempotent per (event, policy version)."""
    started = time.perf_counter()
    with transaction.atomic():  # snapshot_load takes the person's decision lock: caps are counted and used under it
        built = _decision_build(
            workspace=workspace,
            profile=profile,
            context=context,
            policy=policy,
            trigger=trigger,
            trigger_ref=trigger_ref,
            only=only,
            dry_run=dry_run,
            signals=signals,
            started=started,
        )
        decision = built.decision
        if built.existing or dry_run:
            return decision
        catalog_snapshot_store(workspace_id=workspace.id, candidates=built.offered)
        if not trigger_ref:
            _decision_insert(decision)  # no uniqueness to race for: spare the savepoint
        else:
            try:
                with transaction.atomic():
                    _decision_insert(decision)
            except IntegrityError:  # the same event decided concurrently under this policy version
                return Decision.objects.get(
                    workspace=workspace,
                    policy_key=decision.policy_key,
                    policy_version=decision.policy_version,
                    trigger_ref=trigger_ref,
                )
        _announce(decision)
    return decision


@dataclass(frozen=True, eq=False)
class DecisionRequest:
    """One API decision (``decision_make`` with its defaults: the live policy, no trigger ref,
    not a dry run) for ``decisions_make_together``. ``started`` is when the caller asked
    (``time.perf_counter()``): the decision's latency counts from there."""

    workspace: Workspace
    profile: Profile
    context: Mapping[str, Any]
    only: Sequence[str] | None
    started: float


def decisions_make_together(*, requests: Sequence[DecisionRequest]) -> list[Decision]:
    """``decision_make`` for several people of one workspace in one transaction: one insert,
    one commit and one broker round trip for all their "decision made" facts (the group commit
    of decisions.coalescing). Each person must appear once: each decision reads their contacts,
    which the others in the transaction do not write until the end. People are locked in id
    order, so two such transactions never deadlock on each other."""
    workspace = requests[0].workspace
    if any(r.workspace.id != workspace.id for r in requests) or len({r.profile.id for r in requests}) < len(requests):
        raise ValueError("decisions made together must be for different people of one workspace")
    built: dict[int, _Built] = {}
    with domain_events.enqueues_batched(), transaction.atomic():
        for request in sorted(requests, key=lambda r: str(r.profile.id)):
            built[id(request)] = _decision_build(
                workspace=workspace,
                profile=request.profile,
                context=request.context,
                policy=None,
                trigger=Trigger.API,
                trigger_ref="",
                only=request.only,
                dry_run=False,
                signals=(),
                started=request.started,
            )
        made = [built[id(request)] for request in requests]
        for offered in {b.offered.ref: b.offered for b in made}.values():
            catalog_snapshot_store(workspace_id=workspace.id, candidates=offered)
        _decisions_insert([b.decision for b in made])
        for b in made:
            _announce(b.decision)
    return [b.decision for b in made]


def decision_broadcast_payload(decision: Decision) -> dict[str, Any]:
    return {
        "id": str(decision.id),
        "profile": str(decision.profile_id),
        "action": decision.chosen_key,
        "status": decision.status,
        "explanation": decision.explanation,
        "latency_ms": decision.latency_ms,
        "channel": decision.channel,
        "guardrails": len(decision.guardrails),
    }


def _announce(decision: Decision) -> None:
    """After commit, "decision made" goes to the worker, which pushes it to the dashboards'
    websocket group (and later to delivery): the request does not pay for a channel-layer send,
    which from synchronous code costs an event loop and a Redis connection each time."""
    domain_events.publish(
        DECISION_MADE,
        workspace_id=decision.workspace_id,
        payload={
            "decision_id": str(decision.id),
            "status": decision.status,
            "broadcast": decision_broadcast_payload(decision),
        },
    )


def decision_replay(*, decision: Decision) -> dict[str, Any]:
    """Re-run a stored decision from its stored inputs and seed; returns what it chooses now."""
    snapshot = snapshot_restore(decision.inputs["snapshot"])
    outcome = decide(snapshot, seed=decision.seed, now=datetime.fromisoformat(snapshot.now))
    return {
        "chosen_key": outcome.chosen.key if outcome.chosen else "",
        "propensity": outcome.propensity,
        "holdout": outcome.holdout,
        "explanation": outcome.explanation,
        "matches": (outcome.chosen.key if outcome.chosen else "") == decision.chosen_key
        and outcome.propensity == decision.propensity
        and outcome.explanation == decision.explanation,
    }


# --- outcomes and learning ----------------------------------------------------------------------------------------

POSITIVE = {OutcomeKind.CONVERTED}
NEGATIVE = {OutcomeKind.UNSUBSCRIBED, OutcomeKind.COMPLAINED}


def outcome_reward(kind: str, value: Decimal | None, decision: Decision) -> float:
    """Money terms: a conversion earns its value (or the action's expected value when none was
    sent); unsubscribes and complaints cost DECISIONS_NEGATIVE_REWARD; the rest earn nothing."""
    if kind in POSITIVE:
        if value is not None:
            return float(value)
        return float(decision.chosen_action.value_amount) if decision.chosen_action else 1.0
    if kind in NEGATIVE:
        return -float(getattr(settings, "DECISIONS_NEGATIVE_REWARD", 5.0))
    return 0.0


@transaction.atomic
def outcome_record(
    *,
    decision: Decision,
    kind: str,
    value: Decimal | None = None,
    source: str = "api",
    ref: str = "",
    occurred_at: datetime | None = None,
) -> Outcome:
    existing = Outcome.objects.filter(decision=decision, kind=kind, ref=ref).first()
    if existing is not None:
        return existing
    outcome = Outcome.objects.create(
        workspace_id=decision.workspace_id,
        decision=decision,
        kind=kind,
        value=value,
        reward=outcome_reward(kind, value, decision),
        source=source,
        ref=ref,
        occurred_at=occurred_at or timezone.now(),
    )
    if kind in POSITIVE | NEGATIVE and not decision.attribution_closed:
        transaction.on_commit(lambda: _learn_later(decision.id))
    return outcome


def _learn_later(decision_id: Any) -> None:
    from decisions.tasks import decision_learn_task

    decision_learn_task.delay(str(decision_id))


@transaction.atomic
def decision_learn(*, decision_id: Any, force: bool = False) -> bool:
    """Update the bandit once per decision: response = converted (and no complaint). Runs when a
    conversion or a negative outcome arrives, or when the attribution window closes without one.
    Holdout, shadow and do-nothing decisions teach nothing (nothing was shown)."""
    decision = Decision.objects.select_for_update().filter(pk=decision_id).first()
    if decision is None or decision.attribution_closed:
        return False
    window = timedelta(hours=float(getattr(settings, "DECISIONS_ATTRIBUTION_HOURS", 72)))
    kinds = set(decision.outcomes.values_list("kind", flat=True))
    decided = bool(kinds & (POSITIVE | NEGATIVE)) or force or timezone.now() >= decision.created_at + window
    if not decided:
        return False
    decision.attribution_closed = True
    decision.save(update_fields=["attribution_closed"])
    if decision.status not in ACTED_STATUSES or not decision.chosen_key:
        return True
    response = 1.0 if (kinds & POSITIVE) and not (kinds & NEGATIVE) else 0.0
    x = decision.inputs.get("x") or [1.0]
    arm, _ = BanditArm.objects.select_for_update().get_or_create(
        workspace_id=decision.workspace_id,
        policy_key=decision.policy_key,
        action_key=decision.chosen_key,
        defaults={"state": ActionPosterior.prior(len(x)).to_state()},
    )
    posterior = ActionPosterior.from_state(arm.state)
    if posterior.mean.size != len(x):
        posterior = ActionPosterior.prior(len(x))
    import numpy as np

    arm.state = posterior.update(np.asarray(x, dtype=float), response).to_state()
    arm.updates += 1
    arm.rewards += response
    arm.save()
    return True


def attribution_from_events(*, workspace: Workspace, events: Sequence[Mapping[str, Any]]) -> int:
    """Tracked events become outcomes of the person's latest shown (or held-out) decision within
    the window: orders are conversions (reward = revenue), unsubscribes and complaints negative."""
    kinds = getattr(
        settings,
        "DECISIONS_OUTCOME_EVENTS",
        {
            "Order Completed": OutcomeKind.CONVERTED,
            "Unsubscribed": OutcomeKind.UNSUBSCRIBED,
            "Complaint Filed": OutcomeKind.COMPLAINED,
            "complaint": OutcomeKind.COMPLAINED,
        },
    )
    window = timedelta(hours=float(getattr(settings, "DECISIONS_ATTRIBUTION_HOURS", 72)))
    recorded = 0
    for event in events:
        kind = kinds.get(event["name"])
        if kind is None or not event.get("profile_id"):
            continue
        at: datetime = event["timestamp"]
        decision = (
            Decision.objects.filter(
                workspace=workspace,
                profile_id=event["profile_id"],
                created_at__lte=at,
                created_at__gte=at - window,
                chosen_key__gt="",
                status__in=[*ACTED_STATUSES, DecisionStatus.HELD_OUT],
            )
            .select_related("chosen_action")
            .order_by("-created_at")
            .first()
        )
        if decision is None:
            continue
        value = event.get("revenue")
        outcome_record(
            decision=decision,
            kind=kind,
            value=Decimal(str(value)) if value is not None else None,
            source="event",
            ref=str(event["id"]),
            occurred_at=at,
        )
        recorded += 1
    return recorded
