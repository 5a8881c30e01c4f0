"""Parallel writers on real PostgreSQL connections (one per thread), merging the same people
at the same time: no event is lost or counted twice, and the profile count comes out right."""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connections
from django.utils import timezone

from accounts.models import Workspace
from audit.models import AuditEntry
from audit.verification import audit_verify
from events.models import Event
from events.services import event_batch_ingest
from events.validation import validate_batch
from profiles import services
from profiles.models import Identifier, Profile, ProfileFeatures
from profiles.selectors import profile_live_count

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("both_ingest_modes")]

PEOPLE = 6
WRITERS = 4


def _run_parallel(workers: list[Callable[[], None]]) -> list[BaseException]:
    barrier = threading.Barrier(len(workers))
    failures: list[BaseException] = []

    def run(work: Callable[[], None]) -> None:
        try:
            barrier.wait(timeout=30)
            work()
        except BaseException as exc:  # reported by the test, not swallowed
            failures.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(work,)) for work in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a writer hung"
    return failures


def _ingest(workspace: Workspace, items: list[dict[str, Any]]) -> None:
    messages, errors = validate_batch({"batch": items}, received_at=timezone.now())
    assert errors == []
    event_batch_ingest(workspace=workspace, messages=messages)


def _person_messages(person: int, writer: int, rng: random.Random) -> list[dict[str, Any]]:
    """Events of one person as one writer sees them: two devices browsing anonymously, logins
    that tie each device to the user id, and an email that arrives through context traits."""
    laptop, phone, user, email = f"p{person}-laptop", f"p{person}-phone", f"p{person}-user", f"p{person}@example.com"
    items: list[dict[str, Any]] = []
    for n in range(3):
        items.append(
            {
                "type": "track",
                "anonymousId": rng.choice([laptop, phone]),
                "event": "Product Viewed",
                "properties": {"category": "shoes"},
                "messageId": f"w{writer}-p{person}-view-{n}",
            }
        )
    items.append(
        {"type": "identify", "anonymousId": laptop, "userId": user, "messageId": f"w{writer}-p{person}-login-l"}
    )
    items.append(
        {"type": "identify", "anonymousId": phone, "userId": user, "messageId": f"w{writer}-p{person}-login-p"}
    )
    items.append(
        {
            "type": "track",
            "anonymousId": phone,
            "event": "Order Completed",
            "properties": {"revenue": 10},
            "context": {"traits": {"email": email}},
            "messageId": f"w{writer}-p{person}-order",
        }
    )
    # the same message delivered by every writer (an SDK retry racing itself)
    items.append({"type": "track", "userId": user, "event": "Shared", "messageId": f"shared-p{person}"})
    return items


def test_parallel_writers_merging_the_same_people(workspace: Workspace) -> None:
    plans: list[list[list[dict[str, Any]]]] = []
    for number in range(WRITERS):
        rng = random.Random(number)
        items = [item for person in range(PEOPLE) for item in _person_messages(person, number, rng)]
        rng.shuffle(items)  # each writer links people in a different order
        plans.append([items[i : i + 7] for i in range(0, len(items), 7)])

    def writer(batches: list[list[dict[str, Any]]]) -> Callable[[], None]:
        def work() -> None:
            for batch in batches:
                _ingest(workspace, batch)

        return work

    failures = _run_parallel([writer(batches) for batches in plans])
    assert failures == []

    sent = {item["messageId"] for batches in plans for batch in batches for item in batch}
    events = list(Event.objects.filter(workspace=workspace))
    assert len(events) == len(sent)  # nothing lost, every duplicate stored once
    assert {e.message_id for e in events} == sent

    assert profile_live_count(workspace=workspace) == PEOPLE
    live = {p.pk: p for p in Profile.objects.filter(workspace=workspace, merged_into__isnull=True)}
    for person in range(PEOPLE):
        values = [f"p{person}-laptop", f"p{person}-phone", f"p{person}-user", f"p{person}@example.com"]
        owners = set(
            Identifier.objects.filter(workspace=workspace, value__in=values).values_list("profile_id", flat=True)
        )
        assert len(owners) == 1 and owners <= set(live), f"person {person} is split: {owners}"
        (owner,) = owners
        assert set(Identifier.objects.filter(profile_id=owner).values_list("kind", flat=True)) == {
            "anonymous_id",
            "user_id",
            "email",
        }
    assert {e.profile_id for e in events} <= set(live)  # no event points at a merged-away profile

    per_profile = Counter(e.profile_id for e in events)
    for features in ProfileFeatures.objects.filter(workspace=workspace):
        assert features.profile_id in live
        assert features.state["events"] == per_profile[features.profile_id]  # counted once each
        assert features.computed["event_counts"]["Shared"]["total"] == 1
        assert features.computed["orders_total"] == WRITERS
    assert ProfileFeatures.objects.filter(workspace=workspace).count() == PEOPLE
    merges = AuditEntry.objects.filter(workspace=workspace, action="profile.merged").count()
    assert merges >= 1  # the writers really did split and re-join people
    assert audit_verify(chain=str(workspace.id))[1] == []


def test_concurrent_duplicates_are_stored_once(workspace: Workspace) -> None:
    batch = [{"type": "track", "userId": f"u{n % 3}", "event": "E", "messageId": f"dup-{n}"} for n in range(30)]
    failures = _run_parallel([lambda: _ingest(workspace, list(batch)) for _ in range(WRITERS)])
    assert failures == []
    assert Event.objects.filter(workspace=workspace).count() == 30
    assert profile_live_count(workspace=workspace) == 3
    totals = sorted(f.state["events"] for f in ProfileFeatures.objects.filter(workspace=workspace))
    assert totals == [10, 10, 10]


def _track(message_id: str, event: str = "Viewed", **ids: str) -> dict[str, Any]:
    return {"type": "track", "event": event, "messageId": message_id, **ids}


# (before, meanwhile, batch, people): ``meanwhile`` commits while ``batch`` is between its
# unlocked read and its locks; ``people`` is how many live profiles there are after.
INTERLEAVINGS = {
    "same person's features changed": (
        [_track("seed", userId="u1")],
        [_track(f"other-{n}", "Order Completed", userId="u1") for n in range(3)],
        [_track(f"mine-{n}", userId="u1") for n in range(4)],
        1,
    ),
    "two of the batch's people merged": (
        [_track("seed-a", anonymousId="a1"), _track("seed-b", userId="u2")],
        [{"type": "identify", "anonymousId": "a1", "userId": "u2", "messageId": "link"}],
        [_track("mine-a", anonymousId="a1"), _track("mine-b", userId="u2"), _track("mine-c", userId="u3")],
        2,
    ),
    "a new person created": (
        [],
        [_track(f"other-{n}", userId="n1") for n in range(2)],
        [_track(f"mine-{n}", userId="n1") for n in range(3)],
        1,
    ),
    "a new person joined to a known one": (
        [_track("seed", userId="u4")],
        [{"type": "identify", "anonymousId": "fresh", "userId": "u4", "messageId": "link"}],
        [_track("mine-a", anonymousId="fresh"), _track("mine-b", userId="u4")],
        1,
    ),
}


@pytest.mark.parametrize("case", INTERLEAVINGS, ids=list(INTERLEAVINGS))
def test_a_write_between_the_unlocked_read_and_the_locks_is_not_lost(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    """A batch prepares its features updates from an unlocked read; another writer commits
    before the batch gets its locks. The batch must notice and count from what is stored."""
    before, meanwhile, batch, people = INTERLEAVINGS[case]
    if before:
        _ingest(workspace, before)
    real = services._identifiers_lock_profiles
    interleaved: list[bool] = []

    def lock_after_another_writer(*args: Any) -> Any:
        if not interleaved:
            interleaved.append(True)
            assert _run_parallel([lambda: _ingest(workspace, meanwhile)]) == []
        return real(*args)

    monkeypatch.setattr(services, "_identifiers_lock_profiles", lock_after_another_writer)
    _ingest(workspace, batch)
    assert interleaved

    events = list(Event.objects.filter(workspace=workspace))
    assert {e.message_id for e in events} == {item["messageId"] for item in [*before, *meanwhile, *batch]}
    live = set(Profile.objects.filter(workspace=workspace, merged_into__isnull=True).values_list("pk", flat=True))
    assert len(live) == people
    assert {e.profile_id for e in events} <= live
    per_profile = Counter(e.profile_id for e in events)
    orders = Counter(e.profile_id for e in events if e.name == "Order Completed")
    features = {f.profile_id: f for f in ProfileFeatures.objects.filter(workspace=workspace)}
    assert set(features) == live
    for profile_id, row in features.items():
        assert row.state["events"] == per_profile[profile_id]  # every event counted, once
        assert row.computed["orders_total"] == orders[profile_id]
