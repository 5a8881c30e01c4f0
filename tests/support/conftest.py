"""Shared fixtures of the support tests: a workspace with the shipped teams and SLA policies,
people identified through the tracking API, and stored model scores."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from accounts.models import Workspace
from profiles.models import Profile
from scoring.models import ModelStatus, ModelVersion, ProfileScore
from support.services import support_defaults_install
from tests.decisions.conftest import identify, person, track
from tests.events.conftest import Tracker, tracker, write_key  # noqa: F401 - shared fixtures

__all__ = ["Tracker", "identify", "person", "track"]


def model_version(workspace: Workspace, kind: str) -> ModelVersion:
    found = ModelVersion.objects.filter(workspace=workspace, kind=kind, status=ModelStatus.ACTIVE).first()
    if found is not None:
        return found
    return ModelVersion.objects.create(
        workspace=workspace, kind=kind, version=1, status=ModelStatus.ACTIVE, algorithm="fixture (tests/support)"
    )


def give_scores(profile: Profile, **values: float) -> None:
    """Store scores for a person as the scoring app would (one row per kind)."""
    for kind, value in values.items():
        ProfileScore.objects.update_or_create(
            workspace_id=profile.workspace_id,
            profile=profile,
            kind=kind,
            action="",
            defaults={
                "value": value,
                "model_version": model_version(profile.workspace, kind),
                "explanation": [{"feature": "orders", "text": f"{kind} driver", "delta": 0.1}],
                "features_as_of": timezone.now(),
            },
        )


def scored_crowd(workspace: Workspace, *, size: int = 40, clv_step: float = 25.0) -> list[Profile]:
    """People with CLVs 0, 25, 50, ... so a person's percentile among them is known."""
    crowd = Profile.objects.bulk_create([Profile(workspace=workspace) for _ in range(size)])
    version = model_version(workspace, "clv")
    ProfileScore.objects.bulk_create(
        [
            ProfileScore(
                workspace=workspace,
                profile=p,
                kind="clv",
                value=i * clv_step,
                model_version=version,
                features_as_of=timezone.now() - timedelta(hours=1),
            )
            for i, p in enumerate(crowd)
        ]
    )
    return crowd


@pytest.fixture
def desk(workspace: Workspace, tracker: Tracker) -> Workspace:  # noqa: F811 - the tracker fixture
    """Shipped support defaults; Ana (German-speaking, big spender) and Bo (new) are known."""
    support_defaults_install(workspace=workspace, actor=None)
    identify(tracker, "ana", first_name="Ana", email="ana@example.com", language="de")
    identify(tracker, "bo", first_name="Bo", email="bo@example.com")
    return workspace


def people(workspace: Workspace) -> dict[str, Any]:
    return {name: person(workspace, name) for name in ("ana", "bo")}
