"""core.domain_events.enqueues_batched: facts committed inside the block reach the broker in one
push when it ends; rolled-back facts never do."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import pytest
from django.db import transaction

from core import broker, domain_events

FACT = "test.batched"

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def pushes(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[list[str]]]:
    """Each broker push, as the names of the facts it carried."""
    sent: list[list[str]] = []

    def record(task: Any, *, calls: Sequence[tuple[Mapping[str, Any], str]], queue: str) -> list[str]:
        sent.append([str(kwargs["payload"]["n"]) for kwargs, _ in calls])
        return [f"id-{n}" for n in range(len(calls))]

    monkeypatch.setattr(broker, "task_enqueue_many", record)
    uid = domain_events.subscribe_in_worker(FACT, lambda event: None, uid="tests.batched")
    yield sent
    domain_events.unsubscribe(FACT, uid)


def _publish(n: int) -> None:
    domain_events.publish(FACT, workspace_id="w", payload={"n": n})


def test_facts_committed_in_the_block_go_in_one_push_at_its_end(pushes: list[list[str]]) -> None:
    with domain_events.enqueues_batched():
        with transaction.atomic():
            _publish(1)
            _publish(2)
        with transaction.atomic():
            _publish(3)
        assert pushes == []  # nothing sent before the block ends
    assert pushes == [["1", "2", "3"]]


def test_a_rolled_back_fact_is_never_sent_and_nested_blocks_send_once(pushes: list[list[str]]) -> None:
    with domain_events.enqueues_batched():
        with transaction.atomic():
            _publish(1)
        with domain_events.enqueues_batched():
            with transaction.atomic():
                _publish(2)
                transaction.set_rollback(True)
            with transaction.atomic():
                _publish(3)
        assert pushes == []
    assert pushes == [["1", "3"]]


def test_without_a_block_each_fact_is_sent_when_its_transaction_commits(pushes: list[list[str]]) -> None:
    with transaction.atomic():
        _publish(1)
        _publish(2)
    assert pushes == [["1"], ["2"]]
