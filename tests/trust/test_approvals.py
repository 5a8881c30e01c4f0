"""The approvals queue: approve, reject, edit and approve, batch, expiry, who may decide, and
that nothing unapproved is ever sent."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from accounts.roles import Role
from audit.models import AuditEntry
from core import domain_events
from decisions.approvals import (
    ApprovalError,
    approval_approve,
    approval_edit_and_approve,
    approval_reject,
    approvals_batch_approve,
    approvals_expire,
    approver_categories_set,
)
from decisions.models import ACTED_STATUSES, ApprovalResult, ApprovalReview, Decision, DecisionStatus
from decisions.services import DECISION_APPROVED, guardrails_save
from tests.factories import make_member
from tests.trust.conftest import propose


@pytest.fixture
def approved_facts():
    """Collects "decision.approved" facts published after commit (an in-process subscriber)."""
    seen: list[dict] = []
    uid = domain_events.subscribe(
        DECISION_APPROVED, lambda event: seen.append(dict(event.payload)), uid="test.approved"
    )
    yield seen
    domain_events.unsubscribe(DECISION_APPROVED, uid)


@pytest.mark.django_db
def test_approve_moves_the_decision_on_and_tells_delivery(
    queue, approver, approved_facts, django_capture_on_commit_callbacks
) -> None:
    # given a high-risk proposal waiting for Ana
    decision = propose(queue, "ana")
    assert decision.status == DecisionStatus.PENDING_APPROVAL and decision.status not in ACTED_STATUSES
    # when an approver approves it
    with django_capture_on_commit_callbacks(execute=True):
        approval_approve(workspace=queue, decision=decision, actor=approver, reason="fits the campaign")
    # then it is approved, reviewed, audited, and "decision.approved" went out once
    decision.refresh_from_db()
    assert decision.status == DecisionStatus.APPROVED and decision.status in ACTED_STATUSES
    review = ApprovalReview.objects.get(decision=decision)
    assert review.result == ApprovalResult.APPROVED and review.decided_by == approver
    assert review.reason == "fits the campaign"
    entry = AuditEntry.objects.get(action="approval.approved", target_id=str(decision.id))
    assert entry.actor_user == approver and (entry.after or {})["status"] == "approved"
    assert approved_facts == [{"decision_id": str(decision.id), "approved_by": f"user:{approver.username}"}]
    # and a second decision on the same proposal is refused
    with pytest.raises(ApprovalError, match="no longer waiting"):
        approval_reject(workspace=queue, decision=decision, actor=approver, reason="changed my mind")


@pytest.mark.django_db
def test_reject_needs_a_reason_and_is_never_announced(
    queue, approver, approved_facts, django_capture_on_commit_callbacks
) -> None:
    decision = propose(queue, "ana")
    with pytest.raises(ApprovalError) as error:
        approval_reject(workspace=queue, decision=decision, actor=approver, reason="   ")
    assert error.value.fields == {"reason": "A reason is required."}
    decision.refresh_from_db()
    assert decision.status == DecisionStatus.PENDING_APPROVAL
    with django_capture_on_commit_callbacks(execute=True):
        approval_reject(workspace=queue, decision=decision, actor=approver, reason="too generous for a new customer")
    decision.refresh_from_db()
    assert decision.status == DecisionStatus.REJECTED
    review = decision.review
    assert review.result == ApprovalResult.REJECTED and review.reason == "too generous for a new customer"
    assert AuditEntry.objects.get(action="approval.rejected").reason == "too generous for a new customer"
    assert approved_facts == []


@pytest.mark.django_db
def test_edit_and_approve_lowers_the_discount_and_keeps_both_versions(queue, approver) -> None:
    decision = propose(queue, "ana")
    assert decision.rendered["body"] == "Come back for 20% off, Ana."
    approval_edit_and_approve(
        workspace=queue,
        decision=decision,
        actor=approver,
        body="Come back for 10% off, Ana.",
        discount_percent="10",
        reason="20% is above this quarter's budget",
    )
    decision.refresh_from_db()
    assert decision.status == DecisionStatus.APPROVED
    assert decision.rendered["body"] == "Come back for 10% off, Ana."
    assert decision.rendered["discount_percent"] == 10.0
    assert decision.rendered["subject"] == "We miss you, Ana"  # untouched
    review = decision.review
    assert review.result == ApprovalResult.EDITED and review.decided_by == approver
    assert review.original == {
        "subject": "We miss you, Ana",
        "body": "Come back for 20% off, Ana.",
        "discount_percent": 20.0,
    }
    assert review.edited == {"body": "Come back for 10% off, Ana.", "discount_percent": 10.0}
    entry = AuditEntry.objects.get(action="approval.edited")
    assert (entry.after or {})["edited_fields"] == ["body", "discount_percent"] and (entry.after or {})[
        "discount_percent"
    ] == 10.0


@pytest.mark.django_db
def test_an_edit_must_pass_brand_safety_again(queue, approver) -> None:
    guardrails_save(
        workspace=queue, actor=None, brand_safety={"banned_phrases": ["free money"], "max_discount_percent": 25}
    )
    decision = propose(queue, "ana")
    with pytest.raises(ApprovalError) as ceiling:
        approval_edit_and_approve(workspace=queue, decision=decision, actor=approver, discount_percent=30)
    assert "above the ceiling of 25%" in ceiling.value.fields["body"]
    with pytest.raises(ApprovalError) as banned:
        approval_edit_and_approve(workspace=queue, decision=decision, actor=approver, body="Free money for you, Ana!")
    assert "banned phrase 'free money'" in banned.value.fields["body"]
    with pytest.raises(ApprovalError, match="Nothing was changed"):
        approval_edit_and_approve(workspace=queue, decision=decision, actor=approver, body=decision.rendered["body"])
    decision.refresh_from_db()
    assert decision.status == DecisionStatus.PENDING_APPROVAL and not ApprovalReview.objects.exists()


@pytest.mark.django_db
def test_pending_proposals_expire_and_the_expiry_is_recorded(queue, approver, settings) -> None:
    settings.DECISIONS_APPROVAL_TTL_HOURS = 4
    fresh, lapsed, lapsed_too = propose(queue, "ana"), propose(queue, "ben"), propose(queue, "ana")
    five_hours_ago = timezone.now() - timedelta(hours=5)
    Decision.objects.filter(pk__in=[lapsed.pk, lapsed_too.pk]).update(created_at=five_hours_ago)
    # when the beat task runs, only the lapsed one expires
    assert approvals_expire(workspace=queue) == 2
    assert Decision.objects.get(pk=fresh.pk).status == DecisionStatus.PENDING_APPROVAL
    assert Decision.objects.get(pk=lapsed.pk).status == DecisionStatus.EXPIRED
    assert ApprovalReview.objects.get(decision=lapsed).result == ApprovalResult.EXPIRED
    assert AuditEntry.objects.filter(action="approval.expired", target_id=str(lapsed.pk)).count() == 1
    # and running it again finds nothing more
    assert approvals_expire(workspace=queue) == 0


@pytest.mark.django_db
def test_approving_a_lapsed_proposal_expires_it_instead(queue, approver, settings) -> None:
    settings.DECISIONS_APPROVAL_TTL_HOURS = 1
    decision = propose(queue, "ana")
    Decision.objects.filter(pk=decision.pk).update(created_at=timezone.now() - timedelta(minutes=61))
    with pytest.raises(ApprovalError, match="expired"):
        approval_approve(workspace=queue, decision=decision, actor=approver)
    decision.refresh_from_db()
    assert decision.status == DecisionStatus.EXPIRED  # the expiry stays although the approval failed
    assert decision.review.result == ApprovalResult.EXPIRED and decision.review.decided_by_label == "system"


@pytest.mark.django_db
def test_batch_approve_takes_proposals_of_one_action(queue, approver) -> None:
    first, second, third = propose(queue, "ana"), propose(queue, "ben"), propose(queue, "ben")
    other = propose(queue, "ana", action="care_note")
    with pytest.raises(ApprovalError, match="one action"):
        approvals_batch_approve(workspace=queue, decisions=[first, other], actor=approver)
    approval_reject(workspace=queue, decision=third, actor=approver, reason="duplicate")
    result = approvals_batch_approve(workspace=queue, decisions=[first, second, third], actor=approver)
    assert sorted(result.approved) == sorted([str(first.id), str(second.id)])
    assert list(result.skipped) == [str(third.id)]
    batch_reviews = ApprovalReview.objects.filter(batch=result.batch)
    assert batch_reviews.count() == 2 and {r.result for r in batch_reviews} == {ApprovalResult.APPROVED}
    assert Decision.objects.get(pk=other.pk).status == DecisionStatus.PENDING_APPROVAL


@pytest.mark.django_db
def test_only_approvers_of_the_category_may_decide(queue, personas_in_queue) -> None:
    owner, approver, limited, marketer = personas_in_queue
    # the limited approver covers messages only (guardian object permission on the category)
    approver_categories_set(workspace=queue, user=limited, kinds=["message"], actor=owner)
    retention = propose(queue, "ana")  # winback is a retention action
    message = propose(queue, "ben", action="care_note")
    with pytest.raises(PermissionDenied):
        approval_approve(workspace=queue, decision=retention, actor=limited)
    with pytest.raises(PermissionDenied):
        approval_approve(workspace=queue, decision=retention, actor=marketer)
    approval_approve(workspace=queue, decision=message, actor=limited)
    approval_approve(workspace=queue, decision=retention, actor=approver)  # not limited: every category
    assert {d.status for d in Decision.objects.filter(pk__in=[retention.pk, message.pk])} == {DecisionStatus.APPROVED}
    change = AuditEntry.objects.get(action="approver.categories_changed")
    assert change.before == {"kinds": "all"} and change.after == {"kinds": ["message"]}
    # lifting the limit (empty list) lets them decide everything again
    approver_categories_set(workspace=queue, user=limited, kinds=[], actor=owner)
    another = propose(queue, "ben")
    approval_reject(workspace=queue, decision=another, actor=limited, reason="not now")
    assert Decision.objects.get(pk=another.pk).status == DecisionStatus.REJECTED


@pytest.fixture
def personas_in_queue(queue):
    owner = queue.memberships.get(role=Role.OWNER).user
    return (
        owner,
        make_member(workspace=queue, role=Role.APPROVER),
        make_member(workspace=queue, role=Role.APPROVER),
        make_member(workspace=queue, role=Role.MARKETER),
    )


@pytest.mark.django_db
def test_unapproved_decisions_are_never_delivered(queue, approver) -> None:
    from delivery.services import DeliveryError, delivery_for_decision

    pending, rejected, expired, approved = (propose(queue, u) for u in ("ana", "ben", "ana", "ben"))
    approval_reject(workspace=queue, decision=rejected, actor=approver, reason="no")
    Decision.objects.filter(pk=expired.pk).update(created_at=timezone.now() - timedelta(days=1))
    approvals_expire(workspace=queue)
    approval_approve(workspace=queue, decision=approved, actor=approver)
    for decision in (pending, rejected, expired):
        decision.refresh_from_db()
        assert decision.status not in ACTED_STATUSES
        with pytest.raises(DeliveryError, match="only acted or approved decisions are sent"):
            delivery_for_decision(decision=decision)
    approved.refresh_from_db()
    deliveries = delivery_for_decision(decision=approved)
    assert [d.decision_id for d in deliveries] == [approved.id]


@pytest.mark.django_db
def test_the_queue_page_shows_proposals_and_what_acted_with_notice(queue, approver, client) -> None:
    from decisions.models import Action
    from decisions.services import action_save, decision_make
    from tests.decisions.conftest import person

    waiting = propose(queue, "ana")
    care = Action.objects.get(workspace=queue, key="care_note")
    action_save(workspace=queue, actor=None, action=care, values={"autonomy": "act_and_notify"})
    acted = decision_make(workspace=queue, profile=person(queue, "ben"), only=["care_note"])
    assert acted.status == DecisionStatus.ACTED
    client.force_login(approver)
    body = client.get("/approvals/").content.decode()
    assert f'id="approval-{waiting.id}"' in body and "Come back for 20% off, Ana." in body
    assert 'id="notice-table"' in body and "Thanks for shopping with us, Ben." in body
    # the htmx refresh returns the queue alone
    fragment = client.get("/approvals/", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="approval-queue").content.decode()
    assert fragment.lstrip().startswith('<section id="approval-queue"') and "notice-table" not in fragment


@pytest.mark.django_db
def test_the_rest_api_for_approvals(queue, approver, api_client, settings) -> None:
    api_client.force_authenticate(approver)
    first, second, third = propose(queue, "ana"), propose(queue, "ben"), propose(queue, "ben", "care_note")
    listed = api_client.get("/api/v1/approvals/?action=winback").json()
    assert [row["id"] for row in listed["results"]] == [str(first.id), str(second.id)]
    assert listed["results"][0]["person"]["name"] == "Ana" and listed["results"][0]["kind"] == "retention"
    no_reason = api_client.post(f"/api/v1/approvals/{first.id}/reject/", {}, format="json")
    assert no_reason.status_code == 400 and "reason" in no_reason.json()["error"]["fields"]
    rejected = api_client.post(f"/api/v1/approvals/{first.id}/reject/", {"reason": "not now"}, format="json")
    assert rejected.status_code == 200 and rejected.json()["review"]["result"] == "rejected"
    again = api_client.post(f"/api/v1/approvals/{first.id}/approve/", {}, format="json")
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"
    edited = api_client.post(
        f"/api/v1/approvals/{second.id}/edit/", {"discount_percent": "15", "reason": "budget"}, format="json"
    )
    assert edited.status_code == 200, edited.content
    assert edited.json()["rendered"]["discount_percent"] == 15.0 and edited.json()["review"]["edited"] == {
        "discount_percent": 15.0
    }
    batch = api_client.post("/api/v1/approvals/batch/", {"decision_ids": [str(third.id)]}, format="json")
    assert batch.status_code == 200 and batch.json()["approved"] == [str(third.id)]
    assert api_client.get("/api/v1/approvals/").json()["count"] == 0
    trust = {row["action_key"]: row for row in api_client.get("/api/v1/trust/").json()}
    assert trust["winback"]["reviews"] == 2 and trust["winback"]["rejected"] == 1
    assert trust["care_note"]["approved"] == 1 and trust["care_note"]["level"] == "always_ask"


@pytest.mark.django_db
def test_batch_with_a_malformed_or_unknown_id_is_not_found(queue, approver, client) -> None:
    import uuid

    client.force_login(approver)
    assert client.post("/approvals/batch/", {"decision_ids": ["not-a-uuid"]}).status_code == 404
    mine = propose(queue, "ana")
    assert client.post("/approvals/batch/", {"decision_ids": [str(mine.id), str(uuid.uuid4())]}).status_code == 404
    assert Decision.objects.get(pk=mine.pk).status == DecisionStatus.PENDING_APPROVAL  # nothing half-done
