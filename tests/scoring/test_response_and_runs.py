"""Training runs end to end in process (progress, outcomes, drift), and per-action response models,
which train only from a labelled table of logged decisions and say so when there is none."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from scoring.feature_spec import DAY
from scoring.labels import LabelledOutcome, response_outcomes_register, response_outcomes_unregister
from scoring.models import DriftReport, ModelKind, ModelVersion, ProfileScore, RunStatus, RunTrigger
from scoring.services import scores_refresh, training_run_create, training_run_execute


@pytest.fixture
def logged_decisions(stored_world) -> Iterator[list[LabelledOutcome]]:
    """A labelled table as the decisions app will provide it: who was shown the offer when, and
    whether they ordered within three days (the world's ground truth)."""
    rows: list[LabelledOutcome] = []
    end = stored_world.now.timestamp()
    for person in stored_world.single_device_people():
        profile_id = stored_world.profile_id(person)
        for days_before in (30, 24, 18, 12, 6):
            decided = end - days_before * DAY
            if not person.active_on(int((decided - stored_world.world.start.timestamp()) // DAY)):
                continue
            responded = person.orders_between(decided, decided + 3 * DAY) > 0
            rows.append(LabelledOutcome(profile_id, "offer_email", datetime.fromtimestamp(decided, UTC), responded))
    response_outcomes_register(lambda workspace: rows, uid="tests.decisions")
    try:
        yield rows
    finally:
        response_outcomes_unregister("tests.decisions")


@pytest.mark.django_db
def test_a_run_trains_each_kind_reports_outcomes_and_measures_drift(stored_world) -> None:
    workspace = stored_world.workspace
    run = training_run_create(
        workspace=workspace, actor=None, kinds=["clv", "churn", "response"], trigger=RunTrigger.SCHEDULE
    )
    assert run.kinds == ["churn", "clv", "response"]  # a fixed order
    done = training_run_execute(run_id=run.pk, now=stored_world.now)
    assert done is not None and done.status == RunStatus.SUCCEEDED and done.progress == 100 and done.finished_at
    outcomes = {o["kind"]: o for o in done.outcomes}
    assert outcomes["churn"]["status"] in ("promoted", "candidate")
    assert outcomes["clv"]["status"] in ("promoted", "candidate")
    assert outcomes["response"]["status"] == "skipped"
    assert "logged decisions" in outcomes["response"]["reason"] and "none logged" in outcomes["response"]["reason"]
    churn = ModelVersion.objects.get(pk=outcomes["churn"]["version_id"])
    assert churn.run_id == run.pk and churn.metrics["comparison"]["reason"] == outcomes["churn"]["reason"]
    report = DriftReport.objects.get(model_version=churn)
    assert report.sample_size > 20 and report.rows[0]["name"] == "score"
    assert {row["name"] for row in report.rows} >= {"score", "recency_days"}
    assert training_run_execute(run_id=run.pk) is None  # a second delivery of the task does nothing


@pytest.mark.django_db
def test_response_models_train_per_action_from_logged_decisions(stored_world, logged_decisions) -> None:
    assert len(logged_decisions) >= 200
    assert 0 < sum(r.responded for r in logged_decisions) < len(logged_decisions)
    workspace = stored_world.workspace
    run = training_run_create(workspace=workspace, actor=None, kinds=["response"])
    done = training_run_execute(run_id=run.pk, now=stored_world.now)
    assert done is not None
    assert done.status == RunStatus.SUCCEEDED, done.error
    (outcome,) = done.outcomes
    assert outcome["kind"] == "response" and outcome["action"] == "offer_email"
    version = ModelVersion.objects.get(pk=outcome["version_id"])
    assert version.kind == ModelKind.RESPONSE and version.action == "offer_email"
    heldout = version.metrics["heldout"]
    assert heldout["rows"] > 20 and heldout["auc"] is not None
    assert version.training_window["heldout_cutoff"] > version.training_window["from"]

    if version.status != "active":
        from scoring.services import model_version_promote

        model_version_promote(version=version, actor=None, reason="test the serving path")
    profile_id = logged_decisions[0].profile_id
    scores_refresh(workspace=workspace, profile_ids=[profile_id], now=stored_world.now)
    row = ProfileScore.objects.get(profile_id=profile_id, kind=ModelKind.RESPONSE)
    assert row.action == "offer_email" and 0 < row.value < 1
    assert all("response propensity for offer_email" in item["text"] for item in row.explanation)


@pytest.mark.django_db  # every registered provider is asked, and the decision log's reads the database
def test_too_few_decisions_are_reported_not_trained(settings) -> None:
    from scoring.services import _train_kind
    from scoring.training import NotEnoughData

    rows = [LabelledOutcome("p1", "sms_nudge", datetime(2025, 1, 1, tzinfo=UTC), True)]
    response_outcomes_register(lambda workspace: rows, uid="tests.few")
    try:
        with pytest.raises(NotEnoughData, match="sms_nudge: 1"):
            _train_kind(workspace=None, kind="response", source=None, end=0.0, seed=1, progress=None)  # type: ignore[arg-type]
    finally:
        response_outcomes_unregister("tests.few")
