"""A playbook's webhook step whose receiver (the ERP) refuses at first: the call is retried with
exponential backoff by a real worker until the ERP recovers, every attempt is recorded, and
nothing is done twice (one delivery, one decision per step, one webhook-id on the wire)."""

from __future__ import annotations

import json
from itertools import pairwise

import pytest

from audit.models import AuditEntry
from decisions.models import Decision
from delivery.models import Delivery, DeliveryStatus
from delivery.services import endpoint_save, retry_delay
from journeys.models import PlaybookRun, RunStatus, StepStatus
from journeys.services import playbook_save, signal_fire, signal_save
from tests.decisions.conftest import person
from tests.delivery.conftest import http_receiver, wait_for, worker

STEPS = [
    {"type": "suppress", "event": "payment_failed", "key": "pause-promotions"},
    {"type": "webhook", "endpoint": "erp", "event_type": "cart.hold", "data": {"minutes": 30}, "key": "erp-hold"},
]


@pytest.mark.django_db(transaction=True)
def test_a_refused_erp_call_is_retried_with_backoff_and_done_once_when_the_erp_recovers(
    shop, fast_retries, fast_steps
) -> None:
    # Given an ERP that answers 500 to the first two requests, then 200, and a playbook calling it
    with http_receiver(fail_first=2) as erp:
        _, secret = endpoint_save(workspace=shop, actor=None, values={"key": "erp", "url": erp.url})
        erp.secret = secret or ""
        signal = signal_save(
            workspace=shop,
            actor=None,
            values={
                "key": "payment-trouble",
                "name": "Payment trouble",
                "kind": "event_count",
                "definition": {"event": "payment_failed", "count": 3, "window_minutes": 10},
            },
        )
        playbook_save(
            workspace=shop, actor=None, values={"key": "rescue", "name": "Rescue", "signal": signal, "steps": STEPS}
        )

        # When the signal fires for Ana and a real worker runs the playbook
        with worker():
            [run] = signal_fire(
                signal=signal, profile=person(shop, "ana"), trigger_ref="t1", facts={"count": 3}, because="3 failures"
            )
            delivered = wait_for(
                lambda: Delivery.objects.filter(
                    workspace=shop, key=f"playbook:{run.id}:1", status=DeliveryStatus.DELIVERED
                ).first(),
                timeout=90,
            )
            finished = wait_for(
                lambda: PlaybookRun.objects.filter(pk=run.id, status=RunStatus.COMPLETED).first(), timeout=60
            )
        requests = list(erp.requests)

    # Then the run completed with both steps done, each acted on once
    assert finished is not None and delivered is not None
    steps = list(finished.steps.order_by("index"))
    assert [(s.type, s.status, s.attempts) for s in steps] == [
        ("suppress", StepStatus.DONE, 1),
        ("webhook", StepStatus.DONE, 1),
    ]
    assert steps[1].result == {"delivery": str(delivered.id)}
    # And the ERP call took three attempts, each recorded with its answer, then stopped
    attempts = list(delivered.attempts.order_by("number"))
    assert [(a.number, a.ok, a.status_code) for a in attempts] == [(1, False, 500), (2, False, 500), (3, True, 200)]
    assert delivered.attempt_count == 3 and delivered.last_error == "" and delivered.next_attempt_at is None
    assert attempts[0].error.startswith("HTTP 500") and attempts[2].error == ""
    # And each retry waited at least its backoff (exponential: base, then twice the base)
    gaps = [(later.started_at - earlier.started_at).total_seconds() for earlier, later in pairwise(attempts)]
    assert gaps[0] >= retry_delay(1) and gaps[1] >= retry_delay(2) and retry_delay(2) == 2 * retry_delay(1)
    # And the ERP saw the same signed message three times: one webhook-id, identical bodies
    assert [r.answered for r in requests] == [500, 500, 200]
    assert all(r.signature_ok for r in requests)
    assert {r.headers["webhook-id"] for r in requests} == {f"msg_{delivered.id.hex}"}  # the id without hyphens
    assert len({r.body for r in requests}) == 1
    body = json.loads(requests[0].body)
    assert body["type"] == "cart.hold" and body["data"]["minutes"] == 30 and body["data"]["run_id"] == str(run.id)
    # And nothing was duplicated: one run, one webhook delivery, one decision and one audit entry per step
    assert PlaybookRun.objects.filter(workspace=shop).count() == 1
    assert Delivery.objects.filter(workspace=shop, channel="webhook").count() == 1
    logged = Decision.objects.filter(workspace=shop, trigger="playbook").order_by("created_at")
    assert [d.chosen_key for d in logged] == ["pause-promotions", "erp-hold"]
    done = AuditEntry.objects.filter(workspace=shop, action="playbook.step_done", target_id=str(run.id)).count()
    assert done == 2
