"""With a real Celery worker: training requested over the API runs on the training queue with
progress on the run, and an ingested event re-scores the person on the ingest queue.

Transactional (the worker thread needs committed rows), so this file runs after the other scoring
tests: flushing the tables at the end removes the session's stored world.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from celery.contrib.testing.worker import start_worker
from rest_framework.test import APIClient

from accounts.models import Workspace
from cep.celery import app
from events.services import event_batch_ingest
from events.validation import validate_batch
from scoring.models import ModelKind, ModelStatus, ModelVersion, ProfileScore, RunStatus, TrainingRun
from scoring.services import model_version_promote
from simulator.world import WorldConfig
from tests.factories import make_secret_key
from tests.scoring.conftest import ingest_world
from tests.waiting import wait_until


@pytest.mark.django_db(transaction=True)
def test_training_and_rescoring_run_in_the_worker() -> None:
    now = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2)
    workspace, world = ingest_world(name="Worker world", config=WorldConfig(people=110, days=56, seed=12), now=now)
    key = make_secret_key(workspace=workspace)
    app.control.purge()  # tasks other tests left in the queues
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")

    with start_worker(app, queues=["training", "ingest"], perform_ping_check=False, shutdown_timeout=30):
        run_id = client.post("/api/v1/models/train", {"kinds": ["conversion", "churn", "clv"]}, format="json").json()[
            "id"
        ]
        seen: set[int] = set()

        def finished() -> bool:
            body = client.get(f"/api/v1/models/runs/{run_id}/").json()
            seen.add(body["progress"])
            return body["status"] in (RunStatus.SUCCEEDED, RunStatus.FAILED)

        wait_until(finished, timeout=120, interval=0.1, what="the training run")
        run = TrainingRun.objects.get(pk=run_id)
        assert run.status == RunStatus.SUCCEEDED, run.error
        assert run.progress == 100 and len(seen) >= 2  # progress was visible while it ran
        assert {o["kind"] for o in run.outcomes} == {"conversion", "churn", "clv"}
        versions = ModelVersion.objects.filter(workspace=workspace)
        assert {v.kind for v in versions} == {"conversion", "churn", "clv"}
        assert all(v.run_id == run.pk and v.training_set["train"]["rows"] > 0 for v in versions)

        conversion = versions.get(kind=ModelKind.CONVERSION)
        if conversion.status != ModelStatus.ACTIVE:
            model_version_promote(version=conversion, actor=None, reason="worker test needs an active model")
        person = next(p for p in world.people if p.sessions and p.second_anonymous_id is None)
        offer = {"type": "track", "event": "Offers Viewed", "anonymousId": person.anonymous_id}
        batch = [{**offer, "timestamp": (now + timedelta(minutes=1)).isoformat(), "messageId": "worker-offer"}]
        messages, _ = validate_batch({"batch": batch}, received_at=now + timedelta(minutes=1))
        stored = event_batch_ingest(workspace=workspace, messages=messages, received_at=now + timedelta(minutes=1))
        profile_id = stored.stored[0].profile_id
        assert profile_id is not None

        def scored_after_event() -> bool:
            row = ProfileScore.objects.filter(profile_id=profile_id, kind=ModelKind.CONVERSION).first()
            return row is not None and row.features_as_of >= now + timedelta(minutes=1)

        wait_until(scored_after_event, timeout=60, interval=0.1, what="the event's re-score")
        row = ProfileScore.objects.get(profile_id=profile_id, kind=ModelKind.CONVERSION)
        assert row.model_version_id == conversion.pk and 0 < row.value < 1 and row.explanation
    assert Workspace.objects.filter(pk=workspace.pk).exists()
