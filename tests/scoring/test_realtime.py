"""Real-time scores: updated incrementally on each event from the golden record's features (no
retraining), equal to a batch re-score of the same person, with explanations, and a "score
changed" domain event on threshold crossings and relative drops."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from cep.celery import app as celery_app
from core import domain_events
from events.services import event_batch_ingest
from events.validation import validate_batch
from scoring.models import ModelKind, ProfileScore
from scoring.realtime import active_models, score_person
from scoring.replay import EventReplaySource
from scoring.selectors import scores_for_profile
from scoring.services import model_version_create, model_version_promote, scores_refresh
from scoring.triggers import SCORE_CHANGED, ScoreTrigger, triggers_fired


def _activate(workspace, trained) -> None:
    for kind in (ModelKind.CONVERSION, ModelKind.CHURN, ModelKind.CLV):
        version = model_version_create(workspace=workspace, trained=trained[kind])
        model_version_promote(version=version, actor=None, reason="test fixture")


def _ingest(workspace, anonymous_id: str, at: datetime, events: list[tuple[str, dict[str, Any]]], tag: str) -> None:
    batch = [
        {
            "type": "track",
            "event": name,
            "anonymousId": anonymous_id,
            "timestamp": (at + timedelta(seconds=i)).isoformat(),
            "messageId": f"{tag}-{i}",
            "properties": properties,
        }
        for i, (name, properties) in enumerate(events)
    ]
    messages, errors = validate_batch({"batch": batch}, received_at=at + timedelta(seconds=len(events)))
    assert not errors
    event_batch_ingest(workspace=workspace, messages=messages, received_at=at + timedelta(seconds=len(events)))


def _customer(stored_world):
    return next(p for p in stored_world.single_device_people() if len(p.order_times) >= 2)


@pytest.fixture
def eager_tasks() -> Iterator[None]:
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    try:
        yield
    finally:
        celery_app.conf.task_always_eager = previous


@pytest.fixture
def score_events() -> Iterator[list[domain_events.DomainEvent]]:
    received: list[domain_events.DomainEvent] = []
    domain_events.subscribe(SCORE_CHANGED, received.append, uid="tests.score_changed")
    try:
        yield received
    finally:
        domain_events.unsubscribe(SCORE_CHANGED, "tests.score_changed")


@pytest.mark.django_db
def test_incremental_update_matches_a_batch_rescore_of_the_same_person(stored_world, trained) -> None:
    workspace = stored_world.workspace
    _activate(workspace, trained)
    person = _customer(stored_world)
    profile_id = stored_world.profile_id(person)
    steps: list[list[tuple[str, dict[str, Any]]]] = [
        [("Product Viewed", {"category": "audio"}), ("Offers Viewed", {})],
        [("Product Added", {"category": "audio"}), ("Checkout Started", {"category": "audio"})],
        [("Order Completed", {"revenue": 80.0, "products": [{"category": "audio"}]}), ("Product Viewed", {})],
    ]
    moment = stored_world.now
    history: list[float] = []
    for step, events in enumerate(steps):
        moment = moment + timedelta(minutes=1)
        _ingest(workspace, person.anonymous_id, moment, events, tag=f"incremental-{step}")
        scores_refresh(workspace=workspace, profile_ids=[profile_id], now=moment + timedelta(seconds=5))
        history.append(ProfileScore.objects.get(profile_id=profile_id, kind=ModelKind.CONVERSION).value)
    assert len(set(history)) > 1  # the score moved with the events

    stored = {row.kind: row for row in ProfileScore.objects.filter(profile_id=profile_id)}
    assert set(stored) == {ModelKind.CONVERSION, ModelKind.CHURN, ModelKind.CLV}
    as_of = stored[ModelKind.CONVERSION].features_as_of

    snapshot = next(iter(EventReplaySource(workspace).snapshots(anchors={profile_id: [as_of.timestamp()]})))
    batch = {result.kind: result for result in score_person(active_models(workspace.id), snapshot.person)}
    for kind, row in stored.items():
        assert row.value == pytest.approx(batch[kind].value, rel=1e-12, abs=1e-12)
        assert row.model_version_id == batch[kind].version_id
        assert row.explanation == batch[kind].explanation
    assert stored[ModelKind.CLV].details["expected_purchases"] > 0


@pytest.mark.django_db
def test_each_score_explains_itself_in_plain_words(stored_world, trained) -> None:
    workspace = stored_world.workspace
    _activate(workspace, trained)
    person = _customer(stored_world)
    profile_id = stored_world.profile_id(person)
    scores_refresh(workspace=workspace, profile_ids=[profile_id], now=stored_world.now)
    views = {
        v.kind: v
        for v in scores_for_profile(actor=stored_world.workspace_owner(), workspace=workspace, profile_id=profile_id)
    }
    conversion = views[ModelKind.CONVERSION]
    assert 1 <= len(conversion.explanation) <= 3
    assert all(" conversion propensity by 0." in line for line in conversion.explanation)
    assert all(("raised" in line) != ("lowered" in line) for line in conversion.explanation)
    assert any(
        "days" in line or "hours" in line or "events" in line or "visits" in line for line in conversion.explanation
    )
    assert "churn risk by" in views[ModelKind.CHURN].explanation[0]
    assert "orders in the next" in " ".join(views[ModelKind.CLV].explanation)
    row = ProfileScore.objects.get(profile_id=profile_id, kind=ModelKind.CONVERSION)
    deltas = [abs(item["delta"]) for item in row.explanation]
    assert deltas == sorted(deltas, reverse=True)


@pytest.mark.django_db
def test_an_ingested_event_rescores_the_person_through_the_domain_event(
    stored_world, trained, eager_tasks, django_capture_on_commit_callbacks
) -> None:
    workspace = stored_world.workspace
    _activate(workspace, trained)
    person = _customer(stored_world)
    profile_id = stored_world.profile_id(person)
    assert not ProfileScore.objects.filter(profile_id=profile_id).exists()
    with django_capture_on_commit_callbacks(execute=True):
        _ingest(workspace, person.anonymous_id, stored_world.now + timedelta(minutes=1), [("Offers Viewed", {})], "sub")
    kinds = set(ProfileScore.objects.filter(profile_id=profile_id).values_list("kind", flat=True))
    assert kinds == {ModelKind.CONVERSION, ModelKind.CHURN, ModelKind.CLV}


@pytest.mark.django_db
def test_score_changed_fires_on_a_threshold_crossing_and_a_relative_drop_once(
    stored_world, trained, settings, score_events, django_capture_on_commit_callbacks
) -> None:
    workspace = stored_world.workspace
    _activate(workspace, trained)
    person = _customer(stored_world)
    profile_id = stored_world.profile_id(person)
    settings.SCORING_SCORE_TRIGGERS = []
    scores_refresh(workspace=workspace, profile_ids=[profile_id], now=stored_world.now)
    conversion = ProfileScore.objects.get(profile_id=profile_id, kind=ModelKind.CONVERSION)
    clv = ProfileScore.objects.get(profile_id=profile_id, kind=ModelKind.CLV)

    # Pretend the previous scores were a low conversion propensity and twice today's CLV.
    ProfileScore.objects.filter(pk=conversion.pk).update(value=0.0)
    ProfileScore.objects.filter(pk=clv.pk).update(value=clv.value * 2)
    settings.SCORING_SCORE_TRIGGERS = [
        {"kind": "conversion", "threshold": conversion.value},
        {"kind": "clv", "drop_share": 0.3},
        {"kind": "churn", "threshold": 1.0},  # unreachable: never fires
    ]
    with django_capture_on_commit_callbacks(execute=True):
        scores_refresh(workspace=workspace, profile_ids=[profile_id], now=stored_world.now)
    by_kind = {event.payload["kind"]: event for event in score_events}
    assert set(by_kind) == {"conversion", "clv"}
    crossed = by_kind["conversion"].payload
    assert crossed["profile_id"] == profile_id and crossed["old"] == 0.0
    assert crossed["new"] == pytest.approx(conversion.value)
    assert crossed["reasons"] == [{"rule": "crossed_above", "threshold": conversion.value}]
    assert crossed["model_version"] >= 1 and by_kind["conversion"].workspace_id == str(workspace.id)
    dropped = by_kind["clv"].payload["reasons"][0]
    assert dropped["rule"] == "dropped" and dropped["change"] == pytest.approx(-0.5, abs=1e-4)

    score_events.clear()
    with django_capture_on_commit_callbacks(execute=True):
        scores_refresh(workspace=workspace, profile_ids=[profile_id], now=stored_world.now)
    assert score_events == []  # same features, same scores: nothing new to say


def test_trigger_rules() -> None:
    triggers = [ScoreTrigger(kind="churn", threshold=0.7), ScoreTrigger(kind="clv", drop_share=0.3, rise_share=1.0)]
    fired = lambda kind, old, new: [r["rule"] for r in triggers_fired(triggers, kind=kind, action="", old=old, new=new)]  # noqa: E731
    assert fired("churn", 0.5, 0.7) == ["crossed_above"]
    assert fired("churn", None, 0.8) == ["crossed_above"]
    assert fired("churn", 0.8, 0.69) == ["crossed_below"]
    assert fired("churn", 0.8, 0.9) == []
    assert fired("clv", 100.0, 70.0) == ["dropped"]
    assert fired("clv", 100.0, 71.0) == []
    assert fired("clv", 100.0, 200.0) == ["rose"]
    assert fired("clv", None, 50.0) == []
    assert fired("conversion", 0.0, 1.0) == []
    with pytest.raises(ValueError):
        ScoreTrigger.from_config({"kind": "clv"})
    with pytest.raises(ValueError):
        ScoreTrigger.from_config({"kind": "clv", "drop_share": 1.5})


@pytest.mark.django_db
def test_scores_follow_a_merge_and_end_up_one_per_kind(
    stored_world, trained, eager_tasks, django_capture_on_commit_callbacks
) -> None:
    workspace = stored_world.workspace
    _activate(workspace, trained)
    person = _customer(stored_world)
    survivor = stored_world.profile_id(person)
    moment = stored_world.now + timedelta(minutes=2)
    with django_capture_on_commit_callbacks(execute=True):
        _ingest(
            workspace, "tablet-of-" + person.anonymous_id, moment, [("Product Viewed", {"category": "books"})], "m1"
        )
    other = (
        ProfileScore.objects.exclude(profile_id=survivor)
        .filter(workspace=workspace)
        .values_list("profile_id", flat=True)
    )
    assert other.exists()
    loser = str(other.first())

    login = [
        {
            "type": "identify",
            "anonymousId": "tablet-of-" + person.anonymous_id,
            "userId": person.user_id,
            "timestamp": (moment + timedelta(minutes=1)).isoformat(),
            "messageId": "m2-login",
        }
    ]
    messages, errors = validate_batch({"batch": login}, received_at=moment + timedelta(minutes=1))
    assert not errors
    with django_capture_on_commit_callbacks(execute=True):
        event_batch_ingest(workspace=workspace, messages=messages, received_at=moment + timedelta(minutes=1))
    assert not ProfileScore.objects.filter(profile_id=loser).exists()
    rows = list(ProfileScore.objects.filter(profile_id=survivor).values_list("kind", flat=True))
    assert sorted(rows) == sorted({ModelKind.CONVERSION, ModelKind.CHURN, ModelKind.CLV})
    views = scores_for_profile(actor=stored_world.workspace_owner(), workspace=workspace, profile_id=loser)
    assert {str(v.profile_id) for v in views} == {survivor}
