"""Single tracking calls waiting at the same moment share one transaction (events.coalescing).

Each test holds the first call inside its transaction, lets other calls queue behind it on
their own threads and database connections, then releases it: what the queued calls do next is
deterministic."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.db import connections, transaction
from django.utils import timezone

from accounts.models import Workspace
from core.group_commit import GroupCommit
from events import coalescing
from events.models import Event
from events.services import IngestResult, event_batch_ingest
from events.validation import Message, validate_single
from profiles.models import Profile, ProfileFeatures
from profiles.privacy import subject_erase
from profiles.selectors import profile_by_identifier
from tests.factories import make_workspace
from tests.waiting import wait_until

pytestmark = pytest.mark.django_db(transaction=True)

Coalescer = GroupCommit[coalescing.SingleCall, IngestResult]


def _message(message_id: str, anonymous_id: str = "anon-1", event: str = "Product Viewed") -> Message:
    result = validate_single(
        {"type": "track", "event": event, "anonymousId": anonymous_id, "messageId": message_id},
        call_type="track",
        received_at=timezone.now(),
    )
    assert isinstance(result, Message)
    return result


class Gate:
    """Replaces the coalescer's ``event_batch_ingest``: records every call's messageIds, holds
    the first call until released, and raises for messages named poisonous."""

    def __init__(self, poison: str | None = None) -> None:
        self.calls: list[list[str]] = []
        self.entered = threading.Event()
        self.release = threading.Event()
        self.poison = poison

    def __call__(self, **kwargs: Any) -> IngestResult:
        ids = [message.message_id for message in kwargs["messages"]]
        self.calls.append(ids)
        if len(self.calls) == 1:
            self.entered.set()
            assert self.release.wait(timeout=30)
        if self.poison in ids:
            raise RuntimeError("poisonous message")
        return event_batch_ingest(**kwargs)


@pytest.fixture
def coalescer(monkeypatch: pytest.MonkeyPatch) -> Coalescer:
    fresh = coalescing.single_calls_group_commit()
    monkeypatch.setattr(coalescing, "_coalescer", fresh)
    return fresh


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> Iterator[Gate]:
    gate = Gate()
    monkeypatch.setattr(coalescing, "event_batch_ingest", gate)
    yield gate
    gate.release.set()


class Calls:
    """Single calls made on their own threads, as the lean path's threads make them."""

    def __init__(self) -> None:
        self.results: dict[str, IngestResult] = {}
        self.errors: dict[str, BaseException] = {}
        self.threads: list[threading.Thread] = []

    def start(self, workspace: Workspace, message: Message, key: str | None = None) -> None:
        def run() -> None:
            try:
                self.results[key or message.message_id] = coalescing.event_ingest_single(
                    workspace=workspace, message=message, received_at=timezone.now(), check_erased=True
                )
            except BaseException as exc:  # reported by the test
                self.errors[key or message.message_id] = exc
            finally:
                connections.close_all()

        thread = threading.Thread(target=run)
        thread.start()
        self.threads.append(thread)

    def join(self) -> None:
        for thread in self.threads:
            thread.join(timeout=60)
        assert not any(thread.is_alive() for thread in self.threads), "a call hung"


def _waiting(coalescer: Coalescer, count: int) -> Callable[[], bool]:
    return lambda: coalescer.waiting_count() == count


def _queue_behind_leader(
    coalescer: Coalescer, gate: Gate, calls: Calls, queued: list[tuple[Workspace, Message]]
) -> None:
    """Start the first call and hold it in its transaction, then queue the others behind it in
    their order (each is waiting before the next starts)."""
    leader_ws, leader = queued[0]
    calls.start(leader_ws, leader)
    assert gate.entered.wait(timeout=30)
    for index, (workspace, message) in enumerate(queued[1:]):
        calls.start(workspace, message, key=f"{message.message_id}#{index}")
        wait_until(_waiting(coalescer, index + 1))


def test_calls_queued_behind_a_transaction_are_stored_together_in_the_next(
    workspace: Workspace, coalescer: Coalescer, gate: Gate
) -> None:
    calls = Calls()
    queued = [(workspace, _message(f"m{n}")) for n in range(6)]
    _queue_behind_leader(coalescer, gate, calls, queued)
    gate.release.set()
    calls.join()

    assert calls.errors == {}
    assert gate.calls == [["m0"], ["m1", "m2", "m3", "m4", "m5"]]  # the leader alone, then everyone waiting
    assert coalescer.stats.groups == 2 and coalescer.stats.largest == 5 and coalescer.stats.calls == 6
    assert all(result.accepted == 1 and result.duplicates == 0 for result in calls.results.values())
    assert {e.message_id for e in Event.objects.filter(workspace=workspace)} == {f"m{n}" for n in range(6)}
    # one person, whose features counted every event once
    features = ProfileFeatures.objects.get(profile=Profile.objects.get(workspace=workspace))
    assert features.computed["event_counts"]["Product Viewed"]["total"] == 6


def test_a_replay_waits_for_the_next_group_and_is_answered_as_a_replay(
    workspace: Workspace, coalescer: Coalescer, gate: Gate
) -> None:
    calls = Calls()
    queued = [
        (workspace, _message("lead")),
        (workspace, _message("x")),
        (workspace, _message("x")),
        (workspace, _message("y")),
    ]
    _queue_behind_leader(coalescer, gate, calls, queued)
    gate.release.set()
    calls.join()

    assert calls.errors == {}
    assert gate.calls == [["lead"], ["x", "y"], ["x"]]
    assert sorted(r.accepted for key, r in calls.results.items() if key.startswith("x")) == [0, 1]
    assert sorted(r.duplicates for key, r in calls.results.items() if key.startswith("x")) == [0, 1]
    assert Event.objects.filter(workspace=workspace, message_id="x").count() == 1


def test_a_group_holds_one_workspace(workspace: Workspace, coalescer: Coalescer, gate: Gate) -> None:
    other = make_workspace(name="Other")
    calls = Calls()
    queued = [
        (workspace, _message("lead")),
        (workspace, _message("a1")),
        (other, _message("b1")),
        (workspace, _message("a2")),
    ]
    _queue_behind_leader(coalescer, gate, calls, queued)
    gate.release.set()
    calls.join()

    assert calls.errors == {}
    assert gate.calls == [["lead"], ["a1", "a2"], ["b1"]]  # first come, first stored; a1 leads, then b1
    assert set(Event.objects.filter(workspace=other).values_list("message_id", flat=True)) == {"b1"}
    assert set(Event.objects.filter(workspace=workspace).values_list("message_id", flat=True)) == {"lead", "a1", "a2"}


def test_a_failing_group_is_stored_call_by_call_so_only_the_bad_call_fails(
    workspace: Workspace, coalescer: Coalescer, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = Gate(poison="bad")
    monkeypatch.setattr(coalescing, "event_batch_ingest", gate)
    calls = Calls()
    queued = [
        (workspace, _message("lead")),
        (workspace, _message("ok1")),
        (workspace, _message("bad")),
        (workspace, _message("ok2")),
    ]
    _queue_behind_leader(coalescer, gate, calls, queued)
    gate.release.set()
    calls.join()

    assert gate.calls[:2] == [["lead"], ["ok1", "bad", "ok2"]]
    assert sorted(gate.calls[2:]) == [["bad"], ["ok1"], ["ok2"]]  # each again on its own
    assert list(calls.errors) == ["bad#1"] and isinstance(calls.errors["bad#1"], RuntimeError)
    assert coalescer.stats.fallbacks == 1
    assert set(Event.objects.filter(workspace=workspace).values_list("message_id", flat=True)) == {"lead", "ok1", "ok2"}


def test_an_erased_persons_call_in_a_group_is_dropped_and_answered_so(
    workspace: Workspace, coalescer: Coalescer, gate: Gate
) -> None:
    event_batch_ingest(workspace=workspace, messages=[_message("before", anonymous_id="erased-anon")])
    profile = profile_by_identifier(workspace=workspace, kind="anonymous_id", value="erased-anon")
    assert profile is not None
    with transaction.atomic():
        subject_erase(workspace=workspace, profile=profile, actor=None, reason="request #1")

    calls = Calls()
    queued = [
        (workspace, _message("lead")),
        (workspace, _message("gone", anonymous_id="erased-anon")),
        (workspace, _message("kept", anonymous_id="someone")),
    ]
    _queue_behind_leader(coalescer, gate, calls, queued)
    gate.release.set()
    calls.join()

    assert calls.errors == {}
    assert gate.calls[1] == ["gone", "kept"]
    gone, kept = calls.results["gone#0"], calls.results["kept#1"]
    assert (gone.accepted, gone.duplicates, gone.suppressed) == (0, 0, 1)
    assert (kept.accepted, kept.duplicates, kept.suppressed) == (1, 0, 0)
    assert not Event.objects.filter(workspace=workspace, message_id="gone").exists()


def test_a_call_inside_a_transaction_is_never_grouped(workspace: Workspace, coalescer: Coalescer) -> None:
    with transaction.atomic():
        result = coalescing.event_ingest_single(
            workspace=workspace, message=_message("in-tx"), received_at=timezone.now()
        )
        transaction.set_rollback(True)
    assert result.accepted == 1
    assert coalescer.stats.groups == 0  # stored directly, in the caller's transaction
    assert not Event.objects.filter(message_id="in-tx").exists()  # and rolled back with it


def test_an_idle_coalescer_stores_a_call_at_once_in_its_own_transaction(
    workspace: Workspace, coalescer: Coalescer
) -> None:
    result = coalescing.event_ingest_single(workspace=workspace, message=_message("solo"), received_at=timezone.now())
    again = coalescing.event_ingest_single(workspace=workspace, message=_message("solo"), received_at=timezone.now())
    assert (result.accepted, again.accepted, again.duplicates) == (1, 0, 1)
    assert coalescer.stats.groups == 2 and coalescer.stats.largest == 1
