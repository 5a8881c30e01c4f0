"""Point-in-time training sets: no leakage, labels from the window after the cut-off, features that
match what the golden record serves, and reproducibility from a seed."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import timedelta

import pytest

from events.services import event_batch_ingest
from events.validation import validate_batch
from profiles.features import feature_config, features_compute
from profiles.models import ProfileFeatures
from scoring.config import cancel_events, label_window, order_events
from scoring.datasets import LabelRule, training_cutoffs, training_set_build
from scoring.feature_spec import DAY
from scoring.models import ModelKind
from scoring.replay import EventReplaySource, LeakageError, Snapshot, check_no_leakage, replay_person
from simulator.world import ORDER_EVENT


def _rule(kind: str) -> LabelRule:
    return LabelRule(
        kind=kind,
        window=label_window(kind),
        order_events=frozenset(order_events()),
        cancel_events=frozenset(cancel_events()),
    )


class ComputedAfterCutoff:
    """A broken feature source: it computes each row's features a day after the cut-off it was asked for."""

    def __init__(self, inner: EventReplaySource) -> None:
        self.inner = inner

    def snapshots(
        self,
        *,
        cutoffs: Sequence[float] = (),
        anchors: Mapping[str, Sequence[float]] | None = None,
        horizon_seconds: float = 0.0,
    ) -> Iterator[Snapshot]:
        for snapshot in self.inner.snapshots(cutoffs=[c + DAY for c in cutoffs], horizon_seconds=horizon_seconds):
            yield replace(snapshot, cutoff=snapshot.cutoff - DAY)


class ClaimsCutoffButSeesLater:
    """A subtler one: features as of the cut-off by the clock, but folded from events up to three days later."""

    def __init__(self, inner: EventReplaySource) -> None:
        self.inner = inner

    def snapshots(
        self,
        *,
        cutoffs: Sequence[float] = (),
        anchors: Mapping[str, Sequence[float]] | None = None,
        horizon_seconds: float = 0.0,
    ) -> Iterator[Snapshot]:
        for snapshot in self.inner.snapshots(cutoffs=[c + 3 * DAY for c in cutoffs], horizon_seconds=horizon_seconds):
            person = replace(snapshot.person, as_of=snapshot.cutoff - 3 * DAY)
            yield Snapshot(cutoff=snapshot.cutoff - 3 * DAY, person=person, future=())


@pytest.mark.django_db
def test_a_feature_computed_after_the_cutoff_fails_the_build(stored_world) -> None:
    source = EventReplaySource(stored_world.workspace)
    cutoff = stored_world.now.timestamp() - 20 * DAY
    rule = _rule(ModelKind.CONVERSION)

    honest = training_set_build(source=source, rule=rule, cutoffs=[cutoff], seed=1)
    assert honest.rows > 50

    with pytest.raises(LeakageError, match="after the cut-off"):
        training_set_build(source=ComputedAfterCutoff(source), rule=rule, cutoffs=[cutoff], seed=1)
    with pytest.raises(LeakageError, match="after the cut-off"):
        training_set_build(source=ClaimsCutoffButSeesLater(source), rule=rule, cutoffs=[cutoff], seed=1)


def test_the_leakage_guard_reads_the_features_themselves() -> None:
    """Even with an honest-looking as_of and no event time, a last-seen or last-order after the cut-off fails."""
    from scoring.feature_spec import PersonFeatures

    cutoff = 1_700_000_000.0
    clean = PersonFeatures("p", cutoff, {"as_of": "2023-11-14T22:13:20Z", "last_seen_at": "2023-11-14T20:00:00Z"}, None)
    check_no_leakage(clean, cutoff)
    for field in ("last_seen_at", "last_order_at", "as_of"):
        leaky = replace(clean, computed={**clean.computed, field: "2023-11-15T09:00:00Z"})
        with pytest.raises(LeakageError, match=field):
            check_no_leakage(leaky, cutoff)


@pytest.mark.django_db
def test_features_at_a_cutoff_ignore_events_stored_after_it(stored_world) -> None:
    workspace = stored_world.workspace
    cutoff = stored_world.now.timestamp() - 10 * DAY
    person = next(p for p in stored_world.single_device_people() if p.order_times and p.order_times[0] < cutoff)
    profile_id = stored_world.profile_id(person)
    source = EventReplaySource(workspace)
    before = next(iter(source.snapshots(anchors={profile_id: [cutoff]})))

    later = (stored_world.now - timedelta(days=2)).isoformat()
    anonymous_id = person.anonymous_id
    order = {"revenue": 999, "category": "audio"}
    batch = [
        {"type": "track", "event": ORDER_EVENT, "anonymousId": anonymous_id, "timestamp": later, "properties": order},
        {"type": "page", "name": "Home", "anonymousId": anonymous_id, "timestamp": later},
    ]
    batch[0]["messageId"], batch[1]["messageId"] = "late-order", "late-page"
    messages, errors = validate_batch({"batch": batch}, received_at=stored_world.now)
    assert not errors
    assert event_batch_ingest(workspace=workspace, messages=messages, received_at=stored_world.now).accepted == 2

    after = next(iter(source.snapshots(anchors={profile_id: [cutoff]})))
    assert after.person.computed == before.person.computed
    now = next(iter(source.snapshots(anchors={profile_id: [stored_world.now.timestamp()]})))
    assert now.person.computed["orders_total"] == before.person.computed["orders_total"] + (
        len([t for t in person.order_times if t > cutoff]) + 1
    )


@pytest.mark.django_db
def test_replayed_features_equal_the_golden_records_features(stored_world) -> None:
    """Training and serving agree: replaying the event store to the ingest moment gives exactly the
    features profiles maintained incrementally on ingest (people seen on one device: no merges)."""
    workspace = stored_world.workspace
    now = stored_world.now.timestamp()
    config = feature_config()
    people = {stored_world.profile_id(p) for p in stored_world.single_device_people()}
    served = {
        str(pid): features_compute(state, now=now, config=config)
        for pid, state in ProfileFeatures.objects.filter(workspace=workspace).values_list("profile_id", "state")
    }
    compared = 0
    for snapshot in EventReplaySource(workspace, chunk_size=40).snapshots(cutoffs=[now]):
        if snapshot.person.profile_id in people:
            assert snapshot.person.computed == served[snapshot.person.profile_id]
            compared += 1
    assert compared >= 100


@pytest.mark.django_db
def test_labels_come_from_the_window_after_the_cutoff_and_match_ground_truth(stored_world) -> None:
    rule = _rule(ModelKind.CONVERSION)
    cutoff = stored_world.now.timestamp() - 15 * DAY
    data = training_set_build(source=EventReplaySource(stored_world.workspace), rule=rule, cutoffs=[cutoff], seed=1)
    horizon = rule.window.horizon_days * DAY
    truth = {stored_world.profile_id(p): p for p in stored_world.single_device_people()}
    checked = 0
    for person, label, future in zip(data.people, data.labels, data.futures, strict=True):
        assert all(cutoff < e.at <= cutoff + horizon for e in future)
        assert person.as_of == cutoff
        assert rule.eligible(person)
        if person.profile_id in truth:
            assert label == int(truth[person.profile_id].orders_between(cutoff, cutoff + horizon) > 0)
            checked += 1
    assert checked > 50
    assert 0 < data.positives < data.rows


@pytest.mark.django_db
def test_churn_label_is_no_activity_or_a_cancellation(stored_world) -> None:
    rule = _rule(ModelKind.CHURN)
    cutoff = stored_world.now.timestamp() - 20 * DAY
    data = training_set_build(source=EventReplaySource(stored_world.workspace), rule=rule, cutoffs=[cutoff], seed=1)
    cancel = frozenset(cancel_events())
    for label, future in zip(data.labels, data.futures, strict=True):
        active = any(e.behavioural and e.name not in cancel for e in future)
        cancelled = any(e.name in cancel for e in future)
        assert label == int(cancelled or not active)
    assert 0 < data.positives < data.rows


@pytest.mark.django_db
def test_training_sets_are_reproducible_from_a_seed(stored_world) -> None:
    rule = _rule(ModelKind.CONVERSION)
    train, _ = training_cutoffs(end=stored_world.now.timestamp(), horizon_days=7, count=3, step_days=5)
    source = EventReplaySource(stored_world.workspace)
    full = training_set_build(source=source, rule=rule, cutoffs=train, seed=1)
    again = training_set_build(
        source=EventReplaySource(stored_world.workspace, chunk_size=7), rule=rule, cutoffs=train, seed=1
    )
    assert full.fingerprint() == again.fingerprint()

    size = full.rows // 2
    sample_a = training_set_build(source=source, rule=rule, cutoffs=train, seed=1, max_rows=size)
    sample_b = training_set_build(source=source, rule=rule, cutoffs=train, seed=1, max_rows=size)
    sample_c = training_set_build(source=source, rule=rule, cutoffs=train, seed=2, max_rows=size)
    assert sample_a.rows == size and sample_a.dropped == full.rows - size
    assert sample_a.fingerprint() == sample_b.fingerprint()
    assert sample_a.fingerprint() != sample_c.fingerprint()


def test_training_cutoffs_keep_every_label_window_before_the_holdout() -> None:
    end = 1_000 * DAY
    train, holdout = training_cutoffs(end=end, horizon_days=14, count=4, step_days=7)
    assert holdout == end - 14 * DAY
    assert train == sorted(train) and len(train) == 4
    assert max(train) + 14 * DAY <= holdout
    assert train[1] - train[0] == 7 * DAY


def test_replay_skips_cutoffs_before_a_persons_first_event() -> None:
    from profiles.features import FeatureEvent

    history = [FeatureEvent(name="$page", at=100.0 * DAY, properties={}, behavioural=True)]
    out = list(
        replay_person("p", history, [50.0 * DAY, 150.0 * DAY], config=feature_config(), order_events=[ORDER_EVENT])
    )
    assert [s.cutoff for s in out] == [150.0 * DAY]
    assert out[0].person.last_event_at == 100.0 * DAY
