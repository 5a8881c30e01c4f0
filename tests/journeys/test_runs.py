"""Runs: each step once, approval gates risky steps and resumes them, re-entry rules, and the
other signal kinds (trait change, score change, absence)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import AuditEntry
from core.domain_events import DomainEvent
from decisions.models import Decision, DecisionStatus, SuppressionWindow
from events.models import Event
from journeys.models import PlaybookRun, RunStatus, StepStatus
from journeys.services import (
    playbook_run_advance,
    playbook_save,
    signal_fire,
    signal_save,
    signals_evaluate_absence,
    signals_evaluate_events,
    signals_evaluate_score,
)
from journeys.subscribers import on_decision_approved, on_decision_declined
from profiles.subject_rights import subject_data_erase, subject_data_export
from tests.decisions.conftest import identify, person


def _advance(run: PlaybookRun) -> PlaybookRun:
    advanced = playbook_run_advance(run_id=run.id)
    assert advanced is not None
    return advanced


def _signal(workspace, key="churn-up", **values):
    defaults = {
        "key": key,
        "name": key,
        "kind": "score_change",
        "definition": {"score": "churn", "rule": "above", "threshold": 0.7},
    }
    return signal_save(workspace=workspace, actor=None, values={**defaults, **values})


def _playbook(workspace, signal, steps, **values):
    return playbook_save(
        workspace=workspace,
        actor=None,
        values={
            "key": f"pb-{signal.key}",
            "name": f"Playbook for {signal.key}",
            "signal": signal,
            "steps": steps,
            **values,
        },
    )


@pytest.mark.django_db
def test_a_high_risk_step_waits_for_approval_and_resumes_when_approved(shop) -> None:
    signal = _signal(shop)
    _playbook(
        shop,
        signal,
        [
            {"type": "suppress", "event": "payment_failed"},
            {"type": "ticket", "subject": "Call {traits.first_name}", "body": "Churn risk rose", "risk_tier": "high"},
        ],
    )
    ana = person(shop, "ana")
    [run] = signal_fire(signal=signal, profile=ana, trigger_ref="t1", facts={}, because="churn rose")
    run = _advance(run)
    steps = list(run.steps.order_by("index"))
    assert run.status == RunStatus.WAITING
    assert [s.status for s in steps] == [StepStatus.DONE, StepStatus.WAITING]
    waiting = Decision.objects.get(pk=str(steps[1].decision_id))
    assert waiting.status == DecisionStatus.PENDING_APPROVAL and waiting.trigger == "playbook"
    assert waiting.rendered["subject"] == "Call Ana"
    from support.models import Ticket

    assert not Ticket.objects.filter(workspace=shop).exists()
    # An approver edits and approves with the approvals service; its "decision approved" fact
    # (published after commit, which this rolled-back test never reaches) is handed to the subscriber.
    from decisions.approvals import approval_edit_and_approve

    owner = shop.memberships.get(role="owner").user
    approval_edit_and_approve(workspace=shop, decision=waiting, actor=owner, subject="Call Ana today")
    on_decision_approved(DomainEvent("decision.approved", str(shop.id), {"decision_id": str(waiting.id)}))
    run = _advance(run)
    assert run.status == RunStatus.COMPLETED
    assert Ticket.objects.get(workspace=shop, correlation_id=str(waiting.id)).subject == "Call Ana today"
    assert AuditEntry.objects.filter(action="playbook.step_waiting", target_id=str(run.id)).exists()


@pytest.mark.django_db
def test_a_rejected_step_is_skipped_and_the_run_carries_on(shop) -> None:
    # given a run whose risky ticket step waits for approval, before a safe suppression step
    signal = _signal(shop)
    _playbook(
        shop,
        signal,
        [
            {"type": "ticket", "subject": "Call {traits.first_name}", "body": "Churn risk rose", "risk_tier": "high"},
            {"type": "suppress", "event": "payment_failed"},
        ],
    )
    [run] = signal_fire(signal=signal, profile=person(shop, "ana"), trigger_ref="t1", facts={}, because="x")
    run = _advance(run)
    assert run.status == RunStatus.WAITING
    waiting = Decision.objects.get(pk=str(run.steps.get(index=0).decision_id))
    # when an approver rejects it (the "decision declined" fact, published after commit, which this
    # rolled-back test never reaches, is handed to the subscriber)
    from decisions.approvals import approval_reject

    owner = shop.memberships.get(role="owner").user
    approval_reject(workspace=shop, decision=waiting, actor=owner, reason="Ana asked not to be called")
    on_decision_declined(
        DomainEvent("decision.declined", str(shop.id), {"decision_id": str(waiting.id), "status": "rejected"})
    )
    run = _advance(run)
    # then the ticket step is skipped with why, nothing was opened, and the next step ran
    from support.models import Ticket

    steps = list(run.steps.order_by("index"))
    assert run.status == RunStatus.COMPLETED
    assert [s.status for s in steps] == [StepStatus.SKIPPED, StepStatus.DONE]
    assert steps[0].last_error == "the approver rejected it"
    assert not Ticket.objects.filter(workspace=shop).exists()
    assert SuppressionWindow.objects.filter(workspace=shop).exists()
    assert AuditEntry.objects.filter(action="playbook.step_skipped", target_id=str(run.id)).exists()


@pytest.mark.django_db
def test_a_step_found_rejected_when_it_runs_fails_the_run_without_acting(shop) -> None:
    signal = _signal(shop)
    _playbook(shop, signal, [{"type": "suppress", "event": "payment_failed", "risk_tier": "high"}])
    [run] = signal_fire(signal=signal, profile=person(shop, "ana"), trigger_ref="t1", facts={}, because="x")
    run = _advance(run)
    step = run.steps.get()
    Decision.objects.filter(pk=str(step.decision_id)).update(status=DecisionStatus.REJECTED)
    step.status = StepStatus.PENDING
    step.save()
    PlaybookRun.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING)
    run = _advance(run)
    assert run.status == RunStatus.FAILED and "rejected" in run.steps.get().last_error
    assert not SuppressionWindow.objects.filter(workspace=shop).exists()


@pytest.mark.django_db
def test_the_same_playbook_does_not_fire_twice_in_one_episode(shop) -> None:
    signal = _signal(shop)
    playbook = _playbook(shop, signal, [{"type": "suppress", "event": "payment_failed"}], reentry_hours=24)
    ana = person(shop, "ana")
    assert len(signal_fire(signal=signal, profile=ana, trigger_ref="a", facts={}, because="x")) == 1
    assert signal_fire(signal=signal, profile=ana, trigger_ref="a", facts={}, because="x") == []
    assert signal_fire(signal=signal, profile=ana, trigger_ref="b", facts={}, because="x") == []
    PlaybookRun.objects.filter(playbook=playbook).update(created_at=timezone.now() - timedelta(hours=25))
    assert len(signal_fire(signal=signal, profile=ana, trigger_ref="c", facts={}, because="x")) == 1


@pytest.mark.django_db
def test_a_step_whose_endpoint_disappeared_fails_with_a_clear_reason(shop) -> None:
    from delivery.models import WebhookEndpoint
    from delivery.services import endpoint_save

    endpoint_save(workspace=shop, actor=None, values={"key": "erp", "url": "https://erp.example.com"})
    signal = _signal(shop)
    _playbook(shop, signal, [{"type": "webhook", "endpoint": "erp", "event_type": "cart.hold"}])
    WebhookEndpoint.objects.filter(workspace=shop).delete()
    [run] = signal_fire(signal=signal, profile=person(shop, "ana"), trigger_ref="t", facts={}, because="x")
    run = _advance(run)
    step = run.steps.get()
    assert run.status == RunStatus.FAILED and step.status == StepStatus.FAILED
    assert "no enabled webhook endpoint 'erp'" in step.last_error
    assert not Decision.objects.filter(workspace=shop, trigger="playbook").exists()  # rolled back with the step


@pytest.mark.django_db
def test_score_change_signals_follow_the_rule(shop) -> None:
    signal = _signal(shop, key="clv-down", definition={"score": "clv", "rule": "dropped", "share": 0.3})
    _playbook(shop, signal, [{"type": "suppress", "event": "payment_failed"}])
    ana = person(shop, "ana")
    payload = {
        "profile_id": str(ana.id),
        "kind": "clv",
        "action": "",
        "old": 100.0,
        "new": 80.0,
        "model_version_id": "v",
    }
    assert signals_evaluate_score(workspace=shop, payload=payload) == []
    [run] = signals_evaluate_score(workspace=shop, payload={**payload, "new": 65.0})
    assert "clv score went from 100 to 65" in run.explanation


@pytest.mark.django_db
def test_a_trait_change_signal_fires_on_the_change_only(shop, tracker) -> None:
    signal = _signal(shop, key="downgrade", kind="trait_change", definition={"trait": "plan", "to": "free"})
    _playbook(shop, signal, [{"type": "suppress", "event": "payment_failed"}])
    identify(tracker, "ana", plan="gold")
    identify(tracker, "ana", plan="gold")
    ids = list(Event.objects.filter(workspace=shop, type="identify").values_list("id", flat=True))
    assert signals_evaluate_events(workspace=shop, event_ids=ids) == []
    identify(tracker, "ana", plan="free")
    latest = Event.objects.filter(workspace=shop, type="identify").order_by("-timestamp").first()
    assert latest is not None
    [run] = signals_evaluate_events(workspace=shop, event_ids=[latest.id])
    assert run.context["old"] == "gold" and run.context["new"] == "free"


@pytest.mark.django_db
def test_an_absence_signal_finds_people_who_stopped_coming_once_per_absence(shop, tracker) -> None:
    signal = _signal(shop, key="lapsed", kind="absence", definition={"event": "login", "days": 14})
    _playbook(shop, signal, [{"type": "suppress", "event": "payment_failed"}], reentry_hours=0)
    old = (timezone.now() - timedelta(days=20)).isoformat()
    response = tracker.post(
        "/v1/track", {"userId": "ana", "event": "login", "messageId": str(uuid.uuid4()), "timestamp": old}
    )
    assert response.status_code == 200
    identify(tracker, "bo", first_name="Bo")
    response = tracker.post("/v1/track", {"userId": "bo", "event": "login", "messageId": str(uuid.uuid4())})
    assert response.status_code == 200
    assert signals_evaluate_absence(workspace=shop) == 1
    assert signals_evaluate_absence(workspace=shop) == 0
    [run] = PlaybookRun.objects.filter(workspace=shop)
    assert run.profile_id == person(shop, "ana").id and "no login for 14 days" in run.explanation


@pytest.mark.django_db
def test_a_persons_runs_are_exported_and_erased(shop) -> None:
    signal = _signal(shop)
    _playbook(shop, signal, [{"type": "suppress", "event": "payment_failed"}])
    ana = person(shop, "ana")
    signal_fire(signal=signal, profile=ana, trigger_ref="t", facts={"note": "card 4242"}, because="x")
    exported = subject_data_export(workspace=shop, profile_ids=[ana.id])
    assert exported["journeys.runs"][0]["context"] == {"note": "card 4242"}
    subject_data_erase(workspace=shop, profile_ids=[ana.id], identifiers=[])
    assert not PlaybookRun.objects.filter(workspace=shop).exists()


@pytest.mark.django_db
def test_an_in_app_step_can_use_a_content_block_and_needs_consent(shop, tracker) -> None:
    from delivery.models import Delivery
    from delivery.services import content_block_save

    content_block_save(
        workspace=shop,
        actor=None,
        values={"key": "help", "name": "Help", "channel": "in_app", "body": "Hi {traits.first_name}, need a hand?"},
    )
    signal = _signal(shop)
    _playbook(shop, signal, [{"type": "in_app", "content_block": "help", "link_label": "Chat"}], reentry_hours=0)
    [run] = signal_fire(signal=signal, profile=person(shop, "ana"), trigger_ref="a", facts={}, because="x")
    run = _advance(run)
    delivery = Delivery.objects.get(workspace=shop, key=run.steps.get().correlation_id)
    assert delivery.body == "Hi Ana, need a hand?" and delivery.payload["link_label"] == "Chat"
    identify(tracker, "ana", consent={"in_app": False})
    [second] = signal_fire(signal=signal, profile=person(shop, "ana"), trigger_ref="b", facts={}, because="x")
    second = _advance(second)
    step = second.steps.get()
    assert second.status == RunStatus.COMPLETED and step.status == StepStatus.SKIPPED
    assert step.result == {"skipped": True, "reason": "no in-app consent"} and step.decision_id is None
