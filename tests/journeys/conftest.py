from __future__ import annotations

import pytest
from django.utils import timezone

from scoring.models import ModelVersion, ProfileScore
from tests.decisions.conftest import identify, person, shop, tracker, write_key  # noqa: F401 - shared fixtures
from tests.delivery.conftest import fast_retries  # noqa: F401 - shared fixture


def clv_scores(workspace, values: dict[str, float]) -> None:
    """Give people predicted CLVs (as the active CLV model would), creating them first."""
    version = ModelVersion.objects.create(
        workspace=workspace, kind="clv", version=1, status="candidate", algorithm="test", artifact_sha256="0" * 64
    )
    for user, value in values.items():
        ProfileScore.objects.create(
            workspace=workspace,
            profile=person(workspace, user),
            kind="clv",
            value=value,
            model_version=version,
            features_as_of=timezone.now(),
        )


@pytest.fixture
def fast_steps(settings) -> None:
    settings.JOURNEYS_RETRY_BASE_SECONDS = 0.05
    settings.JOURNEYS_RETRY_MAX_SECONDS = 0.2
