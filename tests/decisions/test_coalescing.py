"""/v1/decide calls waiting at the same moment are decided in one transaction
(decisions.coalescing): each keeps its own person, decision and answer; one person is never
decided twice in one group."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import pytest
from django.db import connections

from accounts.models import Workspace
from core import broker
from core.group_commit import GroupCommit
from decisions import coalescing
from decisions.models import Decision
from decisions.services import DecisionRequest, decisions_make_together
from tests.decisions.conftest import identify, person
from tests.waiting import wait_until

pytestmark = pytest.mark.django_db(transaction=True)

PEOPLE = ("ana", "ben", "cy", "dee")


@pytest.fixture
def people(shop: Workspace, tracker: Any) -> Workspace:
    for user in PEOPLE[1:]:
        identify(tracker, user, first_name=user.title(), consent={"email": True, "in_app": True})
    return shop


class Held:
    """A group commit whose first store waits until released, recording who each store decided for."""

    def __init__(self) -> None:
        self.stores: list[list[str]] = []
        self.entered = threading.Event()
        self.release = threading.Event()
        self.group_commit: GroupCommit[DecisionRequest, Decision] = GroupCommit(
            name="test",
            together=self._hold(coalescing._together),
            alone=self._hold(coalescing._alone),
            joins=coalescing._joins,
        )

    def _hold(self, run: Callable[[Any], Any]) -> Callable[[Any], Any]:
        def held(calls: Any) -> Any:
            group = calls if isinstance(calls, Sequence) else [calls]
            self.stores.append([str(request.profile.traits["first_name"]).lower() for request in group])
            if len(self.stores) == 1:
                self.entered.set()
                assert self.release.wait(timeout=30)
            return run(calls)

        return held


@pytest.fixture
def held(monkeypatch: pytest.MonkeyPatch) -> Iterator[Held]:
    held = Held()
    monkeypatch.setattr(coalescing, "_coalescer", held.group_commit)
    yield held
    held.release.set()


@pytest.fixture
def pushes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many "decision made" facts each broker push carried."""
    sent: list[int] = []
    original = broker.task_enqueue_many

    def record(task: Any, *, calls: Sequence[tuple[Mapping[str, Any], str]], queue: str) -> list[str]:
        decided = [kwargs for kwargs, _ in calls if kwargs["name"] == "decision.made"]
        if decided:
            sent.append(len(decided))
        return original(task, calls=calls, queue=queue)

    monkeypatch.setattr(broker, "task_enqueue_many", record)
    return sent


def _waiting(held: Held, count: int) -> Callable[[], bool]:
    return lambda: held.group_commit.waiting_count() == count


def test_calls_queued_behind_a_decision_are_decided_together_each_for_its_own_person(
    people: Workspace, held: Held, pushes: list[int]
) -> None:
    answers: dict[str, Decision] = {}
    errors: list[BaseException] = []

    def ask(user: str, key: str) -> None:
        try:
            answers[key] = coalescing.decision_make_coalesced(
                workspace=people, profile=person(people, user), context={"page": "/checkout", "channel": "in_app"}
            )
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    order = [("dee", "dee"), ("ana", "ana-1"), ("ben", "ben"), ("ana", "ana-2"), ("cy", "cy")]
    threads = []
    for index, (user, key) in enumerate(order):
        thread = threading.Thread(target=ask, args=(user, key))
        thread.start()
        threads.append(thread)
        if index == 0:
            assert held.entered.wait(timeout=30)
        else:
            wait_until(_waiting(held, index))
    held.release.set()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    # dee alone; then the others in order of arrival, but ana's second call waits for the next group
    assert held.stores == [["dee"], ["ana", "ben", "cy"], ["ana"]]
    assert pushes == [1, 3, 1]  # the group's three "decision made" facts went in one push
    stored = Decision.objects.filter(workspace=people)
    assert stored.count() == 5 and len({answer.id for answer in answers.values()}) == 5
    for key, answer in answers.items():
        assert answer.profile_id == person(people, key.partition("-")[0]).id
        assert stored.get(id=answer.id).explanation == answer.explanation
        assert answer.latency_ms is not None and answer.latency_ms > 0
    assert answers["ana-2"].created_at > answers["ana-1"].created_at


def test_decisions_made_together_are_for_different_people_of_one_workspace(people: Workspace) -> None:
    ana = person(people, "ana")
    twice = [DecisionRequest(workspace=people, profile=ana, context={}, only=None, started=time.perf_counter())] * 2
    with pytest.raises(ValueError, match="different people"):
        decisions_make_together(requests=twice)
    assert not Decision.objects.exists()
